import {
  HISTORY_MAX_INTERVALS,
  WattbusError,
  fromLocal,
  localTime,
  nextUnitStart,
  unitStart,
  type BackfillResult,
  type EnergyHistory,
  type Topics,
} from '@wattbus/contracts';
import { hasHistory, type DeviceDriver, type HistoryBatch, type HistoryRange } from '@wattbus/devices';

/**
 * A backfill: the history a device remembers, read batch by batch (one device request each) and
 * published on `wattbus/devices/{id}/history` for the storage hook (docs/devices.md, "History
 * backfill"). The same points every time, so running it twice changes nothing.
 */

/** `days` local days of `zone` up to and including today: [midnight `days - 1` days ago, next midnight). */
export function backfillRange(days: number, zone: string, nowMs: number): HistoryRange {
  const today = localTime(nowMs, zone);
  const first = new Date(Date.UTC(today.year, today.month - 1, today.day - (days - 1)));
  const fromMs = fromLocal(first.getUTCFullYear(), first.getUTCMonth() + 1, first.getUTCDate(), 0, 0, zone);
  return { fromMs, toMs: nextUnitStart(unitStart(nowMs, '1d', zone), '1d', zone), zone };
}

/** The device's history, or NO_HISTORY naming the device and its type. */
export function historyOf(driver: DeviceDriver, device: { id: string; type: string }, range: HistoryRange) {
  if (!hasHistory(driver)) {
    throw new WattbusError(
      'NO_HISTORY',
      `${device.id} keeps no history WattBus can read (devices of type '${device.type}' have none; TP-Link Kasa plugs with an energy meter and Emporia channels do)`,
    );
  }
  return driver.history(range);
}

export interface BackfillDeps {
  topics: Topics;
  /** Publishes at QoS 1: resolves once the broker has the batch. */
  publish: (topic: string, history: EnergyHistory) => Promise<void>;
  /** Told after each batch is published (the CLI prints it). */
  onBatch?: (batch: HistoryBatch) => void;
}

/** Publishes every non-empty batch (split at HISTORY_MAX_INTERVALS) and sums up what it found. */
export async function backfill(
  deps: BackfillDeps,
  device: string,
  range: HistoryRange,
  batches: AsyncIterable<HistoryBatch>,
): Promise<BackfillResult> {
  const periods = new Map<string, BackfillResult['periods'][number]>();
  let published = 0;
  for await (const batch of batches) {
    for (let at = 0; at < batch.intervals.length; at += HISTORY_MAX_INTERVALS) {
      const intervals = batch.intervals.slice(at, at + HISTORY_MAX_INTERVALS);
      await deps.publish(deps.topics.history(device), {
        device,
        source: batch.source,
        period: batch.period,
        intervals: intervals.map((interval) => ({
          start: iso(interval.startMs),
          end: iso(interval.endMs),
          energy_wh: interval.energyWh,
        })),
      });
      published++;
    }
    const key = `${batch.period}\u0000${batch.source}`;
    const summary = periods.get(key) ?? {
      period: batch.period,
      source: batch.source,
      intervals: 0,
      energy_wh: 0,
      first: null,
      last: null,
    };
    for (const interval of batch.intervals) {
      summary.intervals++;
      summary.energy_wh = Math.round((summary.energy_wh + interval.energyWh) * 1e6) / 1e6;
      const start = iso(interval.startMs);
      if (summary.first === null || start < summary.first) summary.first = start;
      if (summary.last === null || start > summary.last) summary.last = start;
    }
    periods.set(key, summary);
    deps.onBatch?.(batch);
  }
  return {
    device,
    from: iso(range.fromMs),
    to: iso(range.toMs),
    batches: published,
    periods: [...periods.values()],
  };
}

/** Each step of `source` runs through `run` (the device's one-at-a-time queue), so polls go on between batches. */
export function stepwise<T>(
  source: AsyncIterable<T>,
  run: <R>(work: () => Promise<R>) => Promise<R>,
): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const iterator = source[Symbol.asyncIterator]();
      return {
        next: () => run(() => iterator.next()),
        return: async (value?: unknown) =>
          (await iterator.return?.(value)) ?? { done: true, value: undefined },
      };
    },
  };
}

const iso = (ms: number) => new Date(ms).toISOString();
