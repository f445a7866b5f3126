import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface SecretFile {
  value: string;
  file: string;
  /** Made on this start (the banner shows it once as new). */
  created: boolean;
}

/**
 * A secret made once and kept across restarts in a file only its owner may read (mode 600): the
 * file's content when it has one, otherwise `make()` written there.
 */
export function ensureSecretFile(file: string, make: () => string): SecretFile {
  if (existsSync(file)) {
    const value = readFileSync(file, 'utf8').trim();
    if (value.length > 0) {
      // A copy restored from a backup may have lost its mode.
      chmodSync(file, 0o600);
      return { value, file, created: false };
    }
  }
  mkdirSync(dirname(file), { recursive: true });
  const value = make();
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { value, file, created: true };
}
