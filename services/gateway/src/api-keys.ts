import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ApiScope } from '@wattbus/contracts';
import type { ApiKeyEntry } from './config.js';

/** Prefix that makes a leaked key recognisable to secret scanners and people. */
const KEY_PREFIX = 'wbk_';

/** A new API key: 32 random bytes (256 bits), base64url, with a recognisable prefix. */
export function makeApiKey(): string {
  return `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/**
 * What the config stores: sha256 hex of the key. A fast hash is right here because the keys are
 * 256-bit random values, not passwords: no dictionary or brute force reaches them, so a slow
 * hash (scrypt) would only add its cost to every HTTP request.
 */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/**
 * A new key and the entry that admits it (its sha256 only): what `make-key` prints and
 * `npm run setup:production` puts in WATTBUS_GATEWAY_API_KEYS, so the two cannot disagree.
 */
export function newApiKeyEntry(
  name: string,
  scopes: readonly ApiScope[],
): { key: string; entry: ApiKeyEntry } {
  const key = makeApiKey();
  return { key, entry: { name, sha256: hashApiKey(key), scopes: [...scopes] } };
}

export interface ApiClient {
  /** The key's name from the config; logged instead of the key. */
  name: string;
  scopes: readonly ApiScope[];
}

/** Checks presented keys against the configured hashes. */
export class ApiKeys {
  #entries: { name: string; hash: Buffer; scopes: readonly ApiScope[] }[];

  constructor(entries: readonly ApiKeyEntry[]) {
    this.#entries = entries.map((entry) => ({
      name: entry.name,
      hash: Buffer.from(entry.sha256, 'hex'),
      scopes: entry.scopes,
    }));
  }

  get size(): number {
    return this.#entries.length;
  }

  /** The client owning `key`, or undefined. Compares against every entry in constant time. */
  identify(key: string): ApiClient | undefined {
    const presented = createHash('sha256').update(key, 'utf8').digest();
    let found: ApiClient | undefined;
    for (const entry of this.#entries) {
      if (timingSafeEqual(presented, entry.hash) && !found)
        found = { name: entry.name, scopes: entry.scopes };
    }
    return found;
  }
}

/**
 * The key from `Authorization: Bearer <key>` or `X-API-Key: <key>`; undefined when neither is
 * sent, null when a header is there but malformed (another auth scheme, empty value).
 */
export function presentedKey(headers: {
  authorization?: string | undefined;
  'x-api-key'?: string | string[] | undefined;
}): string | undefined | null {
  const authorization = headers.authorization;
  if (authorization !== undefined) {
    const match = /^Bearer +(\S+) *$/i.exec(authorization);
    return match ? match[1]! : null;
  }
  const header = headers['x-api-key'];
  if (header === undefined) return undefined;
  if (Array.isArray(header) || header.trim() === '') return null;
  return header.trim();
}
