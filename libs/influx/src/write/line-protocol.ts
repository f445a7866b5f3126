import { escape, Point, type PointSettings } from '@influxdata/influxdb-client';

/**
 * The one line-protocol encoder and decoder. Escaping comes from the client library's `escape`
 * (the rules its own `Point` uses); unlike `Point`, tags and fields keep the caller's order.
 */

/** Field types as InfluxQL's SHOW FIELD KEYS names them. */
export type FieldType = 'float' | 'integer' | 'unsigned' | 'string' | 'boolean';

export interface LineField {
  type: FieldType;
  value: number | bigint | string | boolean;
}

export interface LinePoint {
  measurement: string;
  /** Written in this order; an empty value means "not set" and is left out. */
  tags?: Record<string, string>;
  /** Written in this order. */
  fields: Record<string, LineField>;
  /** In the precision of the write: we always write ms. */
  timestamp: number | bigint;
}

/** A point decoded from a line, its timestamp exact. */
export interface ParsedLine extends LinePoint {
  tags: Record<string, string>;
  timestamp: bigint;
}

/** A value that line protocol cannot carry faithfully, or a damaged line: refused, not mangled. */
export class LineProtocolError extends Error {
  readonly column: number | undefined;

  constructor(message: string, column?: number) {
    super(column === undefined ? message : `${message} (column ${column + 1})`);
    this.name = 'LineProtocolError';
    this.column = column;
  }
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/** What escape.tag escapes. */
const TAG_SPECIAL = /[, =\n\r\t]/;

/**
 * escape.tag for tag keys, tag values and field keys, with a regular-expression test first: most
 * values need no escaping, and the test costs a fraction of escape.tag's walk over each character.
 */
export function escapeTag(value: string): string {
  return TAG_SPECIAL.test(value) ? escape.tag(value) : value;
}

export function encodeLine(point: LinePoint): string {
  if (point.measurement === '') throw new LineProtocolError('a point needs a measurement');
  let line = escape.measurement(point.measurement);
  for (const [key, value] of Object.entries(point.tags ?? {})) {
    if (value !== '') line += `,${escapeTag(key)}=${escapeTag(value)}`;
  }
  const fields = Object.entries(point.fields).map(
    ([key, field]) => `${escapeTag(key)}=${fieldText(key, field)}`,
  );
  if (fields.length === 0) throw new LineProtocolError('a point needs a measurement and at least one field');
  return `${line} ${fields.join(',')} ${timestampText(point.timestamp)}`;
}

/** A float field's value; refused unless a finite number. */
export function floatText(key: string, value: unknown): string {
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new LineProtocolError(`${key} ${String(value)} is not a finite number`);
  return String(value);
}

function fieldText(key: string, { type, value }: LineField): string {
  switch (type) {
    case 'float':
      return floatText(key, value);
    case 'integer':
    case 'unsigned': {
      if (typeof value !== 'bigint' && !(typeof value === 'number' && Number.isSafeInteger(value)))
        throw refusal(key, value, type);
      const whole = BigInt(value);
      const [min, max] = type === 'integer' ? [INT64_MIN, INT64_MAX] : [0n, UINT64_MAX];
      if (whole < min || whole > max) throw refusal(key, value, type);
      return `${whole}${type === 'integer' ? 'i' : 'u'}`;
    }
    case 'string':
      return escape.quoted(String(value));
    case 'boolean':
      if (typeof value !== 'boolean') throw refusal(key, value, type);
      return String(value);
  }
}

/** A function, not a closure made per call: fieldText runs for every field of every point. */
function refusal(key: string, value: LineField['value'], type: FieldType): LineProtocolError {
  return new LineProtocolError(`${key} ${String(value)} is not a valid ${type} field`);
}

function timestampText(timestamp: number | bigint): string {
  if (typeof timestamp === 'bigint') return String(timestamp);
  if (!Number.isFinite(timestamp))
    throw new LineProtocolError(`timestamp ${String(timestamp)} is not a number of milliseconds`);
  return String(Math.trunc(timestamp));
}

/** Timestamps are integers in ms: the writer always asks for `precision=ms`. */
const MILLISECONDS: Partial<PointSettings> = { convertTime: (value) => timestampText(value as number) };

/** A `Point` built with the client library, as a line with a ms timestamp. */
export function pointToLine(point: Point): string {
  const line = point.toLineProtocol(MILLISECONDS);
  if (line === undefined) throw new LineProtocolError('a point needs a measurement and at least one field');
  return line;
}

/**
 * One row of a `SELECT * … GROUP BY *` answer as a line, or undefined when the row has no value.
 * The declared type decides the suffix (`5i` stays an integer); a value of another JSON type
 * (a field that changed type between shards) is written as what it is.
 */
export function rowToLine(
  measurement: string,
  tags: Record<string, string>,
  columns: readonly ({ name: string; type: FieldType } | undefined)[],
  row: readonly unknown[],
  timeMs: number,
): string | undefined {
  const fields: Record<string, LineField> = {};
  for (const [index, column] of columns.entries()) {
    const value = row[index];
    if (column === undefined || value === null || value === undefined) continue;
    if (typeof value === 'boolean') fields[column.name] = { type: 'boolean', value };
    else if (typeof value === 'string') fields[column.name] = { type: 'string', value };
    else if (typeof value === 'number') {
      const whole = Number.isSafeInteger(value);
      const type =
        column.type === 'integer' && whole
          ? 'integer'
          : column.type === 'unsigned' && whole && value >= 0
            ? 'unsigned'
            : 'float';
      fields[column.name] = { type, value };
    }
  }
  if (Object.keys(fields).length === 0) return undefined;
  return encodeLine({ measurement, tags, fields, timestamp: timeMs });
}

const TRUE = new Set(['t', 'T', 'true', 'True', 'TRUE']);
const FALSE = new Set(['f', 'F', 'false', 'False', 'FALSE']);
const FLOAT = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const INTEGER = /^[-+]?\d+i$/;
const UNSIGNED = /^\d+u$/;
const TIMESTAMP = /^-?\d+$/;

/**
 * Parses one line protocol record strictly, with InfluxDB 1.x's escaping: `\,` `\ ` (and `\=`
 * in keys and tag values) are escapes, any other backslash pair is kept as written; string
 * fields unescape `\"` and `\\` and may contain newlines. A timestamp is required: we always
 * write one, so a line without one is damage.
 */
export function parseLine(text: string): ParsedLine {
  let at = 0;
  const end = text.length;

  const readName = (escapable: string, stops: string, what: string): string => {
    let out = '';
    while (at < end) {
      const char = text[at]!;
      if (char === '\\' && at + 1 < end) {
        const next = text[at + 1]!;
        out += escapable.includes(next) ? next : `\\${next}`;
        at += 2;
        continue;
      }
      if (stops.includes(char)) break;
      if (char === '\n') throw new LineProtocolError(`newline in ${what}`, at);
      out += char;
      at++;
    }
    if (out === '') throw new LineProtocolError(`empty ${what}`, at);
    return out;
  };

  const measurement = readName(', ', ', ', 'measurement');
  const tags: Record<string, string> = {};
  while (text[at] === ',') {
    at++;
    const key = readName(',= ', ',= ', 'tag key');
    if (text[at] !== '=') throw new LineProtocolError(`tag ${key} has no '='`, at);
    at++;
    tags[key] = readName(',= ', ', ', `value of tag ${key}`);
  }
  if (text[at] !== ' ') throw new LineProtocolError('expected a space before the fields', at);
  at++;

  const fields: ParsedLine['fields'] = {};
  for (;;) {
    const key = readName(',= ', ',= ', 'field key');
    if (text[at] !== '=') throw new LineProtocolError(`field ${key} has no '='`, at);
    at++;
    if (text[at] === '"') {
      at++;
      let value = '';
      let closed = false;
      while (at < end) {
        const char = text[at]!;
        if (char === '\\' && at + 1 < end && (text[at + 1] === '"' || text[at + 1] === '\\')) {
          value += text[at + 1];
          at += 2;
          continue;
        }
        if (char === '"') {
          closed = true;
          at++;
          break;
        }
        value += char;
        at++;
      }
      if (!closed) throw new LineProtocolError(`unterminated string in field ${key}`, at);
      fields[key] = { type: 'string', value };
    } else {
      const start = at;
      while (at < end && text[at] !== ',' && text[at] !== ' ') at++;
      fields[key] = fieldValue(text.slice(start, at), key, start);
    }
    if (text[at] === ',') {
      at++;
      continue;
    }
    break;
  }
  if (text[at] !== ' ') throw new LineProtocolError('expected a space and a timestamp after the fields', at);
  at++;
  const stamp = text.slice(at);
  if (!TIMESTAMP.test(stamp))
    throw new LineProtocolError(`bad timestamp ${JSON.stringify(stamp.slice(0, 40))}`, at);
  return { measurement, tags, fields, timestamp: BigInt(stamp) };
}

function fieldValue(raw: string, key: string, column: number): LineField {
  if (TRUE.has(raw)) return { type: 'boolean', value: true };
  if (FALSE.has(raw)) return { type: 'boolean', value: false };
  if (INTEGER.test(raw)) return { type: 'integer', value: BigInt(raw.slice(0, -1)) };
  if (UNSIGNED.test(raw)) return { type: 'unsigned', value: BigInt(raw.slice(0, -1)) };
  if (FLOAT.test(raw)) return { type: 'float', value: Number(raw) };
  throw new LineProtocolError(`bad value ${JSON.stringify(raw.slice(0, 40))} for field ${key}`, column);
}

/** The timestamp of a record we wrote: the text after its last space (fields come before it). */
export function timestampOf(record: string): number {
  return Number(record.slice(record.lastIndexOf(' ') + 1));
}

/**
 * Whether a physical line stops inside a quoted string field, so the record goes on after the
 * newline (string fields may hold newlines; nothing else may).
 */
export function endsInsideString(text: string): boolean {
  let section = 0; // 0 measurement and tags, 1 fields, 2 timestamp
  let inString = false;
  for (let at = 0; at < text.length; at++) {
    const char = text[at];
    if (char === '\\') {
      at++;
      continue;
    }
    if (inString) {
      if (char === '"') inString = false;
    } else if (char === ' ') {
      section++;
      if (section === 2) return false;
    } else if (section === 1 && char === '"' && text[at - 1] === '=') {
      inString = true;
    }
  }
  return inString;
}

/** Splits decoded text chunks into line protocol records (a record spans lines only inside a string). */
export async function* records(chunks: AsyncIterable<string>): AsyncGenerator<string> {
  let buffer = '';
  let pending = ''; // a record that continues on the next line
  for await (const chunk of chunks) {
    buffer += chunk;
    let start = 0;
    for (;;) {
      const newline = buffer.indexOf('\n', start);
      if (newline < 0) break;
      const line = pending + buffer.slice(start, newline);
      start = newline + 1;
      if (line.includes('"') && endsInsideString(line)) {
        pending = `${line}\n`;
        continue;
      }
      pending = '';
      if (line !== '') yield line;
    }
    buffer = buffer.slice(start);
  }
  const rest = pending + buffer;
  if (rest !== '') yield rest;
}
