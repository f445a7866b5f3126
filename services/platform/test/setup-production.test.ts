import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiKeys, type ApiKeyEntry } from '@wattbus/gateway';
import { envValues, parseEnvFile } from '../src/production/env-file.js';
import { aclUsers, passwordFileUsers } from '../src/production/mosquitto-passwd.js';
import { runSetupProduction } from '../src/production/command.js';
import { mqttPasswordVariable } from '../src/production/setup.js';

const root = new URL('../../../', import.meta.url).pathname;

/** A checkout's files that setup:production reads, in a fresh directory. */
function checkout(): string {
  const dir = mkdtempSync(join(tmpdir(), 'wattbus-setup-production-'));
  mkdirSync(join(dir, 'mosquitto'));
  for (const file of ['docker-compose.yml', '.env.example', 'mosquitto/acl.example']) {
    copyFileSync(join(root, file), join(dir, file));
  }
  return dir;
}

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runSetupProduction(argv, {
    out: (text) => (out += text),
    err: (text) => (err += text),
    root,
  });
  return { code, out, err };
}

const envOf = (dir: string) => envValues(parseEnvFile(readFileSync(join(dir, '.env'), 'utf8')));

describe('npm run setup:production', () => {
  it('writes .env with generated secrets, the API keys as the gateway reads them, mosquitto users and TLS', async () => {
    const dir = checkout();
    const { code, out } = await run([
      '--dir',
      dir,
      '--api-key',
      'admin:read,control',
      '--api-key',
      'screen:read',
    ]);
    assert.equal(code, 0, out);
    assert.equal(statSync(join(dir, '.env')).mode & 0o777, 0o600);
    const env = envOf(dir);
    for (const [key, value] of env)
      assert.doesNotMatch(value, /^change-me/, `${key} kept the example's value`);
    assert.equal(env.get('INFLUX_BUCKET'), 'wattbus');

    // Each key printed once; .env holds only its sha256, in the gateway's own entry format.
    const printed = [...out.matchAll(/API key '(\w+)' \(([^)]*)\), shown only now: (wbk_\S+)/g)];
    assert.equal(printed.length, 2);
    const entries = JSON.parse(env.get('WATTBUS_GATEWAY_API_KEYS')!) as ApiKeyEntry[];
    const keys = new ApiKeys(entries);
    assert.deepEqual(keys.identify(printed[0]![3]!), { name: 'admin', scopes: ['read', 'control'] });
    assert.deepEqual(keys.identify(printed[1]![3]!), { name: 'screen', scopes: ['read'] });
    assert.ok(!readFileSync(join(dir, '.env'), 'utf8').includes(printed[0]![3]!));

    // One password per user of the ACL, each in .env and hashed in mosquitto/passwd.
    const users = aclUsers(readFileSync(join(dir, 'mosquitto', 'acl'), 'utf8'));
    assert.ok(users.includes('storage-hook') && users.includes('operator'));
    const passwd = readFileSync(join(dir, 'mosquitto', 'passwd'), 'utf8');
    assert.deepEqual(passwordFileUsers(passwd), users);
    assert.match(passwd, /^agent:\$7\$101\$/m);
    for (const user of users) assert.ok(env.get(mqttPasswordVariable(user)), user);

    for (const key of ['ca.key', 'mosquitto.key', 'gateway.key']) {
      assert.equal(statSync(join(dir, 'certs', key)).mode & 0o777, 0o600, key);
    }
    assert.ok(statSync(join(dir, 'backups')).isDirectory());
    // compose bind-mounts the registries: a missing one is named before `docker compose up`.
    assert.match(out, /warning: config\/devices\.yaml is missing/);
    assert.match(out, /warning: config\/mqtt-devices\.yaml is missing/);
  });

  it('keeps every secret on a second run, and replaces them only with --force', async () => {
    const dir = checkout();
    await run(['--dir', dir]);
    const first = readFileSync(join(dir, '.env'), 'utf8');
    const passwd = readFileSync(join(dir, 'mosquitto', 'passwd'), 'utf8');
    const ca = readFileSync(join(dir, 'certs', 'ca.crt'), 'utf8');
    const again = await run(['--dir', dir]);
    assert.equal(again.code, 0);
    assert.match(again.out, /kept \.env/);
    assert.doesNotMatch(again.out, /API key '/);
    assert.equal(readFileSync(join(dir, '.env'), 'utf8'), first);
    assert.equal(readFileSync(join(dir, 'mosquitto', 'passwd'), 'utf8'), passwd);
    assert.equal(readFileSync(join(dir, 'certs', 'ca.crt'), 'utf8'), ca);
    const forced = await run(['--dir', dir, '--force']);
    assert.match(forced.out, /API key 'admin'/);
    assert.notEqual(envOf(dir).get('INFLUX_TOKEN'), envValues(parseEnvFile(first)).get('INFLUX_TOKEN'));
  });

  it(
    'gives docker-compose a .env it accepts',
    { skip: spawnSync('docker-compose', ['version']).status !== 0 },
    async () => {
      const dir = checkout();
      await run(['--dir', dir]);
      const result = spawnSync('docker-compose', ['config', '-q'], { cwd: dir, encoding: 'utf8' });
      assert.equal(result.status, 0, result.stderr);
    },
  );

  it('has --help and refuses a malformed --api-key', async () => {
    const help = await run(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.out, /--api-key <name:scopes>/);
    const bad = await run(['--dir', checkout(), '--api-key', 'admin:write']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /expected <name>:<scopes>, scopes from read, control/);
  });
});
