import type { InfluxQL } from '@wattbus/influx';

/** InfluxDB durations are int64 nanoseconds (about 292 years); one interval stays well below. */
const MAX_INTERVAL_MS = 100 * 365 * 86_400_000;

/**
 * The base intervals InfluxDB groups energy by, `GROUP BY time(interval, offset)`, and the same
 * arithmetic here, so a timestamp found in raw readings lands in the interval InfluxDB used.
 */
export class IntervalGrid {
  readonly intervalMs: number;
  readonly offsetMs: number;

  private constructor(intervalMs: number, offsetMs: number) {
    this.intervalMs = intervalMs;
    this.offsetMs = offsetMs;
  }

  /** Base intervals; without a base, intervals of the whole range (at most 100 years) starting at `from`. */
  static of(fromMs: number, toMs: number, baseMs: number | null): IntervalGrid {
    if (baseMs !== null) return new IntervalGrid(baseMs, 0);
    const interval = Math.min(toMs - fromMs, MAX_INTERVAL_MS);
    return new IntervalGrid(interval, modulo(fromMs, interval));
  }

  startOf(ms: number): number {
    return ms - modulo(ms - this.offsetMs, this.intervalMs);
  }

  /** How many intervals a range touches. */
  count(fromMs: number, toMs: number): number {
    return Math.ceil((toMs - fromMs) / this.intervalMs) + 1;
  }

  groupBy(q: InfluxQL): string {
    const offset = this.offsetMs > 0 ? `, ${q.duration(this.offsetMs)}` : '';
    return `GROUP BY time(${q.duration(this.intervalMs)}${offset})`;
  }
}

/** The remainder with the sign of the divisor: times before 1970 are negative. */
function modulo(value: number, divisor: number): number {
  return ((value % divisor) + divisor) % divisor;
}
