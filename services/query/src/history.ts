import { HISTORY_PERIODS, type HistoryPeriod } from '@wattbus/contracts';
import { ENERGY_HISTORY_MEASUREMENT, seriesRows, type InfluxQueryClient } from '@wattbus/influx';
import type { QueryConfig } from './config.js';
import type { DeviceEnergy } from './energy.js';
import { tooLarge } from './errors.js';

/** One stored interval of a device's own history (a TP-Link plug's day or month). */
export interface HistoryInterval {
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
  ): Promise<Map<string, HistoryInterval[]>> {
    const found = new Map<string, HistoryInterval[]>();
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
        found.set(device, [...(found.get(device) ?? []), { startMs, endMs, wh: row.energy_wh, period }]);
      }
    }
    return found;
  }
}

/**
 * Device history where there are no readings: an interval counts only when no base interval of
 * readings and no finer interval of history (a day before its month) lies in it, so nothing is
 * counted twice. A history row is placed at its interval's start (we know how much, not when).
 */
export function withHistory(
  raw: DeviceEnergy,
  history: readonly HistoryInterval[] | undefined,
): DeviceEnergy {
  if (!history || history.length === 0) return raw;
  const rawTimes = raw.rows.map((row) => row.ts).sort((a, b) => a - b);
  const finestFirst = [...history].sort(
    (a, b) => HISTORY_PERIODS.indexOf(a.period) - HISTORY_PERIODS.indexOf(b.period) || a.startMs - b.startMs,
  );
  const taken: HistoryInterval[] = [];
  for (const interval of finestFirst) {
    if (hasTimeIn(rawTimes, interval.startMs, interval.endMs)) continue;
    if (taken.some((other) => other.startMs < interval.endMs && interval.startMs < other.endMs)) continue;
    taken.push(interval);
  }
  if (taken.length === 0) return raw;
  const rows = [...raw.rows, ...taken.map((interval) => ({ ts: interval.startMs, wh: interval.wh }))].sort(
    (a, b) => a.ts - b.ts,
  );
  return { method: raw.method === 'none' ? 'history' : 'mixed', rows };
}

/** Whether a sorted list holds a time in [from, to). */
function hasTimeIn(sorted: readonly number[], fromMs: number, toMs: number): boolean {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (sorted[middle]! < fromMs) low = middle + 1;
    else high = middle;
  }
  return low < sorted.length && sorted[low]! < toMs;
}
