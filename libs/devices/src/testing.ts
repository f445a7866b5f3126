import { createRequire } from 'node:module';
import type { ReadingValues } from './driver.js';

/**
 * A TP-Link plug simulated by `tplink-smarthome-simulator` on a free loopback port, for tests of
 * this library and of the agents. Only import it from tests: the simulator is a dev dependency.
 */
type SimulatorModule = typeof import('tplink-smarthome-simulator');
type SimulatorDevice = InstanceType<SimulatorModule['Device']>;

export type SimulatedModel = 'hs110' | 'hs110v2';

export interface Realtime {
  power: number;
  voltage: number;
  current: number;
  /** kWh, as v1 firmware reports it. */
  total: number;
}

export interface SimulatedPlugOptions {
  model?: SimulatedModel;
  /** Delay before every answer, in ms. */
  responseDelay?: number;
  realtime?: Partial<Realtime>;
  alias?: string;
}

export class SimulatedPlug {
  readonly model: SimulatedModel;
  readonly host = '127.0.0.1';
  /** Requests received (TCP and UDP). */
  requests = 0;
  /** Most requests the plug was answering at the same time. */
  maxInFlight = 0;
  #device: SimulatorDevice;
  #inFlight = 0;
  #running = false;

  private constructor(device: SimulatorDevice, model: SimulatedModel) {
    this.#device = device;
    this.model = model;
    const networking = device.deviceNetworking;
    networking.on('data', () => {
      this.requests++;
      this.#inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.#inFlight);
    });
    networking.on('response', () => {
      this.#inFlight--;
    });
    // The simulator emits socket errors (a client giving up) as events; they are not test failures.
    networking.on('error', () => undefined);
  }

  static async start(options: SimulatedPlugOptions = {}): Promise<SimulatedPlug> {
    const { Device } = createRequire(import.meta.url)('tplink-smarthome-simulator') as SimulatorModule;
    const model = options.model ?? 'hs110';
    // The simulator takes a free UDP port and then the same TCP port, which another process may
    // hold on a busy machine: then it tries again with a fresh port.
    for (let attempt = 1; ; attempt++) {
      const device = new Device({
        model,
        port: 0,
        address: '127.0.0.1',
        responseDelay: options.responseDelay ?? 0,
        ...(options.alias ? { alias: options.alias } : {}),
      });
      const plug = new SimulatedPlug(device, model);
      if (options.realtime) plug.setRealtime(options.realtime);
      try {
        await plug.start();
        return plug;
      } catch (error) {
        await device.stop().catch(() => undefined);
        if ((error as { code?: string }).code !== 'EADDRINUSE' || attempt >= 10) throw error;
      }
    }
  }

  get port(): number {
    return this.#device.port;
  }

  get running(): boolean {
    return this.#running;
  }

  /** (Re)starts listening on the same port. */
  async start(): Promise<void> {
    if (this.#running) return;
    await this.#device.start();
    this.#running = true;
  }

  /**
   * Stops listening: the plug becomes unreachable (connection refused). Answers already being
   * prepared go out first: the simulator would otherwise send them on a closed UDP socket and
   * throw outside any promise we hold.
   */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    await this.#drained(2000 + this.#device.deviceNetworking.responseDelay);
    await this.#device.stop();
  }

  #drained(timeoutMs: number): Promise<void> {
    if (this.#inFlight <= 0) return Promise.resolve();
    const networking = this.#device.deviceNetworking;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        networking.off('response', check);
        resolve();
      };
      // The 'response' listener of the constructor runs first and lowers the count.
      const check = () => {
        if (this.#inFlight <= 0) done();
      };
      const timer = setTimeout(done, timeoutMs);
      networking.on('response', check);
    });
  }

  /** Calls `listener` after every answer the plug sends (e.g. to follow a relay change at once). */
  onResponse(listener: () => void): void {
    this.#device.deviceNetworking.on('response', listener);
  }

  set responseDelay(ms: number) {
    this.#device.deviceNetworking.responseDelay = ms;
  }

  get relayOn(): boolean {
    return this.#sysinfo().relay_state === 1;
  }

  set relayOn(on: boolean) {
    this.#sysinfo().relay_state = on ? 1 : 0;
  }

  setRealtime(values: Partial<Realtime>): void {
    Object.assign(this.#realtime(), values);
  }

  /**
   * The reading values a correct driver derives from the current emeter values: v2 firmware
   * floors to milli-units, and the driver rounds to 6 decimals.
   */
  expected(): ReadingValues {
    const realtime = this.#realtime();
    if (this.model === 'hs110v2') {
      return {
        power_w: Math.floor(realtime.power * 1000) / 1000,
        voltage_v: Math.floor(realtime.voltage * 1000) / 1000,
        current_a: Math.floor(realtime.current * 1000) / 1000,
        energy_wh: Math.floor(realtime.total * 1000),
      };
    }
    return {
      power_w: round6(realtime.power),
      voltage_v: round6(realtime.voltage),
      current_a: round6(realtime.current),
      energy_wh: round6(realtime.total * 1000),
    };
  }

  #realtime(): Realtime {
    return (this.#device.data as unknown as { emeter: { realtime: Realtime } }).emeter.realtime;
  }

  #sysinfo(): { relay_state?: number } {
    return this.#device.data.system.sysinfo as { relay_state?: number };
  }
}

function round6(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}
export { SimulatedMeters, type SimulatedServer } from './modbus/simulator.js';
