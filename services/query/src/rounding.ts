import { defaultFieldLimit, type ReadingField } from '@wattbus/contracts';

/**
 * Numbers in answers are rounded to what their unit can mean (no `68.92812500000001`): InfluxDB's
 * means and sums carry binary float noise that no meter measured. Decimals per field:
 */
const DECIMALS: Record<ReadingField, number> = {
  power_w: 3, // 1 mW
  voltage_v: 3, // 1 mV
  current_a: 4, // 0.1 mA
  energy_wh: 3, // 1 mWh
  energy_returned_wh: 3,
  power_factor: 4,
  frequency_hz: 4,
};

/** How many decimals `field`'s values are rounded to. */
export function decimalsOf(field: ReadingField): number {
  return DECIMALS[field];
}

const SCALES = [1, 10, 100, 1_000, 10_000];

/**
 * `String(value)` for a value that round(value, decimals) leaves as it is, ~4× faster (integer
 * arithmetic instead of the shortest round-trip search): a decimal of at most 15 significant digits
 * is the shortest text of the double nearest to it. Any other value goes through String().
 */
export function decimalText(value: number, decimals: number): string {
  const scale = SCALES[decimals] ?? 10 ** decimals;
  const scaled = Math.round(value * scale);
  if (scaled / scale !== value || !(Math.abs(scaled) < 1e15)) return String(value);
  if (scaled === 0) return '0';
  const sign = scaled < 0 ? '-' : '';
  const abs = Math.abs(scaled);
  const whole = Math.floor(abs / scale);
  let fraction = abs - whole * scale;
  if (fraction === 0) return `${sign}${whole}`;
  let digits = decimals;
  while (fraction % 10 === 0) {
    fraction /= 10;
    digits--;
  }
  return `${sign}${whole}.${String(fraction).padStart(digits, '0')}`;
}

/** Rounds to `decimals` decimals; dividing by a power of ten prints the shortest decimal. */
export function round(value: number, decimals: number): number {
  const scale = 10 ** decimals;
  const scaled = Math.round(value * scale);
  // Beyond 2^53 a double has no fraction left to round.
  return Number.isSafeInteger(scaled) ? scaled / scale : value;
}

/**
 * How a stored value becomes an answer: rounded for its unit, or null when no device can report
 * it (a value stored before the plausibility checks) or InfluxDB has none. One per field, so a
 * series' points look its limit up once.
 */
export function readingRounder(field: ReadingField): (value: unknown) => number | null {
  const limit = defaultFieldLimit(field);
  const decimals = DECIMALS[field];
  return (value) => {
    if (typeof value !== 'number' || !Number.isFinite(value)) return null;
    if (limit !== undefined && Math.abs(value) > limit) return null;
    return round(value, decimals);
  };
}

/** Energy in kWh to 1 mWh. */
export const kwh = (wh: number): number => round(wh / 1000, 6);

/** Money to 1/10000 of the currency unit. */
export const money = (amount: number): number => round(amount, 4);
