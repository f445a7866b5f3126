import { createRequire } from 'node:module';
import type { ReadingValues } from '@wattbus/devices';
import { KasaEnergyLog } from './energy-log.js';

/**
 * The state and request handling of a Kasa device, from `tplink-smarthome-simulator` (its
 * command processor answers the whole Kasa "IOT" request set, strips' `context.child_ids`
 * included). The legacy plug serves it on TCP 9999-style ports (and UDP discovery), the KLAP
 * device over HTTP.
 */
export type SimulatorModule = typeof import('tplink-smarthome-simulator');
export type SimulatorDevice = InstanceType<SimulatorModule['Device']>;

/** hs110: v1 emeter fields (W, V, A, kWh); hs110v2: milli-units; hs300: six metered outlets (milli-units). */
export type KasaModel = 'hs110' | 'hs110v2' | 'hs300';

export interface Realtime {
  power: number;
  voltage: number;
  current: number;
  /** kWh, as v1 firmware reports it. */
  total: number;
}

interface Child {
  sysinfo: { id: string; state: number; alias: string };
  emeter: { realtime: Realtime };
}

export function newSimulatorDevice(options: { model: KasaModel; alias?: string }): SimulatorDevice {
  const { Device } = createRequire(import.meta.url)('tplink-smarthome-simulator') as SimulatorModule;
  // Only its command processor is used: SimulatedPlug and SimulatedKlapDevice do their own networking.
  return new Device({ model: options.model, ...(options.alias ? { alias: options.alias } : {}) });
}

export class KasaState {
  readonly model: KasaModel;
  readonly device: SimulatorDevice;
  /** The daily and monthly energy the plug remembers (`emeter.get_daystat`, `get_monthstat`). */
  readonly history: KasaEnergyLog;

  constructor(device: SimulatorDevice, model: KasaModel) {
    this.device = device;
    this.model = model;
    this.history = new KasaEnergyLog(model !== 'hs110');
    const emeter = (device.api as Record<string, Record<string, (args: unknown) => unknown>>).emeter;
    if (emeter) {
      emeter.get_daystat = (args) => this.history.daystat(args);
      emeter.get_monthstat = (args) => this.history.monthstat(args);
    }
  }

  /** Answers one request of the IOT request set (JSON text in, JSON text out). */
  process(request: string): string {
    return this.device.processMessage(request, (text: string) => Buffer.from(text)).response.toString('utf8');
  }

  /**
   * Answers a UDP discovery datagram's request (JSON text in), enciphered without length prefix as
   * plugs send it; a strip's outlets carry only the last two digits of their ids there.
   */
  processDiscovery(request: string): Buffer {
    return this.device.processUdpMessage(request).response;
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
   * The reading values a correct driver derives from the current emeter values: milli-unit
   * firmware floors, and the driver rounds to 6 decimals.
   */
  expected(): ReadingValues {
    return expectedOf(this.#realtime(), this.model !== 'hs110');
  }

  /** Outlets of a strip, in slot order. */
  get outlets(): number {
    return this.#children().length;
  }

  outletId(outlet: number): string {
    return this.#child(outlet).sysinfo.id;
  }

  outletOn(outlet: number): boolean {
    return this.#child(outlet).sysinfo.state === 1;
  }

  setOutletOn(outlet: number, on: boolean): void {
    this.#child(outlet).sysinfo.state = on ? 1 : 0;
  }

  setOutletRealtime(outlet: number, values: Partial<Realtime>): void {
    Object.assign(this.#child(outlet).emeter.realtime, values);
  }

  expectedOutlet(outlet: number): ReadingValues {
    return expectedOf(this.#child(outlet).emeter.realtime, true);
  }

  /** Keeps the first `count` outlets: a strip that lists fewer children than a registry names. */
  keepOutlets(count: number): void {
    const children = this.#childMap();
    for (const id of Object.keys(children).slice(count)) delete children[id];
  }

  #children(): Child[] {
    return Object.values(this.#childMap());
  }

  #childMap(): Record<string, Child> {
    return (this.device.data as unknown as { children?: Record<string, Child> }).children ?? {};
  }

  #child(outlet: number): Child {
    const child = this.#children()[outlet - 1];
    if (!child) throw new Error(`the simulated ${this.model} has no outlet ${outlet}`);
    return child;
  }

  #realtime(): Realtime {
    return (this.device.data as unknown as { emeter: { realtime: Realtime } }).emeter.realtime;
  }

  #sysinfo(): { relay_state?: number } {
    return this.device.data.system.sysinfo as { relay_state?: number };
  }
}

function expectedOf(realtime: Realtime, milliUnits: boolean): ReadingValues {
  if (milliUnits) {
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

function round6(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}
