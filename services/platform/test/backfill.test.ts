import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, AgentConfigSchema } from '@wattbus/agent';
import { Bus } from '@wattbus/bus';
import {
  fromLocal,
  localTime,
  nextUnitStart,
  type BackfillResult,
  type CostResult,
  type EnergyResult,
} from '@wattbus/contracts';
import { loadRegistry } from '@wattbus/devices';
import { QueryComponent, QueryConfigSchema } from '@wattbus/query';
import { loadConfig, silentLogger } from '@wattbus/runtime';
import { EmporiaCloud, SimulatedPlug } from '@wattbus/simulators';
import { StorageHook, StorageHookConfigSchema } from '@wattbus/storage-hook';
import { startInflux, startMosquitto, waitUntil, type InfluxServer } from '@wattbus/testing';

const ZONE = 'Europe/Madrid';
const DATABASE = 'wattbus';
const DAY_MS = 86_400_000;
const logger = silentLogger();

/** The parts a backfill passes through, in one process: agent, storage hook, influxd, query component. */
interface Stack {
  influx: InfluxServer;
  dir: string;
  /** The device request `backfill`, as the gateway sends it. */
  backfill(device: string, days: number): Promise<BackfillResult>;
  /** Waits until the hook took `intervals` intervals in all and wrote them to InfluxDB. */
  settled(intervals: number): Promise<void>;
  ask<R>(method: string, params: Record<string, unknown>): Promise<R>;
  stop(): Promise<void>;
}

async function startStack(
  devices: (dir: string) => unknown[],
  options: { timeZone: string; tariff?: unknown },
): Promise<Stack> {
  const [influx, broker] = await Promise.all([startInflux(), startMosquitto({ persistence: false })]);
  await influx.createDatabase(DATABASE);
  const dir = mkdtempSync(join(tmpdir(), 'wattbus-backfill-e2e-'));
  const registryFile = join(dir, 'devices.json');
  writeFileSync(registryFile, JSON.stringify({ devices: devices(dir) }));
  const hookDefaults = loadConfig({ schema: StorageHookConfigSchema, env: {} });
  const hook = new StorageHook({
    config: {
      ...hookDefaults,
      mqtt: { ...hookDefaults.mqtt, url: broker.url },
      influx: { ...hookDefaults.influx, url: influx.url, database: DATABASE },
      log: { ...hookDefaults.log, dir: join(dir, 'log') },
      counters_log_interval_ms: 0,
    },
    logger,
  });
  await hook.start();
  const agentDefaults = loadConfig({ schema: AgentConfigSchema, env: {} });
  const agent = new Agent({
    config: {
      ...agentDefaults,
      mqtt: { ...agentDefaults.mqtt, url: broker.url },
      id: 'agent-backfill',
      collector: false,
      device_wills: false,
      time_zone: options.timeZone,
    },
    registry: await loadRegistry(registryFile),
    logger,
  });
  await agent.start();
  const queryDefaults = loadConfig({ schema: QueryConfigSchema, env: {} });
  const queryBus = await Bus.connect({ url: broker.url, service: 'query' });
  const query = new QueryComponent({
    bus: queryBus,
    logger,
    config: {
      ...queryDefaults,
      mqtt: { ...queryDefaults.mqtt, url: broker.url, share_group: '' },
      influx: { ...queryDefaults.influx, url: influx.url, database: DATABASE },
      time_zone: options.timeZone,
      ...(options.tariff ? { tariff: options.tariff as typeof queryDefaults.tariff } : {}),
      warmup_lookback_ms: 0,
    },
  });
  await query.start();
  const client = await Bus.connect({ url: broker.url, service: 'test-client' });
  return {
    influx,
    dir,
    backfill: (device, days) =>
      client.request<BackfillResult>(
        client.topics.deviceRequest(device, 'backfill'),
        { days },
        { timeoutMs: 60_000 },
      ),
    async settled(intervals) {
      await waitUntil(
        'the hook took every interval',
        async () => hook.counters().history_intervals === intervals,
        {
          timeoutMs: 60_000,
        },
      );
      await waitUntil('the log written out', async () => hook.counters().log_depth === 0, {
        timeoutMs: 60_000,
      });
    },
    ask: (method, params) =>
      client.request(client.topics.queryRequest(method), params, { timeoutMs: 10_000 }),
    async stop() {
      await client.stop();
      await query.stop();
      await queryBus.stop();
      await agent.stop();
      await hook.stop();
      await Promise.all([broker.destroy(), influx.destroy()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** [year, month, day] of the local day `n` days before today in ZONE. */
function daysAgo(n: number): [number, number, number] {
  const today = localTime(Date.now(), ZONE);
  const date = new Date(Date.UTC(today.year, today.month - 1, today.day - n));
  return [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()];
}

/** The plug used 1,500 + 11n Wh on the day n days ago. */
const energyOf = (n: number) => 1500 + 11 * n;

/**
 * Issue 26's "must show", in one process: a TP-Link plug that remembers 2 months of days, the agent
 * that owns it, the storage hook, InfluxDB and the query component. A backfill through the agent's
 * device request lands every day with its exact energy; a second run changes nothing; energy and
 * cost over the last whole month give the plug's own totals (its monthstat).
 */
describe('backfill end to end: plug → agent → storage hook → influxd → query (mosquitto)', () => {
  let plug: SimulatedPlug;
  let stack: Stack;

  before(async () => {
    plug = await SimulatedPlug.start({ model: 'hs110v2' });
    for (let n = 0; n < 70; n++) plug.kasa.history.setDay(...daysAgo(n), energyOf(n));
    stack = await startStack(
      () => [
        {
          id: 'desk-3',
          name: 'Desk 3',
          type: 'tplink',
          kind: 'workplace',
          location: 'hq/floor-2/desk-3',
          connection: { host: plug.host, port: plug.port },
        },
      ],
      { timeZone: ZONE, tariff: { currency: 'EUR', price_per_kwh: 0.2, periods: [] } },
    );
  });

  after(async () => {
    await stack?.stop();
    await plug?.stop();
  });

  async function stored(): Promise<unknown[][]> {
    const result = await stack.influx.query(DATABASE, 'SELECT * FROM energy_history').catch(() => undefined);
    return result?.results?.[0]?.series?.[0]?.values ?? [];
  }

  /** The last whole local month before this one. */
  function lastMonth(): { from: string; to: string; year: number; month: number } {
    const today = localTime(Date.now(), ZONE);
    const year = today.month === 1 ? today.year - 1 : today.year;
    const month = today.month === 1 ? 12 : today.month - 1;
    const from = fromLocal(year, month, 1, 0, 0, ZONE);
    const iso = (ms: number) => new Date(ms).toISOString();
    return { from: iso(from), to: iso(nextUnitStart(from, '1mo', ZONE)), year, month };
  }

  let firstStore: unknown[][];
  let firstEnergy: EnergyResult;
  let intervals = 0;

  it('2 months of TP-Link days land in energy_history, each with its exact energy', async () => {
    const result = await stack.backfill('desk-3', 62);
    intervals = result.periods.reduce((sum, period) => sum + period.intervals, 0);
    await stack.settled(intervals);
    firstStore = await stored();
    const days = firstStore.filter((row) => row.includes('day'));
    assert.equal(days.length, 62);
    const columns = (await stack.influx.query(DATABASE, 'SELECT * FROM energy_history LIMIT 1')).results?.[0]
      ?.series?.[0]?.columns as string[];
    const at = (name: string) => columns.indexOf(name);
    days.forEach((row, i) => {
      const n = 61 - i;
      assert.equal(row[at('time')], fromLocal(...daysAgo(n), 0, 0, ZONE), `start ${n} days ago`);
      assert.equal(row[at('energy_wh')], energyOf(n), `energy ${n} days ago`);
      assert.equal(row[at('source')], 'tplink-daystat');
    });
  });

  it("energy and cost over the backfilled last month are the plug's own totals", async () => {
    const { from, to, year, month } = lastMonth();
    const own = plug.kasa.history.monthstat({ year }) as {
      month_list: { month: number; energy_wh: number }[];
    };
    const monthWh = own.month_list.find((entry) => entry.month === month)!.energy_wh;
    firstEnergy = await stack.ask<EnergyResult>('energy', {
      device: 'desk-3',
      from,
      to,
      every: '1d',
      tz: ZONE,
    });
    assert.equal(firstEnergy.method, 'history');
    assert.equal(firstEnergy.total_kwh, monthWh / 1000);
    const today = localTime(Date.now(), ZONE);
    for (const bucket of firstEnergy.buckets) {
      const t = localTime(Date.parse(bucket.start), ZONE);
      const n = Math.round(
        (Date.UTC(today.year, today.month - 1, today.day) - Date.UTC(t.year, t.month - 1, t.day)) / DAY_MS,
      );
      assert.equal(bucket.energy_kwh, energyOf(n) / 1000, bucket.start);
    }
    const cost = await stack.ask<CostResult>('cost', { device: 'desk-3', from, to });
    assert.equal(cost.total_kwh, monthWh / 1000);
    assert.equal(cost.total_cost, Math.round(monthWh * 0.2 * 10) / 10_000);
  });

  it('a second backfill changes nothing', async () => {
    await stack.backfill('desk-3', 62);
    await stack.settled(2 * intervals);
    assert.deepEqual(await stored(), firstStore);
    const { from, to } = lastMonth();
    const again = await stack.ask<EnergyResult>('energy', {
      device: 'desk-3',
      from,
      to,
      every: '1d',
      tz: ZONE,
    });
    assert.deepEqual(again, firstEnergy);
  });
});

/**
 * The same path for an Emporia channel: 7 days of minute data from the emulated cloud land
 * minute by minute, a second run changes nothing, and each whole day's energy is the cloud's own.
 */
describe('backfill end to end: Emporia channel minutes → agent → storage hook → influxd → query (mosquitto)', () => {
  let cloud: EmporiaCloud;
  let stack: Stack;
  const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;

  before(async () => {
    cloud = await EmporiaCloud.start();
    stack = await startStack(
      (dir) => {
        const passwordFile = join(dir, 'emporia.secret');
        writeFileSync(passwordFile, cloud.password);
        return [
          {
            id: 'kitchen',
            name: 'Kitchen',
            type: 'emporia',
            kind: 'appliance',
            location: 'home/panel',
            connection: {
              email: cloud.email,
              password_file: passwordFile,
              device_gid: cloud.home.vueGid,
              channel: '1',
              data_dir: join(dir, 'emporia'),
              api_url: cloud.apiUrl,
              cognito_url: cloud.cognitoUrl,
            },
          },
        ];
      },
      { timeZone: 'UTC' },
    );
  });

  after(async () => {
    await stack?.stop();
    await cloud?.stop();
  });

  /** count, sum, min and max of the stored intervals' energy and length. */
  async function stored(): Promise<unknown[]> {
    const result = await stack.influx.query(
      DATABASE,
      "SELECT count(energy_wh), sum(energy_wh), min(duration_ms), max(duration_ms) FROM energy_history WHERE device = 'kitchen'",
    );
    // [time, count, sum, min, max]: the time column of an aggregate is 0.
    return result.results?.[0]?.series?.[0]?.values[0]?.slice(1) ?? [];
  }

  const energyOfDays = () =>
    stack.ask<EnergyResult>('energy', {
      device: 'kitchen',
      from: new Date(today - 6 * DAY_MS).toISOString(),
      to: new Date(today).toISOString(),
      every: '1d',
      tz: 'UTC',
    });

  it('7 days of minutes land; every whole day is the cloud’s own energy; a second run changes nothing', async () => {
    const first = await stack.backfill('kitchen', 7);
    const minutes = first.periods.find((period) => period.period === 'minute')!;
    assert.equal(minutes.source, 'emporia-1min');
    // Six whole days and today up to the last whole minute, one interval a minute.
    assert.ok(minutes.intervals >= 6 * 1440 && minutes.intervals <= 7 * 1440, `${minutes.intervals} minutes`);
    await stack.settled(minutes.intervals);
    const once = await stored();
    assert.deepEqual(once.slice(2), [60_000, 60_000], 'every interval a minute');
    assert.equal(once[0], minutes.intervals);
    const energy = await energyOfDays();
    assert.equal(energy.method, 'history');
    assert.equal(energy.buckets.length, 6);
    energy.buckets.forEach((bucket, index) => {
      const start = today - (6 - index) * DAY_MS;
      const own = cloud.home.energyKwh(cloud.home.vueGid, '1', start, start + DAY_MS);
      assert.ok(Math.abs(bucket.energy_kwh - own) <= 1e-6, `${bucket.start}: ${bucket.energy_kwh} vs ${own}`);
    });
    const second = await stack.backfill('kitchen', 7);
    const again = second.periods.find((period) => period.period === 'minute')!;
    await stack.settled(minutes.intervals + again.intervals);
    // The repeat may reach a minute further (time went on); every earlier minute is unchanged.
    const twice = await stored();
    assert.ok(Number(twice[0]) - Number(once[0]) <= again.intervals - minutes.intervals);
    assert.deepEqual(await energyOfDays(), energy);
  });
});
