import { parentPort, workerData } from 'node:worker_threads';
import mqtt from 'mqtt';

/**
 * Publishes `count` readings at full speed, QoS 1, in its own thread (so the publisher does
 * not share the event loop with the consumer being measured). Posts 'start' and 'published'.
 * Plain JavaScript: worker threads do not inherit tsx's loader on Node 20.
 */
const { url, base, count, devices } = workerData;
const T0 = Date.parse('2026-11-23T00:00:00.000Z');

const client = await mqtt.connectAsync(url, { clientId: `bench-publisher-${base}` });
const payloads = [];
for (let i = 0; i < count; i++) {
  const d = i % devices;
  const n = Math.floor(i / devices);
  const device = `meter-${d}`;
  payloads.push([
    `${base}/devices/${device}/readings`,
    JSON.stringify({
      ts: new Date(T0 + n * 1000).toISOString(),
      device,
      power_w: 100 + (i % 1000) / 10,
      voltage_v: 230.1,
      current_a: 0.43,
      energy_wh: 1000 + i,
      type: 'modbus',
      location: 'hq/floor-1/panel-a',
    }),
  ]);
}
parentPort.postMessage('start');
// A bounded window keeps mqtt.js' outgoing store small, as a real collector fleet would.
const WINDOW = 2000;
let next = 0;
await Promise.all(
  Array.from({ length: WINDOW }, async () => {
    while (next < payloads.length) {
      const [topic, payload] = payloads[next++];
      await client.publishAsync(topic, payload, { qos: 1 });
    }
  }),
);
parentPort.postMessage('published');
await client.endAsync();
