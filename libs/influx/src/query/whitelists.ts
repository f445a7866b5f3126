/** What may appear in InfluxQL as syntax (not as a quoted value): only these. */

export const INFLUXQL_FUNCTIONS = [
  'mean',
  'min',
  'max',
  'last',
  'first',
  'sum',
  'count',
  'integral',
  'difference',
  'non_negative_difference',
  'moving_average',
  'elapsed',
] as const;
export type InfluxFunction = (typeof INFLUXQL_FUNCTIONS)[number];

/** Request fill modes and their InfluxQL spelling. */
export const INFLUXQL_FILLS = {
  none: 'none',
  null: 'null',
  previous: 'previous',
  linear: 'linear',
  zero: '0',
} as const;
export type InfluxFill = keyof typeof INFLUXQL_FILLS;

const DURATION_UNITS_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const DURATION_PATTERN = /^([1-9][0-9]{0,8})(ms|s|m|h|d|w)$/;

/** A duration literal such as `15m`, checked and measured; anything else throws. */
export function parseDuration(text: string): { text: string; ms: number } {
  const match = DURATION_PATTERN.exec(text);
  if (!match)
    throw new RangeError(`duration ${JSON.stringify(text)} must be a number and ms, s, m, h, d or w`);
  const unit = match[2] as keyof typeof DURATION_UNITS_MS;
  return { text, ms: Number(match[1]) * DURATION_UNITS_MS[unit] };
}

/** Milliseconds as an InfluxQL duration literal. */
export function durationLiteral(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms <= 0)
    throw new RangeError(`duration ${ms} ms must be a positive integer`);
  return `${ms}ms`;
}

/** Zones are checked where calendars are computed (libs/contracts), one rule for every service. */
export { isTimeZone } from '@wattbus/contracts';
