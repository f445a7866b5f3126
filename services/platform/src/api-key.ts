import { hashApiKey, makeApiKey } from '@wattbus/gateway';
import { ensureSecretFile } from './secret-file.js';

export interface LocalApiKey {
  key: string;
  hash: string;
  file: string;
  created: boolean;
}

/** The local API key (scopes read and control): made on first start, kept in a mode-600 file. */
export function ensureApiKey(file: string): LocalApiKey {
  const { value, created } = ensureSecretFile(file, makeApiKey);
  return { key: value, hash: hashApiKey(value), file, created };
}
