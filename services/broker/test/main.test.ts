import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { verifyPassword } from '../src/passwords.js';
import { Clients, whenClosed, user } from './helpers.js';

const packageDirectory = fileURLToPath(new URL('..', import.meta.url));

function runMain(args: string[]) {
  return spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    cwd: packageDirectory,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

async function collect(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) {
    text += String(chunk);
  }
  return text;
}

describe('main', () => {
  let directory: string;
  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'wattbus-broker-main-'));
  });
  after(() => rm(directory, { recursive: true, force: true }));

  test('hash-password reads stdin and prints a hash that verifies', async () => {
    const child = runMain(['hash-password']);
    child.stdin.end('s3cret\n');
    const [output, [code]] = await Promise.all([collect(child.stdout), once(child, 'exit')]);
    assert.equal(code, 0);
    const hash = output.trim();
    assert.match(hash, /^scrypt\$/);
    assert.equal(await verifyPassword('s3cret', hash), true);
  });

  test('hash-password refuses an empty password', async () => {
    const child = runMain(['hash-password']);
    child.stdin.end('');
    const [errors, [code]] = await Promise.all([collect(child.stderr), once(child, 'exit')]);
    assert.equal(code, 1);
    assert.match(errors, /no password on stdin/);
  });

  test('a bad config file exits 1 naming the file and the path', async () => {
    const path = join(directory, 'bad.yaml');
    await writeFile(path, 'port: 0\nusers:\n  - username: admin\n    password_hash: admin\n');
    const child = runMain(['--config', path]);
    const [errors, [code]] = await Promise.all([collect(child.stderr), once(child, 'exit')]);
    assert.equal(code, 1);
    assert.match(
      errors,
      /invalid broker config in .*bad\.yaml: users\/0\/password_hash: must be a scrypt hash/,
    );
  });

  test('an unknown option exits 2 with the usage', async () => {
    const child = runMain(['--port', '1']);
    const [errors, [code]] = await Promise.all([collect(child.stderr), once(child, 'exit')]);
    assert.equal(code, 2);
    assert.match(errors, /Usage:/);
  });

  test('runs the broker from a config file and stops on SIGTERM', async () => {
    const path = join(directory, 'broker.yaml');
    const admin = await user('admin', 'admin-secret', { subscribe: ['wattbus/#'] });
    await writeFile(path, JSON.stringify({ port: 0, ws_port: 0, users: [admin] }));
    const child = runMain(['--config', path]);
    const exited = once(child, 'exit');
    const logLines = createInterface({ input: child.stdout });
    const clients = new Clients();
    try {
      let listening: { mqtt_port?: number; ws_port?: number } | undefined;
      for await (const line of logLines) {
        const entry = JSON.parse(line) as {
          msg?: string;
          name?: string;
          mqtt_port?: number;
          ws_port?: number;
        };
        assert.equal(entry.name, 'broker');
        if (entry.msg === 'broker listening') {
          listening = entry;
          break;
        }
      }
      // Keep draining the log, so a full pipe never blocks the broker.
      child.stdout.resume();
      assert.ok(listening?.mqtt_port && listening.ws_port);
      const client = await clients.connect(`mqtt://127.0.0.1:${listening.mqtt_port}`, {
        username: 'admin',
        password: 'admin-secret',
      });
      const clientClosed = whenClosed(client);
      child.kill('SIGTERM');
      await clientClosed;
      const [code] = await exited;
      assert.equal(code, 0);
    } finally {
      child.kill('SIGKILL');
      await clients.closeAll();
    }
  });
});
