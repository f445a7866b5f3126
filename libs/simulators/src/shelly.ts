import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * A Shelly on a loopback port that follows the documented local HTTP APIs, for tests and for the
 * embedded demo: Gen1 Plug S (`SHPLG-S`) and 3EM (`SHEM-3`) with `/shelly`, `/status`,
 * `/relay/N` and Basic auth; Gen2 Plus Plug S (`SNPL-00112EU`), Plus 1 and Pro 1 (relays without
 * a meter), Pro EM-50 (two `em1` channels and a contactor) and Pro 3EM (`em`, or three `em1`
 * channels in its monophase profile) with `/shelly` and
 * `/rpc/{Shelly,Switch,EM,EMData,EM1,EM1Data}.*`, guarded by RFC 7616 SHA-256 Digest auth when a
 * password is set (nonces reusable with a growing nc, as firmware 2.0+ does).
 * Power and energy are set by the caller; `accumulate` lets energy grow with power over time.
 * Only node:http and node:crypto: no dev dependency, so the demo may use it too.
 */
export type ShellyModel = 'plug-s' | '3em' | 'plus-plug-s' | 'plus-1' | 'pro-1' | 'pro-em' | 'pro-3em';

export interface SimulatedMeter {
  power_w: number;
  voltage_v: number;
  current_a: number;
  power_factor: number;
  frequency_hz: number;
  /** Imported energy since the counter started, Wh (the Plug S reports it as watt-minutes). */
  energy_wh: number;
  /** Exported energy, Wh (3EM, Pro 3EM, Pro EM; `ret_aenergy` of Gen2 switches). Grows while power is negative. */
  returned_wh: number;
}

/**
 * What the device does wrong, on its measurement and switching endpoints (`/shelly` stays good):
 * `garbage` answers HTML with status 200, `server-error` a 500, `wrong-type` sends the power
 * field (the relay's `output` on a switch without a meter) as a string, `missing-field` leaves
 * the energy counter out, `null-readings` sends null for every voltage, current, power factor
 * and frequency (a meter that cannot measure them now), `hang` never answers.
 */
export type ShellyFault =
  'garbage' | 'server-error' | 'wrong-type' | 'missing-field' | 'null-readings' | 'hang';

export interface SimulatedShellyOptions {
  model: ShellyModel;
  /** Enables auth: Basic (user `username`) on Gen1, Digest (user `admin`) on Gen2. */
  password?: string;
  /** Gen1 user name (default `admin`). */
  username?: string;
  /** Relays/switches for switch models (default 1); 2 behaves like a Shelly 2.5 / Plus 2PM. */
  channels?: number;
  relayOn?: boolean;
  /** Meter values of every channel (or phase) to start with. */
  meter?: Partial<SimulatedMeter>;
  /** Pro 3EM only: `monophase` serves three `em1`/`em1data` channels instead of `em:0`/`emdata:0`. */
  profile?: 'triphase' | 'monophase';
  /** Energy grows by power × elapsed time on every request (for the demo; tests set it). */
  accumulate?: boolean;
  /** Port to listen on (default: a free one). */
  port?: number;
}

/**
 * `kind`: `switch` (relays, each with a meter when `metered`), `em` (three phases), `em1`
 * (single-phase meter channels next to an unmetered contactor relay).
 */
const MODELS = {
  'plug-s': {
    generation: 1,
    code: 'SHPLG-S',
    app: undefined,
    kind: 'switch',
    metered: true,
    idPrefix: 'shellyplug-s',
  },
  '3em': { generation: 1, code: 'SHEM-3', app: undefined, kind: 'em', metered: true, idPrefix: 'shellyem3' },
  'plus-plug-s': {
    generation: 2,
    code: 'SNPL-00112EU',
    app: 'PlusPlugS',
    kind: 'switch',
    metered: true,
    idPrefix: 'shellyplusplugs',
  },
  'plus-1': {
    generation: 2,
    code: 'SNSW-001X16EU',
    app: 'Plus1',
    kind: 'switch',
    metered: false,
    idPrefix: 'shellyplus1',
  },
  'pro-1': {
    generation: 2,
    code: 'SPSW-001XE16EU',
    app: 'Pro1',
    kind: 'switch',
    metered: false,
    idPrefix: 'shellypro1',
  },
  'pro-em': {
    generation: 2,
    code: 'SPEM-002CEBEU50',
    app: 'ProEM',
    kind: 'em1',
    metered: true,
    idPrefix: 'shellyproem50',
  },
  'pro-3em': {
    generation: 2,
    code: 'SPEM-003CEBEU',
    app: 'Pro3EM',
    kind: 'em',
    metered: true,
    idPrefix: 'shellypro3em',
  },
} as const;

const DEFAULT_METER: SimulatedMeter = {
  power_w: 0,
  voltage_v: 230,
  current_a: 0,
  power_factor: 1,
  frequency_hz: 50,
  energy_wh: 0,
  returned_wh: 0,
};

interface Nonce {
  issuedAt: number;
  lastNc: number;
}

export class SimulatedShelly {
  readonly model: ShellyModel;
  readonly generation: 1 | 2;
  readonly host = '127.0.0.1';
  /** Device id, e.g. `shellyplusplugs-a8032ab1c2d3`: the digest realm on Gen2. */
  readonly id: string;
  readonly mac: string;
  /** Relay state per channel (one entry on the 3EM and the Pro EM: the contactor relay; none on the Pro 3EM). */
  readonly relays: boolean[];
  /**
   * One meter per channel on switch models (unused on a switch without a meter), three (L1, L2,
   * L3, or em1 channels 0..2 in monophase profile) on the 3EM models, two on the Pro EM.
   */
  readonly meters: SimulatedMeter[];
  fault: ShellyFault | undefined;
  /** The relay ignores switch commands (a stuck relay), so confirmation can be tested. */
  stuckRelay = false;
  /** Every request as `METHOD path?query`, in order. */
  readonly requests: string[] = [];
  /** 401 answers sent (a Digest challenge on Gen2). */
  unauthorized = 0;
  #options: SimulatedShellyOptions;
  #server: Server | undefined;
  #sockets = new Set<Socket>();
  #port: number;
  #nonces = new Map<string, Nonce>();
  #lastAccumulated = Date.now();

  private constructor(options: SimulatedShellyOptions) {
    const model = MODELS[options.model];
    this.#options = options;
    this.model = options.model;
    this.generation = model.generation;
    this.mac = randomBytes(6).toString('hex').toUpperCase();
    this.id = `${model.idPrefix}-${this.mac.toLowerCase()}`;
    const channels = model.kind === 'em' ? 3 : model.kind === 'em1' ? 2 : (options.channels ?? 1);
    const relayCount = options.model === 'pro-3em' ? 0 : model.kind === 'switch' ? channels : 1;
    this.relays = Array.from({ length: relayCount }, () => options.relayOn ?? true);
    this.meters = Array.from({ length: channels }, () => ({ ...DEFAULT_METER, ...options.meter }));
    this.#port = options.port ?? 0;
  }

  static async start(options: SimulatedShellyOptions): Promise<SimulatedShelly> {
    const device = new SimulatedShelly(options);
    await device.start();
    return device;
  }

  get port(): number {
    return this.#port;
  }

  get running(): boolean {
    return this.#server !== undefined;
  }

  /** Device code as the device reports it (`type` on Gen1, `model` on Gen2). */
  get modelCode(): string {
    return MODELS[this.model].code;
  }

  /** Sets meter values of one channel (or phase index 0..2), or of all when `channel` is left out. */
  setMeter(values: Partial<SimulatedMeter>, channel?: number): void {
    const targets = channel === undefined ? this.meters : [this.meters[channel]];
    for (const meter of targets) {
      if (!meter) throw new Error(`the simulated ${this.model} has no channel ${channel}`);
      Object.assign(meter, values);
    }
  }

  /** Forgets every issued nonce: the next digest request is challenged again (a device reboot). */
  forgetNonces(): void {
    this.#nonces.clear();
  }

  /** (Re)starts listening, on the same port after a stop. */
  async start(): Promise<void> {
    if (this.#server) return;
    const server = createServer((request, response) => this.#handle(request, response));
    server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('the simulated Shelly got no port');
    this.#port = address.port;
    this.#server = server;
  }

  /** Stops listening and drops open connections (also hanging requests): the device is unreachable. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #handle(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://shelly');
    this.requests.push(`${request.method} ${url.pathname}${url.search}`);
    if (this.#options.accumulate) this.#accumulate();
    if (request.method !== 'GET' && request.method !== 'POST')
      return send(response, 405, 'method not allowed');
    if (url.pathname === '/shelly' || url.pathname === '/rpc/Shelly.GetDeviceInfo') {
      return sendJson(response, 200, this.#info());
    }
    if (!this.#authorized(request, response)) return;
    if (this.fault && url.pathname !== '/rpc/Shelly.GetStatus') {
      switch (this.fault) {
        case 'hang':
          return;
        case 'garbage':
          return send(response, 200, '<html><body>Bad Gateway</body></html>', 'text/html');
        case 'server-error':
          return send(response, 500, 'Internal Server Error');
        default:
      }
    }
    const answer = this.generation === 1 ? this.#gen1(url) : this.#gen2(url);
    if (!answer) return sendJson(response, 404, { code: 404, message: `No handler for ${url.pathname}` });
    sendJson(response, answer.status, answer.body);
  }

  #info(): Record<string, unknown> {
    const model = MODELS[this.model];
    if (this.generation === 1) {
      return {
        type: model.code,
        mac: this.mac,
        auth: this.#options.password !== undefined,
        fw: '20230913-112003/v1.14.0-gcb84623',
        discoverable: true,
        longid: 1,
        num_outputs: this.relays.length,
        ...(model.kind === 'em' ? { num_meters: 0, num_emeters: 3 } : { num_meters: this.meters.length }),
      };
    }
    return {
      name: null,
      id: this.id,
      mac: this.mac,
      slot: 1,
      model: model.code,
      gen: 2,
      fw_id: '20241011-114455/1.4.4-g6d2a586',
      ver: '1.4.4',
      app: model.app,
      auth_en: this.#options.password !== undefined,
      auth_domain: this.#options.password !== undefined ? this.id : null,
    };
  }

  #gen1(url: URL): { status: number; body: unknown } | undefined {
    if (url.pathname === '/status') {
      const relays = this.relays.map(gen1Relay);
      if (MODELS[this.model].kind === 'em') {
        const emeters = this.meters.map((meter) =>
          this.#faulty(
            {
              power: meter.power_w,
              pf: meter.power_factor,
              current: meter.current_a,
              voltage: meter.voltage_v,
              is_valid: true,
              total: meter.energy_wh,
              total_returned: meter.returned_wh,
            },
            'power',
            'total',
          ),
        );
        const total_power = this.meters.reduce((sum, meter) => sum + meter.power_w, 0);
        return {
          status: 200,
          body: { wifi_sta: { connected: true }, relays, emeters, total_power, fs_mounted: true },
        };
      }
      const meters = this.meters.map((meter, index) => {
        const on = this.relays[index] ?? true;
        return this.#faulty(
          {
            power: on ? meter.power_w : 0,
            overpower: 0,
            is_valid: true,
            timestamp: Math.floor(Date.now() / 1000),
            counters: [0, 0, 0],
            // Watt-minutes, an integer counter on the Plug S.
            total: Math.round(meter.energy_wh * 60),
          },
          'power',
          'total',
        );
      });
      return {
        status: 200,
        body: { wifi_sta: { connected: true }, relays, meters, temperature: 31.2, uptime: 1234 },
      };
    }
    const relay = /^\/relay\/(\d+)$/.exec(url.pathname);
    if (relay) {
      const index = Number(relay[1]);
      if (index >= this.relays.length) return { status: 404, body: { code: 404, message: 'Not found' } };
      const turn = url.searchParams.get('turn');
      if (turn !== null) {
        if (turn !== 'on' && turn !== 'off' && turn !== 'toggle') return { status: 400, body: 'Bad turn!' };
        const next = turn === 'toggle' ? !this.relays[index] : turn === 'on';
        if (!this.stuckRelay) this.relays[index] = next;
      }
      return {
        status: 200,
        body: gen1Relay(this.relays[index]),
      };
    }
    return undefined;
  }

  #gen2(url: URL): { status: number; body: unknown } | undefined {
    const method = url.pathname.startsWith('/rpc/') ? url.pathname.slice(5) : undefined;
    const id = Number(url.searchParams.get('id') ?? '0');
    const notFound = { status: 400, body: { code: -105, message: `Argument 'id', value ${id} not found!` } };
    const em1 = this.#em1Channels();
    switch (method) {
      case 'Shelly.GetStatus': {
        const status: Record<string, unknown> = { sys: { uptime: 1234 }, wifi: { status: 'got ip' } };
        this.relays.forEach((_, index) => (status[`switch:${index}`] = this.#switchStatus(index)));
        if (em1 > 0) {
          for (let channel = 0; channel < em1; channel++) {
            status[`em1:${channel}`] = this.#em1Status(channel);
            status[`em1data:${channel}`] = this.#em1Data(channel);
          }
        } else if (this.model === 'pro-3em') {
          status['em:0'] = this.#emStatus();
          status['emdata:0'] = this.#emData();
        }
        return { status: 200, body: status };
      }
      case 'Switch.GetStatus': {
        if (!(id in this.relays)) return notFound;
        const metered = this.#meteredSwitch();
        return {
          status: 200,
          body: this.#faulty(
            this.#switchStatus(id),
            metered ? 'apower' : 'output',
            metered ? 'aenergy' : undefined,
          ),
        };
      }
      case 'Switch.Set': {
        if (!(id in this.relays)) return notFound;
        const on = url.searchParams.get('on');
        if (on !== 'true' && on !== 'false') {
          return { status: 400, body: { code: -103, message: "Invalid argument 'on': expected boolean" } };
        }
        const was_on = this.relays[id]!;
        if (!this.stuckRelay) this.relays[id] = on === 'true';
        return { status: 200, body: { was_on } };
      }
      case 'EM.GetStatus':
        if (this.model !== 'pro-3em' || em1 > 0 || id !== 0) return undefined;
        return { status: 200, body: this.#faulty(this.#emStatus(), 'a_act_power') };
      case 'EMData.GetStatus':
        if (this.model !== 'pro-3em' || em1 > 0 || id !== 0) return undefined;
        return {
          status: 200,
          body: this.#faulty(this.#emData(), 'a_total_act_energy', 'a_total_act_energy'),
        };
      case 'EM1.GetStatus':
        if (em1 === 0) return undefined;
        if (id >= em1) return notFound;
        return { status: 200, body: this.#faulty(this.#em1Status(id), 'act_power') };
      case 'EM1Data.GetStatus':
        if (em1 === 0) return undefined;
        if (id >= em1) return notFound;
        return { status: 200, body: this.#faulty(this.#em1Data(id), 'total_act_energy', 'total_act_energy') };
      default:
        return undefined;
    }
  }

  /** em1 channels this device serves: two on a Pro EM, three on a Pro 3EM in monophase profile. */
  #em1Channels(): number {
    if (MODELS[this.model].kind === 'em1') return this.meters.length;
    return this.model === 'pro-3em' && this.#options.profile === 'monophase' ? 3 : 0;
  }

  /** Relays of switch models with a meter; a Pro EM's contactor and a Plus 1 have none. */
  #meteredSwitch(): boolean {
    const model = MODELS[this.model];
    return model.kind === 'switch' && model.metered;
  }

  #switchStatus(index: number): Record<string, unknown> {
    const on = this.relays[index]!;
    // A relay without a meter reports its output and its temperature (null where it has no sensor).
    if (!this.#meteredSwitch()) {
      return { id: index, source: 'HTTP_in', output: on, temperature: { tC: null, tF: null } };
    }
    const meter = this.meters[index]!;
    return {
      id: index,
      source: 'HTTP_in',
      output: on,
      apower: on ? meter.power_w : 0,
      voltage: meter.voltage_v,
      current: on ? meter.current_a : 0,
      freq: meter.frequency_hz,
      aenergy: { total: meter.energy_wh, by_minute: [0, 0, 0], minute_ts: Math.floor(Date.now() / 1000) },
      ret_aenergy: {
        total: meter.returned_wh,
        by_minute: [0, 0, 0],
        minute_ts: Math.floor(Date.now() / 1000),
      },
      temperature: { tC: 31.2, tF: 88.2 },
    };
  }

  #emStatus(): Record<string, unknown> {
    const status: Record<string, unknown> = { id: 0 };
    ['a', 'b', 'c'].forEach((prefix, index) => {
      const meter = this.meters[index]!;
      status[`${prefix}_current`] = meter.current_a;
      status[`${prefix}_voltage`] = meter.voltage_v;
      status[`${prefix}_act_power`] = meter.power_w;
      status[`${prefix}_aprt_power`] = Math.abs(meter.power_w / (meter.power_factor || 1));
      status[`${prefix}_pf`] = meter.power_factor;
      status[`${prefix}_freq`] = meter.frequency_hz;
    });
    status.n_current = null;
    status.total_current = this.meters.reduce((sum, meter) => sum + meter.current_a, 0);
    status.total_act_power = this.meters.reduce((sum, meter) => sum + meter.power_w, 0);
    status.total_aprt_power = this.meters.reduce(
      (sum, meter) => sum + Math.abs(meter.power_w / (meter.power_factor || 1)),
      0,
    );
    status.user_calibrated_phase = [];
    return status;
  }

  #emData(): Record<string, unknown> {
    const data: Record<string, unknown> = { id: 0 };
    ['a', 'b', 'c'].forEach((prefix, index) => {
      const meter = this.meters[index]!;
      data[`${prefix}_total_act_energy`] = meter.energy_wh;
      data[`${prefix}_total_act_ret_energy`] = meter.returned_wh;
    });
    data.total_act = this.meters.reduce((sum, meter) => sum + meter.energy_wh, 0);
    data.total_act_ret = this.meters.reduce((sum, meter) => sum + meter.returned_wh, 0);
    return data;
  }

  /** One em1 channel as `EM1.GetStatus` reports it. */
  #em1Status(channel: number): Record<string, unknown> {
    const meter = this.meters[channel]!;
    return {
      id: channel,
      current: meter.current_a,
      voltage: meter.voltage_v,
      act_power: meter.power_w,
      aprt_power: Math.abs(meter.power_w / (meter.power_factor || 1)),
      pf: meter.power_factor,
      freq: meter.frequency_hz,
      calibration: 'factory',
    };
  }

  /** One em1 channel's counters as `EM1Data.GetStatus` reports them, in Wh. */
  #em1Data(channel: number): Record<string, unknown> {
    const meter = this.meters[channel]!;
    return { id: channel, total_act_energy: meter.energy_wh, total_act_ret_energy: meter.returned_wh };
  }

  /** Applies the `wrong-type`, `missing-field` and `null-readings` faults to one answer object. */
  #faulty<T extends Record<string, unknown>>(body: T, powerKey: string, energyKey?: string): T {
    if (this.fault === 'wrong-type') return { ...body, [powerKey]: String(body[powerKey]) };
    if (this.fault === 'null-readings') {
      return Object.fromEntries(
        Object.entries(body).map(([key, value]) => [key, NULLABLE_READING.test(key) ? null : value]),
      ) as T;
    }
    if (this.fault === 'missing-field' && energyKey !== undefined) {
      const { [energyKey]: _dropped, ...rest } = body;
      return rest as T;
    }
    return body;
  }

  #accumulate(): void {
    const now = Date.now();
    const hours = (now - this.#lastAccumulated) / 3_600_000;
    this.#lastAccumulated = now;
    this.meters.forEach((meter, index) => {
      const switchedOff = this.#meteredSwitch() && this.relays[index] === false;
      if (switchedOff) return;
      if (meter.power_w >= 0) meter.energy_wh += meter.power_w * hours;
      else meter.returned_wh -= meter.power_w * hours;
    });
  }

  /** False (and the 401 sent) when auth is on and the request does not carry valid credentials. */
  #authorized(request: IncomingMessage, response: ServerResponse): boolean {
    const password = this.#options.password;
    if (password === undefined) return true;
    const header = request.headers.authorization ?? '';
    if (this.generation === 1) {
      const expected = `Basic ${Buffer.from(`${this.#options.username ?? 'admin'}:${password}`).toString('base64')}`;
      if (safeEqual(header, expected)) return true;
      this.unauthorized++;
      response.setHeader('WWW-Authenticate', 'Basic realm="Shelly"');
      send(response, 401, '401 Unauthorized');
      return false;
    }
    if (this.#digestValid(header, request.method ?? 'GET', request.url ?? '/', password)) return true;
    const nonce = randomBytes(8).readUInt32BE(0).toString();
    this.#nonces.set(nonce, { issuedAt: Date.now(), lastNc: 0 });
    this.unauthorized++;
    response.setHeader(
      'WWW-Authenticate',
      `Digest qop="auth", realm="${this.id}", nonce="${nonce}", algorithm=SHA-256`,
    );
    sendJson(response, 401, { code: 401, message: 'unauthorized' });
    return false;
  }

  /** RFC 7616 check as Shelly Gen2 does it: user admin, realm = device id, SHA-256, qop=auth, nc growing per nonce. */
  #digestValid(header: string, method: string, uri: string, password: string): boolean {
    const match = /^Digest\s+(.*)$/i.exec(header);
    if (!match) return false;
    const params = new Map<string, string>();
    for (const part of (match[1] ?? '').matchAll(/([a-z0-9_-]+)=(?:"([^"]*)"|([^\s,]*))/gi)) {
      params.set(part[1]!.toLowerCase(), part[2] ?? part[3] ?? '');
    }
    const nonce = this.#nonces.get(params.get('nonce') ?? '');
    const nc = Number.parseInt(params.get('nc') ?? '', 16);
    if (
      !nonce ||
      Date.now() - nonce.issuedAt > 3_600_000 ||
      params.get('username') !== 'admin' ||
      params.get('realm') !== this.id ||
      params.get('uri') !== uri ||
      params.get('qop') !== 'auth' ||
      (params.get('algorithm') ?? '').toUpperCase() !== 'SHA-256' ||
      !Number.isInteger(nc) ||
      nc <= nonce.lastNc
    ) {
      return false;
    }
    const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
    const ha1 = sha256(`admin:${this.id}:${password}`);
    const ha2 = sha256(`${method}:${uri}`);
    const expected = sha256(
      `${ha1}:${params.get('nonce')}:${params.get('nc')}:${params.get('cnonce')}:auth:${ha2}`,
    );
    if (!safeEqual(params.get('response') ?? '', expected)) return false;
    nonce.lastNc = nc;
    return true;
  }
}

/** Fields `null-readings` nulls: voltages, currents, power factors and frequencies, per phase too. */
const NULLABLE_READING = /^([abc]_)?(voltage|current|pf|freq)$/;

/** A Gen1 relay's status, as in /status and /relay/{index}. */
function gen1Relay(ison: boolean | undefined) {
  return {
    ison,
    has_timer: false,
    timer_started: 0,
    timer_duration: 0,
    timer_remaining: 0,
    overpower: false,
    source: 'http',
  };
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

function send(response: ServerResponse, status: number, text: string, type = 'text/plain'): void {
  response.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  send(response, status, typeof body === 'string' ? body : JSON.stringify(body), 'application/json');
}
