import { Type, type Static } from '@sinclair/typebox';
import { WattbusError } from '@wattbus/contracts';
import { createRequire } from 'node:module';
import type { ReadingLimits } from '@wattbus/contracts';
import { ratedLimits } from '../ratings.js';
import type { AnyDevice, Plug as PlugType } from 'tplink-smarthome-api';
import type {
  DeviceDriver,
  DriverDefinition,
  DriverDescription,
  DriverReading,
  DriverState,
} from '../driver.js';
import { classifyDeviceError, withTimeout } from '../errors.js';
import type { RegistryDevice } from '../registry-schema.js';
import { normalizeRealtime } from './emeter.js';

// The package is CommonJS with getter exports Node's ESM loader cannot see by name.
const { Client, Plug } = createRequire(import.meta.url)(
  'tplink-smarthome-api',
) as typeof import('tplink-smarthome-api');

export const TplinkConnectionSchema = Type.Object(
  {
    host: Type.String({ minLength: 1, maxLength: 253, description: 'IP address or host name of the plug.' }),
    port: Type.Integer({
      minimum: 1,
      maximum: 65535,
      default: 9999,
      description: 'TCP port (default 9999).',
    }),
  },
  { additionalProperties: false },
);
export type TplinkConnection = Static<typeof TplinkConnectionSchema>;

/** One read asks for relay state and emeter in one round trip. */
const READ_COMMAND = { system: { get_sysinfo: {} }, emeter: { get_realtime: {} } };

/** TP-Link Kasa plugs with energy metering (HS110, KP115) over their local TCP protocol (port 9999). */
export class TplinkDriver implements DeviceDriver {
  #device: RegistryDevice;
  #connection: TplinkConnection;
  #client: InstanceType<typeof Client>;
  #plug: PlugType | undefined;
  #where: string;

  constructor(device: RegistryDevice) {
    this.#device = device;
    this.#connection = device.connection as TplinkConnection;
    this.#where = `${device.id} (${this.#connection.host}:${this.#connection.port})`;
    // Every send has a deadline; TCP because UDP answers of HS110 are truncated for large payloads.
    this.#client = new Client({
      logLevel: 'silent',
      defaultSendOptions: { timeout: device.timeout_ms, transport: 'tcp' },
    });
  }

  async read(): Promise<DriverReading> {
    const response = (await this.#command(READ_COMMAND)) as {
      system?: { get_sysinfo?: { relay_state?: unknown } };
      emeter?: { get_realtime?: unknown };
    };
    const values = normalizeRealtime(response.emeter?.get_realtime, this.#where);
    const relay = response.system?.get_sysinfo?.relay_state;
    return { values: [values], ...(relay === 0 || relay === 1 ? { on: relay === 1 } : {}) };
  }

  async setPower(on: boolean): Promise<void> {
    await this.#guard(async () => {
      const plug = await this.#plugFor();
      await plug.setPowerState(on);
    });
  }

  async getState(): Promise<DriverState> {
    const sysinfo = (await this.#guard(async () => (await this.#plugFor()).getSysInfo())) as {
      relay_state?: unknown;
    };
    const relay = sysinfo.relay_state;
    if (relay !== 0 && relay !== 1) {
      throw new WattbusError('DEVICE_ERROR', `${this.#where} reported no relay state`);
    }
    return { on: relay === 1 };
  }

  async describe(): Promise<DriverDescription> {
    return this.#guard(async () => {
      const plug = await this.#plugFor();
      return {
        model: plug.model,
        details: {
          alias: plug.alias,
          mac: plug.mac,
          software: plug.softwareVersion,
          hardware: plug.hardwareVersion,
        },
      };
    });
  }

  /**
   * Kasa plugs with an energy meter (HS110, KP115) are rated 15 A (US) or 16 A (EU, UK): the larger,
   * at 230 V, whatever the model string says (simulators and re-flashed plugs report US models on
   * 230 V mains). 4600 W, 20 A, 299 V: the HS110 firmware's 23,456,789 W is far beyond.
   */
  limits(): ReadingLimits {
    return ratedLimits({ amps: 16, volts: 230 });
  }

  async close(): Promise<void> {
    this.#plug?.closeConnection();
    this.#plug = undefined;
  }

  async #command(command: Record<string, unknown>): Promise<unknown> {
    return this.#guard(async () => {
      const plug = await this.#plugFor();
      return plug.sendCommand(command);
    });
  }

  /** One deadline over the whole operation (the library's covers single sends), errors classified. */
  async #guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await withTimeout(work(), this.#device.timeout_ms, this.#where);
    } catch (error) {
      throw classifyDeviceError(error, this.#where);
    }
  }

  /** The library needs the sysinfo once to build its Plug; until the plug answered we ask again. */
  async #plugFor(): Promise<PlugType> {
    if (this.#plug) return this.#plug;
    const device: AnyDevice = await this.#client.getDevice({
      host: this.#connection.host,
      port: this.#connection.port,
    });
    if (!(device instanceof Plug)) {
      throw new WattbusError('DEVICE_ERROR', `${this.#where} is a ${device.deviceType}, not a plug`);
    }
    if (!device.supportsEmeter) {
      throw new WattbusError('DEVICE_ERROR', `${this.#where} (${device.model}) has no energy meter`);
    }
    this.#plug = device;
    return device;
  }
}

export const tplinkDriver: DriverDefinition<typeof TplinkConnectionSchema> = {
  type: 'tplink',
  optionsSchema: TplinkConnectionSchema,
  create: (device) => new TplinkDriver(device),
};
