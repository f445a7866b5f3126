import { pbkdf2Sync, randomBytes } from 'node:crypto';

/**
 * One line of a mosquitto 2 password file, in the format `mosquitto_passwd` writes (`$7$`:
 * PBKDF2-SHA512, 101 iterations, 12-byte salt, base64), so no mosquitto needs to be installed
 * where the file is made.
 */
export function mosquittoPasswordLine(username: string, password: string): string {
  const iterations = 101;
  const salt = randomBytes(12);
  const hash = pbkdf2Sync(password, salt, iterations, 64, 'sha512');
  return `${username}:$7$${iterations}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** The user names of a password file's lines. */
export function passwordFileUsers(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.includes(':') && !line.startsWith('#'))
    .map((line) => line.slice(0, line.indexOf(':')));
}

/** The `user <name>` sections of a mosquitto ACL file, in order. */
export function aclUsers(acl: string): string[] {
  return [...acl.matchAll(/^user\s+(\S+)\s*$/gm)].map((match) => match[1]!);
}
