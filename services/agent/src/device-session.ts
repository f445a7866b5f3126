import { WattbusError, type Availability } from '@wattbus/contracts';
import type { DeviceDriver, RegistryDevice } from '@wattbus/devices';

export interface SessionMetrics {
  operations: number;
  failures: number;
  consecutive_failures: number;
}

export interface AvailabilityChange {
  availability: Availability;
  /** Set when the device went offline: the failure that tipped it. */
  error?: WattbusError;
}

/**
 * One device as the agent holds it: its driver (shared by collector and controller), a queue
 * that lets one operation at a time reach the device, and its availability. The availability
 * flips to offline after `offline_after_failures` consecutive failed operations and back to
 * online on the first success.
 */
export class DeviceSession {
  readonly device: RegistryDevice;
  readonly driver: DeviceDriver;
  #queue: Promise<unknown> = Promise.resolve();
  #queued = 0;
  #availability: Availability | undefined;
  #lastOn: boolean | undefined;
  #onChange: (session: DeviceSession, change: AvailabilityChange) => void;
  #metrics: SessionMetrics = { operations: 0, failures: 0, consecutive_failures: 0 };

  constructor(deps: {
    device: RegistryDevice;
    driver: DeviceDriver;
    onAvailabilityChange: (session: DeviceSession, change: AvailabilityChange) => void;
  }) {
    this.device = deps.device;
    this.driver = deps.driver;
    this.#onChange = deps.onAvailabilityChange;
  }

  get id(): string {
    return this.device.id;
  }

  /** undefined until the first operation decided it. */
  get availability(): Availability | undefined {
    return this.#availability;
  }

  /** Operations waiting for or holding the device. */
  get queued(): number {
    return this.#queued;
  }

  get consecutiveFailures(): number {
    return this.#metrics.consecutive_failures;
  }

  /** The relay state last published, so an unchanged state is not republished every poll. */
  get lastOn(): boolean | undefined {
    return this.#lastOn;
  }

  set lastOn(on: boolean | undefined) {
    this.#lastOn = on;
  }

  metrics(): SessionMetrics {
    return { ...this.#metrics };
  }

  /**
   * Runs `work` when every earlier operation on this device has finished. A `deadline` (epoch ms)
   * that passed while waiting skips the work: nobody waits for its answer any more.
   */
  run<T>(work: (driver: DeviceDriver) => Promise<T>, deadline?: number): Promise<T> {
    this.#queued++;
    const result = this.#queue.then(async () => {
      if (deadline !== undefined && Date.now() > deadline) {
        throw new WattbusError('TIMEOUT', `request for ${this.id} expired while waiting for the device`);
      }
      this.#metrics.operations++;
      try {
        const value = await work(this.driver);
        this.#succeeded();
        return value;
      } catch (error) {
        this.#failed(error);
        throw error;
      }
    });
    this.#queue = result.then(
      () => (this.#queued--, undefined),
      () => (this.#queued--, undefined),
    );
    return result;
  }

  #succeeded(): void {
    this.#metrics.consecutive_failures = 0;
    if (this.#availability !== 'online') {
      this.#availability = 'online';
      this.#onChange(this, { availability: 'online' });
    }
  }

  #failed(error: unknown): void {
    this.#metrics.failures++;
    this.#metrics.consecutive_failures++;
    if (
      this.#availability !== 'offline' &&
      this.#metrics.consecutive_failures >= this.device.offline_after_failures
    ) {
      this.#availability = 'offline';
      this.#onChange(this, {
        availability: 'offline',
        error: error instanceof WattbusError ? error : new WattbusError('DEVICE_ERROR', String(error)),
      });
    }
  }
}
