import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import {
  KlapCipher,
  PassthroughCipher,
  klapAuthHash,
  klapClientProof,
  klapServerProof,
  sameProof,
  sealHandshakeKey,
  sha1HexBase64,
  type KlapVersion,
} from '@wattbus/devices';
import { KasaState, newSimulatorDevice, type KasaModel } from './kasa-model.js';
import { TapoState, type TapoModel } from './tapo-model.js';

/**
 * A current TP-Link device on a loopback HTTP port: KLAP (handshake1, handshake2, encrypted
 * `/app/request?seq=`) with the Kasa request set (an HS110 or HS300 from
 * tplink-smarthome-simulator) or Tapo's SMART set (P110, P304M); or, for Tapo, the older
 * securePassthrough transport (RSA handshake, `login_device`, AES). It holds one account: a
 * client with other credentials fails the handshake as it would on a real plug. Sessions can be
 * expired on demand, and faults make it answer garbage, too few bytes, HTTP 500 or a wrong hash.
 */
export type KlapFault = 'garbage' | 'short' | 'http-500' | 'bad-hash';

export interface SimulatedKlapOptions {
  family: 'kasa' | 'tapo';
  kasaModel?: KasaModel;
  tapoModel?: TapoModel;
  /** The TP-Link account the device is bound to; blank when left out. */
  username?: string;
  password?: string;
  /** KLAP hash generation: Kasa firmware 1 (default), Tapo 2 (default). */
  klapVersion?: KlapVersion;
  /** Tapo only: `passthrough` has no KLAP endpoint (older firmware). */
  transport?: 'klap' | 'passthrough';
  /** Lifetime announced in the TIMEOUT cookie and enforced, in seconds (default 86400). */
  sessionSeconds?: number;
  host?: string;
  /** Default: a free port. */
  port?: number;
  alias?: string;
}

interface KlapSession {
  local: Buffer;
  remote: Buffer;
  cipher?: KlapCipher;
  expiresAt: number;
}

interface PassthroughSession {
  cipher: PassthroughCipher;
  token?: string;
  expiresAt: number;
}

export class SimulatedKlapDevice {
  readonly host: string;
  readonly family: 'kasa' | 'tapo';
  /** Set for `family: 'kasa'`. */
  readonly kasa: KasaState | undefined;
  /** Set for `family: 'tapo'`. */
  readonly tapo: TapoState | undefined;
  fault: KlapFault | undefined;
  /** The next N requests are carried out, then answered with HTTP 500: a command whose answer is lost. */
  actThenFail = 0;
  /** Acknowledges switch commands without switching: the relay stays as it was. */
  stuckRelay = false;
  handshakes = 0;
  requests = 0;
  /** Requests refused because their session was unknown or expired. */
  refusedSessions = 0;
  #options: SimulatedKlapOptions;
  #version: KlapVersion;
  #auth: Buffer;
  #klap = new Map<string, KlapSession>();
  #passthrough = new Map<string, PassthroughSession>();
  #server: Server;
  #sockets = new Set<Socket>();

  private constructor(options: SimulatedKlapOptions) {
    this.#options = options;
    this.host = options.host ?? '127.0.0.1';
    this.family = options.family;
    this.#version = options.klapVersion ?? (options.family === 'kasa' ? 1 : 2);
    this.#auth = klapAuthHash(this.#version, options.username ?? '', options.password ?? '');
    if (options.family === 'kasa') {
      const model = options.kasaModel ?? 'hs110v2';
      this.kasa = new KasaState(newSimulatorDevice({ model, alias: options.alias }), model);
    } else {
      this.tapo = new TapoState(options.tapoModel ?? 'P110', options.alias);
    }
    this.#server = createServer((req, res) => {
      this.#collect(req)
        .then((body) => this.#route(req, body, res))
        .catch(() => reply(res, 500, 'internal error'));
    });
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
  }

  static async start(options: SimulatedKlapOptions): Promise<SimulatedKlapDevice> {
    const device = new SimulatedKlapDevice(options);
    await new Promise<void>((resolve, reject) => {
      device.#server.once('error', reject);
      device.#server.listen(options.port ?? 0, device.host, () => resolve());
    });
    return device;
  }

  get port(): number {
    return (this.#server.address() as { port: number }).port;
  }

  /** Forgets every session: the next request gets HTTP 403 (KLAP) or error 9999 (securePassthrough). */
  expireSessions(): void {
    this.#klap.clear();
    this.#passthrough.clear();
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #collect(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  #route(req: IncomingMessage, body: Buffer, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://device');
    if (req.method !== 'POST') return reply(res, 405, 'method not allowed');
    if (this.fault === 'http-500')
      return reply(res, 500, '<html><body>500 Internal Server Error</body></html>');
    const passthroughOnly = this.family === 'tapo' && this.#options.transport === 'passthrough';
    if (url.pathname.startsWith('/app/') && passthroughOnly) return reply(res, 404, 'not found');
    if (url.pathname === '/app/handshake1') return this.#handshake1(body, res);
    if (url.pathname === '/app/handshake2') return this.#handshake2(req, body, res);
    if (url.pathname === '/app/request') return this.#request(req, url, body, res);
    if (url.pathname === '/app' && this.family === 'tapo')
      return this.#passthroughRequest(req, url, body, res);
    reply(res, 404, 'not found');
  }

  #handshake1(local: Buffer, res: ServerResponse): void {
    if (local.length !== 16) return reply(res, 400, 'bad seed');
    this.handshakes++;
    const remote = randomBytes(16);
    const id = randomBytes(16).toString('hex').toUpperCase();
    this.#klap.set(id, { local, remote, expiresAt: this.#expiry() });
    const proof =
      this.fault === 'bad-hash' ? randomBytes(32) : klapServerProof(this.#version, local, remote, this.#auth);
    const answer = this.fault === 'short' ? remote.subarray(0, 10) : Buffer.concat([remote, proof]);
    res.writeHead(200, { 'set-cookie': `TP_SESSIONID=${id};TIMEOUT=${this.#seconds()}` });
    res.end(answer);
  }

  #handshake2(req: IncomingMessage, body: Buffer, res: ServerResponse): void {
    const session = this.#klap.get(sessionId(req) ?? '');
    if (!session) return reply(res, 403, 'no session');
    const expected = klapClientProof(this.#version, session.local, session.remote, this.#auth);
    if (!sameProof(body, expected)) return reply(res, 403, 'forbidden');
    session.cipher = new KlapCipher(session.local, session.remote, this.#auth);
    reply(res, 200, '');
  }

  #request(req: IncomingMessage, url: URL, body: Buffer, res: ServerResponse): void {
    const session = this.#klap.get(sessionId(req) ?? '');
    const seq = Number(url.searchParams.get('seq'));
    if (!session?.cipher || Date.now() > session.expiresAt) {
      this.refusedSessions++;
      return reply(res, 403, 'forbidden');
    }
    let plaintext: string;
    try {
      plaintext = session.cipher.open(body, seq).toString('utf8');
    } catch {
      return reply(res, 400, 'bad request');
    }
    this.requests++;
    if (this.fault === 'garbage') return reply(res, 200, randomBytes(64));
    if (this.fault === 'short') return reply(res, 200, randomBytes(12));
    const answer = this.#answer(plaintext);
    if (this.actThenFail > 0) {
      this.actThenFail--;
      return reply(res, 500, 'internal error');
    }
    res.writeHead(200).end(session.cipher.seal(answer, seq));
  }

  /** The request set's answer: Kasa's processor takes JSON text, Tapo's a parsed request. */
  #answer(plaintext: string): string {
    const relays = this.stuckRelay ? this.#relays() : undefined;
    let answer: string;
    if (this.kasa) {
      answer = this.kasa.process(plaintext);
    } else {
      try {
        answer = JSON.stringify(this.tapo!.process(JSON.parse(plaintext) as object));
      } catch {
        answer = JSON.stringify({ error_code: -1003 });
      }
    }
    if (relays) this.#restoreRelays(relays);
    return answer;
  }

  #relays(): boolean[] {
    if (this.tapo) return [this.tapo.on, ...this.tapo.outlets.map((outlet) => outlet.on)];
    const kasa = this.kasa!;
    if (kasa.outlets === 0) return [kasa.relayOn];
    return Array.from({ length: kasa.outlets }, (_, index) => kasa.outletOn(index + 1));
  }

  #restoreRelays(relays: boolean[]): void {
    if (this.tapo) {
      this.tapo.on = relays[0]!;
      this.tapo.outlets.forEach((outlet, index) => (outlet.on = relays[index + 1]!));
      return;
    }
    const kasa = this.kasa!;
    if (kasa.outlets === 0) kasa.relayOn = relays[0]!;
    else relays.forEach((on, index) => kasa.setOutletOn(index + 1, on));
  }

  #passthroughRequest(req: IncomingMessage, url: URL, body: Buffer, res: ServerResponse): void {
    let outer: { method?: unknown; params?: { key?: unknown; request?: unknown } };
    try {
      outer = JSON.parse(body.toString('utf8')) as typeof outer;
    } catch {
      return json(res, { error_code: -1003 });
    }
    if (outer.method === 'handshake') {
      if (typeof outer.params?.key !== 'string') return json(res, { error_code: -1010 });
      this.handshakes++;
      const key = randomBytes(16);
      const iv = randomBytes(16);
      const id = randomBytes(16).toString('hex').toUpperCase();
      this.#passthrough.set(id, { cipher: new PassthroughCipher(key, iv), expiresAt: this.#expiry() });
      if (this.fault === 'garbage') return reply(res, 200, randomBytes(40));
      res.setHeader('set-cookie', `TP_SESSIONID=${id};TIMEOUT=${this.#seconds()}`);
      return json(res, {
        error_code: 0,
        result: { key: sealHandshakeKey(outer.params.key, key, iv).toString('base64') },
      });
    }
    if (outer.method !== 'securePassthrough' || typeof outer.params?.request !== 'string') {
      return json(res, { error_code: -1002 });
    }
    const session = this.#passthrough.get(sessionId(req) ?? '');
    if (!session || Date.now() > session.expiresAt) {
      this.refusedSessions++;
      return json(res, { error_code: 9999 });
    }
    let inner: { method?: unknown; params?: Record<string, unknown> };
    try {
      inner = JSON.parse(session.cipher.decrypt(outer.params.request)) as typeof inner;
    } catch {
      return json(res, { error_code: -1005 });
    }
    let answer: object;
    if (inner.method === 'login_device') {
      answer = this.#login(session, inner.params ?? {});
    } else if (!session.token || url.searchParams.get('token') !== session.token) {
      this.refusedSessions++;
      answer = { error_code: 9999 };
    } else {
      this.requests++;
      answer = this.tapo!.process(inner);
    }
    if (this.fault === 'garbage') return json(res, { error_code: 0, result: { response: 'bm90IEFFUw==' } });
    json(res, { error_code: 0, result: { response: session.cipher.encrypt(JSON.stringify(answer)) } });
  }

  #login(session: PassthroughSession, params: Record<string, unknown>): object {
    const username = sha1HexBase64(this.#options.username ?? '');
    const password = this.#options.password ?? '';
    const passwordOk =
      params.password === Buffer.from(password).toString('base64') ||
      params.password2 === sha1HexBase64(password);
    if (params.username !== username || !passwordOk) return { error_code: -1501 };
    session.token = randomBytes(16).toString('hex');
    return { error_code: 0, result: { token: session.token } };
  }

  #seconds(): number {
    return this.#options.sessionSeconds ?? 86_400;
  }

  #expiry(): number {
    return Date.now() + this.#seconds() * 1000;
  }
}

function sessionId(req: IncomingMessage): string | undefined {
  return /(?:^|;\s*)TP_SESSIONID=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
}

function reply(res: ServerResponse, status: number, body: string | Buffer): void {
  res.writeHead(status).end(body);
}

function json(res: ServerResponse, body: object): void {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
