import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BrokerConfigError, hashPassword, loadBrokerConfig, parseBrokerConfig } from '../src/index.js';
import { FAST_COST } from './helpers.js';

/** Asserts that `action` throws a BrokerConfigError with an issue matching `issue`. */
function assertIssue(action: () => unknown, issue: RegExp): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof BrokerConfigError, String(error));
    assert.ok(
      error.issues.some((text) => issue.test(text)),
      `no issue matches ${issue}: ${error.issues.join(' | ')}`,
    );
    return true;
  });
}

describe('parseBrokerConfig', () => {
  let hash: string;
  before(async () => {
    hash = await hashPassword('secret', FAST_COST);
  });

  test('fills in defaults', () => {
    assert.deepEqual(parseBrokerConfig({}), {
      host: '127.0.0.1',
      port: 1883,
      users: [],
      anonymous: { enabled: false, publish: [], subscribe: [] },
      stats_interval_ms: 60000,
      stop_timeout_ms: 5000,
      admin: { enabled: true, host: '127.0.0.1', port: 9477 },
    });
    assert.deepEqual(parseBrokerConfig(null), parseBrokerConfig({}));
  });

  test('fills in defaults inside users and anonymous, without touching the input', () => {
    const input = { users: [{ username: 'plug-1', password_hash: hash }], anonymous: { enabled: true } };
    const config = parseBrokerConfig(input);
    assert.deepEqual(config.users[0], {
      username: 'plug-1',
      password_hash: hash,
      publish: [],
      subscribe: [],
    });
    assert.deepEqual(config.anonymous, { enabled: true, publish: [], subscribe: [] });
    assert.deepEqual(input.anonymous, { enabled: true });
  });

  test('ws_port: omitted or null disables it, 0 asks for any free port', () => {
    assert.equal(parseBrokerConfig({}).ws_port, undefined);
    assert.equal(parseBrokerConfig({ ws_port: null }).ws_port, null);
    assert.equal(parseBrokerConfig({ ws_port: 0 }).ws_port, 0);
    assertIssue(() => parseBrokerConfig({ ws_port: 'on' }), /^ws_port: must be a port number/);
    assertIssue(() => parseBrokerConfig({ ws_port: 70000 }), /^ws_port: must be a port number/);
  });

  test('names the path of a password_hash that is not a scrypt hash', () => {
    const users = [
      { username: 'a', password_hash: hash },
      { username: 'b', password_hash: hash },
      { username: 'c', password_hash: 'plaintext' },
    ];
    assertIssue(() => parseBrokerConfig({ users }), /^users\/2\/password_hash: must be a scrypt hash/);
    assert.throws(
      () => parseBrokerConfig({ users }, 'broker.yaml'),
      /invalid broker config in broker\.yaml: users\/2/,
    );
  });

  test('names the path of a scrypt hash with unusable parameters', () => {
    const badCost = hash.replace(/^scrypt\$1024\$/, 'scrypt$1000$');
    assertIssue(
      () => parseBrokerConfig({ users: [{ username: 'a', password_hash: badCost }] }),
      /^users\/0\/password_hash: has N=1000; N must be a power of two/,
    );
  });

  test('reports unknown keys, missing keys and wrong types', () => {
    assertIssue(() => parseBrokerConfig({ wsport: 9001 }), /^\(root\): unknown key 'wsport'/);
    assertIssue(
      () => parseBrokerConfig({ users: [{ username: 'a' }] }),
      /^users\/0: must have required property 'password_hash'/,
    );
    assertIssue(() => parseBrokerConfig({ port: '1883' }), /^port: must be integer/);
    assertIssue(
      () => parseBrokerConfig({ anonymous: { enabled: 'yes' } }),
      /^anonymous\/enabled: must be boolean/,
    );
  });

  test('refuses usernames that could act as topic wildcards', () => {
    for (const username of ['#', 'a/b', 'plug+', '']) {
      assertIssue(
        () => parseBrokerConfig({ users: [{ username, password_hash: hash }] }),
        /^users\/0\/username: /,
      );
    }
  });

  test('refuses duplicate usernames', () => {
    const user = { username: 'a', password_hash: hash };
    assertIssue(
      () => parseBrokerConfig({ users: [user, user] }),
      /^users\/1\/username: 'a' is already defined by users\/0/,
    );
  });

  test('refuses rules that are not topic filters', () => {
    const users = [{ username: 'a', password_hash: hash, subscribe: ['ok/#', 'wattbus/#/readings'] }];
    assertIssue(
      () => parseBrokerConfig({ users }),
      /^users\/0\/subscribe\/1: 'wattbus\/#\/readings' is not a valid/,
    );
  });

  test('refuses {username} in anonymous rules', () => {
    assertIssue(
      () => parseBrokerConfig({ anonymous: { enabled: true, subscribe: ['wattbus/devices/{username}/#'] } }),
      /^anonymous\/subscribe\/0: \{username\} cannot be used for anonymous clients/,
    );
  });
});

describe('loadBrokerConfig (runtime loader)', () => {
  let directory: string;
  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'wattbus-broker-config-'));
  });
  after(() => rm(directory, { recursive: true, force: true }));

  test('reads YAML', async () => {
    const path = join(directory, 'broker.yaml');
    await writeFile(
      path,
      'port: 0\nws_port: 9001\nanonymous:\n  enabled: true\n  subscribe: ["wattbus/#"]\n',
    );
    const config = loadBrokerConfig(path, {});
    assert.equal(config.ws_port, 9001);
    assert.deepEqual(config.anonymous.subscribe, ['wattbus/#']);
  });

  test('reads JSON', async () => {
    const path = join(directory, 'broker.json');
    await writeFile(path, JSON.stringify({ port: 1884, stats_interval_ms: 0 }));
    const config = loadBrokerConfig(path, {});
    assert.equal(config.port, 1884);
    assert.equal(config.stats_interval_ms, 0);
  });

  test('names the file and the path of a bad value', async () => {
    const path = join(directory, 'bad-hash.yaml');
    await writeFile(path, 'users:\n  - username: plug-1\n    password_hash: hunter2\n');
    assert.throws(
      () => loadBrokerConfig(path, {}),
      (error: unknown) =>
        error instanceof BrokerConfigError &&
        error.message.includes(path) &&
        /users\/0\/password_hash: must be a scrypt hash/.test(error.message),
    );
  });

  test('names the file when it cannot be read or parsed', async () => {
    const missing = join(directory, 'missing.yaml');
    assert.throws(
      () => loadBrokerConfig(missing, {}),
      (error: Error) => error.message.includes(`cannot read config file ${missing}`),
    );
    const broken = join(directory, 'broken.yaml');
    await writeFile(broken, 'port: [1883\n');
    assert.throws(() => loadBrokerConfig(broken, {}), /cannot parse config file .*broken\.yaml/);
  });
});
