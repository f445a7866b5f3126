import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Bus } from '@wattbus/bus';
import {
  CostResultSchema,
  EnergyResultSchema,
  fromLocal,
  nextUnitStart,
  validator,
  type CostResult,
  type EnergyHistory,
  type EnergyResult,
} from '@wattbus/contracts';
import { historyToLines, readingToLine } from '@wattbus/influx';
import { withHistory } from '../src/index.js';
import { ask, startQueryStack, type QueryStack } from './helpers.js';

const ZONE = 'Europe/Madrid';
const checkEnergy = validator(EnergyResultSchema);
const checkCost = validator(CostResultSchema);

/** Local midnight of 2026-10-01 + n days in Madrid. */
const day = (n: number) => fromLocal(2026, 10, 1 + n, 0, 0, ZONE);
const iso = (ms: number) => new Date(ms).toISOString();
/** The plug's day n (0 = Oct 1) used 1,000 + 7n Wh. */
const dayWh = (n: number) => 1000 + 7 * n;

/** What a TP-Link backfill of desk-3 stores: 60 days (Oct 1 – Nov 29), months Oct and Nov, and September's total only. */
function backfilled(): EnergyHistory[] {
  const days = Array.from({ length: 60 }, (_, n) => ({
    start: iso(day(n)),
    end: iso(day(n + 1)),
    energy_wh: dayWh(n),
  }));
  const month = (year: number, number: number, wh: number) => {
    const start = fromLocal(year, number, 1, 0, 0, ZONE);
    return { start: iso(start), end: iso(nextUnitStart(start, '1mo', ZONE)), energy_wh: wh };
  };
  return [
    { device: 'desk-3', source: 'tplink-daystat', period: 'day', intervals: days },
    {
      device: 'desk-3',
      source: 'tplink-monthstat',
      period: 'month',
      intervals: [month(2026, 9, 31_000), month(2026, 10, 34_255), month(2026, 11, 38_135)],
    },
    { device: 'old-plug', source: 'tplink-daystat', period: 'day', intervals: days.slice(0, 3) },
  ];
}

/** Readings of desk-3 on Nov 10 (day 40) only: a counter read every 15 minutes, +12.5 Wh a step (95 steps). */
function readingsOfNov10(): string[] {
  const lines: string[] = [];
  for (let i = 0; i < 96; i++) {
    const ts = day(40) + i * 900_000;
    lines.push(readingToLine({ ts: iso(ts), device: 'desk-3', power_w: 50, energy_wh: 80_000 + i * 12.5 }));
  }
  return lines;
}

describe('energy and cost over backfilled history (aedes, influxd)', () => {
  let client: Bus;
  let stack: QueryStack;

  before(async () => {
    stack = await startQueryStack({
      lines: [...backfilled().flatMap((history) => historyToLines(history)), ...readingsOfNov10()],
      extra: { warmup_lookback_ms: 0, time_zone: ZONE, tariff: { currency: 'EUR', price_per_kwh: 0.25 } },
    });
    client = stack.client;
  });

  after(() => stack?.stop());

  async function energy(device: string, from: number, to: number, every: string): Promise<EnergyResult> {
    const result = await ask<EnergyResult>(client, 'energy', {
      device,
      from: iso(from),
      to: iso(to),
      every,
      tz: ZONE,
    });
    assert.ok(checkEnergy(result), checkEnergy.errorText());
    return result;
  }

  it("a backfilled month gives the plug's own days and its own month total", async () => {
    const october = await energy('desk-3', day(0), day(31), '1d');
    assert.equal(october.method, 'history');
    assert.equal(october.buckets.length, 31);
    october.buckets.forEach((bucket, n) => {
      assert.equal(bucket.start, iso(day(n)));
      assert.equal(bucket.energy_kwh, dayWh(n) / 1000, `Oct ${n + 1}`);
    });
    // The 25-hour day (Oct 25) is one bucket with its own day's energy.
    assert.equal(october.buckets[24]!.energy_kwh, 1.168);
    assert.equal(october.total_kwh, 34.255);
    const monthly = await energy('desk-3', day(0), day(31), '1mo');
    assert.deepEqual(
      monthly.buckets.map((bucket) => bucket.energy_kwh),
      [34.255],
    );
  });

  it('readings win on the day they exist; never both for one day', async () => {
    const november = await energy('desk-3', day(31), day(61), '1d');
    assert.equal(november.method, 'mixed');
    assert.equal(
      november.buckets[9]!.energy_kwh,
      1.1875,
      'Nov 10: 95 steps of 12.5 Wh from readings, not 1.28 from history',
    );
    assert.equal(november.buckets[10]!.energy_kwh, dayWh(41) / 1000, 'Nov 11: history');
    assert.equal(november.buckets[29]!.energy_kwh, 0, 'Nov 30: neither');
    assert.equal(november.total_kwh, 38.0425, '38,135 Wh of days less 1,280 plus 1,187.5 from readings');
  });

  it('a month kept only as a total counts where no day of it is known', async () => {
    const sept = fromLocal(2026, 9, 1, 0, 0, ZONE);
    const result = await energy('desk-3', sept, day(61), '1mo');
    assert.deepEqual(
      result.buckets.map((bucket) => [bucket.start, bucket.energy_kwh]),
      [
        ['2026-08-31T22:00:00.000Z', 31],
        ['2026-09-30T22:00:00.000Z', 34.255],
        ['2026-10-31T23:00:00.000Z', 38.0425],
      ],
    );
  });

  it('an interval reaching over the range is left out (its energy cannot be split)', async () => {
    const result = await energy('desk-3', day(0) + 12 * 3_600_000, day(2), '1d');
    assert.deepEqual(
      result.buckets.map((bucket) => bucket.energy_kwh),
      [0, dayWh(1) / 1000],
    );
  });

  it('cost over a backfilled month prices its energy; a device known only from history is known', async () => {
    const cost = await ask<CostResult>(client, 'cost', {
      device: 'desk-3',
      from: iso(day(0)),
      to: iso(day(31)),
      tz: ZONE,
    });
    assert.ok(checkCost(cost), checkCost.errorText());
    assert.equal(cost.total_kwh, 34.255);
    assert.equal(cost.total_cost, 8.5638);
    const old = await energy('old-plug', day(0), day(3), '1d');
    assert.equal(old.method, 'history');
    assert.equal(old.total_kwh, 3.021);
  });
});

describe('withHistory', () => {
  const hour = 3_600_000;
  it('takes the finest history where there are no readings, each interval at most once', () => {
    const merged = withHistory(
      { method: 'counter', rows: [{ ts: 30 * hour, wh: 5 }] },
      [
        { startMs: 0, endMs: 24 * hour, wh: 100, period: 'day' },
        { startMs: 24 * hour, endMs: 48 * hour, wh: 200, period: 'day' },
        { startMs: 0, endMs: 72 * hour, wh: 999, period: 'month' },
        { startMs: 50 * hour, endMs: 51 * hour, wh: 7, period: 'hour' },
      ],
      hour,
    );
    assert.deepEqual(merged, {
      method: 'mixed',
      rows: [
        { ts: 0, wh: 100 },
        { ts: 30 * hour, wh: 5 },
        { ts: 50 * hour, wh: 7 },
      ],
    });
  });

  it('leaves out minutes of history inside a base interval that has readings (never both)', () => {
    const minute = 60_000;
    const minutes = Array.from({ length: 120 }, (_, n) => ({
      startMs: n * minute,
      endMs: (n + 1) * minute,
      wh: 1,
      period: 'minute' as const,
    }));
    // Readings in the first hour (one base row at 0): its 60 minutes of history do not count.
    const merged = withHistory({ method: 'counter', rows: [{ ts: 0, wh: 50 }] }, minutes, hour);
    assert.equal(merged.rows.length, 61);
    assert.equal(
      merged.rows.reduce((sum, row) => sum + row.wh, 0),
      50 + 60,
    );
  });
});
