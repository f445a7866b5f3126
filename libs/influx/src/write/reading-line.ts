import { READING_FIELDS, timestampMs, type Reading } from '@wattbus/contracts';
import { escapeTag, floatText, LineProtocolError } from './line-protocol.js';

/** The measurement every reading is stored in (DESIGN.md, "Storage"). */
export const ELECTRICITY_MEASUREMENT = 'electricity';

/** Numeric reading keys, stored as float fields in SI units as named: the contract's list. */
export { READING_FIELDS };

/** Fields in name order, as tags are: InfluxDB's own order, so a reading's line never varies. */
const SORTED_FIELDS = [...READING_FIELDS].sort();

/** Tags the registry (retained device meta) knows, used when a reading lacks them. */
export interface DeviceTags {
  type?: string;
  location?: string;
}

/**
 * A tag value ending in a backslash would escape the separator after it (influxd then misparses
 * the line), so it is refused; so is an empty one (line protocol cannot carry it).
 */
export function checkTagValue(name: string, value: string): string {
  if (value.length === 0) throw new LineProtocolError(`tag ${name} must not be empty`);
  if (value.endsWith('\\')) {
    throw new LineProtocolError(`tag ${name} ${JSON.stringify(value)} must not end with a backslash`);
  }
  return value;
}

/**
 * One reading as one line of the `electricity` measurement: tags device, location, phase, type;
 * float fields in SI units; time = the reading's `ts` in ms, so a re-delivered reading overwrites itself.
 */
export function readingToLine(reading: Reading, registry?: DeviceTags): string {
  const time = timestampMs(reading.ts);
  if (!Number.isFinite(time)) throw new LineProtocolError(`ts ${JSON.stringify(reading.ts)} is not a date`);
  // The reading says what it knows; the registry fills the gaps.
  const type = reading.type ?? registry?.type;
  const location = reading.location ?? registry?.location;
  // Built as a string, not through encodeLine's point object: the storage hook makes one per
  // reading, and the object, its entries and escaping were most of its cost. Same line.
  let line = `${ELECTRICITY_MEASUREMENT},device=${escapeTag(checkTagValue('device', reading.device))}`;
  if (location !== undefined) line += `,location=${escapeTag(checkTagValue('location', location))}`;
  if (reading.phase !== undefined) line += `,phase=${escapeTag(reading.phase)}`;
  if (type !== undefined) line += `,type=${escapeTag(checkTagValue('type', type))}`;
  let fields = '';
  for (const field of SORTED_FIELDS) {
    const value = reading[field];
    if (value === undefined) continue;
    fields += `${fields === '' ? '' : ','}${field}=${floatText(field, value)}`;
  }
  if (fields === '') throw new LineProtocolError('a point needs a measurement and at least one field');
  return `${line} ${fields} ${Math.trunc(time)}`;
}

/** The device tag of a line made by readingToLine or historyToLines (device ids need no escaping), for dead letters. */
export function deviceOfLine(line: string): string | undefined {
  return /^(?:electricity|energy_history),device=([a-z0-9][a-z0-9_-]*)[, ]/.exec(line)?.[1];
}
