import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

/**
 * Devices that speak MQTT themselves, as real MQTT peers on the test broker, publishing what
 * their vendors document (payload shapes from the Tasmota, Zigbee2MQTT, Shelly Gen1/Gen2 and
 * ESPHome MQTT documentation; names are placeholders). Each answers its commands the way the
 * firmware does, and can be told to stay silent or to refuse switching.
 */
export abstract class SimulatedMqttDevice {
  on = true;
  /** Ignore commands (a device that is gone but whose last will has not fired). */
  silent = false;
  /** Answer a switch command with the state it already had (a relay that does not move). */
  stuck = false;
  /** Every command payload received, by topic. */
  readonly commands: { topic: string; payload: string }[] = [];
  protected client!: MqttClient;

  protected async open(url: string, options: IClientOptions, commandTopics: string[]): Promise<void> {
    this.client = await mqtt.connectAsync(url, { reconnectPeriod: 0, ...options });
    this.client.on('message', (topic, payload) => {
      const text = payload.toString('utf8');
      this.commands.push({ topic, payload: text });
      if (!this.silent) void this.command(topic, text);
    });
    await this.client.subscribeAsync(commandTopics, { qos: 1 });
  }

  protected abstract command(topic: string, payload: string): Promise<void>;

  /** Applies a switch command: toggles, or keeps the old state when stuck. */
  protected switchTo(on: boolean): void {
    if (!this.stuck) this.on = on;
  }

  async publish(topic: string, payload: string | object, retain = false): Promise<void> {
    await this.client.publishAsync(topic, typeof payload === 'string' ? payload : JSON.stringify(payload), {
      qos: 1,
      retain,
    });
  }

  /** A clean disconnect: the device publishes its own offline first where its firmware does. */
  async stop(): Promise<void> {
    await this.client.endAsync();
  }

  /** The connection drops without DISCONNECT: the broker publishes the device's last will. */
  async kill(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** Tasmota with an energy monitor, default FullTopic `%prefix%/%topic%/`. */
export class TasmotaPlug extends SimulatedMqttDevice {
  readonly topic: string;

  constructor(topic: string) {
    super();
    this.topic = topic;
  }

  static async start(url: string, topic: string): Promise<TasmotaPlug> {
    const plug = new TasmotaPlug(topic);
    const will = {
      topic: `tele/${topic}/LWT`,
      payload: Buffer.from('Offline'),
      qos: 1 as const,
      retain: true,
    };
    await plug.open(url, { clientId: `DVES_${topic}`, will }, [`cmnd/${topic}/POWER`]);
    await plug.publish(`tele/${topic}/LWT`, 'Online', true);
    return plug;
  }

  protected async command(_topic: string, payload: string): Promise<void> {
    const word = payload.trim().toUpperCase();
    if (word === 'ON' || word === '1') this.switchTo(true);
    else if (word === 'OFF' || word === '0') this.switchTo(false);
    else if (word === 'TOGGLE' || word === '2') this.switchTo(!this.on);
    else if (word !== '') return; // Tasmota answers an unknown value with an error RESULT
    const power = this.on ? 'ON' : 'OFF';
    await this.publish(`stat/${this.topic}/RESULT`, { POWER: power });
    await this.publish(`stat/${this.topic}/POWER`, power);
  }

  /** tele/<topic>/SENSOR as Tasmota's energy driver publishes it every TelePeriod. */
  async telemetry(energy: {
    power: number;
    voltage: number;
    current: number;
    factor: number;
    total_kwh: number;
  }) {
    await this.publish(`tele/${this.topic}/SENSOR`, {
      Time: '2026-03-01T12:00:00',
      ENERGY: {
        TotalStartTime: '2025-11-05T10:12:33',
        Total: energy.total_kwh,
        Yesterday: 0.512,
        Today: 0.231,
        Period: 1,
        Power: energy.power,
        ApparentPower: Math.round(energy.power / energy.factor),
        ReactivePower: 25,
        Factor: energy.factor,
        Voltage: energy.voltage,
        Current: energy.current,
      },
    });
  }

  /** tele/<topic>/STATE, every TelePeriod. */
  async state(): Promise<void> {
    await this.publish(`tele/${this.topic}/STATE`, {
      Time: '2026-03-01T12:00:00',
      Uptime: '0T01:02:03',
      UptimeSec: 3723,
      Heap: 26,
      SleepMode: 'Dynamic',
      Sleep: 50,
      LoadAvg: 19,
      MqttCount: 1,
      POWER: this.on ? 'ON' : 'OFF',
      Wifi: { AP: 1, SSId: 'placeholder-ssid', Channel: 1, Mode: '11n', RSSI: 80, Signal: -60, LinkCount: 1 },
    });
  }
}

/**
 * A metering plug behind Zigbee2MQTT. Zigbee2MQTT itself is the MQTT client: it publishes the
 * device's whole state on every change and its availability (retained), and serves /set and /get.
 */
export class Zigbee2MqttPlug extends SimulatedMqttDevice {
  readonly name: string;
  readonly base: string;
  power = 61.2;
  energy_kwh = 12.34;

  constructor(name: string, base: string) {
    super();
    this.name = name;
    this.base = base;
  }

  static async start(url: string, name: string, base = 'zigbee2mqtt'): Promise<Zigbee2MqttPlug> {
    const plug = new Zigbee2MqttPlug(name, base);
    await plug.open(url, { clientId: `z2m-${Math.random().toString(16).slice(2, 8)}` }, [
      `${base}/${name}/set`,
      `${base}/${name}/get`,
    ]);
    await plug.availability('online');
    return plug;
  }

  async availability(state: 'online' | 'offline', legacy = false): Promise<void> {
    await this.publish(`${this.base}/${this.name}/availability`, legacy ? state : { state }, true);
  }

  protected async command(topic: string, payload: string): Promise<void> {
    let body: { state?: string };
    try {
      body = JSON.parse(payload) as { state?: string };
    } catch {
      return;
    }
    if (topic.endsWith('/set')) {
      const state = String(body.state).toUpperCase();
      if (state === 'ON' || state === 'OFF') this.switchTo(state === 'ON');
      else if (state === 'TOGGLE') this.switchTo(!this.on);
      else return;
    }
    await this.report();
  }

  /** The full state message (a TS011F-style plug). */
  async report(): Promise<void> {
    await this.publish(`${this.base}/${this.name}`, {
      child_lock: 'UNLOCK',
      current: this.on ? 0.27 : 0,
      energy: this.energy_kwh,
      indicator_mode: 'off/on',
      linkquality: 120,
      power: this.on ? this.power : 0,
      power_outage_memory: 'restore',
      state: this.on ? 'ON' : 'OFF',
      voltage: 230,
    });
  }
}

/** Shelly Gen1 (Plug S, 1PM): one value per topic, last will on `online`. */
export class ShellyGen1 extends SimulatedMqttDevice {
  readonly id: string;

  constructor(id: string) {
    super();
    this.id = id;
  }

  static async start(url: string, id: string): Promise<ShellyGen1> {
    const device = new ShellyGen1(id);
    const will = {
      topic: `shellies/${id}/online`,
      payload: Buffer.from('false'),
      qos: 1 as const,
      retain: true,
    };
    await device.open(url, { clientId: id, will }, [`shellies/${id}/relay/0/command`]);
    await device.publish(`shellies/${id}/online`, 'true', true);
    return device;
  }

  protected async command(_topic: string, payload: string): Promise<void> {
    if (payload === 'on' || payload === 'off') this.switchTo(payload === 'on');
    else if (payload === 'toggle') this.switchTo(!this.on);
    else return;
    await this.publish(`shellies/${this.id}/relay/0`, this.on ? 'on' : 'off');
  }

  /** One update period: power (W), energy (watt-minutes) and the relay, as text. */
  async report(power: number, energyWattMinutes: number): Promise<void> {
    await this.publish(`shellies/${this.id}/relay/0/power`, power.toFixed(2));
    await this.publish(`shellies/${this.id}/relay/0/energy`, String(energyWattMinutes));
    await this.publish(`shellies/${this.id}/relay/0`, this.on ? 'on' : 'off');
  }
}

/** Shelly Gen2+ with status notifications over MQTT (status_ntf) and the RPC channel. */
export class ShellyGen2 extends SimulatedMqttDevice {
  readonly prefix: string;
  apower = 61.2;
  total_wh = 12345.678;

  constructor(prefix: string) {
    super();
    this.prefix = prefix;
  }

  static async start(url: string, prefix: string): Promise<ShellyGen2> {
    const device = new ShellyGen2(prefix);
    const will = { topic: `${prefix}/online`, payload: Buffer.from('false'), qos: 1 as const, retain: true };
    await device.open(url, { clientId: prefix, will }, [`${prefix}/rpc`, `${prefix}/command`]);
    await device.publish(`${prefix}/online`, 'true', true);
    return device;
  }

  protected async command(topic: string, payload: string): Promise<void> {
    if (topic.endsWith('/command')) {
      if (payload === 'status_update') await this.status();
      return;
    }
    let frame: { id?: number; src?: string; method?: string; params?: { id?: number; on?: boolean } };
    try {
      frame = JSON.parse(payload) as typeof frame;
    } catch {
      return;
    }
    if (frame.method !== 'Switch.Set' || frame.params?.id !== 0 || typeof frame.params.on !== 'boolean')
      return;
    const wasOn = this.on;
    this.switchTo(frame.params.on);
    if (frame.src) {
      await this.publish(`${frame.src}/rpc`, {
        id: frame.id,
        src: this.prefix,
        dst: frame.src,
        result: { was_on: wasOn },
      });
    }
    await this.status();
  }

  /** `<prefix>/status/switch:0`: the whole Switch status. */
  async status(): Promise<void> {
    await this.publish(`${this.prefix}/status/switch:0`, {
      id: 0,
      source: 'MQTT',
      output: this.on,
      apower: this.on ? this.apower : 0,
      voltage: 230.1,
      current: this.on ? 0.271 : 0,
      freq: 50,
      aenergy: { total: this.total_wh, by_minute: [1017.0, 1016.9, 1016.8], minute_ts: 1_772_366_400 },
      temperature: { tC: 38.2, tF: 100.7 },
    });
  }
}

/** An ESPHome node with the MQTT component: sensor and switch states retained, birth/will on status. */
export class EsphomeNode extends SimulatedMqttDevice {
  readonly node: string;

  constructor(node: string) {
    super();
    this.node = node;
  }

  static async start(url: string, node: string): Promise<EsphomeNode> {
    const device = new EsphomeNode(node);
    const will = { topic: `${node}/status`, payload: Buffer.from('offline'), qos: 1 as const, retain: true };
    await device.open(url, { clientId: `${node}-esp`, will }, [`${node}/switch/relay/command`]);
    await device.publish(`${node}/status`, 'online', true);
    return device;
  }

  protected async command(_topic: string, payload: string): Promise<void> {
    if (payload === 'ON' || payload === 'OFF') this.switchTo(payload === 'ON');
    else if (payload === 'TOGGLE') this.switchTo(!this.on);
    else return;
    await this.publish(`${this.node}/switch/relay/state`, this.on ? 'ON' : 'OFF', true);
  }

  /** One update interval of the power chip's sensors, as text, retained (ESPHome's default). */
  async sensors(values: {
    power: number;
    energy_wh: number;
    voltage: number;
    current: number;
  }): Promise<void> {
    await this.publish(`${this.node}/sensor/power/state`, values.power.toFixed(1), true);
    await this.publish(`${this.node}/sensor/energy/state`, values.energy_wh.toFixed(1), true);
    await this.publish(`${this.node}/sensor/voltage/state`, values.voltage.toFixed(1), true);
    await this.publish(`${this.node}/sensor/current/state`, values.current.toFixed(3), true);
  }
}
