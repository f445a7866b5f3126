// A complete third-party WattBus hook: print every device (a meter per phase) drawing more than a threshold.
// Run: node --import tsx examples/print-power-hook.ts mqtt://127.0.0.1:1883 100
import mqtt from 'mqtt';

const [url = 'mqtt://127.0.0.1:1883', threshold = '100'] = process.argv.slice(2);
const thresholdW = Number(threshold);
const client = mqtt.connect(url, { clientId: `power-printer-${process.pid}` });

client.on('connect', () => {
  // '+' is the device id; readings are QoS 1, so ask for QoS 1.
  client.subscribe('wattbus/devices/+/readings', { qos: 1 });
  console.log(`watching ${url} for devices above ${thresholdW} W`);
});

client.on('message', (topic, payload) => {
  let reading: { device?: string; phase?: string; power_w?: number; ts?: string };
  try {
    reading = JSON.parse(payload.toString());
  } catch {
    return; // not ours to judge: the platform dead-letters malformed messages itself
  }
  if (typeof reading.power_w === 'number' && reading.power_w > thresholdW) {
    // A 3-phase meter sends one reading per phase (L1-L3) and one total (no phase).
    const what = reading.phase ? `${reading.device} ${reading.phase}` : reading.device;
    console.log(`${reading.ts} ${what} draws ${reading.power_w.toFixed(1)} W`);
  }
});

client.on('error', (error) => console.error(`mqtt: ${error.message}`));
process.on('SIGINT', () => client.end(false, {}, () => process.exit(0)));
