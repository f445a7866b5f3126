/**
 * Scale-out benchmark (a script, not a test): readings/s from the first publish until every
 * reading is stored in InfluxDB, with 1, 2 and 4 storage hooks in a share group on mosquitto, a
 * hot-standby pair (no group: each hook stores everything), a pair partitioned by device (each
 * receives everything, stores half), and on the embedded broker: one aedes
 * node, and two aedes nodes sharing a Redis (publisher on node 1, hooks on node 2 or one per node).
 * Every hook and broker node runs in its own process; scenarios are interleaved run by run.
 *
 *   node --import tsx bench/scaleout/run.ts [--readings 20000] [--runs 3] [--devices 100]
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { loadConfig } from '@wattbus/runtime';
import { StorageHookConfigSchema, type StorageHookConfig } from '@wattbus/storage-hook';
import { startInflux, startMosquitto, startRedis } from '@wattbus/testing';

const { values } = parseArgs({
  options: {
    readings: { type: 'string', default: '20000' },
    runs: { type: 'string', default: '3' },
    devices: { type: 'string', default: '100' },
  },
});
const COUNT = Number(values.readings);
const RUNS = Number(values.runs);
const DEVICES = Number(values.devices);
const dir = mkdtempSync(join(tmpdir(), 'wattbus-bench-scaleout-'));
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** services/broker as a process; `redisUrl` makes it a node of a cluster. */
async function brokerNode(name: string, redisUrl?: string): Promise<{ url: string; child: ChildProcess }> {
  const file = join(dir, `${name}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      port: 0,
      stats_interval_ms: 0,
      anonymous: { enabled: true, publish: ['#'], subscribe: ['#'] },
      ...(redisUrl ? { cluster: { redis_url: redisUrl, node_id: name } } : {}),
    }),
  );
  const main = new URL('../../services/broker/src/main.ts', import.meta.url).pathname;
  const child = spawn(process.execPath, ['--import', 'tsx', main, '--config', file], {
    env: { ...process.env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (text) => {
      const line = JSON.parse(text) as { msg?: string; mqtt_port?: number };
      if (line.msg === 'broker listening') resolve(line.mqtt_port!);
    });
    child.once('exit', (code) => reject(new Error(`broker ${name} exited with ${code}`)));
  });
  return { url: `mqtt://127.0.0.1:${port}`, child };
}

interface Scenario {
  name: string;
  publishTo: string;
  hooks: string[];
  /** Hooks in one share group (each reading to one) or not (each reading to every hook). */
  group: boolean;
  /** Without a group: each hook stores only its partition of the devices (each reading stored once). */
  partitioned?: boolean;
}

const influx = await startInflux();
const mosquitto = await startMosquitto({ persistence: false });
const redis = await startRedis();
const single = await brokerNode('single');
const [nodeOne, nodeTwo] = await Promise.all([
  brokerNode('node-1', redis.url),
  brokerNode('node-2', redis.url),
]);
const mq = mosquitto.url;
const SCENARIOS: Scenario[] = [
  { name: 'mosquitto, 1 hook in a share group', publishTo: mq, hooks: [mq], group: true },
  { name: 'mosquitto, 2 hooks in a share group', publishTo: mq, hooks: [mq, mq], group: true },
  { name: 'mosquitto, 4 hooks in a share group', publishTo: mq, hooks: [mq, mq, mq, mq], group: true },
  { name: 'mosquitto, hot-standby pair (no group)', publishTo: mq, hooks: [mq, mq], group: false },
  {
    name: 'mosquitto, 2 hooks partitioned by device (no group)',
    publishTo: mq,
    hooks: [mq, mq],
    group: false,
    partitioned: true,
  },
  { name: 'aedes, 1 node, 1 hook', publishTo: single.url, hooks: [single.url], group: false },
  {
    name: 'aedes+Redis, 2 nodes: publish on node 1, 1 hook on node 2',
    publishTo: nodeOne.url,
    hooks: [nodeTwo.url],
    group: false,
  },
  {
    name: 'aedes+Redis, 2 nodes: hot-standby pair, one hook per node',
    publishTo: nodeOne.url,
    hooks: [nodeOne.url, nodeTwo.url],
    group: false,
  },
];

function hookProcess(config: StorageHookConfig, onWritten: (written: number) => void): Promise<ChildProcess> {
  const child = fork(new URL('./hook.ts', import.meta.url).pathname, [JSON.stringify(config)]);
  children.add(child);
  child.on('message', (message) => {
    if (typeof message === 'object' && message !== null && 'written' in message) {
      onWritten((message as { written: number }).written);
    }
  });
  return new Promise((resolve, reject) => {
    child.once('message', (message) => (message === 'started' ? resolve(child) : undefined));
    child.once('exit', (code) => reject(new Error(`hook exited with ${code}`)));
  });
}

async function stopHook(child: ChildProcess): Promise<void> {
  const stopped = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.send('stop');
  await stopped;
  children.delete(child);
}

/** readings/s from the first publish until all are stored (by every hook, without a group). */
async function measure(scenario: Scenario, index: number, run: number): Promise<number> {
  const base = `s${index}r${run}`;
  const defaults = loadConfig({ schema: StorageHookConfigSchema, env: {} });
  const written = scenario.hooks.map(() => 0);
  const expected = scenario.group || scenario.partitioned ? COUNT : COUNT * scenario.hooks.length;
  let done!: (time: number) => void;
  const finished = new Promise<number>((resolve) => (done = resolve));
  const hooks = await Promise.all(
    scenario.hooks.map((url, member) =>
      hookProcess(
        {
          ...defaults,
          counters_log_interval_ms: 0,
          mqtt: {
            ...defaults.mqtt,
            url,
            base_topic: base,
            client_id: `${base}-hook-${member}`,
            ...(scenario.group ? { share_group: base } : {}),
          },
          ...(scenario.partitioned ? { partition: { index: member, count: scenario.hooks.length } } : {}),
          influx: { ...defaults.influx, url: influx.url, database: base },
          log: { ...defaults.log, dir: join(dir, `${base}-${member}`) },
        },
        (count) => {
          written[member] = count;
          if (written.reduce((sum, value) => sum + value, 0) >= expected) done(performance.now());
        },
      ),
    ),
  );
  const publisher = fork(new URL('../ingest/publisher.ts', import.meta.url).pathname, [
    JSON.stringify({ url: scenario.publishTo, base, count: COUNT, devices: DEVICES }),
  ]);
  children.add(publisher);
  const started = new Promise<number>((resolve) =>
    publisher.on('message', (message) => message === 'start' && resolve(performance.now())),
  );
  const t0 = await started;
  const t1 = await finished;
  await Promise.all(hooks.map(stopHook));
  const answer = await influx.query(base, 'SELECT count(power_w) FROM electricity');
  const stored = Number(answer.results?.[0]?.series?.[0]?.values[0]?.[1] ?? 0);
  if (stored !== COUNT) throw new Error(`${scenario.name}: ${stored} of ${COUNT} stored`);
  return COUNT / ((t1 - t0) / 1000);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const results = SCENARIOS.map(() => [] as number[]);
try {
  for (let run = 1; run <= RUNS; run++) {
    for (const [index, scenario] of SCENARIOS.entries()) {
      const rate = await measure(scenario, index, run);
      results[index]!.push(rate);
      console.log(`run ${run}: ${scenario.name}: ${rate.toFixed(0)} readings/s`);
    }
  }
  console.log(
    `\n${COUNT} readings, ${DEVICES} devices, median of ${RUNS} interleaved runs (readings/s stored):`,
  );
  for (const [index, scenario] of SCENARIOS.entries()) {
    const runs = results[index]!.map((rate) => rate.toFixed(0)).join(', ');
    console.log(
      `  ${scenario.name.padEnd(62)} ${median(results[index]!).toFixed(0).padStart(7)}   (${runs})`,
    );
  }
} finally {
  for (const child of children) child.kill('SIGTERM');
  await Promise.all([influx.destroy(), mosquitto.destroy(), redis.destroy()]);
  rmSync(dir, { recursive: true, force: true });
}
