import {
  constants,
  createHash,
  createCipheriv,
  createDecipheriv,
  generateKeyPairSync,
  privateDecrypt,
  publicEncrypt,
  type KeyObject,
} from 'node:crypto';

/**
 * The cryptography of TP-Link's older "securePassthrough" transport (Tapo firmware before KLAP):
 * the client sends an RSA public key (PEM, SubjectPublicKeyInfo) in a `handshake` request; the
 * device answers 32 random bytes encrypted to it with RSA PKCS#1 v1.5, base64: an AES-128 key
 * and an IV. Every later request and answer is AES-128-CBC (PKCS#7) under them, base64.
 */

export interface PassthroughKeyPair {
  publicPem: string;
  privateKey: KeyObject;
}

/** A fresh 1024-bit RSA key pair (the size the firmware accepts) for one handshake. */
export function passthroughKeyPair(): PassthroughKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  return { publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), privateKey };
}

/**
 * Decrypts the device's handshake key. Node (since the Marvin advisory, CVE-2023-46809) no longer
 * decrypts PKCS#1 v1.5 with a private key, so the RSA step runs without padding and the v1.5
 * block (00 02 nonzero-random 00 message) is checked here. The key pair is ours, fresh for this
 * handshake, and the only party that could use a padding oracle is the device we are talking to,
 * which already knows the plaintext: the attack the advisory guards against does not apply.
 */
export function openHandshakeKey(privateKey: KeyObject, encrypted: Buffer): { key: Buffer; iv: Buffer } {
  const block = privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, encrypted);
  const separator = block.indexOf(0, 2);
  if (block[0] !== 0 || block[1] !== 2 || separator < 10) {
    throw new Error('a handshake key that is not a PKCS#1 v1.5 block for our key');
  }
  const secret = block.subarray(separator + 1);
  if (secret.length !== 32) throw new Error(`a handshake key of ${secret.length} bytes (expected 32)`);
  return { key: Buffer.from(secret.subarray(0, 16)), iv: Buffer.from(secret.subarray(16)) };
}

/** What the device does with our public key (used by the simulated plug). */
export function sealHandshakeKey(publicPem: string, key: Buffer, iv: Buffer): Buffer {
  return publicEncrypt({ key: publicPem, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([key, iv]));
}

export class PassthroughCipher {
  readonly #key: Buffer;
  readonly #iv: Buffer;

  constructor(key: Buffer, iv: Buffer) {
    this.#key = key;
    this.#iv = iv;
  }

  encrypt(plaintext: string): string {
    const cipher = createCipheriv('aes-128-cbc', this.#key, this.#iv);
    return Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]).toString('base64');
  }

  /** Throws a plain Error when the text is not base64 AES under this session's key. */
  decrypt(base64: string): string {
    const ciphertext = Buffer.from(base64, 'base64');
    if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) {
      throw new Error(`an encrypted answer of ${ciphertext.length} bytes (not AES blocks)`);
    }
    const decipher = createDecipheriv('aes-128-cbc', this.#key, this.#iv);
    try {
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
    } catch {
      throw new Error('an answer that does not decrypt with the session key');
    }
  }
}

/** base64 of the hex SHA-1 of `text`: how login_device carries the account (and, in login v2, the password). */
export function sha1HexBase64(text: string): string {
  return Buffer.from(createHash('sha1').update(text).digest('hex')).toString('base64');
}
