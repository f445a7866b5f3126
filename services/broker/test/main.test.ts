import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runProgram } from '@wattbus/testing';
import { verifyPassword } from '../src/passwords.js';
import { Clients, whenClosed, user } from './helpers.js';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const runMain = (args: string[], stdin?: string) => runProgram(MAIN, { args, stdin });

describe('main', () => {
  let directory: string;
  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'wattbus-broker-main-'));
  });
  after(() => rm(directory, { recursive: true, force: true }));

  test('hash-password reads stdin and prints a hash that verifies', async () => {
    const run = runMain(['hash-password'], 's3cret\n');
    const { code } = await run.exited;
    assert.equal(code, 0);
    const hash = run.stdout().trim();
    assert.match(hash, /^scrypt\$/);
    assert.equal(await verifyPassword('s3cret', hash), true);
  });

  test('hash-password refuses an empty password', async () => {
    const run = runMain(['hash-password'], '');
    const { code } = await run.exited;
    assert.equal(code, 1);
    assert.match(run.stderr(), /no password on stdin/);
  });

  test('a bad config file exits 2 (configuration error) naming the file and the path', async () => {
    const path = join(directory, 'bad.yaml');
    await writeFile(path, 'port: 0\nusers:\n  - username: admin\n    password_hash: admin\n');
    const run = runMain(['--config', path]);
    const { code } = await run.exited;
    assert.equal(code, 2);
    assert.match(
      run.stderr(),
      /invalid broker config in .*bad\.yaml: users\/0\/password_hash: must be a scrypt hash/,
    );
  });

  test('an unknown option exits 2 with the usage', async () => {
    const run = runMain(['--port', '1']);
    const { code } = await run.exited;
    assert.equal(code, 2);
    assert.match(run.stderr(), /Usage:/);
  });

  test('runs the broker from a config file and stops on SIGTERM', async () => {
    const path = join(directory, 'broker.yaml');
    const admin = await user('admin', 'admin-secret', { subscribe: ['wattbus/#'] });
    await writeFile(path, JSON.stringify({ port: 0, ws_port: 0, users: [admin] }));
    const run = runMain(['--config', path]);
    const clients = new Clients();
    try {
      const listening = (await run.logLine('broker listening')) as { mqtt_port?: number; ws_port?: number };
      for (const entry of run.lines.slice(0, run.lines.indexOf(listening) + 1)) {
        assert.equal(entry.name, 'broker');
      }
      assert.ok(listening?.mqtt_port && listening.ws_port);
      const client = await clients.connect(`mqtt://127.0.0.1:${listening.mqtt_port}`, {
        username: 'admin',
        password: 'admin-secret',
      });
      const clientClosed = whenClosed(client);
      const exited = run.stop('SIGTERM');
      await clientClosed;
      const { code } = await exited;
      assert.equal(code, 0);
    } finally {
      await run.stop('SIGKILL');
      await clients.closeAll();
    }
  });
});
