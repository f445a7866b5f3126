import { Point, type PointSettings } from '@influxdata/influxdb-client';
import { READING_FIELDS, type Reading } from '@wattbus/contracts';

/** The measurement every reading is stored in (DESIGN.md, "Storage"). */
export const ELECTRICITY_MEASUREMENT = 'electricity';

/** Numeric reading keys, stored as float fields in SI units as named: the contract's list. */
export { READING_FIELDS };

/** A value that line protocol cannot carry faithfully; the reading is refused, not mangled. */
export class LineProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LineProtocolError';
  }
}

/** Tags the registry (retained device meta) knows, used when a reading lacks them. */
export interface DeviceTags {
  type?: string;
  location?: string;
}

/** Timestamps are integers in ms: the writer always asks for `precision=ms`. */
const MILLISECONDS: Partial<PointSettings> = {
  convertTime: (value) => {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new LineProtocolError(`timestamp ${String(value)} is not a number of milliseconds`);
    }
    return String(Math.trunc(value));
  },
};

/**
 * Line protocol for a point, from the client's own serialiser (`Point`), so escaping of spaces,
 * commas, equals signs and quotes lives in one tested place. A tag value ending in a backslash
 * would escape the separator after it (influxd then misparses the line), so it is refused.
 */
export function pointToLine(point: Point): string {
  const line = point.toLineProtocol(MILLISECONDS);
  if (line === undefined) throw new LineProtocolError('a point needs a measurement and at least one field');
  return line;
}

export function checkTagValue(name: string, value: string): string {
  if (value.length === 0) throw new LineProtocolError(`tag ${name} must not be empty`);
  if (value.endsWith('\\')) {
    throw new LineProtocolError(`tag ${name} ${JSON.stringify(value)} must not end with a backslash`);
  }
  return value;
}

/**
 * One reading as one line of the `electricity` measurement: tags device, type, location, phase;
 * float fields in SI units; time = the reading's `ts` in ms, so a re-delivered reading overwrites itself.
 */
export function readingToLine(reading: Reading, registry?: DeviceTags): string {
  const time = Date.parse(reading.ts);
  if (!Number.isFinite(time)) throw new LineProtocolError(`ts ${JSON.stringify(reading.ts)} is not a date`);
  const point = new Point(ELECTRICITY_MEASUREMENT).tag('device', checkTagValue('device', reading.device));
  // The reading says what it knows; the registry fills the gaps.
  const type = reading.type ?? registry?.type;
  const location = reading.location ?? registry?.location;
  if (type !== undefined) point.tag('type', checkTagValue('type', type));
  if (location !== undefined) point.tag('location', checkTagValue('location', location));
  if (reading.phase !== undefined) point.tag('phase', reading.phase);
  for (const field of READING_FIELDS) {
    const value = reading[field];
    if (value === undefined) continue;
    if (!Number.isFinite(value))
      throw new LineProtocolError(`${field} ${String(value)} is not a finite number`);
    point.floatField(field, value);
  }
  return pointToLine(point.timestamp(time));
}

/** The device tag of a line made by readingToLine (device ids need no escaping), for dead letters. */
export function deviceOfLine(line: string): string | undefined {
  return /^electricity,device=([a-z0-9][a-z0-9_-]*)[, ]/.exec(line)?.[1];
}
