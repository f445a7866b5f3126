import { quote } from './quote.js';
import {
  INFLUXQL_FILLS,
  INFLUXQL_FUNCTIONS,
  durationLiteral,
  isTimeZone,
  type InfluxFill,
  type InfluxFunction,
} from './whitelists.js';

/** `bound`: values travel in the `params` JSON ($name), 1.x and 2.x; `inline`: escaped literals, 3.x. */
export type ParamMode = 'bound' | 'inline';

export type ParamValue = string | number | boolean;

/** What goes to `/query`: the statements and the bound values they name. */
export interface BuiltQuery {
  text: string;
  params: Record<string, ParamValue>;
}

/**
 * Builds InfluxQL from parts: identifiers and values are quoted by `quote()` (or bound), while
 * functions, fill modes, durations and time zones come only from whitelists. Callers never
 * write request text into a statement; they pass it to `value()`.
 */
export class InfluxQL {
  readonly mode: ParamMode;
  #params: Record<string, ParamValue> = {};
  #statements: string[] = [];

  constructor(mode: ParamMode) {
    this.mode = mode;
  }

  /** A value (tag value, string, number): `$p0` when bound, an escaped literal when inline. */
  value(value: ParamValue): string {
    if (typeof value === 'number' && !Number.isFinite(value))
      throw new RangeError('InfluxQL number must be finite');
    if (this.mode === 'bound') {
      const name = `p${Object.keys(this.#params).length}`;
      this.#params[name] = value;
      return `$${name}`;
    }
    if (typeof value === 'string') return quote(value, 'string');
    return String(value);
  }

  /** A measurement, tag or field name, always double-quoted. */
  ident(name: string): string {
    return quote(name, 'identifier');
  }

  /** An instant as integer nanoseconds since the epoch (exact, no parsing on the server). */
  time(ms: number): string {
    if (!Number.isSafeInteger(ms)) throw new RangeError(`time ${ms} must be whole milliseconds`);
    return (BigInt(ms) * 1_000_000n).toString();
  }

  /** `time >= from AND time < to`: every query has both bounds. */
  range(fromMs: number, toMs: number): string {
    if (!(toMs > fromMs)) throw new RangeError('a time range needs to > from');
    return `time >= ${this.time(fromMs)} AND time < ${this.time(toMs)}`;
  }

  fn(name: InfluxFunction, ...args: string[]): string {
    if (!(INFLUXQL_FUNCTIONS as readonly string[]).includes(name))
      throw new RangeError(`function ${name} is not allowed`);
    return `${name}(${args.join(', ')})`;
  }

  duration(ms: number): string {
    return durationLiteral(ms);
  }

  fill(mode: InfluxFill): string {
    const spelling = (INFLUXQL_FILLS as Record<string, string>)[mode];
    if (spelling === undefined) throw new RangeError(`fill ${mode} is not allowed`);
    return `fill(${spelling})`;
  }

  /** `tz('Europe/Madrid')`; tz() takes no bound parameter, so the zone is validated and quoted. */
  tz(zone: string): string {
    if (!isTimeZone(zone)) throw new RangeError(`unknown time zone ${JSON.stringify(zone)}`);
    return `tz(${quote(zone, 'string')})`;
  }

  /** `("device" = $p0 OR "device" = $p1)`: one tag matching any of the values. */
  anyOf(tag: string, values: readonly string[]): string {
    if (values.length === 0) throw new RangeError('anyOf needs at least one value');
    return `(${values.map((value) => `${this.ident(tag)} = ${this.value(value)}`).join(' OR ')})`;
  }

  /** Adds one statement; several go to InfluxDB in one request, answered in order. */
  statement(text: string): number {
    this.#statements.push(text);
    return this.#statements.length - 1;
  }

  build(): BuiltQuery {
    if (this.#statements.length === 0) throw new RangeError('no statement');
    return { text: this.#statements.join(';\n'), params: { ...this.#params } };
  }
}
