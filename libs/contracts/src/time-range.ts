import { Type, type StringOptions } from '@sinclair/typebox';

/**
 * The instants a query may name. InfluxDB's timestamps are int64 nanoseconds, from
 * 1677-09-21T00:12:43.145224194Z to 2262-04-11T23:47:16.854775806Z; a request names whole years
 * inside that, 1678 to 2261, so a date outside is a 400 naming the range, never an error from the
 * store. A `pattern` on the year (not ajv-formats' formatMinimum) keeps the rule in plain JSON
 * Schema that every validator of openapi.yaml and asyncapi.yaml understands.
 */
export const STORABLE_FROM = '1678-01-01T00:00:00.000Z';
/** Exclusive. */
export const STORABLE_UNTIL = '2262-01-01T00:00:00.000Z';
export const STORABLE_FROM_MS = Date.parse(STORABLE_FROM);
export const STORABLE_UNTIL_MS = Date.parse(STORABLE_UNTIL);
/** Years 1678 to 2261. */
export const STORABLE_YEAR_PATTERN =
  '^(16(7[89]|[89][0-9])|1[7-9][0-9]{2}|2[01][0-9]{2}|22[0-5][0-9]|226[01])-';

/**
 * The longest range one query may span: InfluxDB computes `GROUP BY time()` windows and `elapsed()`
 * in int64 nanoseconds (292 years) and silently answers nothing beyond; 250 years leaves room
 * for the look-back before `from`.
 */
export const MAX_SPAN_YEARS = 250;
export const MAX_SPAN_MS = MAX_SPAN_YEARS * 365 * 86_400_000;

/** The message of a date outside the range, the same on the bus and over HTTP. */
export const STORABLE_RANGE_MESSAGE = `must be from ${STORABLE_FROM} to before ${STORABLE_UNTIL} (years 1678 to 2261: InfluxDB stores 1677-09-21 to 2262-04-11)`;

/** An ISO 8601 date-time a query may name: years 1678 to 2261. */
export function storableDateTime(options: StringOptions) {
  return Type.String({ ...options, format: 'date-time', pattern: STORABLE_YEAR_PATTERN });
}

/** True for an ajv error of the year pattern above (it gets STORABLE_RANGE_MESSAGE). */
export function isStorableRangeError(error: { keyword: string; params?: unknown }): boolean {
  return (
    error.keyword === 'pattern' &&
    (error.params as { pattern?: unknown } | undefined)?.pattern === STORABLE_YEAR_PATTERN
  );
}
