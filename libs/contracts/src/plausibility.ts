import type { ReadingLimit, ReadingLimits } from './reading-limits.js';
import type { Reading } from './schemas.js';
import { timestampMs } from './timestamp-format.js';

/**
 * Limits of a device nothing is known about: nothing a building connection could produce, and
 * small enough that sums over any range stay finite numbers.
 */
export const DEFAULT_READING_LIMITS: Required<ReadingLimits> = {
  max_power_w: 10_000_000,
  max_current_a: 100_000,
  max_voltage_v: 100_000,
  max_energy_wh: 1e13,
  max_frequency_hz: 1000,
};

/** How far ahead of the checker's clock a reading's `ts` may be (clock skew between hosts). */
export const DEFAULT_FUTURE_TOLERANCE_MS = 300_000;

/** Each limited field, its limit and unit (power may be negative: exporting). */
const LIMITED_FIELDS = [
  ['power_w', 'max_power_w', 'W'],
  ['current_a', 'max_current_a', 'A'],
  ['voltage_v', 'max_voltage_v', 'V'],
  ['energy_wh', 'max_energy_wh', 'Wh'],
  ['energy_returned_wh', 'max_energy_wh', 'Wh'],
  ['frequency_hz', 'max_frequency_hz', 'Hz'],
] as const;

/**
 * The largest magnitude a stored field can hold for any device (DEFAULT_READING_LIMITS; the schema
 * bounds power_factor to ±1); undefined for a field without one. The query component leaves
 * values beyond it out of aggregates, so readings stored before these checks cannot overflow a sum.
 */
export function defaultFieldLimit(field: string): number | undefined {
  if (field === 'power_factor') return 1;
  const limited = LIMITED_FIELDS.find(([name]) => name === field);
  return limited ? DEFAULT_READING_LIMITS[limited[1]] : undefined;
}

/** Layers of limits, later ones winning key by key (defaults, then the rating, then the registry). */
export function mergeLimits(...layers: readonly (ReadingLimits | undefined)[]): Required<ReadingLimits> {
  const merged = { ...DEFAULT_READING_LIMITS };
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer ?? {}) as [ReadingLimit, number | undefined][]) {
      if (value !== undefined) merged[key] = value;
    }
  }
  return merged;
}

/** True when `tsMs` lies further ahead of `nowMs` than the tolerance: a device with a wrong clock. */
export function isFromTheFuture(
  tsMs: number,
  nowMs: number,
  toleranceMs = DEFAULT_FUTURE_TOLERANCE_MS,
): boolean {
  return tsMs > nowMs + toleranceMs;
}

export interface PlausibilityOptions {
  nowMs: number;
  futureToleranceMs?: number;
}

/**
 * Why a schema-valid reading cannot be true, or undefined when it can: a value beyond its device's
 * limits, or a timestamp from the future. One sentence naming the field, the value and the limit.
 */
export function plausibilityProblem(
  reading: Reading,
  limits: ReadingLimits,
  options: PlausibilityOptions,
): string | undefined {
  // mergeLimits(limits) key by key, without building the merged object: this runs for every reading.
  for (const [field, key, unit] of LIMITED_FIELDS) {
    const value = reading[field];
    if (value === undefined) continue;
    const limit = limits[key] ?? DEFAULT_READING_LIMITS[key];
    if (Math.abs(value) > limit) {
      return `${field} ${value} ${unit} is beyond the device's limit of ${field === 'power_w' ? '±' : ''}${limit} ${unit} (${key})`;
    }
  }
  const tolerance = options.futureToleranceMs ?? DEFAULT_FUTURE_TOLERANCE_MS;
  const ts = timestampMs(reading.ts);
  if (isFromTheFuture(ts, options.nowMs, tolerance)) {
    return `ts ${reading.ts} is ${describeAhead(ts - options.nowMs)} in the future (more than ${tolerance} ms): the device's clock is wrong`;
  }
  return undefined;
}

function describeAhead(ms: number): string {
  if (ms >= 86_400_000) return `${Math.round(ms / 86_400_000)} days`;
  if (ms >= 3_600_000) return `${Math.round(ms / 3_600_000)} hours`;
  return `${Math.round(ms / 1000)} s`;
}
