import { Type } from '@sinclair/typebox';
import type { Bus, ServeContext, Subscription } from '@wattbus/bus';
import {
  DEVICE_METHODS,
  GetStateParamsSchema,
  SetPowerParamsSchema,
  WattbusError,
  validator,
  type DeviceState,
} from '@wattbus/contracts';
import type { DeviceLink } from './device-link.js';

const checkAnyParams = validator(Type.Record(Type.String(), Type.Unknown()));
const checkSet = validator(SetPowerParamsSchema);
const checkGet = validator(GetStateParamsSchema);

/**
 * Serves `{base}/devices/{id}/req/set` and `…/get` for the bridged devices, with the same
 * contract as the polling agent's controller: `set` answers with the state the device confirmed.
 */
export class BridgeController {
  #bus: Bus;
  #links: Map<string, DeviceLink>;
  #subscriptions: Subscription[] = [];

  constructor(deps: { bus: Bus; links: Map<string, DeviceLink> }) {
    this.#bus = deps.bus;
    this.#links = deps.links;
  }

  async start(): Promise<void> {
    const base = this.#bus.topics.base;
    this.#subscriptions = await Promise.all(
      [...this.#links.keys()].map((id) =>
        this.#bus.serve(`${base}/devices/${id}/req/+`, checkAnyParams, (params, context) =>
          this.#handle(params, context),
        ),
      ),
    );
  }

  async stop(): Promise<void> {
    const subscriptions = this.#subscriptions;
    this.#subscriptions = [];
    await Promise.allSettled(subscriptions.map((subscription) => subscription.unsubscribe()));
  }

  async #handle(params: Record<string, unknown>, context: ServeContext): Promise<DeviceState> {
    const [deviceId, , method] = context.topic.slice(`${this.#bus.topics.base}/devices/`.length).split('/');
    const link = deviceId === undefined ? undefined : this.#links.get(deviceId);
    if (!link) throw new WattbusError('UNKNOWN_DEVICE', `no device '${deviceId}' in this bridge's registry`);
    const deadline = context.envelope.deadline ? Date.parse(context.envelope.deadline) : undefined;
    if (method === DEVICE_METHODS.set) {
      if (!checkSet(params))
        throw new WattbusError('INVALID_PARAMS', `invalid params: ${checkSet.errorText()}`);
      return link.set(params.on, deadline);
    }
    if (method === DEVICE_METHODS.get) {
      if (!checkGet(params))
        throw new WattbusError('INVALID_PARAMS', `invalid params: ${checkGet.errorText()}`);
      return link.get(deadline);
    }
    throw new WattbusError('UNKNOWN_METHOD', `devices have no method '${method}'; use set or get`);
  }
}
