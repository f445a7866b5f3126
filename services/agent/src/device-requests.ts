import { Type } from '@sinclair/typebox';
import type { Bus, ServeContext, Subscription } from '@wattbus/bus';
import {
  BackfillParamsSchema,
  DEVICE_METHODS,
  GetStateParamsSchema,
  SetPowerParamsSchema,
  WattbusError,
  invalidParams,
  validator,
  type BackfillResult,
  type DeviceState,
} from '@wattbus/contracts';

const checkAnyParams = validator(Type.Record(Type.String(), Type.Unknown()));
const checkSet = validator(SetPowerParamsSchema);
const checkGet = validator(GetStateParamsSchema);
const checkBackfill = validator(BackfillParamsSchema);

/** What a device request reaches: switching and reading the relay, each bounded by the request's deadline (epoch ms). */
export interface DeviceCommands {
  set(on: boolean, deadline: number | undefined): Promise<DeviceState>;
  get(deadline: number | undefined): Promise<DeviceState>;
  /**
   * Reads the history the device keeps for the last `days` days and publishes it (backfill.ts);
   * absent where devices keep none (the bridge's): NO_HISTORY.
   */
  backfill?(days: number, deadline: number | undefined): Promise<BackfillResult>;
}

export interface DeviceRequestServerDeps {
  bus: Bus;
  /** The devices served; undefined serves every id (and answers UNKNOWN_DEVICE for the ones not known). */
  ids: readonly string[] | undefined;
  commandsOf: (deviceId: string) => DeviceCommands | undefined;
  /** Whose devices, for UNKNOWN_DEVICE: "this agent's registry". */
  owner: string;
}

/**
 * Serves `{base}/devices/{id}/req/{method}`: checks the method and its params against the
 * contract and hands `set`/`get`/`backfill` to the device's commands. Errors they throw become error
 * envelopes (bus.serve).
 */
export class DeviceRequestServer {
  #deps: DeviceRequestServerDeps;
  /** One subscription per device id, or one under `*` serving every id. */
  #subscriptions = new Map<string, Subscription>();

  constructor(deps: DeviceRequestServerDeps) {
    this.#deps = deps;
  }

  async start(): Promise<void> {
    const { bus, ids } = this.#deps;
    if (ids === undefined) await this.#serve('*', `${bus.topics.base}/devices/+/req/+`);
    else await this.serveDevices(ids);
  }

  /** Starts serving devices added since the start (a no-op when every id is served). */
  async serveDevices(ids: readonly string[]): Promise<void> {
    if (this.#deps.ids === undefined) return;
    const base = this.#deps.bus.topics.base;
    await Promise.all(ids.map((id) => this.#serve(id, `${base}/devices/${id}/req/+`)));
  }

  /** Stops serving a device that left. */
  async forgetDevice(id: string): Promise<void> {
    const subscription = this.#subscriptions.get(id);
    this.#subscriptions.delete(id);
    await subscription?.unsubscribe();
  }

  async stop(): Promise<void> {
    const subscriptions = [...this.#subscriptions.values()];
    this.#subscriptions.clear();
    await Promise.allSettled(subscriptions.map((subscription) => subscription.unsubscribe()));
  }

  async #serve(key: string, filter: string): Promise<void> {
    if (this.#subscriptions.has(key)) return;
    const subscription = await this.#deps.bus.serve(filter, checkAnyParams, (params, context) =>
      this.#handle(params, context),
    );
    this.#subscriptions.set(key, subscription);
  }

  async #handle(
    params: Record<string, unknown>,
    context: ServeContext,
  ): Promise<DeviceState | BackfillResult> {
    const { bus, commandsOf, owner } = this.#deps;
    const [deviceId, , method] = context.topic.slice(`${bus.topics.base}/devices/`.length).split('/');
    const commands = deviceId === undefined ? undefined : commandsOf(deviceId);
    if (!commands) {
      throw new WattbusError('UNKNOWN_DEVICE', `no device '${deviceId}' in ${owner}`, { device: deviceId });
    }
    const deadline = context.envelope.deadline ? Date.parse(context.envelope.deadline) : undefined;
    if (method === DEVICE_METHODS.set) {
      if (!checkSet(params)) throw invalidParams(checkSet);
      return commands.set(params.on, deadline);
    }
    if (method === DEVICE_METHODS.get) {
      if (!checkGet(params)) throw invalidParams(checkGet);
      return commands.get(deadline);
    }
    if (method === DEVICE_METHODS.backfill) {
      if (!checkBackfill(params)) throw invalidParams(checkBackfill);
      if (!commands.backfill)
        throw new WattbusError('NO_HISTORY', `${deviceId} keeps no history ${owner} can read`, {
          device: deviceId,
        });
      return commands.backfill(params.days, deadline);
    }
    throw new WattbusError('UNKNOWN_METHOD', `devices have no method '${method}'; use set, get or backfill`, {
      method,
      methods: Object.values(DEVICE_METHODS),
    });
  }
}
