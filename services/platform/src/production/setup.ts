import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureLocalCertificates } from '@wattbus/certificates';
import type { ApiScope } from '@wattbus/contracts';
import { newApiKeyEntry, type ApiKeyEntry } from '@wattbus/gateway';
import { envValues, formatEnvFile, parseEnvFile, type EnvLine } from './env-file.js';
import { aclUsers, mosquittoPasswordLine, passwordFileUsers } from './mosquitto-passwd.js';

/** The users the containers run as: eclipse-mosquitto's `mosquitto`, our image's `node`. */
export const CONTAINER_USERS = { mosquitto: 1883, node: 1000 } as const;

export interface ProductionSetupOptions {
  /** Where docker-compose.yml, .env.example and mosquitto/acl.example are. */
  dir: string;
  /** Keys to make when .env has none yet: name and scopes. */
  apiKeys: { name: string; scopes: ApiScope[] }[];
  /** More names or addresses the broker's and the gateway's certificates are for. */
  hosts: string[];
  timeZone?: string;
  /** Replace existing secrets: every password, token and key changes. */
  force: boolean;
}

export interface ProductionSetupReport {
  /** What was written, kept or extended, one line each, for the console. */
  files: string[];
  /** Keys made now, shown only this once. */
  apiKeys: { name: string; key: string; scopes: readonly ApiScope[] }[];
  caFile: string;
}

/** The environment variable holding a service user's MQTT password: agent → MQTT_AGENT_PASSWORD. */
export function mqttPasswordVariable(user: string): string {
  return `MQTT_${user.toUpperCase().replaceAll('-', '_')}_PASSWORD`;
}

/**
 * Makes what docker-compose.yml needs, keeping what is there (unless `force`): `.env` from
 * `.env.example` with every `change-me` value a new secret, one MQTT password per user of the
 * ACL, API keys stored as their sha256 in WATTBUS_GATEWAY_API_KEYS; `mosquitto/passwd` and
 * `mosquitto/acl` for those users; a CA with certificates for mosquitto and the gateway in
 * `certs/`; `backups/`. As root, the files each container reads become its user's.
 */
export function setupProduction(options: ProductionSetupOptions): ProductionSetupReport {
  const { dir, force } = options;
  const files: string[] = [];
  const acl = readFileSync(join(dir, 'mosquitto', 'acl.example'), 'utf8');
  const users = aclUsers(acl);

  const envFile = join(dir, '.env');
  const existing =
    existsSync(envFile) && !force ? envValues(parseEnvFile(readFileSync(envFile, 'utf8'))) : undefined;
  const madeKeys: ProductionSetupReport['apiKeys'] = [];
  const keysValue = (): string => {
    const entries: ApiKeyEntry[] = options.apiKeys.map(({ name, scopes }) => {
      const { key, entry } = newApiKeyEntry(name, scopes);
      madeKeys.push({ name, key, scopes });
      return entry;
    });
    return JSON.stringify(entries);
  };
  const fresh = (key: string, exampleValue: string): string => {
    if (key === 'WATTBUS_GATEWAY_API_KEYS') return keysValue();
    if (key === 'TIME_ZONE' && options.timeZone) return options.timeZone;
    return /^change-me/.test(exampleValue) ? randomBytes(24).toString('base64url') : exampleValue;
  };
  const example = parseEnvFile(readFileSync(join(dir, '.env.example'), 'utf8'));
  const exampleKeys = new Set(example.map((line) => line.key));
  const userLines: EnvLine[] = users
    .map(mqttPasswordVariable)
    .filter((key) => !exampleKeys.has(key))
    .map((key) => ({ key, value: 'change-me', text: '' }));
  const lines = [...example, ...userLines].map((line): EnvLine => {
    if (line.key === undefined) return line;
    const kept = existing?.get(line.key);
    const keep =
      kept !== undefined && kept !== '' && !(line.key === 'WATTBUS_GATEWAY_API_KEYS' && kept === '[]');
    return { ...line, value: keep ? kept : fresh(line.key, line.value!) };
  });
  const env = envValues(lines);
  const changed = existing === undefined || [...env].some(([key, value]) => existing.get(key) !== value);
  if (changed) writeSecret(envFile, formatEnvFile(lines));
  files.push(`${existing === undefined ? 'wrote' : changed ? 'completed' : 'kept'} .env`);

  const passwd = join(dir, 'mosquitto', 'passwd');
  const present = existsSync(passwd) && !force ? readFileSync(passwd, 'utf8') : '';
  const missing = users.filter((user) => !passwordFileUsers(present).includes(user));
  if (missing.length > 0) {
    const added = missing.map((user) => mosquittoPasswordLine(user, env.get(mqttPasswordVariable(user))!));
    writeSecret(passwd, `${present}${added.join('\n')}\n`);
    files.push(`${present ? 'added to' : 'wrote'} mosquitto/passwd: ${missing.join(', ')}`);
  } else {
    files.push('kept mosquitto/passwd');
  }
  giveTo(passwd, CONTAINER_USERS.mosquitto);

  const aclFile = join(dir, 'mosquitto', 'acl');
  if (!existsSync(aclFile) || force) {
    writeFileSync(aclFile, acl);
    files.push('wrote mosquitto/acl (from mosquitto/acl.example)');
  } else {
    files.push('kept mosquitto/acl');
  }
  giveTo(aclFile, CONTAINER_USERS.mosquitto);

  const certs = join(dir, 'certs');
  const local = ['localhost', '127.0.0.1', ...options.hosts];
  const broker = ensureLocalCertificates(certs, ['mosquitto', ...local], 'mosquitto');
  const gateway = ensureLocalCertificates(certs, ['gateway', ...local], 'gateway');
  giveTo(broker.keyFile, CONTAINER_USERS.mosquitto);
  giveTo(gateway.keyFile, CONTAINER_USERS.node);
  files.push(
    `${broker.created || gateway.created ? 'wrote' : 'kept'} certs/ (CA, mosquitto and gateway certificates)`,
  );

  const backups = join(dir, 'backups');
  mkdirSync(backups, { recursive: true });
  giveTo(backups, CONTAINER_USERS.node);
  files.push('backups/ writable by the containers’ node user');
  return { files, apiKeys: madeKeys, caFile: broker.caFile };
}

function writeSecret(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/** As root, hands a file to the container user that reads it; otherwise leaves it (see the docs). */
function giveTo(path: string, uid: number): void {
  if (process.getuid?.() === 0) chownSync(path, uid, uid);
}
