import type { ReadingLimits } from '@wattbus/contracts';

/** Readings may exceed a device's rating a little (inrush, tolerance): limits are the rating + 25 %. */
export const RATING_MARGIN = 1.25;

/**
 * Plausibility limits from a rating: the rated current at the nominal mains voltage, per phase,
 * with the margin. Device knowledge lives with the drivers; the limits travel in the device's meta.
 */
export function ratedLimits(rating: { amps: number; volts: number; phases?: 1 | 3 }): ReadingLimits {
  const phases = rating.phases ?? 1;
  return {
    max_current_a: rating.amps * RATING_MARGIN,
    max_power_w: rating.amps * rating.volts * phases * RATING_MARGIN,
    max_voltage_v: Math.round(rating.volts * 1.3),
  };
}
