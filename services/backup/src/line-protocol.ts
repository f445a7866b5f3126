import { Point } from '@influxdata/influxdb-client';

/** Field types as InfluxQL's SHOW FIELD KEYS names them. */
export type FieldType = 'float' | 'integer' | 'unsigned' | 'string' | 'boolean';

export interface FieldColumn {
  name: string;
  type: FieldType;
}

/**
 * One row of a `SELECT * … GROUP BY *` answer as a line, or undefined when the row has no value.
 * The declared type decides the suffix (`5i` stays an integer); a value of another JSON type
 * (a field that changed type between shards) is written as what it is.
 */
export function toLine(
  measurement: string,
  tags: Record<string, string>,
  fields: readonly (FieldColumn | undefined)[],
  row: readonly unknown[],
  timeMs: number,
): string | undefined {
  const point = new Point(measurement);
  // Empty tag values mean "tag not set" in GROUP BY * answers; line protocol cannot carry them.
  for (const [key, value] of Object.entries(tags)) if (value !== '') point.tag(key, value);
  for (let index = 0; index < fields.length; index++) {
    const field = fields[index];
    const value = row[index];
    if (field === undefined || value === null || value === undefined) continue;
    if (typeof value === 'boolean') point.booleanField(field.name, value);
    else if (typeof value === 'string') point.stringField(field.name, value);
    else if (typeof value === 'number') {
      if (field.type === 'integer' && Number.isInteger(value)) point.intField(field.name, value);
      else if (field.type === 'unsigned' && Number.isInteger(value) && value >= 0)
        point.uintField(field.name, value);
      else point.floatField(field.name, value);
    }
  }
  point.timestamp(timeMs);
  return point.toLineProtocol();
}

export class LineProtocolError extends Error {
  override name = 'LineProtocolError';
  constructor(
    message: string,
    readonly column: number,
  ) {
    super(`${message} (column ${column + 1})`);
  }
}

export interface ParsedLine {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, { type: FieldType; value: number | string | boolean | bigint }>;
  timestamp: bigint;
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

function fieldValue(raw: string, key: string, column: number): ParsedLine['fields'][string] {
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
