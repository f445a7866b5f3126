import { WattbusError, fromLocal, localTime, nextUnitStart, type HistoryPeriod } from '@wattbus/contracts';
import type { HistoryBatch, HistoryInterval, HistoryRange } from '../history.js';
import { round } from './emeter.js';

/** Sends one request of the Kasa request set (with the outlet's context) and returns the parsed answer. */
export type KasaAsk = (request: Record<string, unknown>) => Promise<Record<string, unknown>>;

/**
 * The history a Kasa plug with an energy meter keeps: `emeter.get_monthstat {year}` (energy per
 * month) and `emeter.get_daystat {year, month}` (per day), counted in the plug's own calendar.
 * Each entry names its year, month (and day) and gives `energy` in kWh (HS110 v1 firmware) or
 * `energy_wh` in Wh (v2 firmware, KP115, HS300); the plug lists only days and months it has a
 * record of. Yields, year by year, the year's months and then the days of each month in range:
 * one batch per request, so progress shows month by month.
 */
export async function* kasaStats(
  ask: KasaAsk,
  range: HistoryRange,
  where: string,
): AsyncGenerator<HistoryBatch> {
  const { fromMs, toMs, zone } = range;
  const first = localTime(fromMs, zone);
  const last = localTime(toMs - 1, zone);
  for (let year = first.year; year <= last.year; year++) {
    const months = await ask({ emeter: { get_monthstat: { year } } });
    yield batch('month', entriesOf(months, 'get_monthstat', 'month_list', where), range, where);
    const firstMonth = year === first.year ? first.month : 1;
    const lastMonth = year === last.year ? last.month : 12;
    for (let month = firstMonth; month <= lastMonth; month++) {
      const days = await ask({ emeter: { get_daystat: { year, month } } });
      yield batch('day', entriesOf(days, 'get_daystat', 'day_list', where), range, where);
    }
  }
}

type Entry = Record<string, unknown>;

function entriesOf(answer: Record<string, unknown>, method: string, list: string, where: string): Entry[] {
  const emeter = answer.emeter as Record<string, unknown> | undefined;
  const result = (emeter?.[method] ?? emeter) as Record<string, unknown> | undefined;
  const code = result?.err_code;
  if (code !== 0) {
    const text = `err_code ${JSON.stringify(code)}${typeof result?.err_msg === 'string' ? ` (${result.err_msg})` : ''}`;
    // -1 "module not support", -2 "method not support": a plug without an energy meter (HS100, HS105).
    if (code === -1 || code === -2 || result === undefined) {
      throw new WattbusError(
        'NO_HISTORY',
        `${where} keeps no energy history: emeter.${method} answered ${text} (a plug without an energy meter)`,
      );
    }
    throw new WattbusError('DEVICE_ERROR', `${where} refused emeter.${method}: ${text}`, { err_code: code });
  }
  const entries = result?.[list];
  if (!Array.isArray(entries))
    throw new WattbusError('DEVICE_ERROR', `${where} sent emeter.${method} without ${list}`);
  return entries as Entry[];
}

function batch(period: 'day' | 'month', entries: Entry[], range: HistoryRange, where: string): HistoryBatch {
  const intervals: HistoryInterval[] = [];
  for (const entry of entries) {
    const interval = intervalOf(period, entry, range.zone, where);
    // Days that start in the range; months that overlap it (the first and last are partial).
    const inRange =
      period === 'day'
        ? interval.startMs >= range.fromMs && interval.startMs < range.toMs
        : interval.endMs > range.fromMs && interval.startMs < range.toMs;
    if (inRange) intervals.push(interval);
  }
  intervals.sort((a, b) => a.startMs - b.startMs);
  return { source: `tplink-${period}stat`, period: period satisfies HistoryPeriod, intervals };
}

function intervalOf(period: 'day' | 'month', entry: Entry, zone: string, where: string): HistoryInterval {
  const { year, month } = entry;
  const day = period === 'day' ? entry.day : 1;
  const bad = (what: string) =>
    new WattbusError(
      'DEVICE_ERROR',
      `${where} sent a ${period} entry with ${what}: ${JSON.stringify(entry)}`,
    );
  if (!isWhole(year) || !isWhole(month) || !isWhole(day) || month < 1 || month > 12 || day < 1 || day > 31) {
    throw bad('no valid date');
  }
  // `energy` is kWh (v1 firmware), `energy_wh` is Wh.
  const wh =
    typeof entry.energy_wh === 'number'
      ? entry.energy_wh
      : typeof entry.energy === 'number'
        ? entry.energy * 1000
        : NaN;
  if (!Number.isFinite(wh) || wh < 0) throw bad('no valid energy');
  const startMs = fromLocal(year, month, day, 0, 0, zone);
  return {
    startMs,
    endMs: nextUnitStart(startMs, period === 'day' ? '1d' : '1mo', zone),
    energyWh: round(wh),
  };
}

function isWhole(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value);
}
