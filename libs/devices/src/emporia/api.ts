import type { Static, TSchema } from '@sinclair/typebox';
import { WattbusError } from '@wattbus/contracts';
import { classifyDeviceError } from '../errors.js';
import { checked } from '../shelly/convert.js';
import type { EmporiaSignIn } from './sign-in.js';

/**
 * How long to leave the cloud alone after a 429 or 5xx: its Retry-After, but at least 1 s doubling
 * with each refusal in a row, capped at `maxMs` (the device's max_backoff_ms), the same growth as
 * the collector's own backoff for an offline device.
 */
export class HoldOff {
  #refusals = 0;
  #until = 0;
  readonly maxMs: number;

  constructor(maxMs: number) {
    this.maxMs = maxMs;
  }

  /** Milliseconds still to wait, 0 when a request may go out. */
  remainingMs(now = Date.now()): number {
    return Math.max(0, this.#until - now);
  }

  refused(retryAfterMs: number, now = Date.now()): number {
    const waitMs = Math.max(retryAfterMs, Math.min(this.maxMs, 1000 * 2 ** Math.min(this.#refusals, 30)));
    this.#refusals++;
    this.#until = now + waitMs;
    return waitMs;
  }

  succeeded(): void {
    this.#refusals = 0;
    this.#until = 0;
  }
}

/** Retry-After in seconds or as an HTTP date, in ms; 0 when absent or unreadable. */
function retryAfterMs(header: string | null): number {
  if (!header) return 0;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? 0 : Math.max(0, at - Date.now());
}

/**
 * GET requests to Emporia's API with the account's id token in the `authtoken` header. A 401
 * renews the token and repeats the request once; a 429 or 5xx starts a hold-off during which
 * requests fail at once without reaching the cloud, so many channels polling never add up to a
 * burst of retries. Answers are checked against their schema.
 */
export class EmporiaApi {
  readonly apiUrl: string;
  #signIn: EmporiaSignIn;
  #holdOff: HoldOff;

  constructor(options: { apiUrl: string; signIn: EmporiaSignIn; maxBackoffMs: number }) {
    this.apiUrl = options.apiUrl.replace(/\/+$/, '');
    this.#signIn = options.signIn;
    this.#holdOff = new HoldOff(options.maxBackoffMs);
  }

  async get<S extends TSchema>(path: string, schema: S, what: string, timeoutMs: number): Promise<Static<S>> {
    const where = `Emporia cloud (${what})`;
    const waitMs = this.#holdOff.remainingMs();
    if (waitMs > 0) {
      throw new WattbusError(
        'DEVICE_ERROR',
        `${where}: holding off after a refusal, next request in ${Math.ceil(waitMs / 1000)} s`,
      );
    }
    let response = await this.#fetch(path, await this.#signIn.idToken(timeoutMs), timeoutMs, where);
    if (response.status === 401) {
      response = await this.#fetch(path, await this.#signIn.renew(timeoutMs), timeoutMs, where);
      if (response.status === 401) {
        throw new WattbusError('DEVICE_AUTH_FAILED', `${where} refused a freshly renewed token (401)`);
      }
    }
    if (response.status === 429 || response.status >= 500) {
      const heldMs = this.#holdOff.refused(retryAfterMs(response.headers.get('retry-after')));
      await response.body?.cancel();
      const reason = response.status === 429 ? 'rate limit (429)' : `server error (${response.status})`;
      throw new WattbusError(
        'DEVICE_ERROR',
        `${where}: ${reason}; next request in ${Math.ceil(heldMs / 1000)} s`,
      );
    }
    if (!response.ok) {
      const text = (await response.text().catch(() => '')).slice(0, 200);
      throw new WattbusError('DEVICE_ERROR', `${where} answered ${response.status}: ${text}`);
    }
    let body: unknown;
    try {
      body = await response.json();
    } catch {
      throw new WattbusError('DEVICE_ERROR', `${where} answered something that is not JSON`);
    }
    this.#holdOff.succeeded();
    return checked(schema, body, where, what);
  }

  async #fetch(path: string, token: string, timeoutMs: number, where: string): Promise<Response> {
    try {
      return await fetch(`${this.apiUrl}/${path}`, {
        headers: { authtoken: token, accept: 'application/json' },
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      if ((error as Error).name === 'TimeoutError') {
        throw new WattbusError('DEVICE_TIMEOUT', `${where} did not answer within ${timeoutMs} ms`);
      }
      throw classifyDeviceError((error as { cause?: unknown }).cause ?? error, where);
    }
  }
}
