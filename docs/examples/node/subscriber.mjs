// A WattBus hook in Node.js (only the `mqtt` package): prints every device's power as it arrives.
// Usage: node subscriber.mjs mqtt://HOST:PORT USER PASSWORD [COUNT]
// USER/PASSWORD: the `hook` account of `npm start` (password in data/mqtt-hook.password).
import mqtt from 'mqtt';

const [url, username, password, countText] = process.argv.slice(2);
const count = countText === undefined ? Infinity : Number(countText);
const names = new Map(); // device id -> name, from the retained meta
let seen = 0;

const client = await mqtt.connectAsync(url, { username, password, reconnectPeriod: 1000 });
// Small MQTT packets wait ~40 ms for a delayed ACK under Nagle's algorithm: switch it off.
client.stream.setNoDelay?.(true);
client.on('message', (topic, payload) => {
  if (seen >= count) return; // stopping: what is still in flight is not printed
  const device = topic.split('/')[2];
  const message = JSON.parse(payload.toString());
  if (topic.endsWith('/meta')) {
    names.set(device, message.name);
    return;
  }
  // A 3-phase meter publishes one reading per phase (with `phase`: L1, L2, L3) and one total
  // (without `phase`) on the same topic: add up only the totals, or only the phases.
  const phase = message.phase ? ` ${message.phase}` : '';
  console.log(`${device} (${names.get(device) ?? '?'})${phase}: ${message.power_w} W at ${message.ts}`);
  if (++seen >= count) void client.endAsync();
});
// Meta is retained: it arrives at once for every device, then on every change.
await client.subscribeAsync(['wattbus/devices/+/meta', 'wattbus/devices/+/readings'], { qos: 1 });
