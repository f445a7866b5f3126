import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Bus } from '@wattbus/bus';
import type { DevicesResult } from '@wattbus/contracts';
import { startAedes, startInflux, type AedesServer, type InfluxServer } from '@wattbus/testing';
import { DATABASE, ask } from './helpers.js';

const packageDirectory = fileURLToPath(new URL('..', import.meta.url));

function runMain(args: string[], env: Record<string, string> = {}) {
  return spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    cwd: packageDirectory,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function collect(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
}

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
    const child = runMain(['--help']);
    const [output, [code]] = await Promise.all([collect(child.stdout), once(child, 'exit')]);
    assert.equal(code, 0);
    assert.match(output, /Usage: wattbus-query/);
    assert.match(output, /WATTBUS_QUERY_INFLUX__URL/);
  });

  it('a bad environment value exits 1 naming the variable', async () => {
    const child = runMain([], {
      WATTBUS_QUERY_TIME_ZONE: 'Mars/Olympus',
      WATTBUS_QUERY_LIMITS__MAX_POINTS: 'lots',
    });
    const [errors, [code]] = await Promise.all([collect(child.stderr), once(child, 'exit')]);
    assert.equal(code, 1);
    assert.match(errors, /max_points \(from WATTBUS_QUERY_LIMITS__MAX_POINTS\)/);
  });

  it('serves requests with config from the environment and stops on SIGTERM', async () => {
    const child = runMain([], {
      WATTBUS_QUERY_MQTT__URL: broker.url,
      WATTBUS_QUERY_MQTT__SHARE_GROUP: '',
      WATTBUS_QUERY_INFLUX__URL: influx.url,
      WATTBUS_QUERY_TIME_ZONE: 'Europe/Madrid',
      LOG_LEVEL: 'info',
    });
    const exited = once(child, 'close'); // after stdout is drained
    const stderr = collect(child.stderr);
    const lines: string[] = [];
    const serving = new Promise<void>((resolve) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        lines.push(line);
        if (line.includes('query component serving')) resolve();
      });
    });
    await Promise.race([serving, exited.then(async () => assert.fail(`exited early: ${await stderr}`))]);
    const client = await Bus.connect({ url: broker.url, service: 'main-test' });
    try {
      const result = await ask<DevicesResult>(client, 'devices', {});
      assert.deepEqual(result, { devices: [] });
    } finally {
      await client.stop();
    }
    child.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 0, await stderr);
    assert.ok(
      lines.some((line) => line.includes('"msg":"stopped"')),
      'no "stopped" log line',
    );
  });
});
