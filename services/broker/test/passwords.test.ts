import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DEFAULT_SCRYPT_COST,
  hashPassword,
  parsePasswordHash,
  PasswordHashFormatError,
  verifyPassword,
} from '../src/passwords.js';
import { FAST_COST } from './helpers.js';

describe('passwords', () => {
  test('a hash verifies its own password and no other', async () => {
    const hash = await hashPassword('correct horse', FAST_COST);
    assert.equal(await verifyPassword('correct horse', hash), true);
    assert.equal(await verifyPassword('correct horse ', hash), false);
    assert.equal(await verifyPassword('', hash), false);
  });

  test('verifies the raw bytes an MQTT CONNECT carries', async () => {
    const hash = await hashPassword('pässwörd', FAST_COST);
    assert.equal(await verifyPassword(Buffer.from('pässwörd', 'utf8'), hash), true);
  });

  test('hashes are salted', async () => {
    const [first, second] = await Promise.all([
      hashPassword('same', FAST_COST),
      hashPassword('same', FAST_COST),
    ]);
    assert.notEqual(first, second);
  });

  test('the default cost is written into the hash', async () => {
    const hash = await hashPassword('secret');
    assert.match(hash, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}$/);
    const parsed = parsePasswordHash(hash);
    assert.deepEqual(parsed.cost, DEFAULT_SCRYPT_COST);
    assert.equal(parsed.salt.length, 16);
    assert.equal(parsed.key.length, 32);
  });

  test('refuses strings that are not scrypt hashes', async () => {
    const salt = Buffer.alloc(16).toString('base64');
    const key = Buffer.alloc(32).toString('base64');
    const malformed = [
      'secret',
      `bcrypt$16384$8$1$${salt}$${key}`,
      `scrypt$16384$8$1$${salt}`,
      `scrypt$1000$8$1$${salt}$${key}`, // N not a power of two
      `scrypt$${2 ** 21}$8$1$${salt}$${key}`, // N too costly
      `scrypt$16384$0$1$${salt}$${key}`,
      `scrypt$16384$8$99$${salt}$${key}`,
      `scrypt$16384$8$1$AAAA$${key}`, // salt too short
      `scrypt$16384$8$1$${salt}$AAAA`, // hash too short
    ];
    for (const hash of malformed) {
      assert.throws(() => parsePasswordHash(hash), PasswordHashFormatError, hash);
      await assert.rejects(verifyPassword('secret', hash), PasswordHashFormatError, hash);
    }
  });
});
