/**
 * Ingest benchmark (a script, not a test): readings/s from publish to stored in InfluxDB through
 * mosquitto and the storage hook, next to two baselines measured in the same run:
 *   (a) a bare mqtt.js QoS 1 subscriber that only parses the JSON (the broker path's limit),
 *   (b) the same points written directly as batched line protocol to the same influxd (the database's limit).
 *
 *   node --import tsx bench/ingest/run.ts [--readings 100000] [--runs 3]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { loadConfig, silentLogger } from '@wattbus/runtime';
import { readingToLine } from '@wattbus/influx';
import { startInflux, startMosquitto, type InfluxServer } from '@wattbus/testing';
import { StorageHook, StorageHookConfigSchema } from '@wattbus/storage-hook';
import { benchReading } from './reading.js';
import { publish as publishReadings, type PublishRun } from './publish.js';

const { values } = parseArgs({
  options: {
    readings: { type: 'string', default: '100000' },
    runs: { type: 'string', default: '3' },
    devices: { type: 'string', default: '100' },
  },
});
const COUNT = Number(values.readings);
const RUNS = Number(values.runs);
const DEVICES = Number(values.devices);

const influx = await startInflux();
const mosquitto = await startMosquitto();

function publish(base: string): PublishRun {
  return publishReadings({ url: mosquitto.url, base, count: COUNT, devices: DEVICES });
}

/** CPU time (user + system) of this process, i.e. of the consumer alone, in µs. */
function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

function until(predicate: () => boolean): Promise<number> {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (predicate()) {
        clearInterval(timer);
        resolve(performance.now());
      }
    }, 5);
  });
}

async function bareSubscriber(run: number): Promise<{ rate: number; busyUsPerReading: number }> {
  const base = `bare${run}`;
  const client = await mqtt.connectAsync(mosquitto.url, { clientId: `bench-bare-${run}` });
  let received = 0;
  let checksum = 0;
  client.on('message', (_topic, payload) => {
    checksum += (JSON.parse(payload.toString()) as { power_w: number }).power_w;
    received++;
  });
  await client.subscribeAsync(`${base}/devices/+/readings`, { qos: 1 });
  const { started } = publish(base);
  const t0 = await started;
  const cpu0 = cpuMicros();
  const t1 = await until(() => received >= COUNT);
  const busy = cpuMicros() - cpu0;
  await client.endAsync();
  if (!Number.isFinite(checksum)) throw new Error('bad checksum');
  return { rate: COUNT / ((t1 - t0) / 1000), busyUsPerReading: busy / COUNT };
}

async function storageHook(
  run: number,
): Promise<{ stored: number; logged: number; busyUsPerReading: number }> {
  const base = `hook${run}`;
  const dir = mkdtempSync(join(tmpdir(), 'wattbus-bench-hook-'));
  const config = loadConfig({ schema: StorageHookConfigSchema, env: {} });
  const hook = new StorageHook({
    config: {
      ...config,
      counters_log_interval_ms: 0,
      mqtt: { ...config.mqtt, url: mosquitto.url, base_topic: base, client_id: `bench-hook-${run}` },
      influx: { ...config.influx, url: influx.url, database: base },
      log: { ...config.log, dir },
    },
    logger: silentLogger(),
  });
  await hook.start();
  const { started } = publish(base);
  const t0 = await started;
  const cpu0 = cpuMicros();
  const logged = until(() => hook.counters().spooled >= COUNT);
  const t1 = await until(() => hook.counters().written >= COUNT);
  const busy = cpuMicros() - cpu0;
  const tLogged = await logged;
  await hook.stop();
  rmSync(dir, { recursive: true, force: true });
  await checkStored(influx, base);
  return {
    stored: COUNT / ((t1 - t0) / 1000),
    logged: COUNT / ((tLogged - t0) / 1000),
    busyUsPerReading: busy / COUNT,
  };
}

async function directLineProtocol(run: number): Promise<number> {
  const database = `direct${run}`;
  await influx.createDatabase(database);
  const lines: string[] = [];
  for (let i = 0; i < COUNT; i++) lines.push(readingToLine(benchReading(i, DEVICES)));
  const t0 = performance.now();
  for (let start = 0; start < lines.length; start += 5000) {
    const response = await fetch(`${influx.url}/write?db=${database}&precision=ms`, {
      method: 'POST',
      body: lines.slice(start, start + 5000).join('\n'),
    });
    if (response.status !== 204) throw new Error(`direct write answered ${response.status}`);
  }
  const t1 = performance.now();
  await checkStored(influx, database);
  return COUNT / ((t1 - t0) / 1000);
}

async function checkStored(server: InfluxServer, database: string): Promise<void> {
  const result = await server.query(database, 'SELECT count(power_w) FROM electricity');
  const stored = Number(result.results?.[0]?.series?.[0]?.values[0]?.[1] ?? 0);
  if (stored !== COUNT) throw new Error(`${database}: ${stored} of ${COUNT} stored`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const results = {
  hook: [] as number[],
  logged: [] as number[],
  hookBusy: [] as number[],
  bare: [] as number[],
  bareBusy: [] as number[],
  direct: [] as number[],
};
try {
  for (let run = 1; run <= RUNS; run++) {
    // Interleaved, so drift on a shared machine hits all three alike.
    const bareRun = await bareSubscriber(run);
    results.bare.push(bareRun.rate);
    results.bareBusy.push(bareRun.busyUsPerReading);
    const hookRun = await storageHook(run);
    results.hook.push(hookRun.stored);
    results.logged.push(hookRun.logged);
    results.hookBusy.push(hookRun.busyUsPerReading);
    results.direct.push(await directLineProtocol(run));
    console.log(
      `run ${run}: storage hook ${results.hook.at(-1)!.toFixed(0)}/s (acked into its log ${results.logged.at(-1)!.toFixed(0)}/s), bare subscriber ${results.bare.at(-1)!.toFixed(0)}/s, direct line protocol ${results.direct.at(-1)!.toFixed(0)}/s`,
    );
  }
  const hook = median(results.hook);
  const bare = median(results.bare);
  const direct = median(results.direct);
  console.log(`\n${COUNT} readings, ${DEVICES} devices, median of ${RUNS} runs (readings/s):`);
  console.log(`  storage hook, publish -> stored in InfluxDB : ${hook.toFixed(0)}`);
  console.log(`    of which acked into its log (no InfluxDB): ${median(results.logged).toFixed(0)}`);
  console.log(`  (a) bare mqtt.js QoS 1 subscriber, JSON.parse: ${bare.toFixed(0)}`);
  console.log(`  (b) direct batched line protocol to influxd  : ${direct.toFixed(0)}`);
  console.log(
    `  consumer CPU time per reading: hook ${median(results.hookBusy).toFixed(1)} µs, bare subscriber ${median(results.bareBusy).toFixed(1)} µs`,
  );
  console.log(`  hook / bare subscriber = ${(hook / bare).toFixed(2)}   (target >= 0.80)`);
  console.log(`  hook / direct writes   = ${(hook / direct).toFixed(2)}`);
} finally {
  await Promise.all([influx.destroy(), mosquitto.destroy()]);
}
