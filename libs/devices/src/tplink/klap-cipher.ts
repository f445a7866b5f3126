import { createCipheriv, createDecipheriv, createHash, timingSafeEqual } from 'node:crypto';

/**
 * The cryptography of TP-Link's KLAP transport (HTTP `/app/handshake1`, `/app/handshake2`,
 * `/app/request?seq=N`), shared by the driver and the simulated plug. Everything is node:crypto;
 * this module only arranges the inputs.
 *
 * - The credentials become an auth hash. Two generations exist: v1 (Kasa "IOT" firmware)
 *   md5(md5(username) ‖ md5(password)); v2 (Tapo, and Kasa firmware updated since)
 *   sha256(sha1(username) ‖ sha1(password)).
 * - handshake1: the client sends a 16-byte local seed; the device answers a 16-byte remote seed
 *   and a 32-byte proof that it knows the same auth hash: v1 sha256(local ‖ auth),
 *   v2 sha256(local ‖ remote ‖ auth).
 * - handshake2: the client proves it too: v1 sha256(remote ‖ auth), v2 sha256(remote ‖ local ‖ auth).
 * - Session keys from seeds and auth hash: key = sha256("lsk" ‖ local ‖ remote ‖ auth)[0..16),
 *   iv = sha256("iv" ‖ …)[0..12) with the last 4 bytes of that hash as the starting sequence
 *   number (signed 32-bit, big-endian), signature key = sha256("ldk" ‖ …)[0..28).
 * - Each request increments seq; body = sha256(sigkey ‖ seq ‖ ciphertext) ‖ ciphertext, where
 *   ciphertext = AES-128-CBC(key, iv ‖ seq) with PKCS#7 padding. The answer uses the same seq.
 */

export type KlapVersion = 1 | 2;

const SEED_BYTES = 16;
const HASH_BYTES = 32;
const SIGNATURE_BYTES = 32;

function digest(algorithm: 'md5' | 'sha1' | 'sha256', ...parts: (Buffer | string)[]): Buffer {
  const hash = createHash(algorithm);
  for (const part of parts) hash.update(part);
  return hash.digest();
}

export function klapAuthHash(version: KlapVersion, username: string, password: string): Buffer {
  return version === 1
    ? digest('md5', digest('md5', username), digest('md5', password))
    : digest('sha256', digest('sha1', username), digest('sha1', password));
}

/** What the device sends after its remote seed in answer to handshake1. */
export function klapServerProof(version: KlapVersion, local: Buffer, remote: Buffer, auth: Buffer): Buffer {
  return version === 1 ? digest('sha256', local, auth) : digest('sha256', local, remote, auth);
}

/** What the client sends as the body of handshake2. */
export function klapClientProof(version: KlapVersion, local: Buffer, remote: Buffer, auth: Buffer): Buffer {
  return version === 1 ? digest('sha256', remote, auth) : digest('sha256', remote, local, auth);
}

/** Compares two proofs in constant time; false for different lengths. */
export function sameProof(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Splits a handshake1 answer; undefined when it is not 16 + 32 bytes. */
export function splitHandshake1(body: Buffer): { remoteSeed: Buffer; proof: Buffer } | undefined {
  if (body.length !== SEED_BYTES + HASH_BYTES) return undefined;
  return { remoteSeed: body.subarray(0, SEED_BYTES), proof: body.subarray(SEED_BYTES) };
}

export const KLAP_SEED_BYTES = SEED_BYTES;

/** A KLAP session's keys and its sequence number; one per handshake. */
export class KlapCipher {
  readonly #key: Buffer;
  readonly #ivPrefix: Buffer;
  readonly #signatureKey: Buffer;
  #seq: number;

  constructor(local: Buffer, remote: Buffer, auth: Buffer) {
    this.#key = digest('sha256', 'lsk', local, remote, auth).subarray(0, 16);
    const iv = digest('sha256', 'iv', local, remote, auth);
    this.#ivPrefix = iv.subarray(0, 12);
    this.#seq = iv.readInt32BE(28);
    this.#signatureKey = digest('sha256', 'ldk', local, remote, auth).subarray(0, 28);
  }

  /** The sequence number of the last request (the device checks it against `?seq=`). */
  get seq(): number {
    return this.#seq;
  }

  /** Encrypts and signs the next request; returns its body and its sequence number. */
  encryptRequest(plaintext: string | Buffer): { body: Buffer; seq: number } {
    this.#seq = (this.#seq + 1) | 0;
    return { body: this.seal(plaintext, this.#seq), seq: this.#seq };
  }

  /** Signature ‖ AES-128-CBC ciphertext of `plaintext` under sequence number `seq`. */
  seal(plaintext: string | Buffer, seq: number): Buffer {
    const cipher = createCipheriv('aes-128-cbc', this.#key, this.#iv(seq));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([this.#signature(seq, ciphertext), ciphertext]);
  }

  /**
   * Checks the signature and decrypts a body sealed under `seq`. Throws a plain Error naming what
   * is wrong (too short, bad signature, bad padding): the caller classifies it.
   */
  open(body: Buffer, seq: number): Buffer {
    if (body.length < SIGNATURE_BYTES + 16 || (body.length - SIGNATURE_BYTES) % 16 !== 0) {
      throw new Error(`an encrypted body of ${body.length} bytes (expected 32 + a multiple of 16)`);
    }
    const ciphertext = body.subarray(SIGNATURE_BYTES);
    if (!sameProof(body.subarray(0, SIGNATURE_BYTES), this.#signature(seq, ciphertext))) {
      throw new Error('a body whose signature does not match the session');
    }
    const decipher = createDecipheriv('aes-128-cbc', this.#key, this.#iv(seq));
    try {
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    } catch {
      throw new Error('a body that does not decrypt with the session key');
    }
  }

  #iv(seq: number): Buffer {
    const suffix = Buffer.alloc(4);
    suffix.writeInt32BE(seq);
    return Buffer.concat([this.#ivPrefix, suffix]);
  }

  #signature(seq: number, ciphertext: Buffer): Buffer {
    const seqBytes = Buffer.alloc(4);
    seqBytes.writeInt32BE(seq);
    return digest('sha256', this.#signatureKey, seqBytes, ciphertext);
  }
}
