import type { EnergyHistory } from '@wattbus/contracts';
import { encodeLine, LineProtocolError } from './line-protocol.js';
import { checkTagValue } from './reading-line.js';

/** Where the energy a device remembered is kept: apart from readings, so no counter rule sees it. */
export const ENERGY_HISTORY_MEASUREMENT = 'energy_history';

/**
 * A batch of device history as lines of `energy_history`: tags device, period, source; float
 * fields `energy_wh` and `duration_ms` (a local day is 23 to 25 hours); time = the interval's
 * start in ms. A point is identified by measurement, tags and time, so a backfill run twice
 * stores each interval once, and a later run overwrites a day that was still counting.
 */
export function historyToLines(history: EnergyHistory): string[] {
  const tags = {
    device: checkTagValue('device', history.device),
    period: history.period,
    source: checkTagValue('source', history.source),
  };
  return history.intervals.map((interval) => {
    const start = Date.parse(interval.start);
    const end = Date.parse(interval.end);
    if (!Number.isFinite(start) || !Number.isFinite(end)) {
      throw new LineProtocolError(`interval ${interval.start}…${interval.end} is not a pair of dates`);
    }
    if (!(end > start))
      throw new LineProtocolError(`interval ${interval.start}…${interval.end} must end after it starts`);
    return encodeLine({
      measurement: ENERGY_HISTORY_MEASUREMENT,
      tags,
      fields: {
        duration_ms: { type: 'float', value: end - start },
        energy_wh: { type: 'float', value: interval.energy_wh },
      },
      timestamp: start,
    });
  });
}
