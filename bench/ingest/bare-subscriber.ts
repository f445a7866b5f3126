import process from 'node:process';
import mqtt from 'mqtt';

/**
 * The bare subscriber in its own process (bench/ingest/node-red.ts): an mqtt.js QoS 1 subscriber
 * that only `JSON.parse`s each reading, the broker path's limit. Sends 'ready' once subscribed and
 * 'done' when `count` readings have arrived; ends on 'stop'.
 */
const { url, base, count } = JSON.parse(process.argv[2] ?? '{}') as {
  url: string;
  base: string;
  count: number;
};

const client = await mqtt.connectAsync(url, { clientId: `bench-bare-${base}` });
let received = 0;
let checksum = 0;
client.on('message', (_topic, payload) => {
  checksum += (JSON.parse(payload.toString()) as { power_w: number }).power_w;
  if (++received === count) process.send?.({ done: true, finite: Number.isFinite(checksum) });
});
await client.subscribeAsync(`${base}/devices/+/readings`, { qos: 1 });
process.send?.('ready');
process.on('message', (message) => {
  if (message !== 'stop') return;
  void client.endAsync().then(() => process.disconnect());
});
