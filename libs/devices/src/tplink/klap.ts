import { randomBytes } from 'node:crypto';
import { WattbusError } from '@wattbus/contracts';
import { postToDevice } from './http-post.js';
import {
  KLAP_SEED_BYTES,
  KlapCipher,
  klapAuthHash,
  klapClientProof,
  klapServerProof,
  sameProof,
  splitHandshake1,
  type KlapVersion,
} from './klap-cipher.js';
import { parseAnswer, type DeviceHttp, type TplinkCredentials, type TplinkTransport } from './transport.js';

/**
 * Credentials devices fall back to besides the owner's: Kasa's and Tapo's factory set-up
 * accounts (some firmware answers with them now and then), and blank ones (a plug never bound to
 * a cloud account). Public knowledge, listed by python-kasa among others.
 */
const FALLBACK_CREDENTIALS: readonly TplinkCredentials[] = [
  { username: 'kasa@tp-link.net', password: 'kasaSetup' },
  { username: 'test@tp-link.net', password: 'test' },
  { username: '', password: '' },
];

/** A session cookie lives 24 h unless the device says otherwise; renew a little early. */
const OCTETS = 'application/octet-stream';
const DEFAULT_SESSION_SECONDS = 86_400;
const RENEW_EARLY_MS = 20 * 60_000;

interface Session {
  cipher: KlapCipher;
  cookie: string | undefined;
  expiresAt: number;
}

/** Thrown by handshake1 when the device has no KLAP endpoint (HTTP 404): the caller may try another transport. */
export class KlapNotSupported extends WattbusError {
  constructor(where: string) {
    super('DEVICE_ERROR', `${where} does not speak KLAP (HTTP 404 on /app/handshake1)`);
  }
}

/**
 * TP-Link's KLAP transport over HTTP (see klap-cipher.ts for the cryptography). Handshakes on
 * first use, when the session's time is up, and once more when the device refuses the session
 * (HTTP 403) or sends an answer that does not open with it: the request is then repeated on the
 * new session, so an expired session costs a round trip, not a failed poll.
 */
export class KlapTransport implements TplinkTransport {
  #device: DeviceHttp;
  #preferred: KlapVersion;
  #session: Session | undefined;

  /** `preferredVersion` is tried first: 1 for Kasa firmware, 2 for Tapo. The other is recognised too. */
  constructor(options: DeviceHttp & { preferredVersion: KlapVersion }) {
    this.#device = options;
    this.#preferred = options.preferredVersion;
  }

  async send(request: Record<string, unknown>): Promise<unknown> {
    const plaintext = JSON.stringify(request);
    let renewed = false;
    if (!this.#session || Date.now() >= this.#session.expiresAt) {
      this.#session = await this.#handshake();
      renewed = true;
    }
    for (;;) {
      const session = this.#session;
      const { body, seq } = session.cipher.encryptRequest(plaintext);
      const answer = await postToDevice(
        this.#device,
        `/app/request?seq=${seq}`,
        body,
        OCTETS,
        session.cookie,
      );
      let problem: string;
      if (answer.status === 200) {
        try {
          return parseAnswer(
            session.cipher.open(answer.body, seq).toString('utf8'),
            this.#device.where,
            'a request',
          );
        } catch (error) {
          if (error instanceof WattbusError) throw error;
          problem = `sent ${(error as Error).message}`;
        }
      } else if (answer.status === 403) {
        problem = 'refused the session (HTTP 403)';
      } else {
        throw new WattbusError(
          'DEVICE_ERROR',
          `${this.#device.where} answered a KLAP request with HTTP ${answer.status}`,
          {
            status: answer.status,
          },
        );
      }
      this.#session = undefined;
      if (renewed)
        throw new WattbusError(
          'DEVICE_ERROR',
          `${this.#device.where} ${problem} right after a new handshake`,
        );
      this.#session = await this.#handshake();
      renewed = true;
    }
  }

  close(): void {
    this.#session = undefined;
  }

  async #handshake(): Promise<Session> {
    const local = randomBytes(KLAP_SEED_BYTES);
    const first = await postToDevice(this.#device, '/app/handshake1', local, OCTETS, undefined);
    if (first.status === 404) throw new KlapNotSupported(this.#device.where);
    if (first.status !== 200) {
      throw new WattbusError(
        'DEVICE_ERROR',
        `${this.#device.where} answered KLAP handshake1 with HTTP ${first.status}`,
        {
          status: first.status,
        },
      );
    }
    const parts = splitHandshake1(first.body);
    if (!parts) {
      throw new WattbusError(
        'DEVICE_ERROR',
        `${this.#device.where} answered KLAP handshake1 with ${first.body.length} bytes (expected 48: a 16-byte seed and a 32-byte hash)`,
      );
    }
    const match = this.#matchProof(local, parts.remoteSeed, parts.proof);
    const cookie = first.cookies.get('TP_SESSIONID');
    const second = await postToDevice(
      this.#device,
      '/app/handshake2',
      klapClientProof(match.version, local, parts.remoteSeed, match.auth),
      OCTETS,
      cookie,
    );
    if (second.status !== 200) {
      throw new WattbusError(
        'DEVICE_ERROR',
        `${this.#device.where} refused KLAP handshake2 with HTTP ${second.status}`,
        {
          status: second.status,
        },
      );
    }
    const seconds = Number(first.cookies.get('TIMEOUT'));
    const lifetimeMs = (Number.isFinite(seconds) && seconds > 0 ? seconds : DEFAULT_SESSION_SECONDS) * 1000;
    return {
      cipher: new KlapCipher(local, parts.remoteSeed, match.auth),
      cookie,
      // Renew early, but never sooner than half the lifetime the device gave.
      expiresAt: Date.now() + Math.max(lifetimeMs - RENEW_EARLY_MS, lifetimeMs / 2),
    };
  }

  /**
   * The device proves in handshake1 which credentials it holds. We check the configured account
   * first (both hash generations: firmware updates move Kasa plugs from v1 to v2), then the
   * fallbacks. No match means the account is wrong: the device would refuse handshake2.
   */
  #matchProof(local: Buffer, remote: Buffer, proof: Buffer): { version: KlapVersion; auth: Buffer } {
    const versions: KlapVersion[] = this.#preferred === 1 ? [1, 2] : [2, 1];
    for (const credentials of [this.#device.credentials(), ...FALLBACK_CREDENTIALS]) {
      for (const version of versions) {
        const auth = klapAuthHash(version, credentials.username, credentials.password);
        if (sameProof(klapServerProof(version, local, remote, auth), proof)) return { version, auth };
      }
    }
    throw new WattbusError(
      'DEVICE_AUTH_FAILED',
      `${this.#device.where} does not accept the configured TP-Link account: its KLAP handshake hash matches neither it nor the factory or blank credentials (check username and password, both case-sensitive, of the account the device is bound to)`,
    );
  }
}
