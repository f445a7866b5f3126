import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Bus } from '@wattbus/bus';
import type { DevicesResult } from '@wattbus/contracts';
import { runProgram, startAedes, startInflux, type AedesServer, type InfluxServer } from '@wattbus/testing';
import { DATABASE, ask } from './helpers.js';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const runMain = (args: string[], env: Record<string, string> = {}) => runProgram(MAIN, { args, env });

describe('main', () => {
  let influx: InfluxServer;
  let broker: AedesServer;

  before(async () => {
    [influx, broker] = await Promise.all([startInflux(), startAedes()]);
    await influx.createDatabase(DATABASE);
  });
  after(async () => {
    await broker?.stop();
    await influx?.destroy();
  });

  it('--help lists the options and the environment variables', async () => {
    const run = runMain(['--help']);
    const { code } = await run.exited;
    const output = run.stdout();
    assert.equal(code, 0);
    assert.match(output, /Usage: wattbus-query/);
    assert.match(output, /WATTBUS_QUERY_INFLUX__URL/);
  });

  it('a bad environment value exits 2 (configuration error) naming the variable', async () => {
    const run = runMain([], {
      WATTBUS_QUERY_TIME_ZONE: 'Mars/Olympus',
      WATTBUS_QUERY_LIMITS__MAX_POINTS: 'lots',
    });
    const { code } = await run.exited;
    const errors = run.stderr();
    assert.equal(code, 2);
    assert.match(errors, /max_points \(from WATTBUS_QUERY_LIMITS__MAX_POINTS\)/);
  });

  it('serves requests with config from the environment and stops on SIGTERM', async () => {
    const run = runMain([], {
      WATTBUS_QUERY_MQTT__URL: broker.url,
      WATTBUS_QUERY_MQTT__SHARE_GROUP: '',
      WATTBUS_QUERY_INFLUX__URL: influx.url,
      WATTBUS_QUERY_TIME_ZONE: 'Europe/Madrid',
      LOG_LEVEL: 'info',
    });
    await run.logLine('query component serving');
    const client = await Bus.connect({ url: broker.url, service: 'main-test' });
    try {
      const result = await ask<DevicesResult>(client, 'devices', {});
      assert.deepEqual(result, { devices: [] });
    } finally {
      await client.stop();
    }
    const { code } = await run.stop('SIGTERM');
    assert.equal(code, 0, run.stderr());
    assert.ok(
      run
        .stdout()
        .split('\n')
        .some((line) => line.includes('"msg":"stopped"')),
      'no "stopped" log line',
    );
  });
});
