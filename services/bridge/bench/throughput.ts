/**
 * How many foreign messages per second the bridge maps into readings, end to end on a real
 * mosquitto: N Tasmota plugs each publish M SENSOR messages at full speed; the clock stops when
 * the last reading arrives on wattbus/devices/+/readings. Also the cost of mapping alone.
 *   npm run bench -w @wattbus/bridge [-- devices messagesPerDevice]
 */
import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt';
import { startMosquitto } from '@wattbus/testing';
import { loadMqttProfile, mapMessage } from '../src/index.js';
import { startBridge } from '../test/helpers.js';

const devices = Number(process.argv[2] ?? 50);
const perDevice = Number(process.argv[3] ?? 200);
const total = devices * perDevice;
const sensor = (power: number) =>
  JSON.stringify({
    Time: '2026-03-01T12:00:00',
    ENERGY: {
      Total: 12.345,
      Yesterday: 0.5,
      Today: 0.2,
      Power: power,
      Factor: 0.92,
      Voltage: 231,
      Current: 0.28,
    },
  });

const rule = loadMqttProfile('tasmota').messages[0]!;
const payload = Buffer.from(sensor(61));
for (let i = 0; i < 2000; i++) await mapMessage(rule, payload, {});
let started = performance.now();
for (let i = 0; i < 20_000; i++) await mapMessage(rule, payload, {});
const microseconds = ((performance.now() - started) / 20_000) * 1000;
console.log(`mapMessage (tasmota SENSOR, 5 JSONata fields): ${microseconds.toFixed(1)} µs per message`);

const mosquitto = await startMosquitto();
const ids = Array.from({ length: devices }, (_, i) => `plug-${i}`);
const { stop } = await startBridge(
  mosquitto.url,
  ids.map((id, i) => ({ id, profile: 'tasmota', foreign: `tasmota_${i}` })),
);
const watcher = await mqtt.connectAsync(mosquitto.url);
let readings = 0;
const done = new Promise<void>((resolve) =>
  watcher.on('message', () => {
    if (++readings === total) resolve();
  }),
);
await watcher.subscribeAsync('wattbus/devices/+/readings', { qos: 1 });
const publisher = await mqtt.connectAsync(mosquitto.url);
started = performance.now();
const sends: Promise<unknown>[] = [];
for (let m = 0; m < perDevice; m++) {
  for (let d = 0; d < devices; d++)
    sends.push(publisher.publishAsync(`tele/tasmota_${d}/SENSOR`, sensor(m), { qos: 1 }));
}
await Promise.all(sends);
await done;
const seconds = (performance.now() - started) / 1000;
console.log(
  `${total} SENSOR messages of ${devices} plugs → ${readings} readings in ${seconds.toFixed(2)} s: ${Math.round(total / seconds)} messages/s`,
);
await publisher.endAsync();
await watcher.endAsync();
await stop();
await mosquitto.destroy();
