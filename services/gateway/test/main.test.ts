import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startAedes, startMosquitto, type AedesServer, type MosquittoServer } from '@wattbus/testing';
import { hashApiKey, makeApiKey } from '../src/api-keys.js';
import { ApiClient, startGateway } from './helpers.js';

const gatewayDir = fileURLToPath(new URL('..', import.meta.url));

/** Runs src/main.ts; resolves each JSON log line as it comes. */
function startMain(env: Record<string, string>, args: string[] = []) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    cwd: gatewayDir,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const waiters: {
    match: (line: Record<string, unknown>) => boolean;
    resolve: (line: Record<string, unknown>) => void;
  }[] = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      line = { text };
    }
    lines.push(line);
    for (const waiter of waiters.filter((w) => w.match(line))) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(line);
    }
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return {
    child,
    lines,
    stderr: () => stderr,
    exited,
    waitFor(msg: string): Promise<Record<string, unknown>> {
      const earlier = lines.find((line) => line.msg === msg);
      if (earlier) return Promise.resolve(earlier);
      return Promise.race([
        new Promise<Record<string, unknown>>((resolve) =>
          waiters.push({ match: (l) => l.msg === msg, resolve }),
        ),
        exited.then(([code]) => {
          throw new Error(`main exited (${code}) before logging '${msg}': ${stderr}`);
        }),
      ]);
    },
  };
}

describe('main.ts', () => {
  let broker: AedesServer;
  let child: ChildProcess | undefined;

  before(async () => {
    broker = await startAedes();
  });

  after(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    await broker?.stop();
  });

  it('starts from env config, serves, and stops cleanly on SIGTERM; the key is never logged', async () => {
    const key = makeApiKey();
    const main = startMain({
      LOG_LEVEL: 'info',
      WATTBUS_GATEWAY_PORT: '0',
      WATTBUS_GATEWAY_MQTT__URL: broker.url,
      WATTBUS_GATEWAY_API_KEYS: JSON.stringify([{ name: 'ops', sha256: hashApiKey(key), scopes: ['read'] }]),
    });
    child = main.child;
    const listening = await main.waitFor('gateway listening');
    const api = new ApiClient(String(listening.url));
    assert.equal((await api.get('/healthz', { key: null })).status, 200);
    const unauthorised = await api.get('/api/v1/devices', { key: null });
    assert.equal(unauthorised.status, 401);
    await api.get('/api/v1/devices/desk-1/power', { key, headers: {} }).then((response) => {
      assert.equal(response.status, 404); // no agent announced desk-1
    });
    main.child.kill('SIGTERM');
    const [code] = await main.exited;
    assert.equal(code, 0, main.stderr());
    assert.ok(main.lines.some((line) => line.msg === 'stopped'));
    const requests = main.lines.filter((line) => line.msg === 'request');
    assert.equal(requests.length, 3);
    assert.ok(!JSON.stringify(main.lines).includes(key), 'the key reached the log');
  });

  it('--help exits 0; a bad config exits with a message naming the variable', async () => {
    const help = startMain({}, ['--help']);
    const bad = startMain({ WATTBUS_GATEWAY_PORT: 'eighty' });
    const [[helpCode], [badCode]] = await Promise.all([help.exited, bad.exited]);
    assert.equal(helpCode, 0);
    assert.match(help.lines.map((line) => line.text).join('\n'), /make-key/);
    assert.equal(badCode, 78);
    assert.match(bad.stderr(), /\/port \(from WATTBUS_GATEWAY_PORT\): must be integer/);
  });
});

describe('broker outage (mosquitto)', () => {
  let mosquitto: MosquittoServer;

  before(async () => {
    mosquitto = await startMosquitto({ persistence: false });
  });

  after(async () => {
    await mosquitto?.destroy();
  });

  it('/readyz is 503 while the broker is down and 200 again after the gateway reconnects by itself', async () => {
    const stack = await startGateway(mosquitto.url);
    try {
      assert.equal((await stack.api.get('/readyz', { key: null })).status, 200);
      const offline = once(stack.bus, 'offline');
      await mosquitto.stop();
      await offline;
      const down = await stack.api.get('/readyz', { key: null });
      assert.equal(down.status, 503);
      const checks = (down.body as { checks: Record<string, { ok: boolean }> }).checks;
      assert.equal(checks.broker!.ok, false);
      const whileDown = await stack.api.get('/api/v1/latest?devices=desk-1');
      assert.equal(whileDown.status, 503);
      assert.equal((whileDown.body as { code: string }).code, 'BROKER_UNAVAILABLE');
      assert.equal(whileDown.headers.get('retry-after'), '2');
      const reconnected = once(stack.bus, 'connect');
      await mosquitto.start();
      await reconnected;
      assert.equal((await stack.api.get('/readyz', { key: null })).status, 200);
    } finally {
      await stack.stop();
    }
  });
});
