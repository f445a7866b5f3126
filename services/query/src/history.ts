import { HISTORY_PERIODS, type HistoryPeriod } from '@wattbus/contracts';
import { ENERGY_HISTORY_MEASUREMENT, seriesRows, type InfluxQueryClient } from '@wattbus/influx';
import type { QueryConfig } from './config.js';
import type { DeviceEnergy } from './energy.js';
import { tooLarge } from './errors.js';

/** One stored interval of a device's own history (a TP-Link plug's day or month). */
export interface StoredHistory {
  startMs: number;
  endMs: number;
  wh: number;
  period: HistoryPeriod;
}

/**
 * Reads the history backfills stored in `energy_history` (docs/storage.md, "Device history"):
 * the intervals that lie wholly inside [from, to). One that reaches over either end is left
 * out, since its energy cannot be split: a day of history counts in a range of whole days.
 */
export class HistoryReader {
  #client: InfluxQueryClient;
  #config: QueryConfig;

  constructor(deps: { client: InfluxQueryClient; config: QueryConfig }) {
    this.#client = deps.client;
    this.#config = deps.config;
  }

  async read(
    devices: readonly string[],
    fromMs: number,
    toMs: number,
    timeoutMs: number,
  ): Promise<Map<string, StoredHistory[]>> {
    const found = new Map<string, StoredHistory[]>();
    if (devices.length === 0) return found;
    const { max_rows } = this.#config.limits;
    const q = await this.#client.builder();
    q.statement(
      `SELECT "energy_wh", "duration_ms" FROM ${q.ident(ENERGY_HISTORY_MEASUREMENT)} WHERE ${q.anyOf('device', devices)} AND ${q.range(fromMs, toMs)} AND "energy_wh" >= 0 GROUP BY "device", "period" LIMIT ${max_rows + 1}`,
    );
    const [answer] = await this.#client.run(q, { timeoutMs });
    let rows = 0;
    for (const series of answer?.series ?? []) {
      const device = series.tags?.device;
      const period = series.tags?.period as HistoryPeriod | undefined;
      if (!device || !period || !HISTORY_PERIODS.includes(period)) continue;
      for (const row of seriesRows(series)) {
        if (++rows > max_rows) {
          throw tooLarge(
            `this range holds more than ${max_rows} intervals of device history`,
            'limits.max_rows',
            max_rows,
          );
        }
        const startMs = row.time as number;
        const endMs = startMs + Number(row.duration_ms);
        if (typeof row.energy_wh !== 'number' || !(endMs > startMs) || endMs > toMs) continue;
        const intervals = found.get(device) ?? [];
        intervals.push({ startMs, endMs, wh: row.energy_wh, period });
        found.set(device, intervals);
      }
    }
    return found;
  }
}

/**
 * Device history where there are no readings: an interval counts only when no base interval of
 * readings (`[ts, ts + baseMs)`) and no finer interval of history (a day before its month)
 * overlaps it, so nothing is counted twice. A history row is placed at its interval's start (we
 * know how much, not when).
 */
export function withHistory(
  raw: DeviceEnergy,
  history: readonly StoredHistory[] | undefined,
  baseMs: number,
): DeviceEnergy {
  if (!history || history.length === 0) return raw;
  const rawTimes = raw.rows.map((row) => row.ts).sort((a, b) => a - b);
  const finestFirst = [...history].sort(
    (a, b) => HISTORY_PERIODS.indexOf(a.period) - HISTORY_PERIODS.indexOf(b.period) || a.startMs - b.startMs,
  );
  // Taken intervals never overlap, so sorted by start each needs comparing with its neighbours only.
  const taken: StoredHistory[] = [];
  for (const interval of finestFirst) {
    // A base interval of readings starting after `start - baseMs` and before `end` overlaps it.
    const firstRaw = lowerBound(rawTimes, (ts) => ts, interval.startMs - baseMs + 1);
    if (firstRaw < rawTimes.length && rawTimes[firstRaw]! < interval.endMs) continue;
    const at = lowerBound(taken, (other) => other.startMs, interval.startMs);
    const before = taken[at - 1];
    const after = taken[at];
    if ((before && before.endMs > interval.startMs) || (after && after.startMs < interval.endMs)) continue;
    taken.splice(at, 0, interval);
  }
  if (taken.length === 0) return raw;
  const rows = [...raw.rows, ...taken.map((interval) => ({ ts: interval.startMs, wh: interval.wh }))].sort(
    (a, b) => a.ts - b.ts,
  );
  return { method: raw.method === 'none' ? 'history' : 'mixed', rows };
}

/** The first index whose key is at least `value`, in a list sorted by that key. */
function lowerBound<T>(sorted: readonly T[], key: (item: T) => number, value: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (key(sorted[middle]!) < value) low = middle + 1;
    else high = middle;
  }
  return low;
}
