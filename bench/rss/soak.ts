/**
 * Soak (a script, not a test): the services as deployed (built JavaScript) against mosquitto and
 * influxd for `--minutes`, with `--rate` readings/s published for 100 devices (stored by the
 * storage hook, watched by the alert hook), the agent polling six simulated plugs, and one
 * gateway `latest` request per second through the query component. Prints every service's RSS
 * once a minute, then each one's growth from the end of minute 2 to the end. `--heap` also
 * prints each service's live V8 heap after a full GC once a minute (bench/rss/heap-probe.mjs),
 * which tells a leak from memory V8 or malloc keep; the forced GCs change RSS, so quote RSS from
 * a run without it.
 *
 *   node --import tsx bench/rss/soak.ts [--minutes 30] [--rate 100] [--mode built] [--base DIR] [--heap]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import type { ProgramRun } from '@wattbus/testing';
import { hashApiKey, makeApiKey } from '../../services/gateway/src/api-keys.js';
import { memoryOf } from '../lib/proc.js';
import { bundle, parseModes, startService } from '../lib/services.js';
import { recipe, startBackends } from './fleet.js';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    rate: { type: 'string', default: '100' },
    mode: { type: 'string', default: 'built' },
    base: { type: 'string' },
    heap: { type: 'boolean', default: false },
  },
});
const MINUTES = Number(args.minutes);
const RATE = Number(args.rate);
const [PARSED] = parseModes(args.mode, args.base);
const heapDir = args.heap ? mkdtempSync(join(tmpdir(), 'wattbus-soak-heap-')) : undefined;
const probe = new URL('./heap-probe.mjs', import.meta.url).pathname;
const MODE = heapDir
  ? { ...PARSED!, nodeFlags: [...PARSED!.nodeFlags, '--expose-gc', `--import=${probe}`] }
  : PARSED;
const SERVICES = ['agent', 'storage-hook', 'query', 'gateway', 'alert-hook'];
const DEVICES = 100;

if (MODE!.built) bundle(SERVICES);
const { backends, stop: stopBackends } = await startBackends();
const key = makeApiKey();
const extra: Record<string, Record<string, string>> = {
  gateway: {
    WATTBUS_GATEWAY_API_KEYS: JSON.stringify([{ name: 'soak', sha256: hashApiKey(key), scopes: ['read'] }]),
  },
};
const programs = new Map<string, ProgramRun>();
for (const service of SERVICES) {
  const { args: serviceArgs, env } = recipe(service, backends, extra[service]);
  const heapLog: Record<string, string> = heapDir
    ? { BENCH_HEAP_LOG: join(heapDir, `${service}.jsonl`) }
    : {};
  programs.set(service, startService(service, MODE!, { args: serviceArgs, env: { ...env, ...heapLog } }));
}
const gatewayUrl = String((await programs.get('gateway')!.logLine('gateway listening')).url);
let stopping = false;
for (const [name, run] of programs) {
  void run.exited.then(({ code, signal }) => {
    if (!stopping) process.stderr.write(`${name} exited (${code ?? signal}):\n${run.stderr()}\n`);
  });
}

// Readings: `RATE` per second, in 10 bursts a second, QoS 1, as a fleet of meters would send them.
const publisher = await mqtt.connectAsync(backends.mqttUrl, { clientId: 'soak-publisher' });
let sent = 0;
const publishing = setInterval(() => {
  const now = Date.now();
  for (let i = 0; i < RATE / 10; i++, sent++) {
    const device = `meter-${sent % DEVICES}`;
    const reading = {
      ts: new Date(now).toISOString(),
      device,
      power_w: 100 + (sent % 1000) / 10,
      voltage_v: 230.1,
      current_a: 0.43,
      energy_wh: 1000 + sent,
      type: 'modbus',
      location: 'hq/floor-1/panel-a',
    };
    void publisher.publishAsync(`wattbus/devices/${device}/readings`, JSON.stringify(reading), { qos: 1 });
  }
}, 100);

// One `latest` request a second through the gateway.
const agent = new http.Agent({ keepAlive: true });
let requests = 0;
let failed = 0;
const asking = setInterval(() => {
  const request = http.get(
    `${gatewayUrl}/api/v1/latest?devices=meter-1,meter-2,plug-1`,
    { agent, headers: { 'x-api-key': key } },
    (response) => {
      requests++;
      if (response.statusCode !== 200) failed++;
      response.resume();
    },
  );
  request.on('error', () => failed++);
}, 1000);

const history = new Map<string, number[]>(SERVICES.map((service) => [service, []]));
process.stdout.write(
  `soak: ${MODE!.name}, ${RATE} readings/s, ${MINUTES} min; RSS MB per minute\nminute | ${SERVICES.join(' | ')} | load\n`,
);
try {
  for (let minute = 1; minute <= MINUTES; minute++) {
    await sleep(60_000);
    const row = SERVICES.map((service) => {
      const rss = memoryOf(programs.get(service)!.child.pid!).rss_mb;
      history.get(service)!.push(rss);
      return rss.toFixed(1);
    });
    process.stdout.write(`${minute} | ${row.join(' | ')} | ${loadavg()[0]!.toFixed(1)}\n`);
    if (heapDir) process.stdout.write(`  live heap after GC, MB: ${SERVICES.map(liveHeap).join(' | ')}\n`);
  }
} finally {
  stopping = true;
  clearInterval(publishing);
  clearInterval(asking);
  await publisher.endAsync();
  await Promise.all([...programs.values()].map((run) => run.stop('SIGTERM')));
  await stopBackends();
  if (heapDir) rmSync(heapDir, { recursive: true, force: true });
}
const growth = SERVICES.map((service) => {
  const series = history.get(service)!;
  const from = series[Math.min(1, series.length - 1)]!;
  return `${service} ${(series.at(-1)! - from).toFixed(1)} MB`;
});
process.stdout.write(
  `readings published ${sent}, gateway requests ${requests} (${failed} failed)\ngrowth from minute 2 to ${MINUTES}: ${growth.join(', ')}\n`,
);

/** The newest heap sample the service's probe wrote (`-` before its first minute). */
function liveHeap(service: string): string {
  try {
    const lines = readFileSync(join(heapDir!, `${service}.jsonl`), 'utf8')
      .trim()
      .split('\n');
    return (JSON.parse(lines.at(-1)!) as { used_mb: number }).used_mb.toFixed(1);
  } catch {
    return '-';
  }
}
