import type { Availability } from '@wattbus/contracts';
import { FIELD_UNITS, type ReadingField } from '@wattbus/devices';

/**
 * Foreign payloads are not ours: numbers arrive as strings, switches as "ON", "on", 1 or true,
 * and anything may be missing or nonsense. These turn one value into WattBus terms or say
 * exactly why they cannot; they never guess.
 */

/** A value that could not be turned into what the mapping asked for; the message names it. */
export class ValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ValueError';
  }
}

/** `12.5`, `"12.5"`, `" 12 "`, `"1e3"`; never `"NaN"`, `"12 W"`, `""`, `true`, `[12]`, Infinity. */
export function toNumber(value: unknown): number {
  let number: number;
  if (typeof value === 'number') number = value;
  else if (typeof value === 'string' && /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(value))
    number = Number(value);
  else throw new ValueError(`expected a number, got ${describe(value)}`);
  if (!Number.isFinite(number)) throw new ValueError(`expected a finite number, got ${describe(value)}`);
  return number;
}

/** The value in the field's own unit (W, V, A, Wh, Hz); `unit` was checked when the profile loaded. */
export function toFieldUnit(field: ReadingField, value: unknown, unit: string): number {
  const factor = (FIELD_UNITS[field] as Record<string, number>)[unit];
  if (factor === undefined) throw new ValueError(`unit '${unit}' does not fit ${field}`);
  const converted = toNumber(value) * factor;
  if (!Number.isFinite(converted)) throw new ValueError(`${describe(value)} ${unit} is out of range`);
  // Unit factors like 1/60 leave binary noise (0.30000000000000004); 9 decimals is far below any meter.
  return Math.round(converted * 1e9) / 1e9;
}

export function isKnownUnit(field: ReadingField, unit: string): boolean {
  return unit in FIELD_UNITS[field];
}

export function unitsOf(field: ReadingField): string[] {
  return Object.keys(FIELD_UNITS[field]);
}

/** Words for a relay that is on / off, compared without case; a profile may name its own. */
export const DEFAULT_ON = ['on', 'true', '1'];
export const DEFAULT_OFF = ['off', 'false', '0'];
/** Words for a device that is reachable / gone (Tasmota `Online`, Shelly `true`, Zigbee2MQTT `online`). */
export const DEFAULT_ONLINE = ['online', 'true', '1'];
export const DEFAULT_OFFLINE = ['offline', 'false', '0'];

/** One of two word lists, compared case-insensitively; booleans and numbers compare by their text. */
export function toChoice<T>(value: unknown, choices: readonly [T, readonly string[]][], what: string): T {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    const text = String(value).trim().toLowerCase();
    for (const [result, words] of choices) if (words.includes(text)) return result;
  }
  const expected = choices.flatMap(([, words]) => words.map((word) => JSON.stringify(word))).join(', ');
  throw new ValueError(`expected ${what} (${expected}), got ${describe(value)}`);
}

export function toSwitch(value: unknown, on = DEFAULT_ON, off = DEFAULT_OFF): boolean {
  return toChoice(
    value,
    [
      [true, on],
      [false, off],
    ],
    'a relay state',
  );
}

export function toAvailability(
  value: unknown,
  online = DEFAULT_ONLINE,
  offline = DEFAULT_OFFLINE,
): Availability {
  return toChoice(
    value,
    [
      ['online', online],
      ['offline', offline],
    ],
    'an availability',
  );
}

/** A short, safe rendering of a foreign value for a dead-letter message. */
export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
