/**
 * Gateway benchmark (a script, not a test): requests/s and p50/p99 latency of `latest` and a
 * 1-day `readings` query through the REST gateway (HTTP → MQTT → query component → InfluxDB or
 * memory → MQTT → HTTP), next to the same InfluxQL sent straight to influxd in the same run.
 *
 *   node --import tsx bench/gateway/run.ts [--requests 2000] [--concurrency 1,16] [--devices 10] [--broker mosquitto|aedes] [--root DIR]
 *
 * `--requests` is the number of `latest` requests per scenario at the highest concurrency (a
 * quarter of it for `readings`, a quarter again at lower concurrencies).
 *
 * The gateway and the query component run as child processes from their built JavaScript
 * (dist/main.js, bundled first, as deployed), so the load generator does not share their event
 * loops. `--node-flags` adds node flags to both (e.g. `--cpu-prof --cpu-prof-dir=bench/out/prof`).
 * `--service-env 'A=1 B=2'` sets environment variables of both (e.g. malloc tunables).
 * `--only TEXT` keeps the scenarios whose name contains TEXT. `--root DIR` runs (and bundles) the services of another checkout instead, e.g. `main` unpacked
 * with `git archive` and node_modules beside it, to compare two versions run by run.
 *
 * `latest` is asked for one device and for every device of the fleet (`--devices`) in one
 * request; its InfluxQL baseline for the fleet is one statement with the newest row of each device
 * (`GROUP BY "device" … LIMIT 1`), the same answer InfluxDB can give.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Bus } from '@wattbus/bus';
import { defaultFieldLimit, type DeviceMeta } from '@wattbus/contracts';
import { startAedes, startInflux, startMosquitto } from '@wattbus/testing';
import { hashApiKey, makeApiKey } from '../../services/gateway/src/api-keys.js';
import { cpuSecondsOf } from '../lib/proc.js';
import { bundle } from '../lib/services.js';

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '1,16' },
    devices: { type: 'string', default: '10' },
    broker: { type: 'string', default: 'mosquitto' },
    'node-flags': { type: 'string', default: '' },
    only: { type: 'string', default: '' },
    'service-env': { type: 'string', default: '' },
    root: { type: 'string' },
  },
});
const REQUESTS = Number(args.requests);
const CONCURRENCY_LEVELS = args.concurrency.split(',').map(Number);
const DEVICES = Number(args.devices);
const DATABASE = 'wattbus';
const INTERVAL_MS = 10_000; // one reading every 10 s: 8,640 per device and day
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const serviceEnv = Object.fromEntries(
  args['service-env']
    .split(' ')
    .filter(Boolean)
    .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
);
const serviceRoot = args.root ? `${resolve(args.root)}/` : repoRoot;

interface Result {
  name: string;
  concurrency: number;
  requests: number;
  seconds: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  /** CPU time per request of the gateway and the query component (/proc, 10 ms ticks). */
  gateway_cpu_us: number;
  query_cpu_us: number;
}

/** The services' pids, once started: their CPU is read around each scenario. */
const pids = { gateway: 0, query: 0 };
const cpuOf = (pid: number) => (pid ? cpuSecondsOf(pid) : 0);

/** A closed loop of `concurrency` workers sending `total` requests; latency of each. */
async function measure(
  name: string,
  concurrency: number,
  total: number,
  send: (n: number) => Promise<boolean>,
): Promise<Result> {
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  const cpu = { gateway: cpuOf(pids.gateway), query: cpuOf(pids.query) };
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const n = next++;
        const t0 = performance.now();
        const ok = await send(n).catch(() => false);
        latencies.push(performance.now() - t0);
        if (!ok) errors++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const perRequestUs = (pid: number, before: number) => round(((cpuOf(pid) - before) * 1e6) / total, 0);
  latencies.sort((a, b) => a - b);
  const rank = (q: number) => latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)]!;
  return {
    name,
    concurrency,
    requests: total,
    seconds: round(seconds, 2),
    rps: round(total / seconds, 0),
    p50_ms: round(rank(0.5), 2),
    p99_ms: round(rank(0.99), 2),
    errors,
    gateway_cpu_us: perRequestUs(pids.gateway, cpu.gateway),
    query_cpu_us: perRequestUs(pids.query, cpu.query),
  };
}

// node:http with keep-alive for both targets: fetch (undici) costs the load generator more CPU
// per request than the gateway spends, which would measure the client instead of the server.
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

function call(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers = options.body
      ? {
          ...options.headers,
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': String(Buffer.byteLength(options.body)),
        }
      : options.headers;
    const request = http.request(url, { method: options.method ?? 'GET', headers, agent }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
      );
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(options.body);
  });
}

const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;
const deviceId = (n: number) => `bench-${n % DEVICES}`;

/** Starts `dist/main.js` of a service; resolves with its `msg` log line once it logs it. */
async function startService(
  service: string,
  env: Record<string, string>,
  msg: string,
): Promise<{ child: ChildProcess; line: Record<string, unknown> }> {
  const flags = ['--enable-source-maps', ...args['node-flags'].split(' ').filter(Boolean)];
  const child = spawn(process.execPath, [...flags, 'dist/main.js'], {
    cwd: `${serviceRoot}services/${service}`,
    env: { ...process.env, LOG_LEVEL: 'info', ...serviceEnv, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const line = await new Promise<Record<string, unknown>>((resolve, reject) => {
    lines.on('line', (text) => {
      if (text.includes(`"msg":"${msg}"`)) resolve(JSON.parse(text) as Record<string, unknown>);
    });
    child.once('exit', (code) => reject(new Error(`${service} exited with ${code} before '${msg}'`)));
  });
  // From now on only drain its output (one line per request), without parsing it in this process.
  lines.close();
  child.stdout!.resume();
  return { child, line };
}

async function stopService(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

async function writeDay(influxUrl: string, nowMs: number): Promise<number> {
  let written = 0;
  for (let device = 0; device < DEVICES; device++) {
    const lines: string[] = [];
    let energyWh = 0;
    for (let ts = nowMs - 86_400_000; ts < nowMs; ts += INTERVAL_MS) {
      const power = 40 + 30 * Math.sin(ts / 3_600_000 + device);
      energyWh += (power * INTERVAL_MS) / 3_600_000;
      lines.push(
        `electricity,device=${deviceId(device)},type=tplink power_w=${power.toFixed(2)},voltage_v=230,current_a=${(power / 230).toFixed(3)},energy_wh=${energyWh.toFixed(3)} ${ts}`,
      );
    }
    for (let i = 0; i < lines.length; i += 5000) {
      const response = await fetch(`${influxUrl}/write?db=${DATABASE}&precision=ms`, {
        method: 'POST',
        body: lines.slice(i, i + 5000).join('\n'),
      });
      if (response.status !== 204)
        throw new Error(`write failed: ${response.status} ${await response.text()}`);
    }
    written += lines.length;
  }
  return written;
}

async function main(): Promise<void> {
  if (args.root) {
    const built = spawnSync(process.execPath, [`${serviceRoot}scripts/bundle.mjs`, 'query', 'gateway'], {
      stdio: 'inherit',
    });
    if (built.status !== 0) throw new Error(`bundling in ${serviceRoot} failed`);
  } else bundle(['query', 'gateway']);
  const influx = await startInflux();
  // mosquitto keeps Nagle's algorithm on its sockets unless told otherwise: ~40 ms per hop.
  const broker =
    args.broker === 'aedes'
      ? await startAedes()
      : await startMosquitto({ persistence: false, extraConfig: 'set_tcp_nodelay true' });
  let query: ChildProcess | undefined;
  let bus: Bus | undefined;
  let gateway: ChildProcess | undefined;
  try {
    await influx.createDatabase(DATABASE);
    const nowMs = Math.floor(Date.now() / INTERVAL_MS) * INTERVAL_MS;
    const points = await writeDay(influx.url, nowMs);
    // Publishes the fleet's metas, then asks the query component over MQTT like the gateway does,
    // to split the gateway's own cost (HTTP, auth, validation) from the MQTT round trip.
    bus = await Bus.connect({ url: broker.url, service: 'bench', maxPayloadBytes: 8_388_608 });
    for (let device = 0; device < DEVICES; device++) {
      const meta: DeviceMeta = {
        id: deviceId(device),
        name: `Bench plug ${device}`,
        type: 'tplink',
        kind: 'workplace',
        location: `bench/desk-${device}`,
        poll_interval_ms: INTERVAL_MS,
        ts: new Date().toISOString(),
      };
      await bus.publish(bus.topics.meta(meta.id), meta, { retain: true });
    }

    ({ child: query } = await startService(
      'query',
      {
        WATTBUS_QUERY_MQTT__URL: broker.url,
        WATTBUS_QUERY_MQTT__SHARE_GROUP: args.broker === 'aedes' ? '' : 'query',
        WATTBUS_QUERY_INFLUX__URL: influx.url,
        WATTBUS_QUERY_INFLUX__DATABASE: DATABASE,
      },
      'query component serving',
    ));
    const key = makeApiKey();
    const started = await startService(
      'gateway',
      {
        WATTBUS_GATEWAY_PORT: '0',
        WATTBUS_GATEWAY_MQTT__URL: broker.url,
        WATTBUS_GATEWAY_MAX_IN_FLIGHT: String(Math.max(1024, ...CONCURRENCY_LEVELS.map((c) => c * 2))),
        WATTBUS_GATEWAY_API_KEYS: JSON.stringify([
          { name: 'bench', sha256: hashApiKey(key), scopes: ['read'] },
        ]),
      },
      'gateway listening',
    );
    gateway = started.child;
    pids.gateway = gateway.pid!;
    pids.query = query!.pid!;
    const gatewayUrl = String(started.line.url); // port 0: the gateway logs the one it got

    const from = new Date(nowMs - 86_400_000).toISOString();
    const to = new Date(nowMs).toISOString();
    const headers = { 'x-api-key': key };
    let reported = false;
    const viaGateway = (path: string) => async () => {
      const response = await call(`${gatewayUrl}${path}`, { headers });
      const text = response.text;
      if (response.status !== 200 && !reported) {
        reported = true; // the first failure explains the others
        process.stderr.write(`first failure: GET ${path} → ${response.status} ${text}\n`);
      }
      return response.status === 200;
    };
    const viaMqtt = async (method: string, params: Record<string, unknown>) => {
      await bus!.request(bus!.topics.queryRequest(method), params, { timeoutMs: 10_000 });
      return true;
    };
    const direct = (q: string, params: Record<string, string>) => async () => {
      const body = new URLSearchParams({ db: DATABASE, q, epoch: 'ms', params: JSON.stringify(params) });
      const response = await call(`${influx.url}/query`, { method: 'POST', body: body.toString() });
      return response.status === 200 && !response.text.includes('"error"');
    };
    // The statements the query component builds (bound params on 1.x, nanosecond range).
    const fromNs = `${BigInt(nowMs - 86_400_000) * 1_000_000n}`;
    const toNs = `${BigInt(nowMs) * 1_000_000n}`;
    const limit = defaultFieldLimit('power_w')!; // values no device can report are left out
    const readingsQl = `SELECT mean("power_w") AS "power_w" FROM "electricity" WHERE "device" = $p0 AND "phase" = $p1 AND time >= ${fromNs} AND time < ${toNs} AND "power_w" >= -${limit} AND "power_w" <= ${limit} GROUP BY time(1m) fill(none) tz('UTC')`;
    const latestQl = `SELECT * FROM "electricity" WHERE "device" = $p0 AND time > now() - 1h ORDER BY time DESC LIMIT 1`;
    const fleet = Array.from({ length: DEVICES }, (_, n) => deviceId(n));
    const fleetParams = Object.fromEntries(fleet.map((id, n) => [`p${n}`, id]));
    const fleetQl = `SELECT * FROM "electricity" WHERE (${fleet.map((_, n) => `"device" = $p${n}`).join(' OR ')}) AND time > now() - 1h GROUP BY "device" ORDER BY time DESC LIMIT 1`;

    const scenarios: [string, number, (n: number) => Promise<boolean>][] = [
      ['latest via gateway', REQUESTS, (n) => viaGateway(`/api/v1/latest?devices=${deviceId(n)}`)()],
      [
        'latest: MQTT straight to the query component',
        REQUESTS,
        (n) => viaMqtt('latest', { devices: [deviceId(n)] }),
      ],
      ['latest: InfluxQL straight to influxd', REQUESTS, (n) => direct(latestQl, { p0: deviceId(n) })()],
      [
        `latest ${DEVICES} devices via gateway`,
        REQUESTS,
        () => viaGateway(`/api/v1/latest?devices=${fleet.join(',')}`)(),
      ],
      [
        `latest ${DEVICES} devices: MQTT straight to the query component`,
        REQUESTS,
        () => viaMqtt('latest', { devices: fleet }),
      ],
      [`latest ${DEVICES} devices: InfluxQL straight to influxd`, REQUESTS, direct(fleetQl, fleetParams)],
      [
        'readings 1 day (1m mean) via gateway',
        Math.ceil(REQUESTS / 4),
        (n) => viaGateway(`/api/v1/devices/${deviceId(n)}/readings?from=${from}&to=${to}&every=1m&fn=mean`)(),
      ],
      [
        'readings 1 day: MQTT straight to the query component',
        Math.ceil(REQUESTS / 4),
        (n) => viaMqtt('readings', { device: deviceId(n), from, to, every: '1m', fn: 'mean' }),
      ],
      [
        'readings 1 day: InfluxQL straight to influxd',
        Math.ceil(REQUESTS / 4),
        (n) => direct(readingsQl, { p0: deviceId(n), p1: '' })(),
      ],
    ];
    if (args.only)
      scenarios.splice(0, scenarios.length, ...scenarios.filter(([name]) => name.includes(args.only)));
    for (const [name, total, send] of scenarios)
      await measure(`warm-up ${name}`, 4, Math.ceil(total / 4), send); // JIT-compiled, as a running service is
    const results: Result[] = [];
    const highest = Math.max(...CONCURRENCY_LEVELS);
    for (const concurrency of CONCURRENCY_LEVELS) {
      for (const [name, total, send] of scenarios) {
        const count = concurrency === highest ? total : Math.ceil(total / 4);
        results.push(await measure(name, concurrency, count, send));
      }
    }

    const find = (name: string, concurrency: number) =>
      results.find((result) => result.name === name && result.concurrency === concurrency);
    const ratios = CONCURRENCY_LEVELS.flatMap((concurrency) =>
      [
        ['latest', 'latest via gateway', 'latest: InfluxQL straight to influxd'],
        [
          `latest ${DEVICES} devices`,
          `latest ${DEVICES} devices via gateway`,
          `latest ${DEVICES} devices: InfluxQL straight to influxd`,
        ],
        [
          'readings 1 day',
          'readings 1 day (1m mean) via gateway',
          'readings 1 day: InfluxQL straight to influxd',
        ],
      ].flatMap(([what, gateway, influxd]) => {
        const x = find(gateway!, concurrency);
        const y = find(influxd!, concurrency);
        if (!x || !y) return []; // left out by --only
        return `${what}, concurrency ${concurrency}: gateway/influxd = ${round(x.rps / y.rps, 2)}× the requests/s, ${round(x.p50_ms / y.p50_ms, 2)}× the p50, ${round(x.p99_ms / y.p99_ms, 2)}× the p99`;
      }),
    );
    process.stdout.write(
      [
        `gateway bench: ${DEVICES} devices × ${points / DEVICES} readings (1 day at ${INTERVAL_MS / 1000} s), broker ${args.broker}, node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${loadavg()
          .map((l) => l.toFixed(1))
          .join(' ')}`,
        '',
        '| scenario | concurrency | requests | req/s | p50 ms | p99 ms | errors | gateway / query CPU µs per request |',
        '|---|---:|---:|---:|---:|---:|---:|---:|',
        ...results.map(
          (r) =>
            `| ${r.name} | ${r.concurrency} | ${r.requests} | ${r.rps} | ${r.p50_ms} | ${r.p99_ms} | ${r.errors} | ${r.gateway_cpu_us} / ${r.query_cpu_us} |`,
        ),
        '',
        ...ratios,
        '',
        JSON.stringify({
          devices: DEVICES,
          broker: args.broker,
          root: serviceRoot,
          load: loadavg(),
          results,
        }),
        '',
      ].join('\n'),
    );
  } finally {
    agent.destroy();
    await bus?.stop();
    await stopService(gateway);
    await stopService(query);
    if ('destroy' in broker) await broker.destroy();
    else await broker.stop();
    await influx.destroy();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
