import { WattbusError } from '@wattbus/contracts';
import { postToDevice } from './http-post.js';
import {
  PassthroughCipher,
  openHandshakeKey,
  passthroughKeyPair,
  sha1HexBase64,
} from './passthrough-cipher.js';
import { parseAnswer, type DeviceHttp, type TplinkTransport } from './transport.js';

/** SMART error codes this transport acts on (the device's `error_code`). */
const SESSION_EXPIRED = 9999;
const LOGIN_REFUSED = new Set([-1501, 1111, 1100, 1003]);

interface Session {
  cipher: PassthroughCipher;
  cookie: string | undefined;
  token: string;
}

interface Envelope {
  error_code?: unknown;
  result?: Record<string, unknown>;
}

/**
 * The "securePassthrough" transport of Tapo firmware before KLAP (see passthrough-cipher.ts):
 * `POST /app` handshake with our RSA key, `login_device` with the account, then every request
 * AES-encrypted inside a `securePassthrough` request to `/app?token=…`. An expired session
 * (error 9999, or HTTP 403) is renewed once and the request repeated.
 */
export class PassthroughTransport implements TplinkTransport {
  #device: DeviceHttp;
  #session: Session | undefined;

  constructor(options: DeviceHttp) {
    this.#device = options;
  }

  async send(request: Record<string, unknown>): Promise<unknown> {
    let renewed = false;
    if (!this.#session) {
      this.#session = await this.#login();
      renewed = true;
    }
    for (;;) {
      const session = this.#session;
      const answer = await this.#call(session, `?token=${encodeURIComponent(session.token)}`, request);
      if (answer !== 'expired') return answer;
      this.#session = undefined;
      if (renewed)
        throw new WattbusError(
          'DEVICE_ERROR',
          `${this.#device.where} ended the session right after a new login`,
        );
      this.#session = await this.#login();
      renewed = true;
    }
  }

  close(): void {
    this.#session = undefined;
  }

  async #login(): Promise<Session> {
    const credentials = this.#device.credentials();
    const username = sha1HexBase64(credentials.username);
    // login_version 1 sends the password itself (base64), version 2 its SHA-1; a device knows one.
    const attempts = [
      { username, password: Buffer.from(credentials.password).toString('base64') },
      { username, password2: sha1HexBase64(credentials.password) },
    ];
    for (const params of attempts) {
      const session = await this.#handshake();
      const envelope = await this.#call(session, '', { method: 'login_device', params });
      if (envelope === 'expired')
        throw new WattbusError('DEVICE_ERROR', `${this.#device.where} ended the session during login`);
      const code = envelope.error_code;
      if (typeof code === 'number' && LOGIN_REFUSED.has(code)) continue;
      const token = checkEnvelope(envelope, this.#device.where, 'login_device').token;
      if (typeof token !== 'string' || token.length === 0) {
        throw new WattbusError('DEVICE_ERROR', `${this.#device.where} answered login_device without a token`);
      }
      return { ...session, token };
    }
    throw new WattbusError(
      'DEVICE_AUTH_FAILED',
      `${this.#device.where} refused the configured TP-Link account at login (check username and password, both case-sensitive, of the account the device is bound to)`,
    );
  }

  async #handshake(): Promise<Omit<Session, 'token'>> {
    const keys = passthroughKeyPair();
    const answer = await postJson(
      this.#device,
      '/app',
      { method: 'handshake', params: { key: keys.publicPem } },
      undefined,
    );
    if (answer.status !== 200) {
      throw new WattbusError(
        'DEVICE_ERROR',
        `${this.#device.where} answered the securePassthrough handshake with HTTP ${answer.status}`,
        {
          status: answer.status,
        },
      );
    }
    const envelope = parseAnswer(
      answer.body.toString('utf8'),
      this.#device.where,
      'the handshake',
    ) as Envelope;
    const key = checkEnvelope(envelope, this.#device.where, 'handshake').key;
    if (typeof key !== 'string')
      throw new WattbusError('DEVICE_ERROR', `${this.#device.where} answered the handshake without a key`);
    let opened;
    try {
      opened = openHandshakeKey(keys.privateKey, Buffer.from(key, 'base64'));
    } catch (error) {
      throw new WattbusError('DEVICE_ERROR', `${this.#device.where} sent ${(error as Error).message}`);
    }
    const cookie = answer.cookies.get('TP_SESSIONID') ?? answer.cookies.get('SESSIONID');
    return { cipher: new PassthroughCipher(opened.key, opened.iv), cookie };
  }

  /** One request wrapped in securePassthrough; the inner answer, or 'expired'. */
  async #call(
    session: Omit<Session, 'token'>,
    query: string,
    request: Record<string, unknown>,
  ): Promise<Envelope | 'expired'> {
    const wrapped = {
      method: 'securePassthrough',
      params: { request: session.cipher.encrypt(JSON.stringify(request)) },
    };
    const answer = await postJson(this.#device, `/app${query}`, wrapped, session.cookie);
    if (answer.status === 403) return 'expired';
    if (answer.status !== 200) {
      throw new WattbusError(
        'DEVICE_ERROR',
        `${this.#device.where} answered a securePassthrough request with HTTP ${answer.status}`,
        {
          status: answer.status,
        },
      );
    }
    const outer = parseAnswer(
      answer.body.toString('utf8'),
      this.#device.where,
      'a securePassthrough request',
    ) as Envelope;
    if (outer.error_code === SESSION_EXPIRED) return 'expired';
    const response = checkEnvelope(outer, this.#device.where, 'securePassthrough').response;
    if (typeof response !== 'string') {
      throw new WattbusError(
        'DEVICE_ERROR',
        `${this.#device.where} answered securePassthrough without a response`,
      );
    }
    let inner: string;
    try {
      inner = session.cipher.decrypt(response);
    } catch (error) {
      throw new WattbusError('DEVICE_ERROR', `${this.#device.where} sent ${(error as Error).message}`);
    }
    const envelope = parseAnswer(inner, this.#device.where, 'a securePassthrough request') as Envelope;
    return envelope.error_code === SESSION_EXPIRED ? 'expired' : envelope;
  }
}

function postJson(
  device: DeviceHttp,
  path: string,
  body: Record<string, unknown>,
  cookie: string | undefined,
) {
  return postToDevice(device, path, JSON.stringify(body), 'application/json', cookie);
}

/** The `result` of a SMART answer, or DEVICE_ERROR naming the device's error code. */
export function checkEnvelope(envelope: unknown, where: string, method: string): Record<string, unknown> {
  if (typeof envelope !== 'object' || envelope === null) {
    throw new WattbusError('DEVICE_ERROR', `${where} answered ${method} with ${JSON.stringify(envelope)}`);
  }
  const { error_code: code, result } = envelope as Envelope;
  if (code !== 0) {
    throw new WattbusError(
      'DEVICE_ERROR',
      `${where} answered ${method} with error_code ${JSON.stringify(code)}`,
      {
        error_code: code,
      },
    );
  }
  return typeof result === 'object' && result !== null ? result : {};
}
