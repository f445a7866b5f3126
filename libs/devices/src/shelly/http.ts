import { WattbusError } from '@wattbus/contracts';
import { classifyDeviceError } from '../errors.js';
import { digestAuthorization, parseDigestChallenge, type DigestChallenge } from './digest.js';

export interface ShellyCredentials {
  username: string;
  password: string;
}

export type ShellyAuthScheme = 'basic' | 'digest';

/** Longest body we read; Shelly answers are a few kB, anything far larger is not a Shelly. */
const MAX_BODY_BYTES = 256 * 1024;

/**
 * GETs JSON from one Shelly over Node's fetch. Gen1 wants HTTP Basic (sent up front), Gen2+
 * RFC 7616 Digest with SHA-256: the first request draws a 401 challenge, later ones reuse its
 * nonce with a growing nc (firmware 2.0+); a 401 on a reused nonce is answered once more with
 * the fresh challenge before it counts as DEVICE_AUTH_FAILED. Every failure becomes a
 * WattbusError naming the device and the path.
 */
export class ShellyHttp {
  #base: string;
  #where: string;
  #credentials: ShellyCredentials | undefined;
  #challenge: DigestChallenge | undefined;
  #nc = 0;

  constructor(options: { host: string; port: number; where: string; credentials?: ShellyCredentials }) {
    const host =
      options.host.includes(':') && !options.host.startsWith('[') ? `[${options.host}]` : options.host;
    this.#base = `http://${host}:${options.port}`;
    this.#where = options.where;
    this.#credentials = options.credentials;
  }

  /** `path` includes the query; `scheme` says how to authenticate if the device asks. */
  async getJson(path: string, scheme: ShellyAuthScheme, signal: AbortSignal): Promise<unknown> {
    let response = await this.#fetch(path, this.#authorization(path, scheme), signal);
    if (response.status === 401 && scheme === 'digest' && this.#credentials) {
      const challenge = parseDigestChallenge(response.headers.get('www-authenticate'));
      await response.body?.cancel();
      if (!challenge) {
        throw new WattbusError(
          'DEVICE_AUTH_FAILED',
          `${this.#where} refused ${path} without a digest challenge`,
        );
      }
      this.#challenge = challenge;
      this.#nc = 0;
      response = await this.#fetch(path, this.#authorization(path, scheme), signal);
    }
    const text = await this.#body(response, path, signal);
    if (response.status === 401) {
      this.#challenge = undefined;
      throw new WattbusError(
        'DEVICE_AUTH_FAILED',
        this.#credentials
          ? `${this.#where} refused the password of '${this.#credentials.username}' for ${path}`
          : `${this.#where} requires a password for ${path} (set connection.password or password_env)`,
        { status: 401 },
      );
    }
    if (response.status < 200 || response.status > 299) {
      throw new WattbusError(
        'DEVICE_ERROR',
        `${this.#where} answered ${path} with HTTP ${response.status}${snippet(text)}`,
        { status: response.status },
      );
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new WattbusError(
        'DEVICE_ERROR',
        `${this.#where} answered ${path} with something that is not JSON${snippet(text)}`,
      );
    }
  }

  #authorization(path: string, scheme: ShellyAuthScheme): string | undefined {
    const credentials = this.#credentials;
    if (!credentials) return undefined;
    if (scheme === 'basic') {
      return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
    }
    if (!this.#challenge) return undefined;
    this.#nc++;
    return digestAuthorization(
      this.#challenge,
      // Gen2+ devices have one user, always 'admin'.
      { username: 'admin', password: credentials.password },
      { method: 'GET', uri: path, nc: this.#nc },
    );
  }

  async #fetch(path: string, authorization: string | undefined, signal: AbortSignal): Promise<Response> {
    try {
      return await fetch(`${this.#base}${path}`, {
        headers: { accept: 'application/json', ...(authorization ? { authorization } : {}) },
        signal,
        redirect: 'error',
      });
    } catch (error) {
      throw this.#classify(error, signal);
    }
  }

  async #body(response: Response, path: string, signal: AbortSignal): Promise<string> {
    const declared = Number(response.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) {
      await response.body?.cancel();
      throw new WattbusError(
        'DEVICE_ERROR',
        `${this.#where} answered ${path} with ${declared} bytes, more than a Shelly sends`,
      );
    }
    try {
      return await response.text();
    } catch (error) {
      throw this.#classify(error, signal);
    }
  }

  #classify(error: unknown, signal: AbortSignal): WattbusError {
    if (error instanceof WattbusError) return error;
    if (signal.aborted) {
      const reason = signal.reason as { name?: string } | undefined;
      if (reason?.name === 'TimeoutError') {
        return new WattbusError('DEVICE_TIMEOUT', `${this.#where} did not answer in time`);
      }
      return new WattbusError('DEVICE_ERROR', `${this.#where}: request aborted`);
    }
    // fetch wraps socket errors: TypeError('fetch failed') with the socket error as its cause.
    const cause = (error as { cause?: unknown }).cause ?? error;
    const code = (cause as { code?: unknown } | null)?.code;
    if (code === 'UND_ERR_SOCKET' || code === 'UND_ERR_CLOSED') {
      return new WattbusError('DEVICE_UNREACHABLE', `${this.#where} closed the connection`, { cause: code });
    }
    if (typeof code === 'string' && code.startsWith('UND_ERR_') && code.endsWith('_TIMEOUT')) {
      return new WattbusError('DEVICE_TIMEOUT', `${this.#where} did not answer in time`, { cause: code });
    }
    return classifyDeviceError(cause, this.#where);
  }
}

function snippet(text: string): string {
  const trimmed = text.replace(/\s+/g, ' ').trim();
  return trimmed ? `: ${JSON.stringify(trimmed.slice(0, 120))}` : '';
}
