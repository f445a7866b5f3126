import { plausibilityProblem, type Reading, type ReadingLimits } from '@wattbus/contracts';
import type { DeviceDriver, RegistryDevice } from '@wattbus/devices';
import type { Logger } from 'pino';

export interface PlausibilityGateDeps {
  logger: Logger;
  /** A reading stamped further ahead of this host's clock is refused (config `future_tolerance_ms`). */
  futureToleranceMs: number;
  /** How often a device's refused readings are logged (once per device per hour by default). */
  logIntervalMs?: number;
  clock?: () => number;
}

/** A device's limits: its driver's rating, overridden key by key by the registry's `limits:`. */
export function deviceLimits(device: RegistryDevice, driver: DeviceDriver): ReadingLimits {
  return { ...driver.limits?.(), ...device.limits };
}

/**
 * The collector's plausibility check, the same as the storage hook's (`plausibilityProblem`): a
 * reading beyond its device's limits or from the future is not published. A device that glitches
 * every poll is logged once an hour (with how many were dropped), not once per sample.
 */
export class PlausibilityGate {
  #deps: PlausibilityGateDeps;
  #lastLogged = new Map<string, { at: number; dropped: number }>();
  #refused = 0;

  constructor(deps: PlausibilityGateDeps) {
    this.#deps = deps;
  }

  /** Readings refused since start, over all devices. */
  get refused(): number {
    return this.#refused;
  }

  /** The plausible readings; the others are counted and logged (at most once per interval per device). */
  filter(device: RegistryDevice, limits: ReadingLimits, readings: readonly Reading[]): Reading[] {
    const now = (this.#deps.clock ?? Date.now)();
    return readings.filter((reading) => {
      const problem = plausibilityProblem(reading, limits, {
        nowMs: now,
        futureToleranceMs: this.#deps.futureToleranceMs,
      });
      if (problem === undefined) return true;
      this.#refused++;
      this.#log(device.id, problem, now);
      return false;
    });
  }

  #log(device: string, problem: string, now: number): void {
    const interval = this.#deps.logIntervalMs ?? 3_600_000;
    const last = this.#lastLogged.get(device);
    if (last && now - last.at < interval) {
      last.dropped++;
      return;
    }
    this.#deps.logger.warn(
      { device, problem, dropped_since_last_log: last?.dropped ?? 0 },
      'implausible reading not published (logged once an hour per device)',
    );
    this.#lastLogged.set(device, { at: now, dropped: 0 });
  }
}
