import { createHash, createHmac, hkdfSync, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

/*
 * The server side of the SRP-6a variant AWS Cognito user pools speak (USER_SRP_AUTH), as
 * published for its clients: the RFC 5054 3072-bit group with g = 2, SHA-256, the password hashed
 * with the pool's name and the user's SRP id, a 16-byte HKDF key ("Caldera Derived Key") and an
 * HMAC signature over pool name, user id, secret block and timestamp. Test code only: it lets the
 * Emporia emulator sign a real `amazon-cognito-identity-js` client in without an AWS account.
 */

const N = BigInt(
  '0x' +
    'FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD' +
    'EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED' +
    'EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F' +
    '83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B' +
    'E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510' +
    '15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7' +
    'ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C' +
    'BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF',
);
const G = 2n;

/** Even-length hex of a non-negative number, with a leading 00 when the top bit is set (so it reads as positive). */
function padHex(value: bigint): string {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  return /^[89a-f]/i.test(hex) ? `00${hex}` : hex;
}

const sha256Hex = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');
const hashOfHex = (hex: string): bigint => BigInt(`0x${sha256Hex(Buffer.from(hex, 'hex'))}`);

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
    e >>= 1n;
  }
  return result;
}

const K = hashOfHex(padHex(N) + padHex(G));

/** What the server keeps of a user: the salt and verifier, never the password. */
export interface SrpVerifier {
  userIdForSrp: string;
  salt: bigint;
  verifier: bigint;
}

export function srpVerifier(poolName: string, password: string, userIdForSrp = randomUUID()): SrpVerifier {
  const salt = BigInt(`0x${randomBytes(16).toString('hex')}`);
  const inner = sha256Hex(`${poolName}${userIdForSrp}:${password}`);
  const x = hashOfHex(padHex(salt) + inner);
  return { userIdForSrp, salt, verifier: modPow(G, x, N) };
}

/** One sign-in in progress: the server's secret `b` and the client's `A`, between the two calls. */
export interface SrpChallenge {
  user: SrpVerifier;
  clientA: bigint;
  serverB: bigint;
  serverSecret: bigint;
  secretBlock: Buffer;
}

export function srpChallenge(user: SrpVerifier, clientAHex: string): SrpChallenge | undefined {
  const clientA = BigInt(`0x${clientAHex}`);
  if (clientA % N === 0n) return undefined;
  const serverSecret = BigInt(`0x${randomBytes(32).toString('hex')}`);
  const serverB = (K * user.verifier + modPow(G, serverSecret, N)) % N;
  return { user, clientA, serverB, serverSecret, secretBlock: randomBytes(64) };
}

/** True when `signature` (base64) proves the client knew the password behind the verifier. */
export function srpSignatureValid(
  poolName: string,
  challenge: SrpChallenge,
  timestamp: string,
  signature: string,
): boolean {
  const { user, clientA, serverB, serverSecret, secretBlock } = challenge;
  const u = hashOfHex(padHex(clientA) + padHex(serverB));
  if (u === 0n) return false;
  const shared = modPow((clientA * modPow(user.verifier, u, N)) % N, serverSecret, N);
  const key = Buffer.from(
    hkdfSync(
      'sha256',
      Buffer.from(padHex(shared), 'hex'),
      Buffer.from(padHex(u), 'hex'),
      'Caldera Derived Key',
      16,
    ),
  );
  const expected = createHmac('sha256', key)
    .update(
      Buffer.concat([
        Buffer.from(poolName),
        Buffer.from(user.userIdForSrp),
        secretBlock,
        Buffer.from(timestamp),
      ]),
    )
    .digest();
  const given = Buffer.from(signature, 'base64');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export function hexOf(value: bigint): string {
  return value.toString(16);
}
