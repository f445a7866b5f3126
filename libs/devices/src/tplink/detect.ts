import { randomBytes } from 'node:crypto';
import { httpPost } from './http-post.js';
import { KLAP_SEED_BYTES, splitHandshake1 } from './klap-cipher.js';

/** Where current Kasa and Tapo firmware listens for KLAP. */
export const KLAP_PORT = 80;

/**
 * Asks `host` whether it speaks KLAP on port 80: a handshake1 with a random seed answered by
 * 48 bytes. Used when port 9999 refuses the connection, so the error can say that the plug is
 * up and what to put in the registry, instead of pointing at the network. Never throws.
 */
export async function klapHint(host: string, timeoutMs: number): Promise<string | undefined> {
  try {
    const answer = await httpPost({
      host,
      port: KLAP_PORT,
      path: '/app/handshake1',
      body: randomBytes(KLAP_SEED_BYTES),
      timeoutMs,
    });
    if (answer.status !== 200 || !splitHandshake1(answer.body)) return undefined;
    return `but port ${KLAP_PORT} answers KLAP: the plug runs newer Kasa firmware. Set 'protocol: klap' (or 'protocol: tapo' for a Tapo device) and the TP-Link account ('username' or 'username_env', and 'password_env' or 'password_file') in its registry connection`;
  } catch {
    return undefined;
  }
}
