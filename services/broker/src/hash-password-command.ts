import type { Readable, Writable } from 'node:stream';
import { hashPassword } from './passwords.js';

/**
 * `hash-password`: reads a password from `input` (its first line) and writes its scrypt hash, ready
 * for a user's `password_hash`. Reading stdin keeps the password out of the shell history and `ps`.
 */
export async function runHashPassword(input: Readable, output: Writable): Promise<void> {
  const password = await readFirstLine(input);
  if (password.length === 0) {
    throw new Error('hash-password: no password on stdin');
  }
  output.write(`${await hashPassword(password)}\n`);
}

async function readFirstLine(input: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) {
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const lineEnd = text.search(/\r?\n/);
  return lineEnd === -1 ? text : text.slice(0, lineEnd);
}
