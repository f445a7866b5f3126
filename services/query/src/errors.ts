import { WattbusError } from '@wattbus/contracts';

/** QUERY_TOO_LARGE naming what was too large, the config limit and its value. */
export function tooLarge(what: string, limit: string, value: number): WattbusError {
  return new WattbusError('QUERY_TOO_LARGE', `${what}; the limit is ${limit} = ${value}`, { limit, value });
}
