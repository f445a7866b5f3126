import { WattbusError } from '@wattbus/contracts';
import { seriesRows, zoneOffset, type InfluxQueryClient } from '@wattbus/influx';
import type { QueryConfig } from './config.js';

export type EnergyMethod = 'counter' | 'integral' | 'none';

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
 * Energy per device and base interval, computed by InfluxDB in one request:
 * - counter: the sum of each step of the cumulative `energy_wh` counter, with a drop taken as a
 *   reset (the step counts the new value: energy since the counter restarted from zero);
 * - integral: for devices without a counter, trapezoids of `power_w` between consecutive
 *   readings, except across gaps longer than `energy.integral_max_gap_ms`.
 * Each step between two readings counts in the interval of its later reading, so a counter gap's
 * energy (used at an unknown time while nobody read the meter) lands where the gap ends.
 */
export class EnergyReader {
  #deps: EnergyReaderDeps;

  constructor(deps: EnergyReaderDeps) {
    this.#deps = deps;
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
    const { energy } = this.#deps.config;
    const q = await this.#deps.client.builder();
    const series = `${q.anyOf('device', devices)} AND ${q.ident('phase')} = ${q.value('')}`;
    // InfluxDB narrows a subquery to the outer query's time range, so the outer range reaches back
    // as far as the inner one; rows before `from` (steps that ended before it) are dropped below.
    // Without a base, one interval of the whole range, aligned to `from` with an offset.
    const interval = baseMs ?? toMs - fromMs;
    const offsetMs = baseMs === null ? fromMs % interval : 0;
    const offset = offsetMs > 0 ? `, ${q.duration(offsetMs)}` : '';
    const groupBy = `GROUP BY time(${q.duration(interval)}${offset}), "device"`;
    const counterRange = q.range(fromMs - energy.counter_lookback_ms, toMs);
    const powerRange = q.range(fromMs - energy.integral_max_gap_ms, toMs);
    const countStatement = q.statement(
      `SELECT count("energy_wh") AS "n" FROM "electricity" WHERE ${series} AND ${counterRange} GROUP BY "device"`,
    );
    const stepStatement = q.statement(
      `SELECT sum("step") AS "wh" FROM (SELECT ${q.fn('non_negative_difference', '"energy_wh"')} AS "step" FROM "electricity" WHERE ${series} AND ${counterRange} GROUP BY "device") WHERE ${counterRange} ${groupBy}`,
    );
    // At a drop, the new value is the energy since the counter restarted: (old + new) / 2 + (new - old) / 2.
    const resetStatement = q.statement(
      `SELECT sum("since_reset") AS "wh" FROM (SELECT ${q.fn('difference', '"energy_wh"')} AS "change", ${q.fn('moving_average', '"energy_wh"', '2')} + ${q.fn('difference', '"energy_wh"')} / 2 AS "since_reset" FROM "electricity" WHERE ${series} AND ${counterRange} GROUP BY "device") WHERE ${counterRange} AND "change" < 0 ${groupBy}`,
    );
    const powerStatement = q.statement(
      `SELECT sum("wh") AS "wh" FROM (SELECT ${q.fn('moving_average', '"power_w"', '2')} * ${q.fn('elapsed', '"power_w"', '1ms')} / 3600000 AS "wh", ${q.fn('elapsed', '"power_w"', '1ms')} AS "gap_ms" FROM "electricity" WHERE ${series} AND ${powerRange} GROUP BY "device") WHERE ${powerRange} AND "gap_ms" <= ${energy.integral_max_gap_ms} ${groupBy}`,
    );
    const results = await this.#deps.client.run(q, { timeoutMs });
    const statement = (index: number) => {
      const found = results[index];
      if (!found)
        throw new WattbusError('QUERY_FAILED', `InfluxDB returned no result for statement ${index}`);
      return found.series;
    };
    const withCounter = new Set<string>();
    for (const s of statement(countStatement)) {
      const n = Number(s.values[0]?.[1] ?? 0);
      if (s.tags?.device && n > 0) withCounter.add(s.tags.device);
    }
    const collect = (index: number, method: EnergyMethod, wanted: (device: string) => boolean) => {
      for (const s of statement(index)) {
        const device = s.tags?.device;
        const entry = device === undefined ? undefined : result.get(device);
        if (!device || !entry || !wanted(device)) continue;
        entry.method = method;
        for (const row of seriesRows(s)) {
          if (typeof row.wh === 'number' && typeof row.time === 'number')
            entry.rows.push({ ts: row.time, wh: row.wh });
        }
      }
    };
    collect(stepStatement, 'counter', (device) => withCounter.has(device));
    collect(resetStatement, 'counter', (device) => withCounter.has(device));
    collect(powerStatement, 'integral', (device) => !withCounter.has(device));
    for (const device of withCounter) {
      const entry = result.get(device);
      if (entry) entry.method = 'counter';
    }
    return result;
  }
}
