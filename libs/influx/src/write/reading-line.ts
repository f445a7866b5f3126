import { READING_FIELDS, type Reading } from '@wattbus/contracts';
import { encodeLine, LineProtocolError, type LineField } from './line-protocol.js';

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
  const time = Date.parse(reading.ts);
  if (!Number.isFinite(time)) throw new LineProtocolError(`ts ${JSON.stringify(reading.ts)} is not a date`);
  // The reading says what it knows; the registry fills the gaps.
  const type = reading.type ?? registry?.type;
  const location = reading.location ?? registry?.location;
  const tags: Record<string, string> = { device: checkTagValue('device', reading.device) };
  if (location !== undefined) tags.location = checkTagValue('location', location);
  if (reading.phase !== undefined) tags.phase = reading.phase;
  if (type !== undefined) tags.type = checkTagValue('type', type);
  const fields: Record<string, LineField> = {};
  for (const field of SORTED_FIELDS) {
    const value = reading[field];
    if (value !== undefined) fields[field] = { type: 'float', value };
  }
  return encodeLine({ measurement: ELECTRICITY_MEASUREMENT, tags, fields, timestamp: time });
}

/** The device tag of a line made by readingToLine or historyToLines (device ids need no escaping), for dead letters. */
export function deviceOfLine(line: string): string | undefined {
  return /^(?:electricity|energy_history),device=([a-z0-9][a-z0-9_-]*)[, ]/.exec(line)?.[1];
}
