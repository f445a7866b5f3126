import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { dirname } from 'node:path';
import { hashApiKey, makeApiKey } from '@wattbus/gateway';

export interface LocalApiKey {
  key: string;
  hash: string;
  file: string;
  created: boolean;
}

/** The local API key (scopes read and control): made on first start, kept in a mode-600 file. */
export function ensureApiKey(file: string): LocalApiKey {
  if (existsSync(file)) {
    const key = readFileSync(file, 'utf8').trim();
    if (key.length > 0) return { key, hash: hashApiKey(key), file, created: false };
  }
  mkdirSync(dirname(file), { recursive: true });
  const key = makeApiKey();
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { key, hash: hashApiKey(key), file, created: true };
}
