import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { CognitoEmulator } from './cognito.js';
import { EmulatedHome, type EmulatedDevice } from './home.js';

/**
 * An emulator of Emporia's cloud for one account, on a loopback port, following the public notes
 * of the unofficial API (PyEmVue's API documentation): `GET /customers/devices`,
 * `GET /AppAPI?apiMethod=getDeviceListUsages` and `…getChartUsage` with the `authtoken` header,
 * and under `/cognito/` the Cognito user-pool calls of the sign-in. A Vue with mains, 16 circuits
 * and the computed Balance, and one smart plug nested under the mains. Faults on demand: the next
 * API requests answered 401, 429 (with Retry-After) or 5xx; `expireTokens()`.
 */
export const SCALE_MS = { '1S': 1000, '1MIN': 60_000, '1H': 3_600_000, '1D': 86_400_000 } as const;
export type EmporiaScale = keyof typeof SCALE_MS;
/** How long the cloud keeps minute data (PyEmVue's notes: about 7 days); older minutes are null. */
export const MINUTE_RETENTION_MS = 7 * 86_400_000;

export interface EmporiaCloudOptions {
  email?: string;
  password?: string;
  userPoolId?: string;
  clientId?: string;
  /** Lifetime of id and access tokens (default 3600 s, as Cognito's default). */
  tokenLifetimeS?: number;
}

export interface EmporiaRequest {
  /** `devices`, `getDeviceListUsages`, `getChartUsage` or the path. */
  call: string;
  status: number;
  /** For 429 answers: the Retry-After it announced, s. */
  retryAfterS?: number;
}

interface Fault {
  status: number;
  remaining: number;
  retryAfterS: number;
}

const ISO_SECOND = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export class EmporiaCloud {
  readonly home = new EmulatedHome();
  readonly cognito: CognitoEmulator;
  readonly email: string;
  readonly password: string;
  /** Every API request (not Cognito calls), in order. */
  readonly requests: EmporiaRequest[] = [];
  /** Requests that came before the Retry-After of the 429 answered last had passed. */
  earlyRetries = 0;
  #fault: Fault | undefined;
  #retryNotBefore = 0;
  /** Average power answered per `gid/channel` in usage answers, W (1-second and 1-minute scales). */
  #answered = new Map<string, number[]>();
  #server: Server;
  #sockets = new Set<Socket>();
  port = 0;

  private constructor(options: EmporiaCloudOptions) {
    this.email = options.email ?? 'owner@example.com';
    this.password = options.password ?? 'correct horse battery staple';
    this.cognito = new CognitoEmulator({
      userPoolId: options.userPoolId ?? 'us-east-2_ghlOXVLi1',
      clientId: options.clientId ?? '4qte47jbstod8apnfic0bunmrq',
      tokenLifetimeS: options.tokenLifetimeS ?? 3600,
    });
    this.cognito.addUser(this.email, this.password);
    this.#server = createServer((request, response) => void this.#handle(request, response));
    this.#server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
  }

  static async start(options: EmporiaCloudOptions = {}): Promise<EmporiaCloud> {
    const cloud = new EmporiaCloud(options);
    await new Promise<void>((resolve) => cloud.#server.listen(0, '127.0.0.1', resolve));
    cloud.port = (cloud.#server.address() as AddressInfo).port;
    return cloud;
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get cognitoUrl(): string {
    return `http://127.0.0.1:${this.port}/cognito/`;
  }

  /** The next `count` API requests are answered with `status` (429 with `Retry-After: retryAfterS`). */
  fail(status: 401 | 429 | 500 | 502 | 503, count = 1, retryAfterS = 1): void {
    this.#fault = { status, remaining: count, retryAfterS };
  }

  expireTokens(): void {
    this.cognito.expireTokens();
  }

  /** The average powers this cloud answered for a channel, W, oldest first. */
  answeredPowerW(deviceGid: number, channelNum: string): number[] {
    return this.#answered.get(`${deviceGid}/${channelNum}`) ?? [];
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const url = new URL(request.url ?? '/', 'http://emulator');
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      response.writeHead(status, { 'content-type': 'application/json', ...headers });
      response.end(JSON.stringify(body));
    };
    if (url.pathname === '/cognito/' && request.method === 'POST') {
      const target =
        String(request.headers['x-amz-target'] ?? '')
          .split('.')
          .pop() ?? '';
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        return send(400, { __type: 'SerializationException', message: 'body is not JSON' });
      }
      const answer = this.cognito.answer(target, body);
      return send(answer.status, answer.body, { 'content-type': 'application/x-amz-json-1.1' });
    }
    const call =
      url.pathname === '/AppAPI' ? (url.searchParams.get('apiMethod') ?? '') : url.pathname.slice(1);
    const record = (status: number, retryAfterS?: number) =>
      this.requests.push({ call, status, retryAfterS });
    if (Date.now() < this.#retryNotBefore) this.earlyRetries++;
    if (!this.cognito.idTokenValid(request.headers.authtoken as string | undefined)) {
      record(401);
      return send(401, { message: 'Unauthorized' });
    }
    const fault = this.#fault;
    if (fault && fault.remaining > 0) {
      fault.remaining--;
      if (fault.status === 429) {
        record(429, fault.retryAfterS);
        this.#retryNotBefore = Date.now() + fault.retryAfterS * 1000;
        return send(429, { message: 'Too Many Requests' }, { 'retry-after': String(fault.retryAfterS) });
      }
      record(fault.status);
      return send(fault.status, { message: 'emulated fault' });
    }
    const answer = this.#answer(call, url.searchParams);
    record(answer.status);
    send(answer.status, answer.body);
  }

  #answer(call: string, query: URLSearchParams): { status: number; body: unknown } {
    if (call === 'customers/devices') {
      return { status: 200, body: { customerGid: 77, email: this.email, devices: this.#deviceTree() } };
    }
    const scale = query.get('scale') as EmporiaScale | null;
    if (!scale || !(scale in SCALE_MS) || query.get('energyUnit') !== 'KilowattHours') {
      return { status: 400, body: { message: 'scale must be 1S, 1MIN, 1H or 1D; energyUnit KilowattHours' } };
    }
    if (call === 'getDeviceListUsages') {
      const instant = Date.parse(query.get('instant') ?? '');
      const gids = (query.get('deviceGids') ?? '').split(/[+ ]/).map(Number);
      if (Number.isNaN(instant) || gids.some((gid) => !Number.isInteger(gid))) {
        return { status: 400, body: { message: 'instant and deviceGids are required' } };
      }
      return { status: 200, body: { deviceListUsages: this.#usages(gids, instant, scale) } };
    }
    if (call === 'getChartUsage') {
      const start = Date.parse(query.get('start') ?? '');
      const end = Date.parse(query.get('end') ?? '');
      const gid = Number(query.get('deviceGid'));
      const channel = query.get('channel') ?? '';
      if (Number.isNaN(start) || Number.isNaN(end) || end < start || scale === '1S') {
        return { status: 400, body: { message: 'start ≤ end are required; scale 1MIN, 1H or 1D' } };
      }
      return { status: 200, body: this.#chart(gid, channel, start, end, scale) };
    }
    return { status: 404, body: { message: `no such call: ${call}` } };
  }

  #deviceTree(): unknown[] {
    const shape = (device: EmulatedDevice) => ({
      deviceGid: device.deviceGid,
      manufacturerDeviceId: `emu-${device.deviceGid}`,
      model: device.model,
      firmware: 'Vue2-1700000000',
      locationProperties: { deviceGid: device.deviceGid, deviceName: device.name, timeZone: 'UTC' },
      outlet: device.parent
        ? { deviceGid: device.deviceGid, outletOn: true, parentDeviceGid: device.parent.deviceGid }
        : null,
      channels: device.channels.map((channel) => ({
        deviceGid: channel.deviceGid,
        name: channel.name,
        channelNum: channel.channelNum,
        channelMultiplier: 1.0,
        channelTypeGid: null,
      })),
      devices: [] as unknown[],
    });
    // Nested devices (the plug) appear under their parent, as the real account lists them.
    const top = this.home.devices.filter((device) => !device.parent).map(shape);
    for (const device of this.home.devices.filter((candidate) => candidate.parent)) {
      top.find((parent) => parent.deviceGid === device.parent!.deviceGid)?.devices.push(shape(device));
    }
    return top;
  }

  /** Usage over the interval of one scale that ends at the instant (truncated to the second). */
  #usages(gids: number[], instantMs: number, scale: EmporiaScale): Record<string, unknown> {
    const to = Math.floor(instantMs / 1000) * 1000;
    const from = to - SCALE_MS[scale];
    const usageOf = (deviceGid: number, channelNum: string, name: string) => {
      const usage = this.home.energyKwh(deviceGid, channelNum, from, to);
      if (scale === '1S' || scale === '1MIN') {
        const list = this.#answered.get(`${deviceGid}/${channelNum}`) ?? [];
        list.push((usage * 3_600_000_000) / SCALE_MS[scale]);
        if (list.length > 2000) list.shift();
        this.#answered.set(`${deviceGid}/${channelNum}`, list);
      }
      return { deviceGid, channelNum, name, usage, percentage: 0, nestedDevices: [] as unknown[] };
    };
    const devices = this.home.devices
      .filter((device) => gids.includes(device.deviceGid) && !device.parent)
      .map((device) => {
        const channelUsages = device.channels.map((channel) =>
          usageOf(
            device.deviceGid,
            channel.channelNum,
            channel.name ?? (channel.channelNum === '1,2,3' ? 'Main' : ''),
          ),
        );
        channelUsages.push(usageOf(device.deviceGid, 'Balance', 'Balance'));
        for (const nested of this.home.devices.filter(
          (candidate) => candidate.parent?.deviceGid === device.deviceGid,
        )) {
          const parent = channelUsages.find((usage) => usage.channelNum === nested.parent!.channelNum);
          parent?.nestedDevices.push({
            deviceGid: nested.deviceGid,
            channelUsages: nested.channels.map((channel) =>
              usageOf(nested.deviceGid, channel.channelNum, 'Main'),
            ),
          });
        }
        return { deviceGid: device.deviceGid, channelUsages };
      });
    return { instant: ISO_SECOND(to), scale, devices, energyUnit: 'KilowattHours' };
  }

  /** Energy per scale interval from `start` (floored to the scale) up to `end`; minutes past retention are null. */
  #chart(deviceGid: number, channel: string, startMs: number, endMs: number, scale: EmporiaScale) {
    const step = SCALE_MS[scale];
    const first = Math.floor(startMs / step) * step;
    const oldestMinute = Date.now() - MINUTE_RETENTION_MS;
    const usageList: (number | null)[] = [];
    for (let at = first; at < endMs; at += step) {
      const future = at + step > Date.now();
      const expired = scale === '1MIN' && at < oldestMinute;
      usageList.push(future || expired ? null : this.home.energyKwh(deviceGid, channel, at, at + step));
    }
    return { firstUsageInstant: ISO_SECOND(first), usageList };
  }
}
