import process from 'node:process';
import mqtt from 'mqtt';
import { benchReading } from './reading.js';

/**
 * Publishes `count` readings at full speed, QoS 1, in its own process (so neither its event loop
 * nor its CPU time mixes with the consumer being measured). Sends 'start' and 'published'.
 */
const { url, base, count, devices } = JSON.parse(process.argv[2] ?? '{}') as {
  url: string;
  base: string;
  count: number;
  devices: number;
};

const client = await mqtt.connectAsync(url, { clientId: `bench-publisher-${base}` });
const payloads: [string, string][] = [];
for (let i = 0; i < count; i++) {
  const reading = benchReading(i, devices);
  payloads.push([`${base}/devices/${reading.device}/readings`, JSON.stringify(reading)]);
}
process.send?.('start');
// A bounded window keeps mqtt.js' outgoing store small, as a real collector fleet would.
const WINDOW = 2000;
let next = 0;
await Promise.all(
  Array.from({ length: WINDOW }, async () => {
    while (next < payloads.length) {
      const [topic, payload] = payloads[next++]!;
      await client.publishAsync(topic, payload, { qos: 1 });
    }
  }),
);
process.send?.('published');
await client.endAsync();
process.disconnect();
