import {
  DEFAULT_READING_LIMITS,
  STORABLE_FROM_MS,
  WattbusError,
  type ReadingLimits,
} from '@wattbus/contracts';
import {
  seriesRows,
  zoneOffset,
  type InfluxQL,
  type InfluxQueryClient,
  type InfluxSeries,
} from '@wattbus/influx';
import type { QueryConfig } from './config.js';
import { tooLarge } from './errors.js';
import { Glitches, type Drop } from './glitches.js';
import { IntervalGrid } from './interval-grid.js';
import type { CounterField, EnergySeries } from './series.js';

/** `history`: only a device's own history (a backfill) where there were no readings. */
export type EnergyMethod = 'counter' | 'integral' | 'history' | 'mixed' | 'none';

export interface EnergyRow {
  /** Start of the base interval (or of the range when there is one row). */
  ts: number;
  wh: number;
}

export interface DeviceEnergy {
  method: EnergyMethod;
  rows: EnergyRow[];
}

export interface EnergyReaderDeps {
  client: InfluxQueryClient;
  config: QueryConfig;
  /** The device's plausibility limits from its meta, when known. */
  limitsOf?: (device: string) => ReadingLimits | undefined;
  /**
   * The counter to read (default `energy_wh`). The power integral stands in for `energy_wh` only:
   * returned energy is known from its counter alone (an integral of signed power is net energy).
   */
  counter?: CounterField;
}

/** What the statements say about one base interval of one series. */
interface Interval {
  counterWh: number;
  counterSteps: number;
  integralWh: number;
  hasIntegral: boolean;
}

/** A counter step longer than `integral_max_gap_ms`: its energy is known, not when it was used. */
interface LongStep {
  ts: number;
  gapMs: number;
  wh: number;
}

const BASES_MS = [3_600_000, 900_000, 60_000, 1_000, 1];

/**
 * The largest base interval (1h, 15m, 1m, 1s, 1ms) every boundary is a multiple of, so base rows
 * add up exactly into calendar buckets. With `zone`, local hours must line up too (for prices by
 * local hour in zones like Asia/Kolkata).
 */
export function chooseBase(boundaries: readonly number[], zone?: string): number {
  const offsets = zone ? sampleOffsets(boundaries, zone) : [];
  return BASES_MS.find((base) => [...boundaries, ...offsets].every((value) => value % base === 0)) ?? 1;
}

function sampleOffsets(boundaries: readonly number[], zone: string): number[] {
  const from = Math.min(...boundaries);
  const to = Math.max(...boundaries);
  const offsets = new Set<number>();
  // Offsets change at most a few times a year; a sample every 10 days plus the ends finds each one.
  for (let t = from; t < to; t += 10 * 86_400_000) offsets.add(zoneOffset(t, zone));
  offsets.add(zoneOffset(to - 1, zone));
  return [...offsets];
}

/**
 * Energy per device and base interval (docs/query.md, "Energy"):
 * 1. which series hold data: a device's totals, or else the sum of its phases;
 * 2. per base interval, InfluxDB sums the counter's steps (`difference`, so rounding jitter nets
 *    out) and the power trapezoids, and lists the notable counter steps: drops and long gaps;
 * 3. around every drop the raw counter values are read back and classified (`CounterSteps`: dip,
 *    spike, reset, jitter), correcting the sums where InfluxQL cannot tell a glitch from a reset;
 * 4. each interval takes the counter where it has counter steps, else the power integral.
 * Each step counts in the interval of its later reading (`stepInstant`).
 */
export class EnergyReader {
  #deps: EnergyReaderDeps;
  #glitches: Glitches;

  #counter: CounterField;
  #integral: boolean;

  constructor(deps: EnergyReaderDeps) {
    this.#deps = deps;
    this.#counter = deps.counter ?? 'energy_wh';
    this.#integral = this.#counter === 'energy_wh';
    this.#glitches = new Glitches({ client: deps.client, config: deps.config, counter: this.#counter });
  }

  async read(
    devices: readonly string[],
    fromMs: number,
    toMs: number,
    baseMs: number | null,
    timeoutMs: number,
  ): Promise<Map<string, DeviceEnergy>> {
    const result = new Map<string, DeviceEnergy>();
    for (const device of devices) result.set(device, { method: 'none', rows: [] });
    if (devices.length === 0) return result;
    const { energy, limits } = this.#deps.config;
    const counterFromMs = Math.max(STORABLE_FROM_MS, fromMs - energy.counter_lookback_ms);
    const powerFromMs = Math.max(STORABLE_FROM_MS, fromMs - energy.integral_max_gap_ms);
    const found = await this.#series(devices, Math.min(counterFromMs, powerFromMs), toMs, timeoutMs);
    if (found.series.length === 0) return result;
    const grid = IntervalGrid.of(fromMs, toMs, baseMs);
    const rows = found.series.length * grid.count(Math.min(counterFromMs, powerFromMs), toMs) * 3;
    if (rows > limits.max_rows) {
      throw tooLarge(
        `these devices have ${found.series.length} series (3-phase meters without totals count per phase); this range needs about ${rows} rows from InfluxDB`,
        'limits.max_rows',
        limits.max_rows,
      );
    }
    const q = await this.#deps.client.builder();
    const where = seriesFilter(q, found.series);
    const counterRange = q.range(counterFromMs, toMs);
    const powerRange = q.range(powerFromMs, toMs);
    const groupBy = `${grid.groupBy(q)}, "device", "phase" fill(none)`;
    const counter = q.ident(this.#counter);
    const energyOk = `${counter} >= 0 AND ${counter} <= ${DEFAULT_READING_LIMITS.max_energy_wh}`;
    const maxPower = DEFAULT_READING_LIMITS.max_power_w;
    const powerOk = `"power_w" >= -${maxPower} AND "power_w" <= ${maxPower}`;
    const steps = `(SELECT ${q.fn('difference', counter)} AS "step", ${q.fn('elapsed', counter, '1ms')} AS "gap" FROM "electricity" WHERE ${where} AND ${counterRange} AND ${energyOk} GROUP BY "device", "phase")`;
    // InfluxDB narrows a subquery to the outer query's time range, so the outer range reaches back
    // as far as the inner one; intervals before `from` (steps that ended before it) are dropped below.
    const counterStatement = q.statement(
      `SELECT sum("step") AS "wh", count("step") AS "steps" FROM ${steps} WHERE ${counterRange} ${groupBy}`,
    );
    const notableStatement = q.statement(
      `SELECT "step", "gap" FROM ${steps} WHERE ${counterRange} AND ("step" < ${q.value(-energy.counter_jitter_wh)} OR "gap" > ${q.value(energy.integral_max_gap_ms)}) GROUP BY "device", "phase" LIMIT ${limits.max_rows + 1}`,
    );
    const powerStatement = this.#integral
      ? q.statement(
          `SELECT sum("wh") AS "wh" FROM (SELECT ${q.fn('moving_average', '"power_w"', '2')} * ${q.fn('elapsed', '"power_w"', '1ms')} / 3600000 AS "wh", ${q.fn('elapsed', '"power_w"', '1ms')} AS "gap_ms" FROM "electricity" WHERE ${where} AND ${powerRange} AND ${powerOk} GROUP BY "device", "phase") WHERE ${powerRange} AND "gap_ms" <= ${q.value(energy.integral_max_gap_ms)} ${groupBy}`,
        )
      : undefined;
    const results = await this.#deps.client.run(q, { timeoutMs });
    const statement = (index: number): InfluxSeries[] => {
      const answer = results[index];
      if (!answer)
        throw new WattbusError('QUERY_FAILED', `InfluxDB returned no result for statement ${index}`);
      return answer.series;
    };
    const intervals = new Map<string, Map<number, Interval>>();
    const intervalOf = (s: InfluxSeries, ts: number): Interval | undefined => {
      const key = seriesKey(s);
      if (key === undefined) return undefined;
      let byTime = intervals.get(key);
      if (!byTime) intervals.set(key, (byTime = new Map()));
      let interval = byTime.get(ts);
      if (!interval) {
        interval = { counterWh: 0, counterSteps: 0, integralWh: 0, hasIntegral: false };
        byTime.set(ts, interval);
      }
      return interval;
    };
    for (const s of statement(counterStatement)) {
      for (const row of seriesRows(s)) {
        const interval = intervalOf(s, row.time as number);
        if (!interval || typeof row.wh !== 'number') continue;
        interval.counterWh = row.wh;
        interval.counterSteps = Number(row.steps ?? 0);
      }
    }
    for (const s of powerStatement === undefined ? [] : statement(powerStatement)) {
      for (const row of seriesRows(s)) {
        const interval = intervalOf(s, row.time as number);
        if (!interval || typeof row.wh !== 'number') continue;
        interval.integralWh = row.wh;
        interval.hasIntegral = true;
      }
    }
    const drops: Drop[] = [];
    const longSteps = new Map<string, LongStep[]>();
    for (const s of statement(notableStatement)) {
      const key = seriesKey(s);
      if (key === undefined) continue;
      const series = parseKey(key);
      for (const row of seriesRows(s)) {
        const ts = row.time as number;
        const wh = Number(row.step);
        if (wh < -energy.counter_jitter_wh) drops.push({ ...series, ts });
        else longSteps.set(key, [...(longSteps.get(key) ?? []), { ts, gapMs: Number(row.gap), wh }]);
      }
    }
    const corrections = await this.#glitches.corrections(
      drops,
      (series) => this.#maxPowerW(series),
      timeoutMs,
    );
    for (const { series, ts, wh } of corrections) {
      const interval = intervals.get(keyOf(series))?.get(grid.startOf(ts));
      if (interval) interval.counterWh += wh;
    }
    for (const [key, byTime] of intervals) {
      for (const step of longSteps.get(key) ?? []) countLongStepOnce(byTime, grid, step);
      carryJitter(byTime);
    }
    return assemble(result, found.series, intervals, fromMs, found.withCounter);
  }

  /** Round 1: the series with data in the range; a device without totals is the sum of its phases. */
  async #series(
    devices: readonly string[],
    fromMs: number,
    toMs: number,
    timeoutMs: number,
  ): Promise<{ series: EnergySeries[]; withCounter: Set<string> }> {
    const q = await this.#deps.client.builder();
    q.statement(
      `SELECT count(${q.ident(this.#counter)}) AS "counter", count("power_w") AS "power" FROM "electricity" WHERE ${q.anyOf('device', devices)} AND ${q.range(fromMs, toMs)} GROUP BY "device", "phase"`,
    );
    const [answer] = await this.#deps.client.run(q, { timeoutMs });
    const byDevice = new Map<string, string[]>();
    const withCounter = new Set<string>();
    for (const s of answer?.series ?? []) {
      const device = s.tags?.device;
      const counter = Number(s.values[0]?.[1] ?? 0);
      const power = Number(s.values[0]?.[2] ?? 0);
      // Without the integral, only a series with counter readings has energy to give.
      if (!device || (this.#integral ? counter + power : counter) === 0) continue;
      if (counter > 0) withCounter.add(device);
      byDevice.set(device, [...(byDevice.get(device) ?? []), s.tags?.phase ?? '']);
    }
    const series: EnergySeries[] = [];
    for (const [device, phases] of byDevice) {
      if (phases.includes('')) series.push({ device, phase: '' });
      else series.push(...phases.sort().map((phase) => ({ device, phase })));
    }
    return { series, withCounter };
  }

  #maxPowerW(series: EnergySeries): number {
    return this.#deps.limitsOf?.(series.device)?.max_power_w ?? DEFAULT_READING_LIMITS.max_power_w;
  }
}

/** `("device" = $p0 AND "phase" = '') OR "device" = $p1`: totals where a device has them, else its phases. */
function seriesFilter(q: InfluxQL, series: readonly EnergySeries[]): string {
  const totals = series.filter((s) => s.phase === '').map((s) => s.device);
  const phased = [...new Set(series.filter((s) => s.phase !== '').map((s) => s.device))];
  const parts: string[] = [];
  if (totals.length > 0) parts.push(`(${q.anyOf('device', totals)} AND "phase" = ${q.value('')})`);
  if (phased.length > 0) parts.push(`(${q.anyOf('device', phased)} AND "phase" != ${q.value('')})`);
  return `(${parts.join(' OR ')})`;
}

function keyOf(series: EnergySeries): string {
  return `${series.device}\u0000${series.phase}`;
}

function parseKey(key: string): EnergySeries {
  const [device = '', phase = ''] = key.split('\u0000');
  return { device, phase };
}

function seriesKey(s: InfluxSeries): string | undefined {
  const device = s.tags?.device;
  return device ? keyOf({ device, phase: s.tags?.phase ?? '' }) : undefined;
}

/**
 * A long counter step (the counter was not read, power was) counts only what the power integral
 * of the intervals it spans did not already count, so mixed history is never counted twice.
 */
function countLongStepOnce(byTime: Map<number, Interval>, grid: IntervalGrid, step: LongStep): void {
  const end = byTime.get(grid.startOf(step.ts));
  if (!end || step.wh <= 0) return;
  const first = grid.startOf(step.ts - step.gapMs);
  let integral = 0;
  for (const [ts, interval] of byTime) {
    if (ts >= first && interval !== end && interval.counterSteps === 0 && interval.hasIntegral) {
      integral += interval.integralWh;
    }
  }
  end.counterWh -= Math.min(step.wh, Math.max(0, integral));
}

/**
 * A backward step within the jitter tolerance is not energy, and neither is the climb back over
 * it: an interval whose counter steps net negative counts 0 and the deficit is taken from the next.
 */
function carryJitter(byTime: Map<number, Interval>): void {
  let carry = 0;
  for (const ts of [...byTime.keys()].sort((a, b) => a - b)) {
    const interval = byTime.get(ts)!;
    if (interval.counterSteps === 0) continue;
    const net = interval.counterWh + carry;
    interval.counterWh = Math.max(0, net);
    carry = Math.min(0, net);
  }
}

/** Per device: one row per base interval from `from` on, counter or integral, its phases summed. */
function assemble(
  result: Map<string, DeviceEnergy>,
  series: readonly EnergySeries[],
  intervals: Map<string, Map<number, Interval>>,
  fromMs: number,
  withCounter: ReadonlySet<string>,
): Map<string, DeviceEnergy> {
  const methods = new Map<string, Set<EnergyMethod>>();
  const sums = new Map<string, Map<number, number>>();
  for (const s of series) {
    const used = methods.get(s.device) ?? new Set<EnergyMethod>();
    methods.set(s.device, used);
    const rows = sums.get(s.device) ?? new Map<number, number>();
    sums.set(s.device, rows);
    for (const [ts, interval] of intervals.get(keyOf(s)) ?? []) {
      if (ts < fromMs) continue;
      if (interval.counterSteps > 0) {
        used.add('counter');
        rows.set(ts, (rows.get(ts) ?? 0) + interval.counterWh);
      } else if (interval.hasIntegral) {
        used.add('integral');
        rows.set(ts, (rows.get(ts) ?? 0) + interval.integralWh);
      }
    }
  }
  for (const [device, entry] of result) {
    const used = methods.get(device);
    if (!used) continue;
    entry.method =
      used.size === 2
        ? 'mixed'
        : used.has('counter') || (used.size === 0 && withCounter.has(device))
          ? 'counter'
          : 'integral';
    entry.rows = [...(sums.get(device) ?? [])].sort(([a], [b]) => a - b).map(([ts, wh]) => ({ ts, wh }));
  }
  return result;
}
