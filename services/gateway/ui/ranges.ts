/**
 * Time windows of the device page's charts: a range (1 h … 30 d) or a zoomed window, and the
 * bucket (`every` of the readings query) that keeps a chart at most MAX_POINTS points. The window
 * is aligned to its bucket, so a range of R with bucket B has exactly R / B points.
 */

export const MAX_POINTS = 360;

export const RANGES = [
  { id: '1h', label: '1 h', ms: 3_600_000 },
  { id: '24h', label: '24 h', ms: 86_400_000 },
  { id: '7d', label: '7 d', ms: 7 * 86_400_000 },
  { id: '30d', label: '30 d', ms: 30 * 86_400_000 },
] as const;
export type RangeId = (typeof RANGES)[number]['id'];

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** Bucket lengths the query accepts (`ReadingsEvery`), short to long. */
const BUCKETS: readonly { every: string; ms: number }[] = [
  { every: '1s', ms: SECOND },
  { every: '5s', ms: 5 * SECOND },
  { every: '10s', ms: 10 * SECOND },
  { every: '30s', ms: 30 * SECOND },
  { every: '1m', ms: MINUTE },
  { every: '2m', ms: 2 * MINUTE },
  { every: '5m', ms: 5 * MINUTE },
  { every: '10m', ms: 10 * MINUTE },
  { every: '15m', ms: 15 * MINUTE },
  { every: '30m', ms: 30 * MINUTE },
  { every: '1h', ms: HOUR },
  { every: '2h', ms: 2 * HOUR },
  { every: '6h', ms: 6 * HOUR },
  { every: '12h', ms: 12 * HOUR },
  { every: '1d', ms: 24 * HOUR },
];

export interface ChartWindow {
  /** Inclusive start, ms since the epoch, a multiple of `bucketMs`. */
  from: number;
  /** Exclusive end, a multiple of `bucketMs`. */
  to: number;
  every: string;
  bucketMs: number;
  /** (to − from) / bucketMs. */
  points: number;
}

/** The smallest bucket that keeps `spanMs` at most MAX_POINTS points. */
export function bucketFor(spanMs: number): { every: string; ms: number } {
  return BUCKETS.find((bucket) => spanMs / bucket.ms <= MAX_POINTS) ?? BUCKETS[BUCKETS.length - 1]!;
}

/** Aligns [from, to) outwards to whole buckets of the right size. */
export function windowOf(from: number, to: number): ChartWindow {
  const bucket = bucketFor(Math.max(to - from, SECOND));
  const start = Math.floor(from / bucket.ms) * bucket.ms;
  const end = Math.max(Math.ceil(to / bucket.ms) * bucket.ms, start + bucket.ms);
  return {
    from: start,
    to: end,
    every: bucket.every,
    bucketMs: bucket.ms,
    points: (end - start) / bucket.ms,
  };
}

/** The last `rangeMs` up to `now`: ends at the bucket that holds `now`. */
export function rangeWindow(rangeMs: number, now: number): ChartWindow {
  const bucket = bucketFor(rangeMs);
  const to = Math.ceil((now + 1) / bucket.ms) * bucket.ms;
  return windowOf(to - rangeMs, to);
}

/** Local calendar periods for energy bars: the last `days` days, or the last `months` months. */
export function lastDays(days: number, now: Date): { from: Date; to: Date } {
  const to = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1);
  return { from: new Date(to.getFullYear(), to.getMonth(), to.getDate() - days), to };
}

export function lastMonths(months: number, now: Date): { from: Date; to: Date } {
  const to = new Date(now.getFullYear(), now.getMonth() + 1, 1);
  return { from: new Date(to.getFullYear(), to.getMonth() - months, 1), to };
}
