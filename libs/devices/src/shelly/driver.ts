import { WattbusError, type ReadingLimits } from '@wattbus/contracts';
import { ratedLimits } from '../ratings.js';
import type { Logger } from 'pino';
import type {
  DeviceDriver,
  DriverDefinition,
  DriverDeps,
  DriverDescription,
  DriverReading,
  DriverState,
} from '../driver.js';
import type { RegistryDevice } from '../registry-schema.js';
import {
  checked,
  gen1EmeterSample,
  gen1SwitchSample,
  gen2Em1Sample,
  gen2EmSample,
  gen2SwitchOn,
  gen2SwitchSample,
} from './convert.js';
import { HostQueue } from './host-queue.js';
import { ShellyHttp, type ShellyAuthScheme } from './http.js';
import {
  Gen1InfoSchema,
  Gen1RelaySchema,
  Gen2DeviceStatusSchema,
  Gen2InfoSchema,
  Gen2SwitchSetSchema,
  ShellyConnectionSchema,
  type ShellyConnection,
} from './schemas.js';

/** What the driver learnt (or was told) about the device: which API and which component. */
export interface ShellyProfile {
  generation: 1 | 2;
  component: 'switch' | 'em' | 'em1';
  /**
   * The relay `set` and `get` drive: the entry's own switch, the contactor relay 0 of a Gen1
   * EM/3EM or of a Pro EM (em1 entries), none on a Pro 3EM.
   */
  relay: number | undefined;
  description: DriverDescription;
}

/**
 * Shelly plugs, relays and energy meters over their local HTTP APIs: Gen1 (`/status`,
 * `/relay/N`, Basic auth) and Gen2+ RPC (`/rpc/Switch.*`, `/rpc/EM*.GetStatus`, SHA-256 Digest
 * auth). Generation and component come from the registry or are asked once (`/shelly`, then
 * `Shelly.GetStatus` on Gen2+). Every operation has one deadline (`timeout_ms`) over all its
 * requests, every answer is checked against a schema.
 */
export class ShellyDriver implements DeviceDriver {
  #device: RegistryDevice;
  #connection: ShellyConnection;
  #logger: Logger;
  #http: ShellyHttp;
  #queue: HostQueue;
  #where: string;
  #profile: ShellyProfile | undefined;
  #lastProblem: string | undefined;
  #closed = false;
  #passwordProblem: string | undefined;

  constructor(device: RegistryDevice, deps: DriverDeps) {
    this.#device = device;
    this.#connection = device.connection as ShellyConnection;
    this.#logger = deps.logger;
    const { host, port, channel } = this.#connection;
    this.#where = `${device.id} (shelly ${host}:${port}${channel ? ` channel ${channel}` : ''})`;
    const { password, problem } = passwordOf(this.#connection);
    this.#passwordProblem = problem;
    this.#http = new ShellyHttp({
      host,
      port,
      where: this.#where,
      ...(password !== undefined ? { credentials: { username: this.#connection.username, password } } : {}),
    });
    this.#queue = deps.shared.use(`shelly:${host}:${port}`, () => new HostQueue());
  }

  /** The profile once detected (or configured); undefined before the first successful operation. */
  get profile(): ShellyProfile | undefined {
    return this.#profile;
  }

  async read(): Promise<DriverReading> {
    return this.#operation(async (signal) => {
      const profile = await this.#detect(signal);
      const channel = this.#connection.channel;
      if (profile.generation === 1) {
        const status = await this.#get('/status', signal);
        return profile.component === 'em'
          ? gen1EmeterSample(status, channel, this.#where)
          : gen1SwitchSample(status, channel, this.#where);
      }
      if (profile.component === 'em') {
        const status = await this.#get(`/rpc/EM.GetStatus?id=${channel}`, signal).catch(notEm1);
        const data = await this.#get(`/rpc/EMData.GetStatus?id=${channel}`, signal);
        return gen2EmSample(status, data, channel, this.#where);
      }
      if (profile.component === 'em1') {
        const status = await this.#get(`/rpc/EM1.GetStatus?id=${channel}`, signal);
        const data = await this.#get(`/rpc/EM1Data.GetStatus?id=${channel}`, signal);
        return gen2Em1Sample(status, data, channel, this.#where);
      }
      return gen2SwitchSample(
        await this.#get(`/rpc/Switch.GetStatus?id=${channel}`, signal),
        channel,
        this.#where,
      );
    });
  }

  /** Switches and confirms: Gen1 answers with the relay after switching, Gen2+ is asked again. */
  async setPower(on: boolean): Promise<void> {
    await this.#operation(async (signal) => {
      const profile = await this.#detect(signal);
      const relay = this.#relayOf(profile);
      let now: boolean;
      if (profile.generation === 1) {
        const answer = await this.#get(`/relay/${relay}?turn=${on ? 'on' : 'off'}`, signal);
        now = checked(Gen1RelaySchema, answer, this.#where, `GET /relay/${relay}?turn=…`).ison;
      } else {
        const answer = await this.#get(`/rpc/Switch.Set?id=${relay}&on=${on}`, signal);
        checked(Gen2SwitchSetSchema, answer, this.#where, `Switch.Set id=${relay}`);
        now = gen2SwitchOn(await this.#get(`/rpc/Switch.GetStatus?id=${relay}`, signal), relay, this.#where);
      }
      if (now !== on) {
        throw new WattbusError(
          'DEVICE_ERROR',
          `${this.#where} is still ${now ? 'on' : 'off'} after switching it ${on ? 'on' : 'off'}`,
        );
      }
    });
  }

  async getState(): Promise<DriverState> {
    return this.#operation(async (signal) => {
      const profile = await this.#detect(signal);
      const relay = this.#relayOf(profile);
      if (profile.generation === 1) {
        const answer = await this.#get(`/relay/${relay}`, signal);
        return { on: checked(Gen1RelaySchema, answer, this.#where, `GET /relay/${relay}`).ison };
      }
      return {
        on: gen2SwitchOn(await this.#get(`/rpc/Switch.GetStatus?id=${relay}`, signal), relay, this.#where),
      };
    });
  }

  async describe(): Promise<DriverDescription> {
    return this.#operation(async (signal) => {
      const profile = await this.#detect(signal);
      // A profile set in the registry skipped /shelly; ask it now, once, for the model.
      if (profile.description.model === undefined) {
        profile.description = describeInfo(await this.#http.getJson('/shelly', 'basic', signal), this.#where);
      }
      return profile.description;
    });
  }

  async close(): Promise<void> {
    // fetch keeps no per-driver sockets worth closing: the global pool reuses and expires them.
    this.#closed = true;
  }

  /** One deadline over the whole operation, one request at a time per host, problems logged once. */
  async #operation<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.#closed) throw new WattbusError('DEVICE_ERROR', `${this.#where}: driver is closed`);
    const signal = AbortSignal.timeout(this.#device.timeout_ms);
    try {
      // Not thrown by create(): one misconfigured device must not stop the agent.
      if (this.#passwordProblem)
        throw new WattbusError('DEVICE_AUTH_FAILED', `${this.#where}: ${this.#passwordProblem}`);
      const result = await this.#queue.run(() => work(signal), signal, this.#where);
      if (this.#lastProblem !== undefined) {
        this.#logger.info({ device: this.#device.id }, 'shelly answers again');
        this.#lastProblem = undefined;
      }
      return result;
    } catch (error) {
      const failure =
        error instanceof WattbusError
          ? error
          : new WattbusError('DEVICE_ERROR', `${this.#where}: ${String(error)}`);
      this.#noteProblem(failure);
      throw failure;
    }
  }

  /** A device that answers, but wrongly, is logged at warn once per distinct problem (not every poll). */
  #noteProblem(error: WattbusError): void {
    if (error.code === 'DEVICE_ERROR' || error.code === 'DEVICE_AUTH_FAILED') {
      // A changed answer may be a replaced device or new firmware: detect again next time.
      if (error.code === 'DEVICE_ERROR' && this.#connection.generation === 'auto') this.#profile = undefined;
      if (error.message !== this.#lastProblem) {
        this.#logger.warn(
          { device: this.#device.id, code: error.code, err: error.message },
          'shelly answer refused',
        );
      }
    }
    this.#lastProblem = error.message;
  }

  /**
   * Shelly plugs and relays switch at most 16 A; its energy meters (EM, 3EM, Pro 3EM) read clamps
   * of up to 120 A on up to three phases. Until the component is known, the meter's.
   */
  limits(): ReadingLimits {
    return this.#profile?.component === 'switch'
      ? ratedLimits({ amps: 16, volts: 230 })
      : ratedLimits({ amps: 120, volts: 230, phases: 3 });
  }

  #get(path: string, signal: AbortSignal): Promise<unknown> {
    const scheme: ShellyAuthScheme = this.#profile?.generation === 2 ? 'digest' : 'basic';
    return this.#http.getJson(path, scheme, signal);
  }

  #relayOf(profile: ShellyProfile): number {
    if (profile.relay === undefined) {
      throw new WattbusError(
        'DEVICE_ERROR',
        `${this.#where} (${profile.description.model ?? 'energy meter'}) has no relay to switch`,
      );
    }
    return profile.relay;
  }

  async #detect(signal: AbortSignal): Promise<ShellyProfile> {
    if (this.#profile) return this.#profile;
    const { generation, component, channel } = this.#connection;
    if (generation !== 'auto' && component !== 'auto') {
      this.#profile = {
        generation,
        component,
        relay: relayOf(generation, component, channel),
        description: {},
      };
      return this.#profile;
    }
    // /shelly needs no auth on either generation.
    const info = await this.#http.getJson('/shelly', 'basic', signal);
    const isGen2 = typeof info === 'object' && info !== null && 'gen' in info;
    if (generation === 1 || (generation === 'auto' && !isGen2)) {
      const gen1 = checked(Gen1InfoSchema, info, this.#where, 'GET /shelly');
      const found = component !== 'auto' ? component : (gen1.num_emeters ?? 0) > 0 ? 'em' : 'switch';
      this.#profile = {
        generation: 1,
        component: found,
        relay: relayOf(1, found, channel),
        description: describeInfo(gen1, this.#where),
      };
      return this.#profile;
    }
    const gen2 = checked(Gen2InfoSchema, info, this.#where, 'GET /shelly');
    const description = describeInfo(gen2, this.#where);
    if (component !== 'auto') {
      this.#profile = { generation: 2, component, relay: relayOf(2, component, channel), description };
      return this.#profile;
    }
    const status = checked(
      Gen2DeviceStatusSchema,
      await this.#http.getJson('/rpc/Shelly.GetStatus', 'digest', signal),
      this.#where,
      'Shelly.GetStatus',
    );
    const found = gen2ComponentOf(status, channel, this.#where);
    // A Pro EM's contactor is switch:0; a Pro 3EM in monophase profile has none.
    const relay = found === 'em1' ? ('switch:0' in status ? 0 : undefined) : relayOf(2, found, channel);
    this.#profile = { generation: 2, component: found, relay, description };
    return this.#profile;
  }
}

/**
 * The component an entry reads, from the keys of Gen2's `Shelly.GetStatus`. Meters first: a Pro
 * EM has `switch:0` (its contactor, without a meter) next to `em1:0` and `em1:1`, and its
 * channel 0 is the meter. Components WattBus does not read (`pm1`, `cover`, `light`…) are named
 * in the error.
 */
function gen2ComponentOf(
  status: Record<string, unknown>,
  channel: number,
  where: string,
): 'switch' | 'em' | 'em1' {
  for (const component of ['em', 'em1', 'switch'] as const) {
    if (`${component}:${channel}` in status) return component;
  }
  const components =
    Object.keys(status)
      .filter((key) => key.includes(':'))
      .join(', ') || 'none';
  throw new WattbusError(
    'DEVICE_ERROR',
    `${where} has none of switch:${channel}, em:${channel}, em1:${channel} (components: ${components})`,
  );
}

/**
 * The relay of an entry when the device was not asked: a switch entry's own, the contactor 0 of a
 * Gen1 EM/3EM, the Pro EM's switch:0 for em1 entries (a Pro 3EM in monophase profile then answers
 * that it has none), none on a Pro 3EM.
 */
function relayOf(
  generation: 1 | 2,
  component: ShellyProfile['component'],
  channel: number,
): number | undefined {
  if (component === 'switch') return channel;
  if (component === 'em' && generation === 2) return undefined;
  return 0;
}

/** A configured `component: em` on a device whose meters are em1 (Pro EM, Pro 3EM in monophase profile). */
function notEm1(error: unknown): never {
  if (error instanceof WattbusError && (error.details as { status?: number } | undefined)?.status === 404) {
    throw new WattbusError(
      error.code,
      `${error.message} — the device has no EM component; a Pro EM or a Pro 3EM in its monophase profile has em1 channels: set component: em1 (or auto)`,
      error.details,
    );
  }
  throw error;
}

/** The password from the entry or its `password_env` variable; a missing variable is a problem every operation reports. */
function passwordOf(connection: ShellyConnection): { password?: string; problem?: string } {
  if (connection.password !== undefined) return { password: connection.password };
  if (connection.password_env === undefined) return {};
  const value = process.env[connection.password_env];
  if (value === undefined || value === '') {
    return { problem: `environment variable ${connection.password_env} (password_env) is not set` };
  }
  return { password: value };
}

/** Model and details from a `/shelly` answer of either generation. */
function describeInfo(info: unknown, where: string): DriverDescription {
  if (typeof info === 'object' && info !== null && 'gen' in info) {
    const gen2 = checked(Gen2InfoSchema, info, where, 'GET /shelly');
    return {
      model: gen2.model,
      details: stringsOf({
        id: gen2.id,
        mac: gen2.mac,
        firmware: gen2.ver,
        app: gen2.app,
        generation: String(gen2.gen),
      }),
    };
  }
  const gen1 = checked(Gen1InfoSchema, info, where, 'GET /shelly');
  return { model: gen1.type, details: stringsOf({ mac: gen1.mac, firmware: gen1.fw }) };
}

function stringsOf(values: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(values).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}

export const shellyDriver: DriverDefinition<typeof ShellyConnectionSchema> = {
  type: 'shelly',
  optionsSchema: ShellyConnectionSchema,
  create: (device, deps) => new ShellyDriver(device, deps),
};
