import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Bus } from '@wattbus/bus';
import type {
  CostResult,
  DevicesResult,
  EnergyResult,
  LatestResult,
  ReadingsResult,
  TotalsResult,
} from '@wattbus/contracts';
import { ask, requestError, startQueryStack, writePoints, type Point, type QueryStack } from './helpers.js';

const MINUTE = 60_000;
const at = (iso: string, minutes = 0) => Date.parse(iso) + minutes * MINUTE;

/** Field reports replayed (issue 17): every failing input with its right value, and its kind. */
describe('trustworthy numbers (aedes, influxd)', () => {
  let client: Bus;
  let stack: QueryStack;

  before(async () => {
    stack = await startQueryStack({
      extra: { tariff: { currency: 'EUR', price_per_kwh: 0.25 }, warmup_lookback_ms: 0 },
      prepare: async (client, influxUrl) => {
        await writePoints(influxUrl, fixtures());
        const meta = {
          id: 'edges',
          name: 'Edges',
          type: 'modbus',
          kind: 'meter',
          location: 'lab',
          // Read once a century: a raw readings answer over the whole range is small.
          poll_interval_ms: 100 * 365 * 86_400_000,
          ts: '2026-12-01T00:00:00.000Z',
        };
        await client.publish(client.topics.meta('edges'), meta, { retain: true });
      },
    });
    client = stack.client;
  });

  after(() => stack?.stop());

  const energy = (device: string, from: string, to: string, every = '1h') =>
    ask<EnergyResult>(client, 'energy', { device, from, to, every, tz: 'UTC' });
  const buckets = (result: EnergyResult) => result.buckets.map((bucket) => bucket.energy_kwh);

  it('1. a one-off zero of a counter is a glitch, not a reset: 0.1 kWh, not 1,000 kWh', async () => {
    // +10 Wh a minute; at 08:59 the meter says 0, at 09:00 it is back on its trend.
    const result = await energy('dip-meter', '2026-12-01T08:50:00Z', '2026-12-01T09:01:00Z');
    assert.equal(result.method, 'counter');
    assert.deepEqual(buckets(result), [0.08, 0.02]);
    assert.equal(result.total_kwh, 0.1);
  });

  it('kind: a real counter reset still counts the energy since the restart', async () => {
    const result = await energy('reset-meter', '2026-12-01T08:00:00Z', '2026-12-01T08:11:00Z');
    // 5 × 10 Wh, the restart at 3 Wh, 4 × 10 Wh.
    assert.equal(result.total_kwh, 0.093);
  });

  it('kind: a one-off spike of a counter is ignored', async () => {
    const result = await energy('spike-meter', '2026-12-01T08:00:00Z', '2026-12-01T08:11:00Z');
    assert.equal(result.total_kwh, 0.1);
  });

  it('kind: rounding jitter counts nothing, across an interval boundary too', async () => {
    const result = await energy('jitter-meter', '2026-12-01T08:00:00Z', '2026-12-01T10:00:00Z');
    // 10000 → 9995 → 10005 → 10004 | dip to 9970 at 08:58, 10020 → 10018 → 10030.
    assert.deepEqual(buckets(result), [0.005, 0.025]);
  });

  it('2. absurd single power samples stored earlier (23,456,789 W, 3.4e38 W) do not count', async () => {
    const result = await energy('glitchy-plug', '2026-12-01T10:00:00Z', '2026-12-01T11:00:00Z');
    assert.equal(result.method, 'integral');
    assert.equal(result.total_kwh, 0.06, '60 W for an hour');
  });

  it('2. values near 1e308: energy and readings?fn=sum answer, without them', async () => {
    const range = { from: '2026-12-01T10:00:00Z', to: '2026-12-01T11:00:00Z' };
    const sum = await ask<ReadingsResult>(client, 'readings', {
      device: 'huge',
      ...range,
      every: '1h',
      fn: 'sum',
      fields: ['power_w', 'energy_wh'],
    });
    assert.deepEqual(sum.points, [{ ts: '2026-12-01T10:00:00.000Z', power_w: 15, energy_wh: 90 }]);
    const raw = await ask<ReadingsResult>(client, 'readings', { device: 'huge', ...range });
    assert.deepEqual(
      raw.points.map((point) => point.power_w),
      [5, null, 5, null, 5],
    );
    const result = await energy('huge', range.from, range.to);
    assert.equal(result.total_kwh, 0.04, 'the counter from 10 to 50 Wh, without the garbage');
  });

  it('API numbers are rounded for their unit (no 68.92812500000001)', async () => {
    const mean = await ask<ReadingsResult>(client, 'readings', {
      device: 'noisy',
      from: '2026-12-01T10:00:00Z',
      to: '2026-12-01T10:01:00Z',
      every: '1m',
      fields: ['power_w', 'current_a'],
    });
    assert.deepEqual(mean.points, [{ ts: '2026-12-01T10:00:00.000Z', power_w: 68.928, current_a: 0.3 }]);
  });

  it('3. a reading from the future never becomes the latest; the correct ones that follow do', async () => {
    const now = Date.now();
    const reading = (ts: number, power_w: number) => ({
      ts: new Date(ts).toISOString(),
      device: 'wrong-clock',
      power_w,
    });
    await client.publish(client.topics.readings('wrong-clock'), reading(now + 400 * 86_400_000, 999), {
      qos: 1,
    });
    for (const [ago, power] of [
      [3000, 1],
      [2000, 2],
      [1000, 3],
    ] as const) {
      await client.publish(client.topics.readings('wrong-clock'), reading(now - ago, power), { qos: 1 });
    }
    const latest = await ask<LatestResult>(client, 'latest', { devices: ['wrong-clock'] });
    assert.equal(latest.devices[0]!.reading?.power_w, 3);
    const devices = await ask<DevicesResult>(client, 'devices', {});
    assert.equal(devices.devices.find((device) => device.id === 'wrong-clock')?.reading?.power_w, 3);
  });

  it('4. a 3-phase meter that publishes only per-phase readings: energy is the sum of its phases', async () => {
    const result = await energy('phases-only', '2026-12-01T10:00:00Z', '2026-12-01T11:00:00Z');
    assert.equal(result.method, 'counter');
    assert.equal(result.total_kwh, 0.3, 'L1 50 + L2 100 + L3 150 Wh');
  });

  it('5. dates outside what InfluxDB stores are INVALID_PARAMS naming the range', async () => {
    const to = '9999-12-31T23:59:59.999999999Z';
    for (const [method, params] of [
      ['energy', { device: 'dip-meter', from: '2026-12-01T00:00:00Z', to, every: '1d' }],
      ['totals', { from: '2026-12-01T00:00:00Z', to, group_by: 'device' }],
      ['cost', { from: '2026-12-01T00:00:00Z', to }],
      ['readings', { device: 'dip-meter', from: '1500-01-01T00:00:00Z', to: '2026-12-01T00:00:00Z' }],
    ] as const) {
      const error = await requestError(client, method, params);
      assert.equal(error.code, 'INVALID_PARAMS', method);
      assert.match(
        error.message,
        /must be from 1678-01-01T00:00:00\.000Z to before 2262-01-01T00:00:00\.000Z/,
      );
    }
  });

  it('kind: timestamps at both ends of the range are stored and answered', async () => {
    const first = { from: '1678-01-01T00:00:00Z', to: '1679-01-01T00:00:00Z' };
    const raw = await ask<ReadingsResult>(client, 'readings', { device: 'edges', ...first });
    assert.deepEqual(
      raw.points.map((point) => [point.ts, point.power_w]),
      [
        ['1678-01-01T00:00:00.000Z', 10],
        ['1678-01-01T01:00:00.000Z', 10],
      ],
    );
    const early = await energy('edges', first.from, '1678-01-01T02:00:00Z');
    assert.deepEqual(buckets(early), [0, 0.01]);
    const last = { from: '2261-12-31T00:00:00Z', to: '2261-12-31T23:59:59.999Z' };
    const totals = await ask<TotalsResult>(client, 'totals', { ...last, group_by: 'device' });
    assert.deepEqual(
      totals.groups.map((group) => [group.key, group.energy_kwh]),
      [['edges', 0.02]],
    );
    const cost = await ask<CostResult>(client, 'cost', { ...last, device: 'edges' });
    assert.deepEqual([cost.total_kwh, cost.total_cost], [0.02, 0.005]);
    // InfluxDB computes in int64 nanoseconds: a range over 292 years silently answers nothing.
    const whole = await requestError(client, 'totals', { from: first.from, to: last.to, group_by: 'device' });
    assert.equal(whole.code, 'INVALID_PARAMS');
    assert.match(whole.message, /\/to: must be at most 250 years after \/from/);
    // Too many buckets is a 422 naming the limit, never a store error.
    const years = await requestError(client, 'energy', {
      device: 'edges',
      from: first.from,
      to: '1900-01-01T00:00:00Z',
      every: '1y',
    });
    assert.equal(years.code, 'QUERY_TOO_LARGE');
  });

  it('kind: a history of power-only and counter readings takes the method per interval, nothing twice', async () => {
    const result = await energy('mixed', '2026-12-01T12:00:00Z', '2026-12-01T16:00:00Z');
    assert.equal(result.method, 'mixed');
    // 12h: power only (5 × 10 Wh); 13h: counter (5 × 20 Wh); 14h: power only, the counter was not
    // read (6 × 20 Wh); 15h: the counter is back, its 13:50 → 15:00 step (140 Wh) counts only the
    // 20 Wh the power readings of 14h did not, then 5 × 20 Wh.
    assert.deepEqual(buckets(result), [0.05, 0.1, 0.12, 0.12]);
  });

  it('totals accept tz, as openapi.yaml documents', async () => {
    const totals = await ask<TotalsResult>(client, 'totals', {
      from: '2026-12-01T08:00:00Z',
      to: '2026-12-01T09:01:00Z',
      group_by: 'kind',
      tz: 'Europe/Madrid',
    });
    assert.equal(totals.currency, 'EUR');
    const zone = await requestError(client, 'totals', {
      from: '2026-12-01T08:00:00Z',
      to: '2026-12-01T09:01:00Z',
      group_by: 'kind',
      tz: 'Mars/Olympus',
    });
    assert.match(zone.message, /\/tz: unknown time zone/);
  });
});

/** Readings of each case, as the storage hook stores them. */
function fixtures(): Point[] {
  const points: Point[] = [];
  const counter = (device: string, start: number, values: readonly number[], stepMs = MINUTE) =>
    values.forEach((energy_wh, i) => points.push({ device, ts: start + i * stepMs, fields: { energy_wh } }));
  const rising = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + 10 * i);

  const dip = rising(1_000_000, 11);
  dip[9] = 0;
  counter('dip-meter', at('2026-12-01T08:50:00Z'), dip);
  counter('reset-meter', at('2026-12-01T08:00:00Z'), [...rising(1_000_000, 6), ...rising(3, 5)]);
  const spike = rising(1_000_000, 11);
  spike[5] = 9_999_999;
  counter('spike-meter', at('2026-12-01T08:00:00Z'), spike);
  counter(
    'jitter-meter',
    at('2026-12-01T08:50:00Z'),
    [10_000, 9_995, 10_005, 10_004, 9_970, 10_020, 10_018, 10_030],
    2 * MINUTE,
  );

  // glitchy-plug: 60 W every minute from 09:00 to 11:00, two garbage samples in between.
  for (let i = 0; i <= 120; i++) {
    const power_w = i === 80 ? 23_456_789 : i === 100 ? 3.4e38 : 60;
    points.push({ device: 'glitchy-plug', ts: at('2026-12-01T09:00:00Z', i), fields: { power_w } });
  }
  // huge: values near 1e308 between good ones.
  [5, 1e308, 5, 1.5e308, 5].forEach((power_w, i) => {
    const energy_wh = power_w === 5 ? 10 * (i + 1) : 1e308;
    points.push({ device: 'huge', ts: at('2026-12-01T10:00:00Z', 10 * i), fields: { power_w, energy_wh } });
  });
  // noisy: a mean that is not a short binary fraction.
  for (const [i, power_w, current_a] of [
    [0, 68.9281, 0.1],
    [1, 68.9281, 0.2],
    [2, 68.92825, 0.6],
  ] as const) {
    points.push({
      device: 'noisy',
      ts: at('2026-12-01T10:00:00Z') + i * 1000,
      fields: { power_w, current_a },
    });
  }
  // phases-only: per-phase counters, no total series.
  for (const [phase, perStep] of [
    ['L1', 10],
    ['L2', 20],
    ['L3', 30],
  ] as const) {
    for (let i = 0; i <= 6; i++) {
      points.push({
        device: 'phases-only',
        ts: at('2026-12-01T10:00:00Z', 10 * i),
        fields: { energy_wh: 1000 + perStep * i, power_w: perStep * 6 },
        tags: { phase },
      });
    }
  }
  // edges: the first and the last hour InfluxDB can hold that a query may name.
  for (const [ts, power_w, energy_wh] of [
    ['1678-01-01T00:00:00Z', 10, 0],
    ['1678-01-01T01:00:00Z', 10, 10],
    ['2261-12-31T22:00:00Z', 20, 1000],
    ['2261-12-31T23:00:00Z', 20, 1020],
  ] as const) {
    points.push({ device: 'edges', ts, fields: { power_w, energy_wh } });
  }
  // mixed: power only 12:00–12:50 (60 W) and 14:00–14:50 (120 W); counter and 120 W otherwise.
  for (let i = 0; i <= 24; i++) {
    const ts = at('2026-12-01T12:00:00Z', 10 * i);
    const hour = Math.floor(i / 6) + 12;
    const fields: Record<string, number> = { power_w: hour === 12 ? 60 : 120 };
    if (hour === 13 || hour >= 15) fields.energy_wh = 5000 + 20 * (i - 6);
    points.push({ device: 'mixed', ts, fields });
  }
  return points;
}
