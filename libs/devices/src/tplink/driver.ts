import { Type, type Static } from '@sinclair/typebox';
import { isTimeZone, WattbusError, type ReadingLimits } from '@wattbus/contracts';
import type {
  DeviceDriver,
  DriverDefinition,
  DriverDescription,
  DriverReading,
  DriverState,
} from '../driver.js';
import { classifyDeviceError, withTimeout } from '../errors.js';
import { ratedLimits } from '../ratings.js';
import type { HistoryBatch, HistoryRange } from '../history.js';
import type { RegistryDevice } from '../registry-schema.js';
import { credentialsOf } from './credentials.js';
import { klapHint } from './detect.js';
import { KasaRequests } from './kasa.js';
import { KlapNotSupported, KlapTransport } from './klap.js';
import type { OutletSelector, RequestSet } from './outlets.js';
import { PassthroughTransport } from './passthrough.js';
import { TapoRequests } from './tapo.js';
import { LegacyTransport } from './legacy.js';
import type { TplinkTransport } from './transport.js';

const EnvName = (what: string) =>
  Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: what });

export const TplinkConnectionSchema = Type.Object(
  {
    host: Type.String({ minLength: 1, maxLength: 253, description: 'IP address or host name of the plug.' }),
    port: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 65535,
        description: 'TCP port (default 9999 for legacy, 80 for klap and tapo).',
      }),
    ),
    protocol: Type.Optional(
      Type.Union([Type.Literal('legacy'), Type.Literal('klap'), Type.Literal('tapo')], {
        description:
          "legacy (default): Kasa's port-9999 protocol. klap: Kasa firmware that closed port 9999 (HTTP, KLAP, account needed). tapo: Tapo plugs and strips (KLAP, or securePassthrough on older firmware; account needed).",
      }),
    ),
    outlet: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 16,
        description: 'Outlet of a power strip, 1-based as printed on it.',
      }),
    ),
    child_id: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: 'Outlet of a power strip by the id the strip reports (full, or its last two digits).',
      }),
    ),
    username: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 256,
        description: 'TP-Link account (e-mail) for klap and tapo.',
      }),
    ),
    username_env: Type.Optional(EnvName('Environment variable holding the TP-Link account (e-mail).')),
    password_env: Type.Optional(EnvName('Environment variable holding the TP-Link account password.')),
    time_zone: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description:
          "IANA time zone the plug counts its days in (as set in the Kasa app), for its energy history; default: the agent's time_zone.",
      }),
    ),
    password_file: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 4096,
        description: 'File holding the TP-Link account password.',
      }),
    ),
  },
  {
    additionalProperties: false,
    allOf: [
      // The port's default depends on the protocol (ajv fills defaults from `then`/`else`).
      {
        if: { properties: { protocol: { enum: ['klap', 'tapo'] } }, required: ['protocol'] },
        then: { properties: { port: { default: 80 } } },
        else: { properties: { port: { default: 9999 } } },
      },
      { not: { required: ['outlet', 'child_id'] } },
      { not: { required: ['username', 'username_env'] } },
      { not: { required: ['password_env', 'password_file'] } },
    ],
  },
);
export type TplinkConnection = Static<typeof TplinkConnectionSchema>;

/**
 * TP-Link Kasa and Tapo plugs and power strips, one registry entry per plug or per outlet. The
 * entry's `protocol` picks transport and request set: legacy (Kasa on TCP 9999), klap (Kasa
 * request set over KLAP), tapo (SMART request set over KLAP, or securePassthrough when the
 * device has no KLAP endpoint). Every operation has the device's `timeout_ms` as its deadline.
 */
export class TplinkDriver implements DeviceDriver {
  #device: RegistryDevice;
  #connection: TplinkConnection;
  #where: string;
  #transport: TplinkTransport;
  #requests: RequestSet;
  /** Said once per run of refusals, so a closed port 9999 is probed on port 80 only once. */
  #hint: Promise<string | undefined> | undefined;

  constructor(device: RegistryDevice) {
    this.#device = device;
    this.#connection = device.connection as TplinkConnection;
    const { host, outlet, child_id } = this.#connection;
    const protocol = this.#connection.protocol ?? 'legacy';
    // Filled in by the registry; a driver built by hand gets the same default.
    const port = this.#connection.port ?? (protocol === 'legacy' ? 9999 : 80);
    const outletNote =
      outlet !== undefined ? ` outlet ${outlet}` : child_id !== undefined ? ` outlet ${child_id}` : '';
    this.#where = `${device.id} (${host}:${port}${outletNote})`;
    const selector: OutletSelector | undefined =
      outlet !== undefined || child_id !== undefined ? { outlet, child_id } : undefined;
    const common = { host, port, where: this.#where, timeoutMs: device.timeout_ms };
    const credentials = () => credentialsOf(this.#connection, this.#where);
    if (protocol === 'legacy') {
      this.#transport = new LegacyTransport(common);
      this.#requests = new KasaRequests(this.#transport, this.#where, selector);
    } else if (protocol === 'klap') {
      this.#transport = new KlapTransport({ ...common, credentials, preferredVersion: 1 });
      this.#requests = new KasaRequests(this.#transport, this.#where, selector);
    } else {
      this.#transport = new TapoTransport({ ...common, credentials });
      this.#requests = new TapoRequests(this.#transport, this.#where, selector);
    }
  }

  read(): Promise<DriverReading> {
    return this.#guard(() => this.#requests.read());
  }

  setPower(on: boolean): Promise<void> {
    return this.#guard(() => this.#requests.setPower(on));
  }

  getState(): Promise<DriverState> {
    return this.#guard(() => this.#requests.getState());
  }

  describe(): Promise<DriverDescription> {
    return this.#guard(() => this.#requests.describe());
  }

  /**
   * Daily and monthly energy in the plug's calendar (Kasa request set, legacy and KLAP). The zone
   * is the entry's `time_zone` (the plug's, as set in the Kasa app) or else the range's.
   */
  async *history(range: HistoryRange): AsyncGenerator<HistoryBatch> {
    const history = this.#requests.history?.bind(this.#requests);
    if (!history) {
      throw new WattbusError(
        'NO_HISTORY',
        `${this.#where}: the energy history of Tapo plugs (get_energy_data) is not read yet; Kasa plugs (legacy, klap) have it`,
      );
    }
    const zone = this.#connection.time_zone ?? range.zone;
    if (!isTimeZone(zone)) {
      throw new WattbusError(
        'INVALID_PARAMS',
        `${this.#where}: time_zone ${JSON.stringify(zone)} is not an IANA time zone`,
      );
    }
    yield* history({ ...range, zone }, (work) => this.#guard(work));
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
    this.#transport.close();
  }

  /** One deadline over the whole operation, errors classified; a refused legacy port says what to do. */
  async #guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      const result = await withTimeout(work(), this.#device.timeout_ms, this.#where);
      this.#hint = undefined;
      return result;
    } catch (error) {
      const classified = classifyDeviceError(error, this.#where);
      if (classified.details && (classified.details as { cause?: unknown }).cause === 'ECONNREFUSED') {
        const hint = await this.#klapHint();
        if (hint)
          throw new WattbusError('DEVICE_UNREACHABLE', `${classified.message}; ${hint}`, classified.details);
      }
      throw classified;
    }
  }

  #klapHint(): Promise<string | undefined> {
    if ((this.#connection.protocol ?? 'legacy') !== 'legacy') return Promise.resolve(undefined);
    this.#hint ??= klapHint(this.#connection.host, Math.min(this.#device.timeout_ms, 2000));
    return this.#hint;
  }
}

/** Tapo: KLAP first; a device without the KLAP endpoint (older firmware) gets securePassthrough from then on. */
class TapoTransport implements TplinkTransport {
  #current: TplinkTransport;
  #fallback: (() => TplinkTransport) | undefined;

  constructor(options: ConstructorParameters<typeof PassthroughTransport>[0]) {
    this.#current = new KlapTransport({ ...options, preferredVersion: 2 });
    this.#fallback = () => new PassthroughTransport(options);
  }

  async send(request: Record<string, unknown>): Promise<unknown> {
    try {
      return await this.#current.send(request);
    } catch (error) {
      if (!(error instanceof KlapNotSupported) || !this.#fallback) throw error;
      this.#current = this.#fallback();
      this.#fallback = undefined;
      return this.#current.send(request);
    }
  }

  close(): void {
    this.#current.close();
  }
}

export const tplinkDriver: DriverDefinition<typeof TplinkConnectionSchema> = {
  type: 'tplink',
  optionsSchema: TplinkConnectionSchema,
  create: (device) => new TplinkDriver(device),
};
