/** The cumulative counters energy is read from: imported energy, and energy returned to the grid. */
export type CounterField = 'energy_wh' | 'energy_returned_wh';

/** One stored series of a device: its totals (phase ''), or one phase of a meter without totals. */
export interface EnergySeries {
  device: string;
  phase: string;
}
