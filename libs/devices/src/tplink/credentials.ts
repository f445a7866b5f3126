import { readFileSync } from 'node:fs';
import { WattbusError } from '@wattbus/contracts';
import type { TplinkCredentials } from './transport.js';

/** The registry keys that name the account; the values themselves never sit in the registry or a log. */
export interface CredentialKeys {
  username?: string;
  username_env?: string;
  password_env?: string;
  password_file?: string;
}

/**
 * Resolves the account at each handshake, so a rotated secret is picked up without a restart.
 * Nothing configured means blank credentials (a plug never bound to a cloud account). A named
 * variable that is unset, or a file that cannot be read, is DEVICE_AUTH_FAILED naming the key,
 * never its value.
 */
export function credentialsOf(keys: CredentialKeys, where: string): TplinkCredentials {
  const fail = (problem: string): never => {
    throw new WattbusError('DEVICE_AUTH_FAILED', `${where}: ${problem}`);
  };
  let username = keys.username ?? '';
  if (keys.username_env !== undefined) {
    username =
      process.env[keys.username_env] ??
      fail(`environment variable ${keys.username_env} (username_env) is not set`);
  }
  let password = '';
  if (keys.password_env !== undefined) {
    password =
      process.env[keys.password_env] ??
      fail(`environment variable ${keys.password_env} (password_env) is not set`);
  } else if (keys.password_file !== undefined) {
    try {
      // Secret files (Docker/Kubernetes secrets) usually end with a newline that is not part of it.
      password = readFileSync(keys.password_file, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      fail(
        `cannot read password_file ${keys.password_file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
  }
  return { username, password };
}
