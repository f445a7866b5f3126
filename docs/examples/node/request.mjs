// Asks WattBus questions over MQTT (request/response) and switches a plug, with only the `mqtt`
// package. Usage: node request.mjs mqtt://HOST:PORT PASSWORD [DEVICE]
// PASSWORD: the `client` account of `npm start` (data/mqtt-client.password). That account reads
// only wattbus/replies/<its client id>/, so every reply_to names clientId.
import { randomUUID } from 'node:crypto';
import mqtt from 'mqtt';

const [url, password, device = 'desk-1'] = process.argv.slice(2);
const clientId = 'my-node-app';
const replies = `wattbus/replies/${clientId}`;
const timeoutMs = 5000;
const waiting = new Map(); // request id -> { resolve, reject, timer }

const client = await mqtt.connectAsync(url, { clientId, username: 'client', password });
// Without this, each request waits ~40 ms for a delayed ACK (Nagle's algorithm).
client.stream.setNoDelay?.(true);
client.on('message', (_topic, payload) => {
  const response = JSON.parse(payload.toString());
  const request = waiting.get(response.id);
  if (!request) return; // an answer nobody waits for any more (it came after the timeout)
  waiting.delete(response.id);
  clearTimeout(request.timer);
  if (response.ok) request.resolve(response.result);
  else request.reject(Object.assign(new Error(response.error.message), response.error));
});
const [granted] = await client.subscribeAsync(`${replies}/#`, { qos: 1 });
if (granted.qos === 128) throw new Error(`the broker refused ${replies}/#: connect as ${clientId}`);

/** Publishes a request envelope and resolves with the answer that has the same id. */
function request(topic, params) {
  const id = randomUUID();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      waiting.delete(id);
      reject(new Error(`no answer on ${topic} within ${timeoutMs} ms`));
    }, timeoutMs);
    waiting.set(id, { resolve, reject, timer });
    client.publish(topic, JSON.stringify({ id, reply_to: `${replies}/${id}`, params }), { qos: 1 });
  });
}

const { devices } = await request('wattbus/query/req/devices', {});
console.log(`${devices.length} devices: ${devices.map((entry) => entry.id).join(', ')}`);

const state = await request(`wattbus/devices/${device}/req/set`, { on: false });
console.log(`${device} is now ${state.on ? 'on' : 'off'}`);

try {
  await request('wattbus/query/req/readings', {
    device,
    from: '2026-01-01T00:00:00Z',
    to: 'now',
    fn: 'median',
  });
} catch (error) {
  console.log(`refused as expected: ${error.code}: ${error.message}`);
}
await client.endAsync();
