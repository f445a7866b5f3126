import { JsonText } from '@wattbus/bus';
import type { ReadingField, ReadingsResult } from '@wattbus/contracts';
import { isoTimes } from './iso-times.js';
import { decimalText, decimalsOf } from './rounding.js';

/**
 * The points of a `readings` answer as InfluxDB's rows come in, kept in columns (a day at 1 min
 * is 1,440 points: no object per point): one row per timestamp, on which the fields of several
 * statements meet, each field null until a statement gives it a value.
 */
export class PointTable {
  readonly fields: readonly ReadingField[];
  /** Row by timestamp; made only when a timestamp comes that is not after the latest one. */
  #rowOf: Map<number, number> | undefined;
  #times: number[] = [];
  #latest = -Infinity;
  #columns: Array<Array<number | null>>;
  #inOrder = true;

  constructor(fields: readonly ReadingField[]) {
    this.fields = fields;
    this.#columns = fields.map(() => []);
  }

  get size(): number {
    return this.#times.length;
  }

  /**
   * The row of timestamp `ms`, added when new. One statement's rows come in time order, each
   * after the latest so far: those are appended without a lookup.
   */
  row(ms: number): number {
    if (ms > this.#latest) {
      this.#latest = ms;
      return this.#append(ms);
    }
    this.#rowOf ??= new Map(this.#times.map((time, row) => [time, row]));
    const row = this.#rowOf.get(ms);
    if (row !== undefined) return row;
    this.#inOrder = false;
    return this.#append(ms);
  }

  #append(ms: number): number {
    const row = this.#times.length;
    this.#times.push(ms);
    this.#rowOf?.set(ms, row);
    for (const column of this.#columns) column.push(null);
    return row;
  }

  /** Sets field number `field` (an index into `fields`) of `row`. */
  set(row: number, field: number, value: number | null): void {
    this.#columns[field]![row] = value;
  }

  /**
   * The answer as the JSON text JSON.stringify would give for `{ ...head, points }` with the
   * points in time order, each `{ ts, <field>: value | null, … }`, written straight from the
   * columns (timestamps through isoTimes, numbers through decimalText with their field's
   * decimals): no point objects to build and encode.
   */
  toJson(head: Omit<ReadingsResult, 'points'>): JsonText {
    const times = this.#times;
    const order = this.#inOrder
      ? undefined
      : times.map((_, row) => row).sort((a, b) => times[a]! - times[b]!);
    const keys = this.fields.map((field) => `,${JSON.stringify(field)}:`);
    const decimals = this.fields.map(decimalsOf);
    const columns = this.#columns;
    const iso = isoTimes();
    let text = `${JSON.stringify(head).slice(0, -1)},"points":[`;
    for (let i = 0; i < times.length; i++) {
      const row = order ? order[i]! : i;
      let point = `${i === 0 ? '' : ','}{"ts":"${iso(times[row]!)}"`;
      for (let field = 0; field < keys.length; field++) {
        const value = columns[field]![row] ?? null;
        // The values are finite numbers (rounded) or null; String() of one is its JSON.
        point += keys[field]! + (value === null ? 'null' : decimalText(value, decimals[field]!));
      }
      text += `${point}}`;
    }
    return new JsonText(`${text}]}`);
  }
}
