/**
 * Ingest against Node-RED (a script, not a test): CPU per reading and readings/s of three consumers
 * of the same QoS 1 readings, each in its own process, on the harness's mosquitto and influxd,
 * interleaved run by run (the order rotates) so that load drift hits all three:
 *   bare       an mqtt.js subscriber that only parses the JSON (bare-subscriber.ts): the broker path's limit;
 *   hook       the storage hook as deployed (services/storage-hook/dist/main.js, scripts/service.sh's settings);
 *   node-red   Node-RED 4 (red.js, headless) running a tuned flow: MQTT in → join → influxdb batch (node-red-flow.ts).
 * The window runs from the publisher's first publish until the last reading is received (bare) or
 * counted in InfluxDB (hook, Node-RED; polled every --poll-ms); CPU is the consumer process's
 * utime + stime from /proc over that window.
 *
 *   node --import tsx bench/ingest/node-red.ts [--readings 100000] [--runs 5] [--devices 100] [--batch 1000]
 *     [--consumers bare,hook,node-red] [--base DIR] [--hook-flags='--cpu-prof --cpu-prof-dir=/tmp/prof']
 *
 * --base DIR adds a fourth consumer, `base`: the storage hook of another checkout (e.g. main, in a
 * git worktree with node_modules copied), bundled there and run with the same settings, to compare
 * two versions side by side. --hook-flags passes node flags to the hook(s), e.g. to profile them;
 * --base-flags, when given, to the base instead (--base . compares two settings of one version).
 */
import { spawn, fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { startInflux, startMosquitto } from '@wattbus/testing';
import { cpuSecondsOf, median, memoryOf } from '../lib/proc.js';
import { bundle, parseModes, startService } from '../lib/services.js';
import { nodeRedUserDir } from './node-red-flow.js';
import { publish } from './publish.js';
import { benchReading } from './reading.js';

const { values } = parseArgs({
  options: {
    readings: { type: 'string', default: '100000' },
    runs: { type: 'string', default: '5' },
    devices: { type: 'string', default: '100' },
    batch: { type: 'string', default: '1000' },
    'poll-ms': { type: 'string', default: '25' },
    consumers: { type: 'string', default: 'bare,hook,node-red' },
    base: { type: 'string' },
    'hook-flags': { type: 'string', default: '' },
    'base-flags': { type: 'string' },
  },
});
const COUNT = Number(values.readings);
const RUNS = Number(values.runs);
const DEVICES = Number(values.devices);
const BATCH = Number(values.batch);
const POLL_MS = Number(values['poll-ms']);
const RED_JS = createRequire(import.meta.url).resolve('node-red/red.js');

/** A consumer started for one run: its process, and when it has taken every reading. */
interface Consumer {
  pid: number;
  /** Resolves with performance.now() once all COUNT readings are received or stored. */
  finished(): Promise<number>;
  stop(): Promise<void>;
}

bundle(['storage-hook']);
const [production, baseProduction] = parseModes(
  `production:${values['hook-flags']}${values.base ? `,base-production:${values['base-flags'] ?? values['hook-flags']}` : ''}`,
  values.base,
);
if (baseProduction) bundle(['storage-hook'], baseProduction.root);
const influx = await startInflux();
const mosquitto = await startMosquitto();
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function storedCount(database: string, since = 0): Promise<number> {
  const result = await influx.query(
    database,
    `SELECT count(power_w) FROM electricity WHERE time >= ${since}ms`,
  );
  return Number(result.results?.[0]?.series?.[0]?.values[0]?.[1] ?? 0);
}

/**
 * Polls InfluxDB until the run's database holds every reading. It polls the newest second's
 * readings first (counting all 100,000 every few ms would load influxd, which shares the cores
 * with the consumer), then the whole run.
 */
async function allStored(database: string, child: ChildProcess): Promise<number> {
  const newest = Date.parse(benchReading(COUNT - 1, DEVICES).ts);
  const inNewest = COUNT - Math.floor((COUNT - 1) / DEVICES) * DEVICES;
  let since = newest;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${database}: the consumer exited (${child.exitCode})`);
    const stored = await storedCount(database, since);
    if (since === 0 && stored === COUNT) return performance.now();
    if (stored > (since === 0 ? COUNT : inNewest)) throw new Error(`${database}: ${stored} stored`);
    if (stored === inNewest && since !== 0) since = 0;
    else await sleep(POLL_MS);
  }
}

/**
 * The hook and the flow must store the same points: every reading once, its tags and float fields,
 * its `ts` in ms (a sum over all readings and the newest point's time).
 */
async function checkStored(database: string): Promise<void> {
  const totals = await influx.query(
    database,
    'SELECT count(power_w), sum(energy_wh) FROM electricity GROUP BY "type", "location"',
  );
  const newest = await influx.query(database, 'SELECT last(energy_wh) FROM electricity');
  const last = benchReading(COUNT - 1, DEVICES);
  let energy = 0;
  for (let i = 0; i < COUNT; i++) energy += benchReading(i, DEVICES).energy_wh!;
  const got = JSON.stringify([
    (totals.results?.[0]?.series ?? []).map((s) => [s.tags, s.values[0]?.slice(1)]),
    newest.results?.[0]?.series?.[0]?.values[0],
  ]);
  const want = JSON.stringify([
    [[{ location: last.location, type: last.type }, [COUNT, energy]]],
    [Date.parse(last.ts), last.energy_wh],
  ]);
  if (got !== want) throw new Error(`${database} holds ${got}, expected ${want}`);
}

async function bare(base: string): Promise<Consumer> {
  const child = fork(new URL('./bare-subscriber.ts', import.meta.url).pathname, [
    JSON.stringify({ url: mosquitto.url, base, count: COUNT }),
  ]);
  children.add(child);
  let onDone!: (t: number) => void;
  const done = new Promise<number>((resolve) => (onDone = resolve));
  await new Promise<void>((resolve, reject) => {
    child.on('message', (message) => {
      if (message === 'ready') resolve();
      if (typeof message === 'object' && message !== null && 'done' in message) onDone(performance.now());
    });
    child.once('exit', (code) => reject(new Error(`bare subscriber exited with ${code}`)));
  });
  return {
    pid: child.pid!,
    finished: () => done,
    async stop() {
      child.send('stop');
      await exited(child);
    },
  };
}

async function hook(base: string, mode = production!): Promise<Consumer> {
  const dir = mkdtempSync(join(tmpdir(), 'wattbus-bench-hook-'));
  const prefix = 'WATTBUS_STORAGE_HOOK_';
  const run = startService('storage-hook', mode, {
    env: {
      [`${prefix}MQTT__URL`]: mosquitto.url,
      [`${prefix}MQTT__BASE_TOPIC`]: base,
      [`${prefix}MQTT__CLIENT_ID`]: `bench-hook-${base}`,
      [`${prefix}INFLUX__URL`]: influx.url,
      [`${prefix}INFLUX__DATABASE`]: base,
      [`${prefix}LOG__DIR`]: dir,
      [`${prefix}ADMIN__PORT`]: '0',
      [`${prefix}COUNTERS_LOG_INTERVAL_MS`]: '0',
    },
  });
  await run.logLine('storage hook started');
  return {
    pid: run.child.pid!,
    finished: () => allStored(base, run.child),
    async stop() {
      await run.stop('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function nodeRed(base: string): Promise<Consumer> {
  const { userDir, settings } = nodeRedUserDir({
    mqttUrl: mosquitto.url,
    influxUrl: influx.url,
    base,
    batch: BATCH,
  });
  const child = spawn(process.execPath, [RED_JS, '--userDir', userDir, '--settings', settings], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.add(child);
  // Probe until the flow echoes: then its readings subscription is in place (node-red-flow.ts).
  const probe = await mqtt.connectAsync(mosquitto.url, { clientId: `bench-probe-${base}` });
  await probe.subscribeAsync(`${base}/probe/echo`, { qos: 1 });
  const echoed = new Promise<void>((resolve) => probe.once('message', () => resolve()));
  let answered = false;
  void echoed.then(() => (answered = true));
  while (!answered) {
    if (child.exitCode !== null) throw new Error(`Node-RED exited with ${child.exitCode}`);
    await probe.publishAsync(`${base}/probe`, 'ping', { qos: 1 });
    await Promise.race([echoed, sleep(200)]);
  }
  await probe.endAsync();
  return {
    pid: child.pid!,
    finished: () => allStored(base, child),
    async stop() {
      child.kill('SIGTERM');
      await exited(child);
      rmSync(userDir, { recursive: true, force: true });
    },
  };
}

const CONSUMERS = {
  bare,
  hook: (base: string) => hook(base),
  base: (base: string) => hook(base, baseProduction),
  'node-red': nodeRed,
} as const;
type Name = keyof typeof CONSUMERS;
const NAMES = [...values.consumers.split(','), ...(values.base ? ['base'] : [])] as Name[];
for (const name of NAMES) if (!(name in CONSUMERS)) throw new Error(`unknown consumer ${name}`);

interface Sample {
  rate: number;
  cpuUsPerReading: number;
  publishS: number;
  peakRssMb: number;
  load: number;
}

async function measure(name: Name, run: number): Promise<Sample> {
  const base = `${name.replace('-', '')}${run}`;
  await influx.createDatabase(base); // before the hook's first write, so polling it finds it
  const consumer = await CONSUMERS[name](base);
  const load = loadavg()[0]!;
  const publisher = publish({ url: mosquitto.url, base, count: COUNT, devices: DEVICES });
  const t0 = await publisher.started;
  const cpu0 = cpuSecondsOf(consumer.pid);
  const t1 = await consumer.finished();
  const cpu = cpuSecondsOf(consumer.pid) - cpu0;
  const publishS = ((await publisher.published) - t0) / 1000;
  const peakRssMb = memoryOf(consumer.pid).hwm_mb;
  await consumer.stop();
  if (name !== 'bare') await checkStored(base);
  return {
    rate: COUNT / ((t1 - t0) / 1000),
    cpuUsPerReading: (cpu * 1e6) / COUNT,
    publishS,
    peakRssMb,
    load,
  };
}

const samples = new Map<Name, Sample[]>(NAMES.map((name) => [name, []]));
try {
  for (let run = 1; run <= RUNS; run++) {
    // Rotate the order so that no consumer always runs first (or right after Node-RED's start-up).
    const order = NAMES.map((_, i) => NAMES[(i + run - 1) % NAMES.length]!);
    const line: string[] = [];
    for (const name of order) {
      const sample = await measure(name, run);
      samples.get(name)!.push(sample);
      line.push(
        `${name} ${sample.rate.toFixed(0)}/s ${sample.cpuUsPerReading.toFixed(1)} µs (publish ${sample.publishS.toFixed(2)} s, load ${sample.load.toFixed(1)})`,
      );
    }
    console.log(`run ${run}: ${line.join(', ')}`);
  }
  const med = (name: Name, key: keyof Sample) => median(samples.get(name)!.map((sample) => sample[key]));
  const loads = [...samples.values()].flat().map((sample) => sample.load);
  console.log(
    `\n${COUNT} readings, ${DEVICES} devices, Node-RED join ${BATCH}, medians of ${RUNS} interleaved runs, load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}:`,
  );
  console.log('  consumer   readings/s   CPU µs/reading   peak RSS MB   publisher s');
  for (const name of NAMES) {
    console.log(
      `  ${name.padEnd(9)}  ${med(name, 'rate').toFixed(0).padStart(10)}   ${med(name, 'cpuUsPerReading').toFixed(1).padStart(14)}   ${med(name, 'peakRssMb').toFixed(1).padStart(11)}   ${med(name, 'publishS').toFixed(2).padStart(11)}`,
    );
  }
  const ratio = (a: Name, b: Name, key: keyof Sample) => (med(a, key) / med(b, key)).toFixed(2);
  const has = (name: Name) => NAMES.includes(name);
  for (const hookName of (['hook', 'base'] as const).filter(has)) {
    const label = (to: string) => `${hookName} / ${to}`.padEnd(16);
    if (has('bare')) {
      console.log(`  ${label('bare')} readings/s ${ratio(hookName, 'bare', 'rate')} (target >= 0.9)`);
      console.log(
        `  ${label('bare')} CPU per reading ${ratio(hookName, 'bare', 'cpuUsPerReading')} (target <= 1.3)`,
      );
    }
    if (has('node-red')) {
      console.log(
        `  ${label('Node-RED')} CPU per reading ${ratio(hookName, 'node-red', 'cpuUsPerReading')} (target <= 0.3)`,
      );
      console.log(`  ${label('Node-RED')} readings/s ${ratio(hookName, 'node-red', 'rate')}`);
    }
  }
  if (has('hook') && has('base')) {
    console.log(`  hook / base      CPU per reading ${ratio('hook', 'base', 'cpuUsPerReading')}`);
  }
} finally {
  await Promise.all([influx.destroy(), mosquitto.destroy()]);
}
