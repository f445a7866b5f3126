// What do per-device will connections cost? Opens N of them (as the agent does with
// device_wills: true) against a real mosquitto and reports connect time and memory on both sides.
// Run: node --expose-gc --import tsx bench/device-wills.ts [20 200]
import { readdirSync, readFileSync } from 'node:fs';
import { BUILTIN_DEFAULTS, type RegistryDevice } from '@wattbus/devices';
import { startMosquitto } from '@wattbus/testing';
import { pino } from 'pino';
import { DeviceWills } from '../src/device-wills.js';

const counts = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);

function rssKiB(pid: number | string): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
}

function brokerPid(dir: string): string | undefined {
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmdline.includes('mosquitto') && cmdline.includes(dir)) return pid;
    } catch {
      // a process that ended while we looked
    }
  }
  return undefined;
}

const broker = await startMosquitto({ persistence: false });
const pid = brokerPid(broker.dir);
try {
  for (const count of counts.length > 0 ? counts : [20, 200]) {
    const devices: RegistryDevice[] = Array.from({ length: count }, (_, index) => ({
      ...BUILTIN_DEFAULTS,
      id: `bench-${index}`,
      name: `bench ${index}`,
      type: 'tplink',
      location: 'bench',
      kind: 'appliance',
      connection: {},
    }));
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const rssBefore = process.memoryUsage().rss;
    const brokerBefore = pid ? rssKiB(pid) : NaN;
    const wills = new DeviceWills({
      options: { url: broker.url, baseTopic: 'wattbus', agentId: 'bench' },
      devices,
      logger: pino({ level: 'silent' }),
      current: () => 'online',
    });
    const started = performance.now();
    await wills.start();
    const connectMs = performance.now() - started;
    gc();
    const heapKiB = (process.memoryUsage().heapUsed - heapBefore) / 1024;
    const rssKiBDelta = (process.memoryUsage().rss - rssBefore) / 1024;
    const brokerKiB = pid ? rssKiB(pid) - brokerBefore : NaN;
    await wills.stop();
    console.log(
      JSON.stringify({
        connections: count,
        connect_ms: Math.round(connectMs),
        agent_heap_kib_per_connection: +(heapKiB / count).toFixed(1),
        agent_rss_kib_per_connection: +(rssKiBDelta / count).toFixed(1),
        broker_rss_kib_per_connection: +(brokerKiB / count).toFixed(1),
        // MQTT keepalive (default 60 s): PINGREQ + PINGRESP, 2 bytes each, per connection and minute.
        keepalive_bytes_per_minute: count * 4,
      }),
    );
  }
} finally {
  await broker.destroy();
}
