import type { Bus } from '@wattbus/bus';
import { WattbusError, type BackfillResult, type DeviceState } from '@wattbus/contracts';
import type { Logger } from 'pino';
import { backfill, backfillRange, historyOf, stepwise } from './backfill.js';
import { switchAndConfirm } from './confirm-switch.js';
import { DeviceRequestServer } from './device-requests.js';
import type { DeviceSession } from './device-session.js';
import type { DevicePublisher } from './publisher.js';

export interface ControllerOptions {
  /**
   * Also answer requests for devices this agent does not own, with UNKNOWN_DEVICE. Right only
   * when this is the one agent on the broker; with several agents each one would answer "unknown"
   * for the others' devices, and the requester would take the first answer.
   */
  answerUnknownDevices: boolean;
  /** The zone of the devices' calendars (`time_zone`): a backfill's days are local days there. */
  timeZone: string;
}

/**
 * Serves `{base}/devices/{id}/req/{method}` for the devices of this agent: `set` switches through
 * the driver and confirms from a fresh state read (switchAndConfirm), `get` reads it. Both go through the device's
 * session queue, so concurrent commands (and polls) reach a device one at a time, in arrival order.
 */
export class Controller {
  #sessions: Map<string, DeviceSession>;
  #publisher: DevicePublisher;
  #logger: Logger;
  #server: DeviceRequestServer;
  #bus: Bus;
  #timeZone: string;

  constructor(deps: {
    bus: Bus;
    sessions: Map<string, DeviceSession>;
    publisher: DevicePublisher;
    logger: Logger;
    options: ControllerOptions;
  }) {
    this.#sessions = deps.sessions;
    this.#publisher = deps.publisher;
    this.#logger = deps.logger;
    this.#bus = deps.bus;
    this.#timeZone = deps.options.timeZone;
    this.#server = new DeviceRequestServer({
      bus: deps.bus,
      ids: deps.options.answerUnknownDevices ? undefined : [...deps.sessions.keys()],
      owner: "this agent's registry",
      commandsOf: (id) => {
        const session = this.#sessions.get(id);
        if (!session) return undefined;
        return {
          set: (on, deadline) => this.#set(session, on, deadline),
          get: (deadline) => this.#get(session, deadline),
          backfill: (days, deadline) => this.#backfill(session, days, deadline),
        };
      },
    });
  }

  start(): Promise<void> {
    return this.#server.start();
  }

  stop(): Promise<void> {
    return this.#server.stop();
  }

  /** Starts answering for devices added to the sessions. */
  serveDevices(ids: readonly string[]): Promise<void> {
    return this.#server.serveDevices(ids);
  }

  /** Stops answering for a device taken out of the sessions. */
  forgetDevice(id: string): Promise<void> {
    return this.#server.forgetDevice(id);
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

  /**
   * Reads the device's history batch by batch, each device request in the session's queue (polls
   * go on in between), and publishes it for the storage hook.
   */
  async #backfill(
    session: DeviceSession,
    days: number,
    deadline: number | undefined,
  ): Promise<BackfillResult> {
    const range = backfillRange(days, this.#timeZone, Date.now());
    const batches = historyOf(session.driver, session.device, range);
    const bus = this.#bus;
    const result = await backfill(
      { topics: bus.topics, publish: (topic, history) => bus.publish(topic, history, { qos: 1 }) },
      session.id,
      range,
      stepwise(batches, (work) => this.#historyStep(session, work, deadline)),
    );
    this.#logger.info(
      { device: session.id, days, batches: result.batches, periods: result.periods },
      'backfilled',
    );
    return result;
  }

  /**
   * One step of a backfill in the device's queue. A device that keeps no history (or a bad zone)
   * is not a failing device: such an answer must not count toward taking it offline.
   */
  async #historyStep<T>(
    session: DeviceSession,
    work: () => Promise<T>,
    deadline: number | undefined,
  ): Promise<T> {
    const outcome = await session.run(async () => {
      try {
        return { value: await work() };
      } catch (error) {
        const code = error instanceof WattbusError ? error.code : undefined;
        if (code === 'NO_HISTORY' || code === 'INVALID_PARAMS') return { refused: error };
        throw error;
      }
    }, deadline);
    if ('refused' in outcome) throw outcome.refused;
    return outcome.value;
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
