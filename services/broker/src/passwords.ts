import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Password hashes are stored as `scrypt$N$r$p$saltBase64$hashBase64`, so the cost travels with
 * the hash: raising the default cost later does not invalidate the hashes already in a config.
 */
export const PASSWORD_HASH_PATTERN =
  '^scrypt\\$[0-9]+\\$[0-9]+\\$[0-9]+\\$[A-Za-z0-9+/]+={0,2}\\$[A-Za-z0-9+/]+={0,2}$';

export interface ScryptCost {
  /** CPU/memory cost, a power of two. */
  N: number;
  /** Block size. */
  r: number;
  /** Parallelisation. */
  p: number;
}

/** OWASP's minimum for scrypt; about 50 ms and 16 MiB per hash on a small machine. */
export const DEFAULT_SCRYPT_COST: Readonly<ScryptCost> = { N: 2 ** 14, r: 8, p: 1 };

const SALT_BYTES = 16;
const KEY_BYTES = 32;
const MINIMUM_SALT_BYTES = 8;
const MINIMUM_KEY_BYTES = 16;
// Upper bounds keep a hostile or mistyped config from making one login cost gigabytes.
const MAXIMUM_N = 2 ** 20;
const MAXIMUM_R = 32;
const MAXIMUM_P = 16;

export interface ParsedPasswordHash {
  cost: ScryptCost;
  salt: Buffer;
  key: Buffer;
}

/** Thrown for a string that is not a password hash this module can verify. */
export class PasswordHashFormatError extends Error {
  override name = 'PasswordHashFormatError';
}

export async function hashPassword(plain: string, cost: ScryptCost = DEFAULT_SCRYPT_COST): Promise<string> {
  checkCost(cost);
  const salt = randomBytes(SALT_BYTES);
  const key = await deriveKey(Buffer.from(plain, 'utf8'), salt, KEY_BYTES, cost);
  return formatPasswordHash({ cost, salt, key });
}

/** Constant-time check of `plain` (a string, or the raw bytes an MQTT CONNECT carries) against a hash. */
export async function verifyPassword(plain: string | Uint8Array, hash: string): Promise<boolean> {
  const parsed = parsePasswordHash(hash);
  const candidate = typeof plain === 'string' ? Buffer.from(plain, 'utf8') : plain;
  const key = await deriveKey(candidate, parsed.salt, parsed.key.length, parsed.cost);
  return timingSafeEqual(key, parsed.key);
}

export function parsePasswordHash(hash: string): ParsedPasswordHash {
  if (!new RegExp(PASSWORD_HASH_PATTERN).test(hash)) {
    throw new PasswordHashFormatError('is not a scrypt hash of the form scrypt$N$r$p$salt$hash');
  }
  const [, n, r, p, salt, key] = hash.split('$') as [string, string, string, string, string, string];
  const parsed = {
    cost: { N: Number(n), r: Number(r), p: Number(p) },
    salt: Buffer.from(salt, 'base64'),
    key: Buffer.from(key, 'base64'),
  };
  checkCost(parsed.cost);
  if (parsed.salt.length < MINIMUM_SALT_BYTES) {
    throw new PasswordHashFormatError(`has a salt shorter than ${MINIMUM_SALT_BYTES} bytes`);
  }
  if (parsed.key.length < MINIMUM_KEY_BYTES) {
    throw new PasswordHashFormatError(`has a hash shorter than ${MINIMUM_KEY_BYTES} bytes`);
  }
  return parsed;
}

export function formatPasswordHash({ cost, salt, key }: ParsedPasswordHash): string {
  return ['scrypt', cost.N, cost.r, cost.p, salt.toString('base64'), key.toString('base64')].join('$');
}

/**
 * A well-formed hash nobody's password matches, at the default cost. Checking an unknown user's
 * password against it makes "no such user" take as long as "wrong password".
 */
export function unmatchablePasswordHash(): string {
  return formatPasswordHash({
    cost: { ...DEFAULT_SCRYPT_COST },
    salt: randomBytes(SALT_BYTES),
    key: randomBytes(KEY_BYTES),
  });
}

function checkCost({ N, r, p }: ScryptCost): void {
  const nIsPowerOfTwo = Number.isInteger(N) && N > 1 && (N & (N - 1)) === 0;
  if (!nIsPowerOfTwo || N > MAXIMUM_N) {
    throw new PasswordHashFormatError(`has N=${N}; N must be a power of two from 2 to ${MAXIMUM_N}`);
  }
  if (!Number.isInteger(r) || r < 1 || r > MAXIMUM_R) {
    throw new PasswordHashFormatError(`has r=${r}; r must be an integer from 1 to ${MAXIMUM_R}`);
  }
  if (!Number.isInteger(p) || p < 1 || p > MAXIMUM_P) {
    throw new PasswordHashFormatError(`has p=${p}; p must be an integer from 1 to ${MAXIMUM_P}`);
  }
}

function deriveKey(plain: Uint8Array, salt: Buffer, keyLength: number, cost: ScryptCost): Promise<Buffer> {
  // scrypt needs 128·N·r bytes; node refuses above 32 MiB unless maxmem says otherwise.
  const options: ScryptOptions = { ...cost, maxmem: 256 * cost.N * cost.r };
  return new Promise((resolve, reject) => {
    scrypt(plain, salt, keyLength, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}
