/**
 * `npm start` on an office-sized devices file (a script, not a test): N simulated TP-Link plugs
 * polled at an interval, `src/main.ts` as a child process with its own influxd. Reports readings
 * stored per second (against what the polls should give), and the CPU and memory of the platform
 * process and of its influxd over the measured window.
 *
 *   node --import tsx bench/own-fleet/run.ts [--devices 200] [--poll-ms 1000] [--seconds 60]
 *
 * The simulators run in this process, on the same cores: on a small machine they take a share.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SimulatedPlug } from '@wattbus/simulators';
import { freePort } from '@wattbus/testing';
import { stringify } from 'yaml';

const { values: args } = parseArgs({
  options: {
    devices: { type: 'string', default: '200' },
    'poll-ms': { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '60' },
  },
});
const DEVICES = Number(args.devices);
const POLL_MS = Number(args['poll-ms']);
const SECONDS = Number(args.seconds);
const main = fileURLToPath(new URL('../../services/platform/src/main.ts', import.meta.url));
const TICKS_PER_SECOND = 100; // Linux USER_HZ, the unit of utime/stime in /proc/<pid>/stat

/** CPU seconds (user + system) and resident MB of a process. */
function usage(pid: number): { cpu: number; rssMb: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const cpu = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return { cpu, rssMb: Number(rss) / 1024 };
}

async function storedBetween(influxPort: number, fromMs: number, toMs: number): Promise<number> {
  const q = `SELECT count(power_w) FROM electricity WHERE time >= ${fromMs}ms AND time < ${toMs}ms`;
  const response = await fetch(`http://127.0.0.1:${influxPort}/query?db=wattbus&q=${encodeURIComponent(q)}`);
  const body = (await response.json()) as { results: { series?: { values: [string, number][] }[] }[] };
  return body.results[0]?.series?.[0]?.values[0]?.[1] ?? 0;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const dir = mkdtempSync(join(tmpdir(), 'wattbus-bench-fleet-'));
const plugs: SimulatedPlug[] = [];
for (let n = 0; n < DEVICES; n++) {
  plugs.push(await SimulatedPlug.start({ realtime: { power: 50 + (n % 40), voltage: 230, current: 0.3 } }));
}
const file = join(dir, 'devices.yaml');
writeFileSync(
  file,
  stringify({
    defaults: { poll_interval_ms: POLL_MS },
    devices: plugs.map((plug, n) => ({
      id: `desk-${n + 1}`,
      type: 'tplink',
      location: `hq/floor-${1 + Math.floor(n / 50)}/desk-${n + 1}`,
      kind: 'workplace',
      connection: { host: plug.host, port: plug.port },
    })),
  }),
);
const influxPort = await freePort();
const child = spawn(
  process.execPath,
  [
    '--import',
    'tsx',
    main,
    '--data-dir',
    join(dir, 'data'),
    '--devices',
    file,
    '--http-port',
    String(await freePort()),
    '--mqtt-port',
    String(await freePort()),
    '--ws-port',
    'off',
    '--influx-port',
    String(influxPort),
  ],
  { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, INFLUX_URL: '', LOG_LEVEL: 'warn' } },
);
let output = '';
child.stdout!.on('data', (chunk) => (output += chunk));
const startedAt = Date.now();
while (!output.includes('Notable events follow')) {
  if (child.exitCode !== null || Date.now() - startedAt > 120_000) throw new Error(`no banner:\n${output}`);
  await sleep(200);
}
// The influxd itself, not the watchdog that shares its command line.
const influxPid = spawnSync('pgrep', ['-f', join(dir, 'data', 'influxdb')], { encoding: 'utf8' })
  .stdout.trim()
  .split('\n')
  .map(Number)
  .find((pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'influxd')!;
await sleep(20_000); // every device polled a while: its first connections and meta are behind it
const from = Date.now();
const platformBefore = usage(child.pid!);
const influxBefore = usage(influxPid);
await sleep(SECONDS * 1000);
const to = Date.now();
const platformAfter = usage(child.pid!);
const influxAfter = usage(influxPid);
await sleep(3000); // the last readings of the window reach InfluxDB
const stored = await storedBetween(influxPort, from, to);
const expected = (DEVICES * (to - from)) / POLL_MS;

console.log(
  JSON.stringify(
    {
      devices: DEVICES,
      poll_interval_ms: POLL_MS,
      window_s: (to - from) / 1000,
      readings_per_s: Number((stored / ((to - from) / 1000)).toFixed(1)),
      stored_of_expected: Number((stored / expected).toFixed(3)),
      platform_cpu_percent_of_one_core: Number(
        ((100 * (platformAfter.cpu - platformBefore.cpu)) / ((to - from) / 1000)).toFixed(1),
      ),
      platform_rss_mb: Math.round(platformAfter.rssMb),
      influxd_cpu_percent_of_one_core: Number(
        ((100 * (influxAfter.cpu - influxBefore.cpu)) / ((to - from) / 1000)).toFixed(1),
      ),
      influxd_rss_mb: Math.round(influxAfter.rssMb),
      lines_on_the_console_after_the_banner:
        output.split('Notable events follow:\n')[1]!.split('\n').length - 1,
    },
    null,
    2,
  ),
);
child.kill('SIGTERM');
await once(child, 'exit');
await Promise.all(plugs.map((plug) => plug.stop()));
rmSync(dir, { recursive: true, force: true });
