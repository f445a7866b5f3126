import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '@wattbus/bus';
import { AlertTopics, ServiceHealthSchema, validator, type ServiceHealth } from '@wattbus/contracts';
import type {
  CostResult,
  DevicesResult,
  EnergyResult,
  LatestResult,
  ReadingsResult,
  TotalsResult,
} from '@wattbus/contracts';
import {
  startAedes,
  startInflux,
  startInfluxV2StandIn,
  type AedesServer,
  type InfluxServer,
} from '@wattbus/testing';
import { QueryComponent } from '../src/index.js';
import { DATABASE, ask, logger, requestError, testConfig, writePoints } from './helpers.js';

const TARIFF = {
  currency: 'EUR',
  price_per_kwh: 0.2,
  periods: [
    {
      name: 'peak',
      days: ['mon', 'tue', 'wed', 'thu', 'fri'],
      from_hour: 8,
      to_hour: 20,
      price_per_kwh: 0.3,
    },
    { name: 'valley', from_hour: 0, to_hour: 8, price_per_kwh: 0.1 },
  ],
};

const META = [
  { id: 'ws-1', kind: 'workplace', location: 'hq/floor-1/open/ws-1' },
  { id: 'ws-2', kind: 'workplace', location: 'hq/floor-2/open/ws-2' },
  { id: 'mr-1', kind: 'meeting-room', location: 'hq/floor-2/room-201' },
  { id: 'pr-1', kind: 'printer', location: 'hq/floor-1/copy/pr-1' },
].map((device) => ({
  ...device,
  name: device.id.toUpperCase(),
  type: 'tplink',
  poll_interval_ms: 1000,
  ts: '2026-11-05T00:00:00.000Z',
}));

/** Answers every InfluxDB path must give alike (bound or inline params, 1.x or the 2.x API). */
async function assertSameAnswers(asker: Bus): Promise<void> {
  const readings = await ask<ReadingsResult>(asker, 'readings', {
    device: 'desk-1',
    from: '2026-11-02T08:00:00Z',
    to: '2026-11-02T08:02:00Z',
    every: '1m',
    fn: 'max',
  });
  assert.deepEqual(
    readings.points.map((p) => p.power_w),
    [60, 100],
  );
  const counter = await ask<EnergyResult>(asker, 'energy', {
    device: 'meter-c',
    from: '2026-11-02T00:00:00Z',
    to: '2026-11-04T00:00:00Z',
    every: '1d',
    tz: 'UTC',
  });
  assert.deepEqual(
    counter.buckets.map((b) => b.energy_kwh),
    [0.65, 1.15],
  );
  const power = await ask<EnergyResult>(asker, 'energy', {
    device: 'plug-p',
    from: '2026-11-02T00:00:00Z',
    to: '2026-11-02T05:00:00Z',
    every: '1h',
    tz: 'UTC',
  });
  assert.equal(power.total_kwh, 0.4);
  const cost = await ask<CostResult>(asker, 'cost', {
    device: 'tou-1',
    from: '2026-11-06T00:00:00+01:00',
    to: '2026-11-08T00:00:00+01:00',
  });
  assert.deepEqual([cost.total_kwh, cost.total_cost], [4.5, 1]);
}

describe('query component (aedes, influxd)', () => {
  let influx: InfluxServer;
  let broker: AedesServer;
  let bus: Bus;
  let client: Bus;
  let component: QueryComponent;
  // A second component that writes values as escaped literals (what it does on InfluxDB 3).
  let inlineBus: Bus;
  let inlineClient: Bus;
  let inlineComponent: QueryComponent;

  before(async () => {
    [influx, broker] = await Promise.all([startInflux(), startAedes()]);
    await influx.createDatabase(DATABASE);
    await writeFixtures(influx.url);
    client = await Bus.connect({ url: broker.url, service: 'test-client' });
    // The fleet's retained state, published before the component starts.
    for (const meta of META) await client.publish(client.topics.meta(meta.id), meta, { retain: true });
    await client.publish(client.topics.availability('ws-1'), 'online', { retain: true });
    await client.publish(
      client.topics.state('ws-1'),
      { on: true, ts: '2026-11-05T12:00:00.000Z' },
      { retain: true },
    );
    bus = await Bus.connect({ url: broker.url, service: 'query', logger });
    component = new QueryComponent({
      bus,
      logger,
      config: testConfig({
        mqttUrl: broker.url,
        influxUrl: influx.url,
        extra: { time_zone: 'Europe/Madrid', tariff: TARIFF, warmup_lookback_ms: 10 * 365 * 86_400_000 },
      }),
    });
    await component.start();
    inlineBus = await Bus.connect({ url: broker.url, service: 'query', baseTopic: 'inline', logger });
    inlineClient = await Bus.connect({ url: broker.url, service: 'test-client', baseTopic: 'inline' });
    inlineComponent = new QueryComponent({
      bus: inlineBus,
      logger,
      config: testConfig({
        mqttUrl: broker.url,
        influxUrl: influx.url,
        extra: {
          time_zone: 'Europe/Madrid',
          tariff: TARIFF,
          influx_params: 'inline',
          warmup_lookback_ms: 0,
          limits: { max_points: 4 },
        },
      }),
    });
    await inlineComponent.start();
  });

  after(async () => {
    await inlineComponent?.stop();
    await inlineBus?.stop();
    await inlineClient?.stop();
    await component?.stop();
    await bus?.stop();
    await client?.stop();
    await broker?.stop();
    await influx?.destroy();
  });

  it('readings: exact mean, min and max per 1-minute bucket, and the raw points', async () => {
    const params = {
      device: 'desk-1',
      from: '2026-11-02T08:00:00Z',
      to: '2026-11-02T08:02:00Z',
      every: '1m',
    };
    const values = async (fn: string) =>
      (await ask<ReadingsResult>(client, 'readings', { ...params, fn })).points.map((p) => [p.ts, p.power_w]);
    assert.deepEqual(await values('mean'), [
      ['2026-11-02T08:00:00.000Z', 30],
      ['2026-11-02T08:01:00.000Z', 75],
    ]);
    assert.deepEqual(
      (await values('min')).map(([, v]) => v),
      [10, 50],
    );
    assert.deepEqual(
      (await values('max')).map(([, v]) => v),
      [60, 100],
    );
    const raw = await ask<ReadingsResult>(client, 'readings', {
      device: 'desk-1',
      from: '2026-11-02T08:00:00Z',
      to: '2026-11-02T08:02:00Z',
      fields: ['power_w', 'voltage_v'],
    });
    assert.deepEqual(
      raw.points.map((p) => p.power_w),
      [10, 20, 60, 100, 50],
    );
    assert.equal(raw.points[0]!.voltage_v, 230);
    assert.equal(raw.every, null);
  });

  it('readings of one phase of a 3-phase meter, and the totals without a phase', async () => {
    const base = { device: 'tri-1', from: '2026-11-02T08:00:00Z', to: '2026-11-02T08:01:00Z' };
    const l2 = await ask<ReadingsResult>(client, 'readings', { ...base, phase: 'L2' });
    assert.deepEqual(
      l2.points.map((p) => p.power_w),
      [200],
    );
    const total = await ask<ReadingsResult>(client, 'readings', base);
    assert.deepEqual(
      total.points.map((p) => p.power_w),
      [600],
    );
  });

  it('energy: daily kWh from a counter with a reset and gaps', async () => {
    const result = await ask<EnergyResult>(client, 'energy', {
      device: 'meter-c',
      from: '2026-11-02T00:00:00Z',
      to: '2026-11-04T00:00:00Z',
      every: '1d',
      tz: 'UTC',
    });
    assert.equal(result.method, 'counter');
    assert.deepEqual(
      result.buckets.map((b) => [b.start, b.energy_kwh]),
      [
        ['2026-11-02T00:00:00.000Z', 0.65],
        ['2026-11-03T00:00:00.000Z', 1.15],
      ],
    );
    assert.equal(result.total_kwh, 1.8);
  });

  it('energy: hourly kWh from power alone (trapezoids, no energy across a 2 h gap)', async () => {
    const result = await ask<EnergyResult>(client, 'energy', {
      device: 'plug-p',
      from: '2026-11-02T00:00:00Z',
      to: '2026-11-02T05:00:00Z',
      every: '1h',
      tz: 'UTC',
    });
    assert.equal(result.method, 'integral');
    assert.deepEqual(
      result.buckets.map((b) => b.energy_kwh),
      [0.1, 0.175, 0.075, 0, 0.05],
    );
    assert.equal(result.total_kwh, 0.4);
  });

  it('energy: a local day in Europe/Madrid across the spring DST change has 23 hours', async () => {
    const result = await ask<EnergyResult>(client, 'energy', {
      device: 'dst-meter',
      from: '2026-03-29T00:00:00+01:00',
      to: '2026-03-31T00:00:00+02:00',
      every: '1d',
      tz: 'Europe/Madrid',
    });
    assert.deepEqual(
      result.buckets.map((b) => [b.start, b.end, b.energy_kwh]),
      [
        ['2026-03-28T23:00:00.000Z', '2026-03-29T22:00:00.000Z', 2.3],
        ['2026-03-29T22:00:00.000Z', '2026-03-30T22:00:00.000Z', 2.4],
      ],
    );
    // The same data in UTC days: 24 hourly steps each.
    const utc = await ask<EnergyResult>(client, 'energy', {
      device: 'dst-meter',
      from: '2026-03-29T00:00:00Z',
      to: '2026-03-30T00:00:00Z',
      every: '1d',
      tz: 'UTC',
    });
    assert.equal(utc.buckets[0]!.energy_kwh, 2.4);
  });

  it('totals grouped by location prefix (depth 2) and by kind, priced by time of use', async () => {
    const period = { from: '2026-11-05T00:00:00Z', to: '2026-11-06T00:00:00Z' };
    const byLocation = await ask<TotalsResult>(client, 'totals', {
      ...period,
      group_by: 'location',
      depth: 2,
    });
    assert.deepEqual(
      byLocation.groups.map((g) => [g.key, g.devices, g.energy_kwh, g.cost]),
      [
        ['hq/floor-1', ['pr-1', 'ws-1'], 1.25, 0.375],
        ['hq/floor-2', ['mr-1', 'ws-2'], 2.5, 0.75],
      ],
    );
    assert.equal(byLocation.total_kwh, 3.75);
    assert.equal(byLocation.total_cost, 1.125);
    assert.equal(byLocation.currency, 'EUR');

    const byKind = await ask<TotalsResult>(client, 'totals', { ...period, group_by: 'kind' });
    assert.deepEqual(
      byKind.groups.map((g) => [g.key, g.energy_kwh]),
      [
        ['meeting-room', 0.5],
        ['printer', 0.25],
        ['workplace', 3],
      ],
    );
    const floor2 = await ask<TotalsResult>(client, 'totals', {
      ...period,
      group_by: 'kind',
      location: 'hq/floor-2',
    });
    assert.deepEqual(
      floor2.groups.map((g) => [g.key, g.energy_kwh]),
      [
        ['meeting-room', 0.5],
        ['workplace', 2],
      ],
    );
    const byDevice = await ask<TotalsResult>(client, 'totals', {
      ...period,
      group_by: 'device',
      kind: 'workplace',
    });
    assert.deepEqual(
      byDevice.groups.map((g) => [g.key, g.energy_kwh]),
      [
        ['ws-1', 1],
        ['ws-2', 2],
      ],
    );
  });

  it('cost: time-of-use prices by local hour and weekday, per local day', async () => {
    const result = await ask<CostResult>(client, 'cost', {
      device: 'tou-1',
      from: '2026-11-06T00:00:00+01:00',
      to: '2026-11-08T00:00:00+01:00',
      every: '1d',
      tz: 'Europe/Madrid',
    });
    // Friday: 1 kWh in the valley (0.10) + 2 kWh at peak (0.30) + 0.5 kWh off-peak (0.20);
    // Saturday 13:00: no peak at weekends, 1 kWh at 0.20.
    assert.deepEqual(
      result.buckets.map((b) => [b.start, b.energy_kwh, b.cost]),
      [
        ['2026-11-05T23:00:00.000Z', 3.5, 0.8],
        ['2026-11-06T23:00:00.000Z', 1, 0.2],
      ],
    );
    assert.equal(result.total_cost, 1);
    assert.equal(result.currency, 'EUR');
  });

  it('with escaped literals instead of bound params (the InfluxDB 3 path) the answers are the same', async () => {
    await assertSameAnswers(inlineClient);
    // desk-1 has 5 raw readings there; no meta tells its poll interval, so the answer is checked.
    const raw = await requestError(inlineClient, 'readings', {
      device: 'desk-1',
      from: '2026-11-02T08:00:00Z',
      to: '2026-11-02T08:02:00Z',
    });
    assert.equal(raw.code, 'QUERY_TOO_LARGE');
    assert.match(raw.message, /limits\.max_points = 4/);
    // Not seen on the bus and not warmed up: known through InfluxDB's tag values, or not at all.
    const unknown = await requestError(inlineClient, 'energy', {
      device: 'nope',
      from: '2026-11-02T00:00:00Z',
      to: '2026-11-03T00:00:00Z',
      every: '1d',
    });
    assert.equal(unknown.code, 'UNKNOWN_DEVICE');
  });

  it('through the InfluxDB 2.x API (InfluxV2StandIn, Token auth on /query) the answers are the same; a bad token is named', async () => {
    const standIn = await startInfluxV2StandIn({ influx, token: 'query-token', org: 'home' });
    const started: Array<{ stop(): Promise<void> }> = [];
    try {
      const v2 = async (baseTopic: string, token: string) => {
        const bus = await Bus.connect({ url: broker.url, service: 'query', baseTopic, logger });
        const component = new QueryComponent({
          bus,
          logger,
          config: testConfig({
            mqttUrl: broker.url,
            influxUrl: standIn.url,
            extra: {
              time_zone: 'Europe/Madrid',
              tariff: TARIFF,
              warmup_lookback_ms: 0,
              influx: { url: standIn.url, database: DATABASE, timeout_ms: 2000, token, org: 'home' },
            },
          }),
        });
        await component.start();
        const asker = await Bus.connect({ url: broker.url, service: 'test-client', baseTopic });
        started.push(bus, component, asker);
        return asker;
      };
      const asker = await v2('v2', 'query-token');
      await assertSameAnswers(asker);
      assert.ok(standIn.requests.includes('POST /query'));
      const refused = await requestError(await v2('v2-bad', 'wrong'), 'energy', {
        device: 'meter-c',
        from: '2026-11-02T00:00:00Z',
        to: '2026-11-04T00:00:00Z',
        every: '1d',
      });
      assert.equal(refused.code, 'STORE_UNAVAILABLE');
      assert.match(refused.message, /401: unauthorized access\): check influx\.token/);
    } finally {
      for (const part of started.reverse()) await part.stop();
      await standIn.stop();
    }
  });

  it('devices joins meta, availability, relay state and the latest reading, filtered by location and kind', async () => {
    const result = await ask<DevicesResult>(client, 'devices', { location: 'hq/floor-1', kind: 'workplace' });
    assert.equal(result.devices.length, 1);
    const [ws1] = result.devices;
    assert.equal(ws1!.id, 'ws-1');
    assert.equal(ws1!.name, 'WS-1');
    assert.equal(ws1!.availability, 'online');
    assert.deepEqual(ws1!.state, { on: true, ts: '2026-11-05T12:00:00.000Z' });
    // Warmed up from InfluxDB: ws-1's last stored reading.
    assert.equal(ws1!.reading?.ts, '2026-11-05T12:00:00.000Z');
    assert.equal(ws1!.reading?.energy_wh, 6000);
    const floor = await ask<DevicesResult>(client, 'devices', { location: 'hq/floor' });
    assert.deepEqual(floor.devices, [], 'a prefix matches whole levels only');
  });

  it('latest answers from memory: a reading published on the bus is the latest at once', async () => {
    const reading = { ts: new Date().toISOString(), device: 'ws-2', power_w: 42.5, energy_wh: 9000 };
    // Same client for the reading and the request: the broker delivers them in order.
    await client.publish(client.topics.readings('ws-2'), reading, { qos: 1 });
    const result = await ask<LatestResult>(client, 'latest', { devices: ['ws-2', 'tri-1'] });
    assert.deepEqual(result.devices[0], { device: 'ws-2', reading, phases: [] });
    assert.deepEqual(
      result.devices[1]!.phases.map((p) => [p.phase, p.power_w]),
      [
        ['L1', 100],
        ['L2', 200],
        ['L3', 300],
      ],
    );
    assert.equal(result.devices[1]!.reading?.power_w, 600);
  });

  it('unknown devices are UNKNOWN_DEVICE; bad params are INVALID_PARAMS with the path', async () => {
    assert.equal((await requestError(client, 'latest', { devices: ['nope'] })).code, 'UNKNOWN_DEVICE');
    const energy = await requestError(client, 'energy', {
      device: 'nope',
      from: '2026-11-02T00:00:00Z',
      to: '2026-11-03T00:00:00Z',
      every: '1d',
    });
    assert.equal(energy.code, 'UNKNOWN_DEVICE');
    const fn = await requestError(client, 'readings', {
      device: 'desk-1',
      from: '2026-11-02T08:00:00Z',
      to: '2026-11-02T08:02:00Z',
      every: '1m',
      fn: 'median',
    });
    assert.equal(fn.code, 'INVALID_PARAMS');
    assert.match(fn.message, /\/fn/);
    const reversed = await requestError(client, 'readings', {
      device: 'desk-1',
      from: '2026-11-02T08:02:00Z',
      to: '2026-11-02T08:00:00Z',
    });
    assert.match(reversed.message, /\/to: must be after/);
    const rawFn = await requestError(client, 'readings', {
      device: 'desk-1',
      from: '2026-11-02T08:00:00Z',
      to: '2026-11-02T08:02:00Z',
      fn: 'max',
    });
    assert.match(rawFn.message, /\/fn: needs every/);
    const zone = await requestError(client, 'energy', {
      device: 'meter-c',
      from: '2026-11-02T00:00:00Z',
      to: '2026-11-03T00:00:00Z',
      every: '1d',
      tz: 'Mars/Olympus',
    });
    assert.match(zone.message, /\/tz: unknown time zone/);
    assert.equal((await requestError(client, 'drop', {})).code, 'UNKNOWN_METHOD');
  });

  it('injection attempts in every string param are refused or stay literal values', async () => {
    const hostile = [
      `x' OR device='y`,
      `x" OR "device"='y`,
      `x'; DROP DATABASE ${DATABASE}; --`,
      `x\nSELECT * FROM electricity`,
      `x/../y`,
      `/.*/`,
      `x' OR 1=1 --`,
      `x OR 1=1`,
      `Europe/Madrid') GROUP BY device --`,
    ];
    const range = { from: '2026-11-02T08:00:00Z', to: '2026-11-02T08:02:00Z' };
    const asked: Array<[string, Record<string, unknown>]> = [];
    for (const value of hostile) {
      asked.push(
        ['readings', { ...range, device: value }],
        ['readings', { ...range, device: 'x', fields: [value] }],
        ['readings', { ...range, device: 'x', every: value }],
        ['readings', { ...range, device: 'x', every: '1m', fn: value }],
        ['readings', { ...range, device: 'x', every: '1m', fill: value }],
        ['readings', { ...range, device: 'x', every: '1m', tz: value }],
        ['readings', { ...range, device: 'x', phase: value }],
        ['readings', { device: 'x', from: value, to: range.to }],
        ['energy', { ...range, device: 'x', every: value }],
        ['energy', { ...range, device: 'x', every: '1h', tz: value }],
        ['latest', { devices: [value] }],
        ['cost', { ...range, device: value }],
      );
    }
    await Promise.all(
      asked.map(async ([method, params]) => {
        const error = await requestError(client, method, params);
        assert.equal(error.code, 'INVALID_PARAMS', `${method} ${JSON.stringify(params)}: ${error.message}`);
      }),
    );
    // Strings matched in memory are literal: nothing matches, nothing else comes back.
    await Promise.all(
      hostile.map(async (value) => {
        assert.deepEqual((await ask<DevicesResult>(client, 'devices', { location: value })).devices, []);
        assert.deepEqual((await ask<DevicesResult>(client, 'devices', { kind: value })).devices, []);
        const totals = await ask<TotalsResult>(client, 'totals', {
          ...range,
          group_by: 'device',
          location: value,
        });
        assert.deepEqual(totals.groups, []);
        const cost = await ask<CostResult>(client, 'cost', { ...range, kind: value });
        assert.deepEqual(cost.devices, []);
      }),
    );
    // Device x has its own data only; y's is still there (nothing was dropped).
    const x = await ask<ReadingsResult>(client, 'readings', { ...range, device: 'x' });
    assert.deepEqual(
      x.points.map((p) => p.power_w),
      [1],
    );
    const y = await influx.query(DATABASE, `SELECT count("power_w") FROM "electricity" WHERE "device" = 'y'`);
    assert.equal(y.results?.[0]?.series?.[0]?.values[0]?.[1], 1);
  });

  it('a 1-second bucket over 3 years is QUERY_TOO_LARGE naming the limit, without touching InfluxDB', async () => {
    await influx.stop(); // had it asked InfluxDB, the answer would be STORE_UNAVAILABLE
    try {
      const readings = await requestError(client, 'readings', {
        device: 'desk-1',
        from: '2023-01-01T00:00:00Z',
        to: '2026-01-01T00:00:00Z',
        every: '1s',
      });
      assert.equal(readings.code, 'QUERY_TOO_LARGE');
      assert.match(readings.message, /limits\.max_points = 10000/);
      // Raw readings: ws-1's meta says one a second, so a day would be about 86,400.
      const raw = await requestError(client, 'readings', {
        device: 'ws-1',
        from: '2026-11-05T00:00:00Z',
        to: '2026-11-06T00:00:00Z',
      });
      assert.equal(raw.code, 'QUERY_TOO_LARGE');
      assert.match(raw.message, /about 86400 points.*limits\.max_points = 10000/);
      const energy = await requestError(client, 'energy', {
        device: 'meter-c',
        from: '1990-01-01T00:00:00Z',
        to: '2026-01-01T00:00:00Z',
        every: '15m',
      });
      assert.match(energy.message, /limits\.max_buckets = 5000/);
      const rows = await requestError(client, 'energy', {
        device: 'meter-c',
        from: '2025-01-01T00:00:00.001Z',
        to: '2026-01-01T00:00:00Z',
        every: '1mo',
      });
      assert.match(rows.message, /limits\.max_rows = 200000/);
    } finally {
      await influx.start();
    }
  });

  it('influxd down: STORE_UNAVAILABLE within the deadline; answers again once it is back', async () => {
    const params = {
      device: 'meter-c',
      from: '2026-11-02T00:00:00Z',
      to: '2026-11-04T00:00:00Z',
      every: '1d',
      tz: 'UTC',
    };
    // The component's retained health record follows InfluxDB's reachability.
    const waiters: Array<{ ok: boolean; resolve: (health: ServiceHealth) => void }> = [];
    const healthOf = (ok: boolean) => new Promise<ServiceHealth>((resolve) => waiters.push({ ok, resolve }));
    const subscription = await client.subscribe(
      new AlertTopics(client.topics.base).health('query'),
      validator(ServiceHealthSchema),
      (health) => {
        for (const waiter of waiters.splice(0)) {
          if (health.checks.influx?.ok === waiter.ok) waiter.resolve(health);
          else waiters.push(waiter);
        }
      },
    );
    try {
      await influx.stop();
      const down = healthOf(false);
      try {
        const error = await requestError(client, 'energy', params);
        assert.equal(error.code, 'STORE_UNAVAILABLE');
        assert.match(error.message, /unreachable/);
        const health = await down;
        assert.equal(health.ready, false);
        assert.match(health.checks.influx!.detail!, /unreachable/);
      } finally {
        await influx.start();
      }
      const up = healthOf(true);
      const result = await ask<EnergyResult>(client, 'energy', params);
      assert.equal(result.total_kwh, 1.8);
      const recovered = await up;
      assert.equal(recovered.ready, true);
      assert.ok(recovered.metrics.store_unavailable! >= 1);
    } finally {
      await subscription.unsubscribe();
    }
  });
});

async function writeFixtures(url: string): Promise<void> {
  const points: Parameters<typeof writePoints>[1] = [];
  // desk-1: 1-minute buckets (mean 30 / 75, min 10 / 50, max 60 / 100).
  for (const [ts, power_w] of [
    ['2026-11-02T08:00:00Z', 10],
    ['2026-11-02T08:00:20Z', 20],
    ['2026-11-02T08:00:40Z', 60],
    ['2026-11-02T08:01:00Z', 100],
    ['2026-11-02T08:01:30Z', 50],
  ] as const) {
    points.push({ device: 'desk-1', ts, fields: { power_w, voltage_v: 230 } });
  }
  // tri-1: a 3-phase meter, per phase and the total without a phase tag.
  for (const [phase, power_w] of [
    ['L1', 100],
    ['L2', 200],
    ['L3', 300],
  ] as const) {
    points.push({ device: 'tri-1', ts: '2026-11-02T08:00:00Z', fields: { power_w }, tags: { phase } });
  }
  points.push({ device: 'tri-1', ts: '2026-11-02T08:00:00Z', fields: { power_w: 600 } });
  // meter-c: counter with a 6 h gap, a reset to 50 at 12:00 and a gap across midnight.
  for (const [ts, energy_wh] of [
    ['2026-11-01T23:00:00Z', 1000],
    ['2026-11-02T00:00:00Z', 1100],
    ['2026-11-02T06:00:00Z', 1400],
    ['2026-11-02T12:00:00Z', 50],
    ['2026-11-02T18:00:00Z', 250],
    ['2026-11-03T00:00:00Z', 400],
    ['2026-11-03T12:00:00Z', 1400],
  ] as const) {
    points.push({ device: 'meter-c', ts, fields: { energy_wh, power_w: 99 } });
  }
  // plug-p: power only.
  for (const [ts, power_w] of [
    ['2026-11-01T23:30:00Z', 100],
    ['2026-11-02T00:00:00Z', 100],
    ['2026-11-02T00:30:00Z', 100],
    ['2026-11-02T01:00:00Z', 200],
    ['2026-11-02T01:30:00Z', 200],
    ['2026-11-02T02:00:00Z', 100],
    ['2026-11-02T04:00:00Z', 100],
    ['2026-11-02T04:30:00Z', 100],
  ] as const) {
    points.push({ device: 'plug-p', ts, fields: { power_w } });
  }
  // dst-meter: +100 Wh every hour from local 23:00 on 28 March 2026 (Madrid).
  for (let k = 0; k <= 48; k++) {
    points.push({
      device: 'dst-meter',
      ts: Date.parse('2026-03-28T22:00:00Z') + k * 3_600_000,
      fields: { energy_wh: 1000 + 100 * k },
    });
  }
  // The fleet of the totals: steps at 13:00 local (peak) on Thursday 5 November.
  for (const [device, wh] of [
    ['ws-1', 1000],
    ['ws-2', 2000],
    ['mr-1', 500],
    ['pr-1', 250],
  ] as const) {
    const tags = {
      location: META.find((m) => m.id === device)!.location.replace(/\//g, '/'),
      type: 'tplink',
    };
    points.push({ device, ts: '2026-11-05T00:00:00Z', fields: { energy_wh: 5000, power_w: 1 }, tags });
    points.push({ device, ts: '2026-11-05T12:00:00Z', fields: { energy_wh: 5000 + wh, power_w: 1 }, tags });
  }
  // tou-1: Friday 6 November (Madrid, UTC+1) and Saturday 7 November.
  for (const [ts, energy_wh] of [
    ['2026-11-05T23:00:00Z', 0],
    ['2026-11-06T05:00:00Z', 1000],
    ['2026-11-06T12:00:00Z', 3000],
    ['2026-11-06T20:00:00Z', 3500],
    ['2026-11-07T12:00:00Z', 4500],
  ] as const) {
    points.push({ device: 'tou-1', ts, fields: { energy_wh } });
  }
  // x and y: the injection targets.
  points.push({ device: 'x', ts: '2026-11-02T08:00:00Z', fields: { power_w: 1 } });
  points.push({ device: 'y', ts: '2026-11-02T08:00:00Z', fields: { power_w: 1000 } });
  await writePoints(url, points);
}
