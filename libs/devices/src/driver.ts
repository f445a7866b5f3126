import type { TSchema } from '@sinclair/typebox';
import type { Reading, ReadingLimits } from '@wattbus/contracts';
import type { Logger } from 'pino';
import type { HistoryBatch, HistoryRange } from './history.js';
import type { RegistryDevice } from './registry-schema.js';
import type { SharedResources } from './shared-resources.js';

/** What a driver measures; the agent adds `ts`, `device`, `type` and `location`. */
export type ReadingValues = Omit<Reading, 'ts' | 'device' | 'type' | 'location'>;

export interface DriverReading {
  /** One entry for a single-phase device; one per phase (and optionally a total) for a 3-phase meter. */
  values: ReadingValues[];
  /** Relay state when the device reports it with the measurement, so the collector needs no extra round trip. */
  on?: boolean;
}

export interface DriverState {
  on: boolean;
}

export interface DriverDescription {
  /** Device model as the device reports it, e.g. `HS110(EU)`. */
  model?: string;
  /** Anything else worth logging once (firmware, MAC, the device's own name). */
  details?: Record<string, string>;
}

/**
 * One device behind one interface. Every method must finish within the device's `timeout_ms`
 * and throw a `WattbusError` (`DEVICE_UNREACHABLE`, `DEVICE_TIMEOUT`, `DEVICE_ERROR`,
 * `DEVICE_AUTH_FAILED`) on failure; `classifyDeviceError()` does the mapping for socket errors.
 * The agent never calls two methods of one driver at the same time.
 */
export interface DeviceDriver {
  read(): Promise<DriverReading>;
  /** Switches the relay; drivers of devices without one throw DEVICE_ERROR. */
  setPower(on: boolean): Promise<void>;
  getState(): Promise<DriverState>;
  describe(): Promise<DriverDescription>;
  /**
   * Plausibility limits from the device's rating with a margin (a plug's rated current, a meter
   * profile's), as far as the driver knows the model now; readings beyond them are never published.
   * The registry's `limits:` overrides them key by key.
   */
  limits?(): ReadingLimits | undefined;
  /**
   * The energy the device remembers (see HistorySource in history.ts): present on drivers of
   * devices that keep history; the agent's backfill reads it.
   */
  history?(range: HistoryRange): AsyncIterable<HistoryBatch>;
  /** Releases sockets; the driver is not used afterwards. */
  close(): Promise<void>;
}

export interface DriverDeps {
  logger: Logger;
  /** Connections several devices share (one Modbus serial bus), closed when the agent stops. */
  shared: SharedResources;
}

/**
 * A driver module: built-in ones are registered by the library, user ones are loaded by path
 * from the registry file's `drivers:` list and must export this shape (default export or `driver`).
 */
export interface DriverDefinition<S extends TSchema = TSchema> {
  /** The `type:` a registry entry names, e.g. `tplink`. */
  type: string;
  /** JSON Schema (TypeBox) of the entry's `connection:` section; defaults in it are filled in. */
  optionsSchema: S;
  create(device: RegistryDevice, deps: DriverDeps): DeviceDriver;
}
