import { WattbusError } from '@wattbus/contracts';
import type {
  DeviceDriver,
  DriverDefinition,
  DriverDeps,
  DriverDescription,
  DriverReading,
  DriverState,
} from '../driver.js';
import type { RegistryDevice } from '../registry-schema.js';
import { channelKey, EmporiaAccount, powerWOf, type HistoryInterval } from './account.js';
import { EmporiaConnectionSchema, type EmporiaConnection } from './schemas.js';

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
  readHistory(from: Date, to: Date, scale: '1MIN' | '1H' | 'auto' = 'auto'): Promise<HistoryInterval[]> {
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

  async close(): Promise<void> {
    // The account is shared; the agent closes it with its other shared resources.
  }
}

export const emporiaDriver: DriverDefinition<typeof EmporiaConnectionSchema> = {
  type: 'emporia',
  optionsSchema: EmporiaConnectionSchema,
  create: (device, deps) => new EmporiaChannelDriver(device, deps),
};
