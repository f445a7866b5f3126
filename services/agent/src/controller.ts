import type { Bus } from '@wattbus/bus';
import { WattbusError, type DeviceState } from '@wattbus/contracts';
import type { Logger } from 'pino';
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
}

/**
 * Serves `{base}/devices/{id}/req/{method}` for the devices of this agent: `set` switches through
 * the driver and reads the state back to confirm it, `get` reads it. Both go through the device's
 * session queue, so concurrent commands (and polls) reach a device one at a time, in arrival order.
 */
export class Controller {
  #sessions: Map<string, DeviceSession>;
  #publisher: DevicePublisher;
  #logger: Logger;
  #server: DeviceRequestServer;

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

  async #set(session: DeviceSession, on: boolean, deadline: number | undefined): Promise<DeviceState> {
    const confirmed = await session.run(async (driver) => {
      await driver.setPower(on);
      return driver.getState();
    }, deadline);
    session.lastOn = confirmed.on;
    const state = await this.#publisher.state(session.device, confirmed.on);
    if (confirmed.on !== on) {
      throw new WattbusError(
        'DEVICE_ERROR',
        `${session.id} did not switch ${on ? 'on' : 'off'}: it reports ${confirmed.on ? 'on' : 'off'}`,
        { state },
      );
    }
    this.#logger.info({ device: session.id, on }, 'switched');
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
