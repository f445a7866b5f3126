import process from 'node:process';
import mqtt from 'mqtt';

/**
 * Publishes `count` readings at full speed, QoS 1, in its own process (so neither its event loop
 * nor its CPU time mixes with the consumer being measured). Sends 'start' and 'published'.
 */
const { url, base, count, devices } = JSON.parse(process.argv[2]);
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
process.send('start');
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
process.send('published');
await client.endAsync();
process.disconnect();
