/** Exponential backoff with jitter, bounded; a server's Retry-After wins when it asks for longer. */
export interface BackoffOptions {
  minMs: number;
  maxMs: number;
}

export function backoffDelayMs(attempt: number, options: BackoffOptions, retryAfterMs = 0): number {
  const ceiling = Math.min(options.maxMs, options.minMs * 2 ** Math.max(0, attempt - 1));
  // "Equal jitter": at least half the ceiling, so a struggling server really gets a pause.
  const jittered = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  return Math.max(jittered, Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
}

/** A misconfigured proxy could ask for a day; we wait at most this long between tries. */
const MAX_RETRY_AFTER_MS = 5 * 60_000;

/** Retry-After is delay-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfterMs(value: string | string[] | undefined, now = Date.now()): number {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text.trim() === '') return 0;
  if (/^\s*\d+\s*$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isFinite(date) ? Math.max(0, date - now) : 0;
}
