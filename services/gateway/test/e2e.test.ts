import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, AgentConfigSchema, type AgentConfig } from '@wattbus/agent';
import { AlertHook, parseAlertHookConfig } from '@wattbus/alert-hook';
import { Bus } from '@wattbus/bus';
import {
  AlertSchema,
  AlertTopics,
  validator,
  type Alert,
  type AlertListResult,
  type DevicesResult,
  type LatestResult,
  type QueryMethod,
} from '@wattbus/contracts';
import { loadRegistry } from '@wattbus/devices';
import { SimulatedPlug } from '@wattbus/simulators';
import { QueryComponent, QueryConfigSchema, type QueryConfig } from '@wattbus/query';
import { silentLogger } from '@wattbus/runtime';
import {
  startAedes,
  startInflux,
  waitUntil,
  writeLineProtocol,
  type AedesServer,
  type InfluxServer,
} from '@wattbus/testing';
import { startGateway, type ApiResponse } from './helpers.js';

const DATABASE = 'wattbus';

const PLUGS = [
  { id: 'plug-a', kind: 'workplace', location: 'hq/floor-1/desk-a', model: 'hs110', power: 61.5 },
  { id: 'plug-b', kind: 'workplace', location: 'hq/floor-2/desk-b', model: 'hs110v2', power: 12.25 },
  { id: 'plug-c', kind: 'printer', location: 'hq/floor-2/copy', model: 'hs110', power: 350 },
] as const;

/** A config as loadConfig makes it: validated, defaults filled. */
function withDefaults<T>(schema: Parameters<typeof validator>[0], value: Record<string, unknown>): T {
  const check = validator(schema);
  assert.ok(check(value), check.errorText());
  return value as T;
}

/** History the storage hook would have written: power every 30 s and an energy counter, 2 h per plug. */
async function writeHistory(influxUrl: string): Promise<void> {
  const start = Date.parse('2026-11-02T08:00:00Z');
  const lines: string[] = [];
  PLUGS.forEach((plug, index) => {
    let energyWh = 1000 * (index + 1);
    for (let step = 0; step < 240; step++) {
      const power = plug.power + (step % 7) * (index + 1);
      energyWh += (power * 30) / 3600;
      lines.push(
        `electricity,device=${plug.id},type=tplink power_w=${power},energy_wh=${energyWh.toFixed(3)},voltage_v=230 ${start + step * 30_000}`,
      );
    }
  });
  await writeLineProtocol(influxUrl, DATABASE, lines);
}

/**
 * Nothing faked: simulated TP-Link plugs on TCP, the real agent polling and switching them, the
 * real query component on influxd, the real alert hook, the gateway in front; every HTTP answer is
 * checked against openapi.yaml by the ApiClient.
 */
describe('end to end: gateway, query component, alert hook, TP-Link agent, simulated plugs (aedes, influxd)', () => {
  let broker: AedesServer;
  let influx: InfluxServer;
  let dir: string;
  const plugs = new Map<string, SimulatedPlug>();
  let agent: Agent;
  let queryBus: Bus;
  let query: QueryComponent;
  let queryConfig: QueryConfig;
  let client: Bus;
  let alertHook: AlertHook;
  let stack: Awaited<ReturnType<typeof startGateway>>;

  const startQuery = async () => {
    queryBus = await Bus.connect({ url: broker.url, service: 'query' });
    query = new QueryComponent({ bus: queryBus, config: queryConfig, logger: silentLogger() });
    await query.start();
  };

  /** The component's own answer to the same params, straight over MQTT. */
  const direct = (method: QueryMethod, params: Record<string, unknown>) =>
    client.request(client.topics.queryRequest(method), params, { timeoutMs: 10_000 });

  before(async () => {
    [broker, influx] = await Promise.all([startAedes(), startInflux()]);
    await influx.createDatabase(DATABASE);
    await writeHistory(influx.url);
    for (const plug of PLUGS) {
      plugs.set(
        plug.id,
        await SimulatedPlug.start({
          model: plug.model,
          realtime: { power: plug.power, voltage: 230, current: plug.power / 230, total: 2 },
        }),
      );
    }
    dir = await mkdtemp(join(tmpdir(), 'gateway-e2e-'));
    const registryFile = join(dir, 'devices.json');
    await writeFile(
      registryFile,
      JSON.stringify({
        devices: PLUGS.map((plug) => ({
          id: plug.id,
          name: `Plug ${plug.id}`,
          type: 'tplink',
          kind: plug.kind,
          location: plug.location,
          connection: { host: '127.0.0.1', port: plugs.get(plug.id)!.port },
          poll_interval_ms: 200,
          timeout_ms: 500,
          offline_after_failures: 2,
          max_backoff_ms: 200,
        })),
      }),
    );
    agent = new Agent({
      config: withDefaults<AgentConfig>(AgentConfigSchema, {
        mqtt: { url: broker.url },
        id: 'agent-e2e',
        device_wills: false,
      }),
      registry: await loadRegistry(registryFile),
      logger: silentLogger(),
    });
    queryConfig = withDefaults<QueryConfig>(QueryConfigSchema, {
      mqtt: { url: broker.url, share_group: '' }, // aedes has no shared subscriptions
      influx: { url: influx.url, database: DATABASE, timeout_ms: 2000 },
      tariff: { currency: 'EUR', price_per_kwh: 0.25 },
      warmup_lookback_ms: 0,
    });
    client = await Bus.connect({ url: broker.url, service: 'test-client' });
    stack = await startGateway(broker.url, { query_timeout_ms: 1_500, device_timeout_ms: 3_000 });
    const announced = new Promise<void>((resolve) => {
      const directory = stack.gateway.devices!;
      const check = () => {
        if (PLUGS.every((plug) => directory.has(plug.id))) {
          directory.off('added', check);
          resolve();
        }
      };
      directory.on('added', check);
    });
    // plug-a (61.5 W) is above this rule's 50 W from its first reading: one alert to list.
    alertHook = new AlertHook({
      config: parseAlertHookConfig({
        mqtt: { url: broker.url },
        influx: { url: influx.url, database: DATABASE, timeout_ms: 2000 },
        data_dir: join(dir, 'alert-hook'),
        tick_ms: 50,
        unknown_device_warn_ms: 0,
        health_interval_ms: 0,
        retry: { min_ms: 20, max_ms: 200 },
        rules: [{ name: 'desk-load', kind: 'power_above', devices: ['plug-a'], threshold_w: 50, for_ms: 0 }],
      }),
      logger: silentLogger(),
    });
    await alertHook.start();
    await agent.start();
    await startQuery();
    await announced;
    // The component learns the live readings from the bus: wait until it has one of every plug.
    await waitUntil('a live reading of every plug in the query component', async () => {
      const latest = (await direct('latest', { devices: PLUGS.map((plug) => plug.id) })) as LatestResult;
      return latest.devices.every((entry) => entry.reading !== null);
    });
  });

  after(async () => {
    await stack?.stop();
    await alertHook?.stop();
    await query?.stop();
    await queryBus?.stop();
    await agent?.stop();
    await client?.stop();
    for (const plug of plugs.values()) await plug.stop();
    await broker?.stop();
    await influx?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('range routes return exactly what the query component computes for the same params', async () => {
    const from = '2026-11-02T08:00:00Z';
    const to = '2026-11-02T10:00:00Z';
    const cases: [string, QueryMethod, Record<string, unknown>][] = [
      [
        `/api/v1/devices/plug-a/readings?from=${from}&to=${to}&every=15m&fn=mean`,
        'readings',
        { device: 'plug-a', from, to, every: '15m', fn: 'mean' },
      ],
      [
        `/api/v1/devices/plug-b/readings?from=${from}&to=2026-11-02T08:05:00Z&fields=power_w,energy_wh`,
        'readings',
        { device: 'plug-b', from, to: '2026-11-02T08:05:00Z', fields: ['power_w', 'energy_wh'] },
      ],
      [
        `/api/v1/devices/plug-c/energy?from=${from}&to=${to}&every=1h&tz=UTC`,
        'energy',
        { device: 'plug-c', from, to, every: '1h', tz: 'UTC' },
      ],
      [`/api/v1/energy/totals?from=${from}&to=${to}&group_by=kind`, 'totals', { from, to, group_by: 'kind' }],
      [
        `/api/v1/energy/totals?from=${from}&to=${to}&group_by=location&depth=2`,
        'totals',
        { from, to, group_by: 'location', depth: 2 },
      ],
      [
        `/api/v1/cost?from=${from}&to=${to}&device=plug-a&every=1h`,
        'cost',
        { from, to, device: 'plug-a', every: '1h' },
      ],
      [
        `/api/v1/cost?from=${from}&to=${to}&location=hq/floor-2`,
        'cost',
        { from, to, location: 'hq/floor-2' },
      ],
    ];
    for (const [path, method, params] of cases) {
      const response = await stack.api.get(path);
      assert.equal(response.status, 200, `${path}: ${response.text}`);
      assert.deepEqual(response.body, await direct(method, params), path);
    }
    const readings = (await stack.api.get(`/api/v1/devices/plug-a/readings?from=${from}&to=${to}&every=15m`))
      .body as { points: { power_w: number | null }[] };
    assert.equal(readings.points.length, 8);
    assert.ok(readings.points.every((point) => typeof point.power_w === 'number' && point.power_w > 60));
    const totals = (await stack.api.get(`/api/v1/energy/totals?from=${from}&to=${to}&group_by=kind`))
      .body as {
      groups: { key: string; devices: string[] }[];
    };
    assert.deepEqual(totals.groups.map((group) => [group.key, group.devices.sort()]).sort(), [
      ['printer', ['plug-c']],
      ['workplace', ['plug-a', 'plug-b']],
    ]);
  });

  it('devices, one device and latest show the live readings the agent collected from the plugs', async () => {
    const live = (body: unknown) =>
      (body as DevicesResult).devices.map((device) => ({
        id: device.id,
        kind: device.kind,
        location: device.location,
        availability: device.availability,
        power_w: device.reading?.power_w,
      }));
    const list = await stack.api.get('/api/v1/devices?location=hq/floor-2');
    assert.equal(list.status, 200);
    assert.deepEqual(live(list.body), live(await direct('devices', { location: 'hq/floor-2' })));
    assert.deepEqual(
      live(list.body).map((device) => [device.id, device.availability, device.power_w]),
      [
        ['plug-b', 'online', plugs.get('plug-b')!.expected().power_w],
        ['plug-c', 'online', plugs.get('plug-c')!.expected().power_w],
      ],
    );
    const one = await stack.api.get('/api/v1/devices/plug-a');
    assert.equal((one.body as { id: string; model?: string }).id, 'plug-a');
    const latest = await stack.api.get('/api/v1/latest?devices=plug-a,plug-c');
    assert.deepEqual(
      (latest.body as LatestResult).devices.map((entry) => [entry.device, entry.reading?.power_w]),
      [
        ['plug-a', 61.5],
        ['plug-c', 350],
      ],
    );
    const unknown = await stack.api.get('/api/v1/latest?devices=plug-zz');
    assert.equal(unknown.status, 404);
    assert.equal((unknown.body as { code: string }).code, 'UNKNOWN_DEVICE');
  });

  it('PUT power switches a simulated plug and returns the state the agent read back', async () => {
    const plug = plugs.get('plug-b')!;
    plug.relayOn = true;
    const off = await stack.api.put('/api/v1/devices/plug-b/power', { key: 'control', body: { on: false } });
    assert.equal(off.status, 200, off.text);
    assert.equal((off.body as { on: boolean }).on, false);
    assert.equal(plug.relayOn, false, 'the simulator relay is off');
    const state = await stack.api.get('/api/v1/devices/plug-b/power', { key: 'read' });
    assert.equal((state.body as { on: boolean }).on, false);
    const on = await stack.api.put('/api/v1/devices/plug-b/power', { key: 'control', body: { on: true } });
    assert.equal((on.body as { on: boolean }).on, true);
    assert.equal(plug.relayOn, true);
    const forbidden = await stack.api.put('/api/v1/devices/plug-b/power', {
      key: 'read',
      body: { on: false },
    });
    assert.equal(forbidden.status, 403);
    assert.equal(plug.relayOn, true, 'a read key did not switch it');
    const unknown = await stack.api.put('/api/v1/devices/plug-zz/power', {
      key: 'control',
      body: { on: false },
    });
    assert.equal(unknown.status, 404);
  });

  it('a plug that stopped answering gives 502 DEVICE_UNREACHABLE within the deadline', async () => {
    const plug = plugs.get('plug-c')!;
    await plug.stop();
    try {
      const response: ApiResponse = await stack.api.put('/api/v1/devices/plug-c/power', {
        key: 'control',
        body: { on: false },
      });
      assert.equal(response.status, 502, response.text);
      assert.equal((response.body as { code: string }).code, 'DEVICE_UNREACHABLE');
    } finally {
      await plug.start();
    }
  });

  it('lists the alert the real alert hook raised for a plug above its threshold: active, then in the history', async () => {
    const topic = new AlertTopics().alert('desk-load', 'plug-a');
    let onAlert!: (alert: Alert) => void;
    const raised = new Promise<Alert>((resolve) => (onAlert = resolve));
    const subscription = await client.subscribe(topic, validator(AlertSchema), (alert) => onAlert(alert));
    const alert = await raised;
    await subscription.unsubscribe();
    assert.equal(alert.state, 'raised');
    assert.equal(alert.value, 61.5);

    const active = await stack.api.get('/api/v1/alerts?rule=desk-load', { key: 'read' });
    assert.equal(active.status, 200, active.text);
    assert.deepEqual(active.body, { active: [alert] });
    assert.deepEqual(
      active.body,
      await client.request(new AlertTopics().request('list'), { rule: 'desk-load' }, { timeoutMs: 5000 }),
    );

    // The transition reaches InfluxDB through the hook's outbox: poll the API until it is there.
    const from = new Date(Date.parse(alert.raised_at) - 60_000).toISOString();
    const path = `/api/v1/alerts?active=false&subject=plug-a&from=${from}`;
    let history: AlertListResult = {};
    await waitUntil('the raised transition in the alert history', async () => {
      const response = await stack.api.get(path);
      assert.equal(response.status, 200, response.text);
      history = response.body as AlertListResult;
      return (history.history?.length ?? 0) > 0;
    });
    assert.equal(history.active, undefined);
    assert.deepEqual(
      history.history?.map((entry) => [entry.alert_id, entry.rule, entry.state, entry.value]),
      [[alert.id, 'desk-load', 'raised', 61.5]],
    );
    assert.equal(history.from, from);

    const tooLong = await stack.api.get('/api/v1/alerts?from=2026-01-01T00:00:00Z&to=2026-06-01T00:00:00Z');
    assert.equal(tooLong.status, 422);
    assert.equal((tooLong.body as { code: string }).code, 'QUERY_TOO_LARGE');
    const reversed = await stack.api.get('/api/v1/alerts?from=2026-06-01T00:00:00Z&to=2026-01-01T00:00:00Z');
    assert.equal(reversed.status, 400);
    assert.equal((reversed.body as { code: string }).code, 'INVALID_PARAMS');
  });

  it('without the query component: 504 problem at the deadline; started again, the next call succeeds', async () => {
    await query.stop();
    await queryBus.stop();
    const path = '/api/v1/energy/totals?from=2026-11-02T08:00:00Z&to=2026-11-02T10:00:00Z&group_by=device';
    const late = await stack.api.get(path);
    assert.equal(late.status, 504);
    assert.equal((late.body as { code: string }).code, 'TIMEOUT');
    await startQuery();
    const answered = await stack.api.get(path);
    assert.equal(answered.status, 200, answered.text);
    assert.equal((answered.body as { groups: unknown[] }).groups.length, 3);
    assert.ok(stack.api.responses > 20);
  });
});
