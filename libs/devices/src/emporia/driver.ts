import { nextUnitStart, unitStart, WattbusError, type EnergyInterval } from '@wattbus/contracts';
import type {
  DeviceDriver,
  DriverDefinition,
  DriverDeps,
  DriverDescription,
  DriverReading,
  DriverState,
} from '../driver.js';
import type { RegistryDevice } from '../registry-schema.js';
import type { HistoryBatch, HistoryRange } from '../history.js';
import { channelKey, EmporiaAccount, powerWOf } from './account.js';
import { EmporiaConnectionSchema, type EmporiaConnection } from './schemas.js';

const MINUTE_MS = 60_000;

/** The scales of the cloud's history, as a backfill stores them. */
const HISTORY_SCALES = [
  ['hour', 'emporia-1h', 3_600_000],
  ['minute', 'emporia-1min', MINUTE_MS],
] as const;

/** The shared-resource key of an account: every entry with the same API and e-mail shares one. */
export function accountKeyOf(connection: EmporiaConnection): string {
  return `emporia:${connection.api_url}:${connection.email.toLowerCase()}`;
}

/**
 * One channel of an Emporia device (mains, a branch circuit, the Balance, a smart plug) as a
 * WattBus device. Power is the channel's energy over the polled interval turned into its average
 * (kWh over 1 s → W now; over 1 min → average W of the last minute). `energy_wh` is a counter this
 * driver keeps from the start of the agent: power × the time since the previous answer, up to two
 * poll intervals (a longer gap is left for the history backfill to fill, not guessed).
 */
export class EmporiaChannelDriver implements DeviceDriver {
  readonly connection: EmporiaConnection;
  #device: RegistryDevice;
  #account: EmporiaAccount;
  #energyWh = 0;
  #returnedWh = 0;
  #lastInstantMs: number | undefined;

  constructor(device: RegistryDevice, deps: DriverDeps) {
    this.#device = device;
    this.connection = device.connection as EmporiaConnection;
    const key = accountKeyOf(this.connection);
    const account = deps.shared.use(
      key,
      () =>
        new EmporiaAccount(key, this.connection, {
          logger: deps.logger,
          maxBackoffMs: device.max_backoff_ms,
        }),
    );
    if (!(account instanceof EmporiaAccount))
      throw new Error(`shared resource ${key} is not an Emporia account`);
    this.#account = account;
  }

  async read(): Promise<DriverReading> {
    const { device_gid, channel, scale } = this.connection;
    const device = this.#device;
    const snapshot = await this.#account.usage(scale, device.poll_interval_ms, device.timeout_ms);
    const usage = snapshot.channels.get(channelKey(device_gid, channel));
    if (!usage) {
      throw new WattbusError(
        'DEVICE_ERROR',
        `${device.id}: the account has no channel ${channel} on device ${device_gid}`,
      );
    }
    if (usage.kwh === null) {
      throw new WattbusError(
        'DEVICE_ERROR',
        `${device.id}: the Emporia cloud has no ${scale} usage for this channel yet`,
      );
    }
    const power_w = powerWOf(usage.kwh, scale);
    if (this.#lastInstantMs !== undefined && snapshot.instantMs > this.#lastInstantMs) {
      const elapsedMs = Math.min(snapshot.instantMs - this.#lastInstantMs, 2 * device.poll_interval_ms);
      const wh = (Math.abs(power_w) * elapsedMs) / 3_600_000;
      if (power_w >= 0) this.#energyWh += wh;
      else this.#returnedWh += wh;
    }
    if (this.#lastInstantMs === undefined || snapshot.instantMs > this.#lastInstantMs) {
      this.#lastInstantMs = snapshot.instantMs;
    }
    const values = {
      power_w,
      energy_wh: this.#energyWh,
      ...(this.#returnedWh > 0 ? { energy_returned_wh: this.#returnedWh } : {}),
    };
    return { values: [values] };
  }

  async setPower(): Promise<void> {
    throw new WattbusError(
      'DEVICE_ERROR',
      `${this.#device.id} is an Emporia channel, measured only; switching is not supported`,
    );
  }

  async getState(): Promise<DriverState> {
    throw new WattbusError(
      'DEVICE_ERROR',
      `${this.#device.id} is an Emporia channel, measured only; it has no relay state`,
    );
  }

  async describe(): Promise<DriverDescription> {
    const devices = await this.#account.devices(this.#device.timeout_ms);
    const device = devices.find((candidate) => candidate.deviceGid === this.connection.device_gid);
    const channel = device?.channels.find((candidate) => candidate.channelNum === this.connection.channel);
    return {
      model: device?.model,
      details: {
        account_device: device?.locationProperties?.deviceName ?? String(this.connection.device_gid),
        channel: channel?.name ?? this.connection.channel,
        ...(device?.firmware ? { firmware: device.firmware } : {}),
      },
    };
  }

  /**
   * This channel's energy per interval from `from` to `to`, for the history backfill: `1MIN`,
   * `1H`, or `auto` (minutes where the cloud keeps them, about 7 days, hours before).
   */
  readHistory(from: Date, to: Date, scale: '1MIN' | '1H' | 'auto' = 'auto'): Promise<EnergyInterval[]> {
    const timeoutMs = Math.max(this.#device.timeout_ms, 10_000);
    return this.#account.readHistory(
      this.connection.device_gid,
      this.connection.channel,
      from,
      to,
      scale,
      timeoutMs,
    );
  }

  /**
   * The channel's history for a backfill (HistorySource): a local day of the range's zone at a
   * time, hours where the cloud keeps only hours and minutes where it keeps minutes (about 7
   * days), one batch per scale and day. Nothing after the last whole minute (the range ends at
   * the next midnight).
   */
  async *history(range: HistoryRange): AsyncGenerator<HistoryBatch> {
    const toMs = Math.min(range.toMs, Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS);
    for (let fromMs = range.fromMs; fromMs < toMs;) {
      const dayEndMs = Math.min(nextUnitStart(unitStart(fromMs, '1d', range.zone), '1d', range.zone), toMs);
      const intervals = await this.readHistory(new Date(fromMs), new Date(dayEndMs), 'auto');
      for (const [period, source, lengthMs] of HISTORY_SCALES) {
        const part = intervals
          .map((interval) => ({
            startMs: Date.parse(interval.start),
            endMs: Date.parse(interval.end),
            energyWh: interval.energy_wh,
          }))
          .filter((interval) => interval.endMs - interval.startMs === lengthMs);
        if (part.length > 0) yield { source, period, intervals: part };
      }
      fromMs = dayEndMs;
    }
  }

  async close(): Promise<void> {
    // The account is shared; the agent closes it with its other shared resources.
  }
}

export const emporiaDriver: DriverDefinition<typeof EmporiaConnectionSchema> = {
  type: 'emporia',
  optionsSchema: EmporiaConnectionSchema,
  create: (device, deps) => new EmporiaChannelDriver(device, deps),
};
