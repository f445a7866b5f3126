/**
 * Prometheus hook benchmark (a script, not a test): how long a scrape of its /metrics takes with
 * a fleet of 1,000 devices, next to a static server answering the same page (HTTP and bytes
 * only), in interleaved runs (hook, static, hook, static, …) so load drift hits both.
 *
 *   node --import tsx bench/prometheus/run.ts [--devices 1000] [--scrapes 200] [--runs 5]
 *
 * The hook runs as deployed (services/prometheus/src/main.ts, its own process) against
 * mosquitto; this process publishes the fleet (retained meta, availability, state, and one
 * reading per device: 80 % TP-Link plugs, 15 % Shelly plugs, 5 % 3-phase meters with a total
 * and three phases) and then scrapes one request at a time over a keep-alive connection.
 * The hook's CPU time per scrape is read from /proc/<pid>/stat.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Bus } from '@wattbus/bus';
import type { DeviceMeta, Reading } from '@wattbus/contracts';
import { freePort, parseExposition, startMosquitto } from '@wattbus/testing';

const { values: args } = parseArgs({
  options: {
    devices: { type: 'string', default: '1000' },
    scrapes: { type: 'string', default: '200' },
    runs: { type: 'string', default: '5' },
  },
});
const DEVICES = Number(args.devices);
const SCRAPES = Number(args.scrapes);
const RUNS = Number(args.runs);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        response.on('error', reject);
      })
      .on('error', reject);
  });
}

/** utime + stime of a process, in ms (clock ticks of 10 ms on Linux). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

interface Run {
  p50_ms: number;
  p99_ms: number;
  cpu_ms_per_scrape: number;
}

async function measure(url: string, pid: number): Promise<Run> {
  const latencies: number[] = [];
  const cpuBefore = cpuMs(pid);
  for (let n = 0; n < SCRAPES; n++) {
    const started = performance.now();
    await get(url);
    latencies.push(performance.now() - started);
  }
  const cpu = (cpuMs(pid) - cpuBefore) / SCRAPES;
  latencies.sort((a, b) => a - b);
  const rank = (q: number) => latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)]!;
  return { p50_ms: round(rank(0.5)), p99_ms: round(rank(0.99)), cpu_ms_per_scrape: round(cpu) };
}

const round = (value: number) => Math.round(value * 100) / 100;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Spawns a script and resolves once `ready` matches a line of its stdout. */
async function start(
  argv: string[],
  env: Record<string, string>,
  ready: RegExp,
): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...argv], {
    cwd: repoRoot,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const line = await new Promise<string>((resolve, reject) => {
    lines.on('line', (text) => ready.test(text) && resolve(text));
    child.once('exit', (code) => reject(new Error(`${argv[0]} exited with ${code}`)));
  });
  lines.close();
  child.stdout!.resume();
  return { child, line };
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

function device(n: number): { meta: DeviceMeta; readings: Reading[] } {
  const id = `dev-${String(n).padStart(4, '0')}`;
  const kind = n % 20 === 0 ? 'meter' : n % 20 < 4 ? 'shelly' : 'tplink';
  const ts = new Date().toISOString();
  const meta: DeviceMeta = {
    id,
    name: `Device ${n}`,
    type: kind === 'meter' ? 'modbus' : kind,
    kind: kind === 'meter' ? 'meter' : 'workplace',
    location: `hq/floor-${n % 5}/room-${n % 40}`,
    poll_interval_ms: 10_000,
    model: kind === 'meter' ? 'eastron-sdm630' : kind === 'shelly' ? 'plus-plug-s' : 'HS110(EU)',
    ts,
  };
  const base = {
    ts,
    device: id,
    power_w: 50 + (n % 100),
    voltage_v: 230.1,
    current_a: 0.25,
    energy_wh: 1000 + n,
  };
  const readings: Reading[] =
    kind === 'meter'
      ? [
          { ...base, power_factor: 0.95, frequency_hz: 50 },
          ...(['L1', 'L2', 'L3'] as const).map((phase) => ({ ...base, phase })),
        ]
      : [base];
  return { meta, readings };
}

async function main(): Promise<void> {
  const mosquitto = await startMosquitto({ persistence: false });
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'wattbus-bench-prometheus-'));
  let hook: ChildProcess | undefined;
  let baseline: ChildProcess | undefined;
  const publisher = await Bus.connect({ url: mosquitto.url, service: 'bench' });
  try {
    hook = (
      await start(
        ['services/prometheus/src/main.ts'],
        {
          WATTBUS_PROMETHEUS_MQTT__URL: mosquitto.url,
          WATTBUS_PROMETHEUS_PORT: String(port),
          WATTBUS_PROMETHEUS_STALE_AFTER_POLLS: '0',
        },
        /prometheus hook following the fleet/,
      )
    ).child;
    const hookUrl = `http://127.0.0.1:${port}/metrics`;
    const t = publisher.topics;
    let readingsPublished = 0;
    for (let n = 0; n < DEVICES; n++) {
      const { meta, readings } = device(n);
      await Promise.all([
        publisher.publish(t.meta(meta.id), meta, { retain: true }),
        publisher.publish(t.availability(meta.id), 'online', { retain: true }),
        publisher.publish(t.state(meta.id), { on: true, ts: meta.ts }, { retain: true }),
        ...readings.map((reading) => publisher.publish(t.readings(meta.id), reading)),
      ]);
      readingsPublished += readings.length;
    }
    // The fleet is in once every reading is exposed.
    let page = '';
    for (const deadline = Date.now() + 60_000; ;) {
      page = await get(hookUrl);
      const exposed = parseExposition(page).filter((sample) => sample.name === 'wattbus_power_watts').length;
      if (exposed === readingsPublished) break;
      if (Date.now() > deadline) throw new Error(`only ${exposed} of ${readingsPublished} readings exposed`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const pageFile = join(dir, 'metrics.txt');
    writeFileSync(pageFile, page);
    const started = await start(['bench/prometheus/static-server.ts', pageFile], {}, /^\d+$/);
    baseline = started.child;
    const staticUrl = `http://127.0.0.1:${started.line.trim()}/metrics`;
    const samples = parseExposition(page);
    console.log(
      JSON.stringify({
        devices: DEVICES,
        series: samples.length,
        device_series: samples.filter(
          (sample) => /^(kasa|wattbus)_/.test(sample.name) && !('service' in sample.labels),
        ).length,
        page_bytes: Buffer.byteLength(page),
        scrapes_per_run: SCRAPES,
        runs: RUNS,
        node: process.version,
        cpus: cpus().length,
        loadavg: loadavg().map((value) => round(value)),
      }),
    );
    // Warm-up (JIT, connection), not counted.
    for (let n = 0; n < 20; n++) await Promise.all([get(hookUrl), get(staticUrl)]);
    const hookRuns: Run[] = [];
    const staticRuns: Run[] = [];
    for (let run = 0; run < RUNS; run++) {
      hookRuns.push(await measure(hookUrl, hook.pid!));
      staticRuns.push(await measure(staticUrl, baseline.pid!));
      console.log(JSON.stringify({ run: run + 1, hook: hookRuns.at(-1), static: staticRuns.at(-1) }));
    }
    const summary = (runs: Run[]) => ({
      p50_ms: median(runs.map((run) => run.p50_ms)),
      p99_ms: median(runs.map((run) => run.p99_ms)),
      cpu_ms_per_scrape: median(runs.map((run) => run.cpu_ms_per_scrape)),
    });
    console.log(JSON.stringify({ medians: { hook: summary(hookRuns), static: summary(staticRuns) } }));
  } finally {
    agent.destroy();
    await publisher.stop();
    await stop(baseline);
    await stop(hook);
    await mosquitto.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
