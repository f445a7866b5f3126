/**
 * Query benchmark (a script, not a test): how fast "what is drawing now" is answered by the query
 * component's `latest` (from memory, over MQTT) next to a direct InfluxDB `last()` query for the
 * same devices, on the same data, in the same run. Prints medians, p99 and the ratio.
 *
 *   node --import tsx bench/query/run.ts [--devices 50] [--hours 6] [--requests 500] [--broker mosquitto|aedes]
 *                                        [--broker-nodelay true|false]   (mosquitto's set_tcp_nodelay)
 *
 * Each device gets one reading every 10 s for `--hours` before now (written with line protocol).
 * Requests run one at a time (latency, not throughput); each asks for 10 devices.
 */
import { parseArgs } from 'node:util';
import { Bus } from '@wattbus/bus';
import type { LatestResult } from '@wattbus/contracts';
import { silentLogger } from '@wattbus/runtime';
import { startAedes, startInflux, startMosquitto } from '@wattbus/testing';
import { QueryComponent, QueryConfigSchema } from '../../services/query/src/index.js';
import { validator } from '@wattbus/contracts';

const { values: args } = parseArgs({
  options: {
    devices: { type: 'string', default: '50' },
    hours: { type: 'string', default: '6' },
    requests: { type: 'string', default: '500' },
    broker: { type: 'string', default: 'mosquitto' },
    'broker-nodelay': { type: 'string', default: 'true' },
  },
});
const DEVICES = Number(args.devices);
const HOURS = Number(args.hours);
const REQUESTS = Number(args.requests);
const ASKED = 10;
const DATABASE = 'wattbus';
const INTERVAL_MS = 10_000;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

async function timed(name: string, send: (n: number) => Promise<void>) {
  for (let n = 0; n < 20; n++) await send(n); // warm-up
  const latencies: number[] = [];
  for (let n = 0; n < REQUESTS; n++) {
    const t0 = performance.now();
    await send(n);
    latencies.push(performance.now() - t0);
  }
  const result = { name, p50_ms: percentile(latencies, 50), p99_ms: percentile(latencies, 99) };
  console.log(
    `${name.padEnd(48)} p50 ${result.p50_ms.toFixed(2).padStart(7)} ms   p99 ${result.p99_ms.toFixed(2).padStart(7)} ms`,
  );
  return result;
}

const influx = await startInflux();
const broker =
  args.broker === 'aedes'
    ? await startAedes()
    : await startMosquitto({ persistence: false, extraConfig: `set_tcp_nodelay ${args['broker-nodelay']}` });
const buses: Bus[] = [];
let component: QueryComponent | undefined;
try {
  await influx.createDatabase(DATABASE);
  const ids = Array.from({ length: DEVICES }, (_, i) => `plug-${String(i).padStart(3, '0')}`);
  const now = Date.now();
  const points = (HOURS * 3_600_000) / INTERVAL_MS;
  let lines: string[] = [];
  const flush = async () => {
    const response = await fetch(`${influx.url}/write?db=${DATABASE}&precision=ms`, {
      method: 'POST',
      body: lines.join('\n'),
    });
    if (response.status !== 204) throw new Error(`write failed: ${response.status} ${await response.text()}`);
    lines = [];
  };
  for (const id of ids) {
    for (let k = 0; k < points; k++) {
      const ts = now - (points - k) * INTERVAL_MS;
      lines.push(
        `electricity,device=${id},type=tplink,location=hq/floor-1 power_w=${(50 + (k % 40)).toFixed(1)},voltage_v=230,energy_wh=${k * 0.15} ${ts}`,
      );
      if (lines.length === 10_000) await flush();
    }
  }
  if (lines.length > 0) await flush();
  console.log(
    `${DEVICES} devices × ${points} readings (${HOURS} h at 10 s) in influxd 1.6; broker ${args.broker}`,
  );

  const config = validator(QueryConfigSchema);
  const queryConfig = {
    mqtt: { url: broker.url, share_group: args.broker === 'aedes' ? '' : 'query' },
    influx: { url: influx.url, database: DATABASE },
  };
  if (!config(queryConfig)) throw new Error(config.errorText());
  const serverBus = await Bus.connect({ url: broker.url, service: 'query' });
  const client = await Bus.connect({ url: broker.url, service: 'bench' });
  buses.push(serverBus, client);
  component = new QueryComponent({ bus: serverBus, config: queryConfig, logger: silentLogger() });
  const startedAt = performance.now();
  await component.start();
  await component.warmedUp;
  console.log(`component start with warm-up from InfluxDB: ${(performance.now() - startedAt).toFixed(0)} ms`);

  const pick = (n: number) => Array.from({ length: ASKED }, (_, i) => ids[(n * ASKED + i) % ids.length]!);
  const topic = client.topics.queryRequest('latest');
  const latest = await timed(`latest over MQTT (${ASKED} devices, from memory)`, async (n) => {
    const result = await client.request<LatestResult>(topic, { devices: pick(n) });
    if (result.devices.length !== ASKED || !result.devices[0]!.reading) throw new Error('no reading');
  });

  const last = await timed(`InfluxDB last() (${ASKED} devices, HTTP /query)`, async (n) => {
    const devices = pick(n);
    const where = devices.map((_, i) => `"device" = $d${i}`).join(' OR ');
    const params = Object.fromEntries(devices.map((device, i) => [`d${i}`, device]));
    const form = new URLSearchParams({
      db: DATABASE,
      epoch: 'ms',
      q: `SELECT last("power_w") AS "power_w", last("voltage_v") AS "voltage_v", last("energy_wh") AS "energy_wh" FROM "electricity" WHERE (${where}) AND time >= now() - 1d GROUP BY "device"`,
      params: JSON.stringify(params),
    });
    const response = await fetch(`${influx.url}/query`, { method: 'POST', body: form });
    const body = (await response.json()) as { results: Array<{ series?: unknown[] }> };
    if (body.results[0]?.series?.length !== ASKED)
      throw new Error(`unexpected answer ${JSON.stringify(body)}`);
  });

  console.log(
    `ratio of medians (InfluxDB last() / latest over MQTT): ${(last.p50_ms / latest.p50_ms).toFixed(1)}×`,
  );
} finally {
  await component?.stop();
  for (const bus of buses) await bus.stop();
  await ('destroy' in broker ? broker.destroy() : broker.stop());
  await influx.destroy();
}
