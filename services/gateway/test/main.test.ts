import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import {
  runProgram,
  startAedes,
  startMosquitto,
  type AedesServer,
  type MosquittoServer,
  type ProgramRun,
} from '@wattbus/testing';
import { hashApiKey, makeApiKey } from '../src/api-keys.js';
import { ApiClient, startGateway } from './helpers.js';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const startMain = (env: Record<string, string>, args: string[] = []) => runProgram(MAIN, { args, env });

describe('main.ts', () => {
  let broker: AedesServer;
  let child: ProgramRun | undefined;

  before(async () => {
    broker = await startAedes();
  });

  after(async () => {
    await child?.stop('SIGKILL');
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
    child = main;
    const listening = await main.logLine('gateway listening');
    const api = new ApiClient(String(listening.url));
    assert.equal((await api.get('/healthz', { key: null })).status, 200);
    const unauthorised = await api.get('/api/v1/devices', { key: null });
    assert.equal(unauthorised.status, 401);
    await api.get('/api/v1/devices/desk-1/power', { key, headers: {} }).then((response) => {
      assert.equal(response.status, 404); // no agent announced desk-1
    });
    const { code } = await main.stop('SIGTERM');
    assert.equal(code, 0, main.stderr());
    assert.ok(main.lines.some((line) => line.msg === 'stopped'));
    const requests = main.lines.filter((line) => line.msg === 'request');
    assert.equal(requests.length, 3);
    assert.ok(!JSON.stringify(main.lines).includes(key), 'the key reached the log');
  });

  it('--help exits 0; a bad config exits with a message naming the variable', async () => {
    const help = startMain({}, ['--help']);
    const bad = startMain({ WATTBUS_GATEWAY_PORT: 'eighty' });
    const [{ code: helpCode }, { code: badCode }] = await Promise.all([help.exited, bad.exited]);
    assert.equal(helpCode, 0);
    assert.match(help.lines.map((line) => line.text).join('\n'), /make-key/);
    assert.equal(badCode, 2); // a configuration error, as in every WattBus program (docs/operations.md)
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
