import { loadProfile, type MeterProfile } from '@wattbus/devices';
import { localTime } from '@wattbus/contracts';
import { SimulatedMeters, SimulatedPlug, SimulatedShelly, type SimulatedServer } from '@wattbus/simulators';

/** What a simulated plug powers, with its typical load in watts. */
const PROFILES = [
  {
    id: 'desk-1',
    name: 'Desk 1 (laptop, screens)',
    kind: 'workplace',
    location: 'hq/floor-1/room-101/desk-1',
    base_w: 85,
  },
  {
    id: 'desk-2',
    name: 'Desk 2 (workstation)',
    kind: 'workplace',
    location: 'hq/floor-1/room-101/desk-2',
    base_w: 140,
  },
  {
    id: 'printer-1',
    name: 'Printer floor 1',
    kind: 'printer',
    location: 'hq/floor-1/print-room',
    base_w: 25,
  },
  {
    id: 'meeting-201',
    name: 'Meeting room 201 display',
    kind: 'meeting-room',
    location: 'hq/floor-2/room-201',
    base_w: 110,
  },
  {
    id: 'kitchen-fridge',
    name: 'Kitchen fridge',
    kind: 'appliance',
    location: 'hq/floor-2/kitchen',
    base_w: 60,
  },
  {
    id: 'coffee-machine',
    name: 'Coffee machine',
    kind: 'appliance',
    location: 'hq/floor-2/kitchen',
    base_w: 900,
  },
  { id: 'desk-3', name: 'Desk 3', kind: 'workplace', location: 'hq/floor-2/room-214/desk-3', base_w: 70 },
  { id: 'server-rack', name: 'Server rack', kind: 'appliance', location: 'hq/basement', base_w: 450 },
] as const;

export interface SimulatedDevice {
  id: string;
  name: string;
  kind: string;
  location: string;
  type: 'tplink' | 'shelly' | 'modbus';
  port: number;
  model: string;
}

/**
 * 60 days of daily energy in the plug's memory, as a plug in use for a while has: its base load
 * for most of each day, a little more on weekdays, so `wattbus-agent backfill` has something to read.
 */
function rememberDays(plug: SimulatedPlug, baseW: number, zone: string): void {
  const today = localTime(Date.now(), zone);
  for (let n = 0; n < 60; n++) {
    const day = new Date(Date.UTC(today.year, today.month - 1, today.day - n));
    const weekday = day.getUTCDay() !== 0 && day.getUTCDay() !== 6;
    const wh = Math.round(baseW * (weekday ? 14 : 9) + (n % 5) * 10);
    plug.kasa.history.setDay(day.getUTCFullYear(), day.getUTCMonth() + 1, day.getUTCDate(), wh);
  }
}

/**
 * A fleet of simulated devices on loopback with loads that change over time: TP-Link plugs on
 * tplink-smarthome-simulator (both firmware styles), a Shelly Plus Plug S and a 3-phase Eastron
 * SDM630 meter on Modbus TCP (the building's main meter).
 */
export class SimulatedFleet {
  #plugCount: number;
  #plugs: { plug: SimulatedPlug; baseW: number; energyKwh: number }[] = [];
  #shelly: SimulatedShelly | undefined;
  #meters = new SimulatedMeters();
  #meterProfile: MeterProfile | undefined;
  #meterServer: SimulatedServer | undefined;
  #meterEnergyWh = [1_200_000, 1_350_000, 980_000];
  #timer: NodeJS.Timeout | undefined;
  readonly devices: SimulatedDevice[] = [];

  #timeZone: string;

  /** `timeZone`: the plugs' calendar, for the daily energy they remember (a backfill reads it). */
  constructor(deps: { plugCount: number; timeZone?: string }) {
    this.#plugCount = Math.min(deps.plugCount, PROFILES.length);
    this.#timeZone = deps.timeZone ?? 'UTC';
  }

  /** The TP-Link plug behind a device id, so tests and demos can look at its relay. */
  plug(id: string): SimulatedPlug | undefined {
    const index = this.devices.findIndex((device) => device.id === id && device.type === 'tplink');
    return index === -1 ? undefined : this.#plugs[index]?.plug;
  }

  async start(): Promise<void> {
    for (const [index, profile] of PROFILES.slice(0, this.#plugCount).entries()) {
      const model = index % 2 === 0 ? 'hs110' : 'hs110v2';
      const plug = await SimulatedPlug.start({ model, alias: profile.name });
      plug.relayOn = true;
      // A real plug reads ~0 W as soon as its relay opens, not at the next load change.
      plug.onResponse(() => {
        if (!plug.relayOn) plug.setRealtime({ power: 0, current: 0 });
      });
      rememberDays(plug, profile.base_w, this.#timeZone);
      this.#plugs.push({ plug, baseW: profile.base_w, energyKwh: 10 + index * 3.5 });
      this.devices.push({ ...profile, type: 'tplink', port: plug.port, model });
    }
    this.#shelly = await SimulatedShelly.start({
      model: 'plus-plug-s',
      accumulate: true,
      relayOn: true,
      meter: { power_w: 35, voltage_v: 230.5, current_a: 0.16 },
    });
    this.devices.push({
      id: 'tv-corner',
      name: 'Lounge TV (Shelly Plus Plug S)',
      kind: 'appliance',
      location: 'hq/floor-2/lounge',
      type: 'shelly',
      port: this.#shelly.port,
      model: 'plus-plug-s',
    });
    this.#meterProfile = loadProfile('eastron-sdm630');
    this.#varyMeter();
    this.#meterServer = await this.#meters.serveTcp();
    this.devices.push({
      id: 'main-meter',
      name: 'Main meter (Eastron SDM630, Modbus TCP)',
      kind: 'meter',
      location: 'hq/basement/panel',
      type: 'modbus',
      port: this.#meterServer.port!,
      model: 'eastron-sdm630',
    });
    this.#vary();
    this.#timer = setInterval(() => this.#vary(), 1000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await Promise.allSettled([
      ...this.#plugs.map(({ plug }) => plug.stop()),
      this.#shelly?.stop(),
      this.#meterServer?.close(),
    ]);
    this.#plugs = [];
  }

  /** The main meter sees the building: a few kW per phase, drifting, counters growing. */
  #varyMeter(): void {
    if (!this.#meterProfile) return;
    const phases = (['L1', 'L2', 'L3'] as const).map((phase, index) => {
      const power = 1500 + 600 * Math.sin(Date.now() / 40_000 + index * 2) + Math.random() * 50;
      const voltage = 229 + Math.random() * 2;
      this.#meterEnergyWh[index]! += power / 3600;
      return {
        phase,
        power_w: Number(power.toFixed(1)),
        voltage_v: Number(voltage.toFixed(1)),
        current_a: Number((power / voltage).toFixed(2)),
        power_factor: 0.95,
        energy_wh: Math.round(this.#meterEnergyWh[index]!),
      };
    });
    const total = {
      power_w: phases.reduce((sum, phase) => sum + phase.power_w, 0),
      energy_wh: phases.reduce((sum, phase) => sum + phase.energy_wh, 0),
      power_factor: 0.95,
      frequency_hz: 50,
    };
    this.#meters.setMeter(1, this.#meterProfile, [...phases, total]);
  }

  /** Loads drift around each profile's base with a slow wave and noise; energy counters grow. */
  #vary(): void {
    this.#varyMeter();
    const tv = this.#shelly?.meters[0];
    if (tv) {
      tv.power_w = Number((35 + 4 * Math.sin(Date.now() / 20_000) + Math.random()).toFixed(1));
      tv.current_a = Number((tv.power_w / tv.voltage_v).toFixed(3));
    }
    const now = Date.now() / 1000;
    for (const [index, entry] of this.#plugs.entries()) {
      const wave = 1 + 0.3 * Math.sin(now / 30 + index);
      const noise = 1 + (Math.random() - 0.5) * 0.1;
      const power = entry.plug.relayOn ? Math.max(0, entry.baseW * wave * noise) : 0;
      const voltage = 229 + Math.random() * 3;
      entry.energyKwh += power / 3600 / 1000;
      entry.plug.setRealtime({
        power: Number(power.toFixed(2)),
        voltage: Number(voltage.toFixed(2)),
        current: Number((power / voltage).toFixed(3)),
        total: Number(entry.energyKwh.toFixed(4)),
      });
    }
  }
}
