import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, AgentConfigSchema, type AgentConfig } from '@wattbus/agent';
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
import {
  startInflux,
  startMosquitto,
  waitUntil,
  type InfluxServer,
  type MosquittoServer,
} from '@wattbus/testing';

const ZONE = 'Europe/Madrid';
const DATABASE = 'wattbus';
const logger = silentLogger();

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
  let influx: InfluxServer;
  let broker: MosquittoServer;
  let plug: SimulatedPlug;
  let agent: Agent;
  let hook: StorageHook;
  let queryBus: Bus;
  let query: QueryComponent;
  let client: Bus;
  let dir: string;

  before(async () => {
    [influx, broker] = await Promise.all([startInflux(), startMosquitto({ persistence: false })]);
    await influx.createDatabase(DATABASE);
    dir = mkdtempSync(join(tmpdir(), 'wattbus-backfill-e2e-'));
    plug = await SimulatedPlug.start({ model: 'hs110v2' });
    for (let n = 0; n < 70; n++) plug.kasa.history.setDay(...daysAgo(n), energyOf(n));
    const registryFile = join(dir, 'devices.json');
    writeFileSync(
      registryFile,
      JSON.stringify({
        devices: [
          {
            id: 'desk-3',
            name: 'Desk 3',
            type: 'tplink',
            kind: 'workplace',
            location: 'hq/floor-2/desk-3',
            connection: { host: plug.host, port: plug.port },
          },
        ],
      }),
    );
    const hookDefaults = loadConfig({ schema: StorageHookConfigSchema, env: {} });
    hook = new StorageHook({
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
    const agentConfig = {
      ...agentDefaults,
      mqtt: { ...agentDefaults.mqtt, url: broker.url },
      id: 'agent-backfill',
      collector: false,
      device_wills: false,
      time_zone: ZONE,
    } satisfies AgentConfig;
    agent = new Agent({ config: agentConfig, registry: await loadRegistry(registryFile), logger });
    await agent.start();
    const queryDefaults = loadConfig({ schema: QueryConfigSchema, env: {} });
    queryBus = await Bus.connect({ url: broker.url, service: 'query' });
    query = new QueryComponent({
      bus: queryBus,
      logger,
      config: {
        ...queryDefaults,
        mqtt: { ...queryDefaults.mqtt, url: broker.url, share_group: '' },
        influx: { ...queryDefaults.influx, url: influx.url, database: DATABASE },
        time_zone: ZONE,
        tariff: { currency: 'EUR', price_per_kwh: 0.2, periods: [] },
        warmup_lookback_ms: 0,
      },
    });
    await query.start();
    client = await Bus.connect({ url: broker.url, service: 'test-client' });
  });

  after(async () => {
    await client?.stop();
    await query?.stop();
    await queryBus?.stop();
    await agent?.stop();
    await hook?.stop();
    await plug?.stop();
    await Promise.all([broker?.destroy(), influx?.destroy()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function stored(): Promise<unknown[][]> {
    const result = await influx.query(DATABASE, 'SELECT * FROM energy_history').catch(() => undefined);
    return result?.results?.[0]?.series?.[0]?.values ?? [];
  }

  async function backfill(): Promise<BackfillResult> {
    return client.request<BackfillResult>(
      client.topics.deviceRequest('desk-3', 'backfill'),
      { days: 62 },
      { timeoutMs: 20_000 },
    );
  }

  /** Everything the hook took is in InfluxDB. */
  async function settled(intervals: number): Promise<void> {
    await waitUntil(
      'the hook took every interval',
      async () => hook.counters().history_intervals === intervals,
      {
        timeoutMs: 30_000,
      },
    );
    await waitUntil('the log written out', async () => hook.counters().log_depth === 0, {
      timeoutMs: 30_000,
    });
  }

  const ask = <R>(method: string, params: Record<string, unknown>) =>
    client.request<R>(client.topics.queryRequest(method), params, { timeoutMs: 10_000 });

  /** The last whole local month before this one. */
  function lastMonth(): { from: number; to: number; year: number; month: number } {
    const today = localTime(Date.now(), ZONE);
    const year = today.month === 1 ? today.year - 1 : today.year;
    const month = today.month === 1 ? 12 : today.month - 1;
    const from = fromLocal(year, month, 1, 0, 0, ZONE);
    return { from, to: nextUnitStart(from, '1mo', ZONE), year, month };
  }

  let firstStore: unknown[][];
  let firstEnergy: EnergyResult;
  let intervals = 0;

  it('2 months of TP-Link days land in energy_history, each with its exact energy', async () => {
    const result = await backfill();
    intervals = result.periods.reduce((sum, period) => sum + period.intervals, 0);
    await settled(intervals);
    firstStore = await stored();
    const days = firstStore.filter((row) => row.includes('day'));
    assert.equal(days.length, 62);
    const columns = (await influx.query(DATABASE, 'SELECT * FROM energy_history LIMIT 1')).results?.[0]
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
    firstEnergy = await ask<EnergyResult>('energy', {
      device: 'desk-3',
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      every: '1d',
      tz: ZONE,
    });
    assert.equal(firstEnergy.method, 'history');
    assert.equal(firstEnergy.total_kwh, monthWh / 1000);
    for (const bucket of firstEnergy.buckets) {
      const t = localTime(Date.parse(bucket.start), ZONE);
      const today = localTime(Date.now(), ZONE);
      const n = Math.round(
        (Date.UTC(today.year, today.month - 1, today.day) - Date.UTC(t.year, t.month - 1, t.day)) /
          86_400_000,
      );
      assert.equal(bucket.energy_kwh, energyOf(n) / 1000, bucket.start);
    }
    const cost = await ask<CostResult>('cost', {
      device: 'desk-3',
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
    });
    assert.equal(cost.total_kwh, monthWh / 1000);
    assert.equal(cost.total_cost, Math.round(monthWh * 0.2 * 10) / 10_000);
  });

  it('a second backfill changes nothing', async () => {
    await backfill();
    await settled(2 * intervals);
    assert.deepEqual(await stored(), firstStore);
    const { from, to } = lastMonth();
    const again = await ask<EnergyResult>('energy', {
      device: 'desk-3',
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
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
  let influx: InfluxServer;
  let broker: MosquittoServer;
  let cloud: EmporiaCloud;
  let agent: Agent;
  let hook: StorageHook;
  let queryBus: Bus;
  let query: QueryComponent;
  let client: Bus;
  let dir: string;
  const DAY_MS = 86_400_000;
  const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;

  before(async () => {
    [influx, broker] = await Promise.all([startInflux(), startMosquitto({ persistence: false })]);
    await influx.createDatabase(DATABASE);
    dir = mkdtempSync(join(tmpdir(), 'wattbus-backfill-emporia-'));
    cloud = await EmporiaCloud.start();
    const passwordFile = join(dir, 'emporia.secret');
    writeFileSync(passwordFile, cloud.password);
    const registryFile = join(dir, 'devices.json');
    writeFileSync(
      registryFile,
      JSON.stringify({
        devices: [
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
        ],
      }),
    );
    const hookDefaults = loadConfig({ schema: StorageHookConfigSchema, env: {} });
    hook = new StorageHook({
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
    agent = new Agent({
      config: {
        ...agentDefaults,
        mqtt: { ...agentDefaults.mqtt, url: broker.url },
        id: 'agent-emporia-backfill',
        collector: false,
        device_wills: false,
        time_zone: 'UTC',
      },
      registry: await loadRegistry(registryFile),
      logger,
    });
    await agent.start();
    const queryDefaults = loadConfig({ schema: QueryConfigSchema, env: {} });
    queryBus = await Bus.connect({ url: broker.url, service: 'query' });
    query = new QueryComponent({
      bus: queryBus,
      logger,
      config: {
        ...queryDefaults,
        mqtt: { ...queryDefaults.mqtt, url: broker.url, share_group: '' },
        influx: { ...queryDefaults.influx, url: influx.url, database: DATABASE },
        warmup_lookback_ms: 0,
      },
    });
    await query.start();
    client = await Bus.connect({ url: broker.url, service: 'test-client' });
  });

  after(async () => {
    await client?.stop();
    await query?.stop();
    await queryBus?.stop();
    await agent?.stop();
    await hook?.stop();
    await cloud?.stop();
    await Promise.all([broker?.destroy(), influx?.destroy()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function backfill(): Promise<BackfillResult> {
    return client.request<BackfillResult>(
      client.topics.deviceRequest('kitchen', 'backfill'),
      { days: 7 },
      { timeoutMs: 60_000 },
    );
  }

  async function settled(intervals: number): Promise<void> {
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
  }

  async function stored(): Promise<unknown[]> {
    const result = await influx.query(
      DATABASE,
      "SELECT count(energy_wh), sum(energy_wh), min(duration_ms), max(duration_ms) FROM energy_history WHERE device = 'kitchen'",
    );
    // [time, count, sum, min, max]: the time column of an aggregate is 0.
    return result.results?.[0]?.series?.[0]?.values[0]?.slice(1) ?? [];
  }

  it('7 days of minutes land; every whole day is the cloud’s own energy; a second run changes nothing', async () => {
    const first = await backfill();
    const minutes = first.periods.find((period) => period.period === 'minute')!;
    assert.equal(minutes.source, 'emporia-1min');
    // Six whole days and today up to the last whole minute, one interval a minute.
    assert.ok(minutes.intervals >= 6 * 1440 && minutes.intervals <= 7 * 1440, `${minutes.intervals} minutes`);
    await settled(minutes.intervals);
    const once = await stored();
    assert.deepEqual(once.slice(2), [60_000, 60_000], 'every interval a minute');
    assert.equal(once[0], minutes.intervals);
    const energy = await client.request<EnergyResult>(
      client.topics.queryRequest('energy'),
      {
        device: 'kitchen',
        from: new Date(today - 6 * DAY_MS).toISOString(),
        to: new Date(today).toISOString(),
        every: '1d',
        tz: 'UTC',
      },
      { timeoutMs: 10_000 },
    );
    assert.equal(energy.method, 'history');
    assert.equal(energy.buckets.length, 6);
    energy.buckets.forEach((bucket, index) => {
      const start = today - (6 - index) * DAY_MS;
      const own = cloud.home.energyKwh(cloud.home.vueGid, '1', start, start + DAY_MS);
      assert.ok(Math.abs(bucket.energy_kwh - own) <= 1e-6, `${bucket.start}: ${bucket.energy_kwh} vs ${own}`);
    });
    const second = await backfill();
    const again = second.periods.find((period) => period.period === 'minute')!;
    await settled(minutes.intervals + again.intervals);
    // The repeat may reach one minute further (time went on); every earlier minute is unchanged.
    const twice = await stored();
    assert.ok(Number(twice[0]) - Number(once[0]) <= again.intervals - minutes.intervals);
    const energyAgain = await client.request<EnergyResult>(
      client.topics.queryRequest('energy'),
      {
        device: 'kitchen',
        from: new Date(today - 6 * DAY_MS).toISOString(),
        to: new Date(today).toISOString(),
        every: '1d',
        tz: 'UTC',
      },
      { timeoutMs: 10_000 },
    );
    assert.deepEqual(energyAgain, energy);
  });
});
