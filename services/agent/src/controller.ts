import { Type } from '@sinclair/typebox';
import type { Bus, ServeContext, Subscription } from '@wattbus/bus';
import {
  GetStateParamsSchema,
  SetPowerParamsSchema,
  WattbusError,
  validator,
  type DeviceState,
} from '@wattbus/contracts';
import type { Logger } from 'pino';
import { switchAndConfirm } from './confirm-switch.js';
import type { DeviceSession } from './device-session.js';
import type { DevicePublisher } from './publisher.js';

const checkAnyParams = validator(Type.Record(Type.String(), Type.Unknown()));
const checkSet = validator(SetPowerParamsSchema);
const checkGet = validator(GetStateParamsSchema);

export interface ControllerOptions {
  /**
   * Also answer requests for devices this agent does not own, with UNKNOWN_DEVICE. Right only
   * when this is the one agent on the broker; with several agents each one would answer "unknown"
   * for the others' devices, and the requester would take the first answer.
   */
  answerUnknownDevices: boolean;
}

/**
 * Serves `{base}/devices/{id}/req/{method}` for the devices of this agent: `set` switches through
 * the driver and confirms from a fresh state read (switchAndConfirm), `get` reads it. Both go through the device's
 * session queue, so concurrent commands (and polls) reach a device one at a time, in arrival order.
 */
export class Controller {
  #bus: Bus;
  #sessions: Map<string, DeviceSession>;
  #publisher: DevicePublisher;
  #logger: Logger;
  #options: ControllerOptions;
  #subscriptions: Subscription[] = [];

  constructor(deps: {
    bus: Bus;
    sessions: Map<string, DeviceSession>;
    publisher: DevicePublisher;
    logger: Logger;
    options: ControllerOptions;
  }) {
    this.#bus = deps.bus;
    this.#sessions = deps.sessions;
    this.#publisher = deps.publisher;
    this.#logger = deps.logger;
    this.#options = deps.options;
  }

  async start(): Promise<void> {
    const base = this.#bus.topics.base;
    const filters = this.#options.answerUnknownDevices
      ? [`${base}/devices/+/req/+`]
      : [...this.#sessions.keys()].map((id) => `${base}/devices/${id}/req/+`);
    for (const filter of filters) {
      this.#subscriptions.push(
        await this.#bus.serve(filter, checkAnyParams, (params, context) => this.#handle(params, context)),
      );
    }
  }

  async stop(): Promise<void> {
    const subscriptions = this.#subscriptions;
    this.#subscriptions = [];
    await Promise.allSettled(subscriptions.map((subscription) => subscription.unsubscribe()));
  }

  async #handle(params: Record<string, unknown>, context: ServeContext): Promise<DeviceState> {
    const [deviceId, , method] = context.topic.slice(`${this.#bus.topics.base}/devices/`.length).split('/');
    const session = deviceId === undefined ? undefined : this.#sessions.get(deviceId);
    if (!session) {
      throw new WattbusError('UNKNOWN_DEVICE', `no device '${deviceId}' in this agent's registry`);
    }
    const deadline = context.envelope.deadline ? Date.parse(context.envelope.deadline) : undefined;
    if (method === 'set') {
      if (!checkSet(params))
        throw new WattbusError('INVALID_PARAMS', `invalid params: ${checkSet.errorText()}`);
      return this.#set(session, params.on, deadline);
    }
    if (method === 'get') {
      if (!checkGet(params))
        throw new WattbusError('INVALID_PARAMS', `invalid params: ${checkGet.errorText()}`);
      return this.#get(session, deadline);
    }
    throw new WattbusError('UNKNOWN_METHOD', `devices have no method '${method}'; use set or get`);
  }

  async #set(session: DeviceSession, on: boolean, deadline: number | undefined): Promise<DeviceState> {
    const outcome = await session.run((driver) => switchAndConfirm(driver, on), deadline);
    session.lastOn = outcome.on;
    const state = await this.#publisher.state(session.device, outcome.on);
    if (outcome.on !== on) {
      throw new WattbusError(
        'DEVICE_STATE_MISMATCH',
        `${session.id} did not switch ${on ? 'on' : 'off'}: read after the command, it reports ${outcome.on ? 'on' : 'off'}`,
        { state },
      );
    }
    const problem = outcome.commandLost ?? outcome.readBackFailed;
    if (problem) {
      this.#logger.warn(
        { device: session.id, on, code: problem.code, err: problem.message },
        outcome.commandLost
          ? 'switched: the command failed, but the state read afterwards shows it acted'
          : 'switched as the device acknowledged; reading the state back failed',
      );
    } else {
      this.#logger.info({ device: session.id, on }, 'switched');
    }
    return state;
  }

  async #get(session: DeviceSession, deadline: number | undefined): Promise<DeviceState> {
    const current = await session.run((driver) => driver.getState(), deadline);
    if (current.on !== session.lastOn) {
      session.lastOn = current.on;
      return this.#publisher.state(session.device, current.on);
    }
    return { on: current.on, ts: new Date().toISOString() };
  }
}
