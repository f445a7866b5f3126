import type { HistoryPeriod } from '@wattbus/contracts';

/**
 * A device that remembers its past energy (a TP-Link plug's days and months, an Emporia
 * channel's minutes and hours). The agent's backfill asks it for a range and publishes what it
 * yields; the source only knows its device's protocol, never the bus or the store.
 */
export interface HistoryRange {
  /** [fromMs, toMs): intervals that start in it are wanted. */
  fromMs: number;
  toMs: number;
  /** IANA zone of the device's own calendar (days from local midnight), for sources that count in days. */
  zone: string;
}

/** Energy counted over [startMs, endMs), Wh: a minute, an hour, a local day or month. */
export interface HistoryInterval {
  startMs: number;
  endMs: number;
  energyWh: number;
}

/** One answer of the device (a month of days, a day of minutes): the unit of progress. */
export interface HistoryBatch {
  /** What was asked, lowercase: `tplink-daystat`, `emporia-1min`. Stored as a tag. */
  source: string;
  period: HistoryPeriod;
  /** In time order; may be empty (the device kept nothing for that part of the range). */
  intervals: HistoryInterval[];
}

export interface HistorySource {
  /**
   * Yields the device's history in [fromMs, toMs), one batch per device request, oldest first.
   * Throws WattbusError NO_HISTORY when the device keeps none (a plug without an energy meter).
   */
  history(range: HistoryRange): AsyncIterable<HistoryBatch>;
}

/** True when a driver can be asked for its history. */
export function hasHistory<T extends object>(driver: T): driver is T & HistorySource {
  return typeof (driver as Partial<HistorySource>).history === 'function';
}
