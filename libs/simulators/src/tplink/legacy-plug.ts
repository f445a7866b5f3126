import type { ReadingValues } from '@wattbus/devices';
import {
  KasaState,
  newSimulatorDevice,
  type KasaModel,
  type Realtime,
  type SimulatorDevice,
} from './kasa-model.js';

/**
 * A TP-Link Kasa plug or strip simulated by `tplink-smarthome-simulator` on a free loopback
 * port, speaking the legacy port-9999 protocol, for tests of the driver library, of the agents
 * and for the embedded demo.
 */
export type SimulatedModel = KasaModel;
export type { Realtime };

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
  /** The plug's state: relay, emeter, outlets of a strip. */
  readonly kasa: KasaState;
  #device: SimulatorDevice;
  #inFlight = 0;
  #running = false;

  private constructor(device: SimulatorDevice, model: SimulatedModel) {
    this.#device = device;
    this.model = model;
    this.kasa = new KasaState(device, model);
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
    const model = options.model ?? 'hs110';
    // The simulator takes a free UDP port and then the same TCP port, which another process may
    // hold on a busy machine: then it tries again with a fresh port.
    for (let attempt = 1; ; attempt++) {
      const device = newSimulatorDevice({
        model,
        responseDelay: options.responseDelay,
        alias: options.alias,
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
    return this.kasa.relayOn;
  }

  set relayOn(on: boolean) {
    this.kasa.relayOn = on;
  }

  setRealtime(values: Partial<Realtime>): void {
    this.kasa.setRealtime(values);
  }

  /** The reading values a correct driver derives from the current emeter values. */
  expected(): ReadingValues {
    return this.kasa.expected();
  }
}
