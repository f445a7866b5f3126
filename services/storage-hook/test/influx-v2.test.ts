import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import type { MqttClient } from 'mqtt';
import { pino } from 'pino';
import { silentLogger } from '@wattbus/runtime';
import {
  startInflux,
  startInfluxV2StandIn,
  startMosquitto,
  waitUntil,
  type InfluxServer,
  type InfluxV2StandIn,
  type MosquittoServer,
} from '@wattbus/testing';
import { StorageHook } from '../src/index.js';
import {
  expectedTotals,
  hookConfig,
  type HookOverrides,
  publishAll,
  publisher,
  readings,
  storedCount,
  totalsByDevice,
} from './helpers.js';

const TOKEN = 'hook-token';

/** A pino logger whose lines the test reads. */
function capturingLogger() {
  const lines: Array<{ level: number; msg: string }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

describe('storage hook on the InfluxDB 2.x API (InfluxV2StandIn over influxd 1.6.7)', () => {
  let influx: InfluxServer;
  let standIn: InfluxV2StandIn;
  let mosquitto: MosquittoServer;
  let client: MqttClient;
  const hooks: StorageHook[] = [];
  const cleanups: Array<() => void> = [];

  async function startHook(name: string, extra: HookOverrides, logger = silentLogger()) {
    const config = hookConfig({
      ...extra,
      mqtt: { url: mosquitto.url, base_topic: name, client_id: `hook-${name}` },
      influx: { url: standIn.url, database: name, token: TOKEN, org: 'home', ...extra.influx },
    });
    cleanups.push(config.cleanup);
    const hook = new StorageHook({ config, logger });
    hooks.push(hook);
    await hook.start();
    return { hook, config };
  }

  before(async () => {
    [influx, mosquitto] = await Promise.all([startInflux(), startMosquitto()]);
    standIn = await startInfluxV2StandIn({ influx, token: TOKEN, org: 'home' });
    client = await publisher(mosquitto.url);
  });
  after(async () => {
    await client?.endAsync();
    for (const hook of hooks) await hook.stop().catch(() => undefined);
    for (const cleanup of cleanups) cleanup();
    await standIn?.stop();
    await Promise.all([influx?.destroy(), mosquitto?.destroy()]);
  });

  it('creates the bucket and stores every reading through /api/v2/write with the token', async () => {
    const { hook } = await startHook('v2_store', {});
    const messages = readings('v2_store', 5, 40);
    await publishAll(client, messages);
    await waitUntil('200 readings stored', async () => (await storedCount(influx, 'v2_store')) === 200);
    assert.deepEqual(await totalsByDevice(influx, 'v2_store'), expectedTotals(messages));
    assert.match(hook.counters().influx_server ?? '', /^v2-stand-in \(InfluxV2StandIn over influxd 1\.6\.7/);
    assert.ok(standIn.requests.includes('POST /api/v2/buckets'));
    assert.ok(standIn.requests.includes('POST /api/v2/write'));
    assert.ok(!standIn.requests.some((request) => request.startsWith('POST /write')));
  });

  it('with a bad token: says to check influx.token, keeps the readings, and stores them once the token is right', async () => {
    const { logger, lines } = capturingLogger();
    const messages = readings('v2_token', 2, 10);
    const wrong = await startHook(
      'v2_token',
      { influx: { token: 'wrong' }, stop_flush_timeout_ms: 100 },
      logger,
    );
    await publishAll(client, messages);
    await waitUntil('the refusal logged', async () =>
      lines.some((line) => line.level === 50 && /check influx\.token/.test(line.msg)),
    );
    assert.match(wrong.hook.counters().influx_last_error ?? '', /^401: unauthorized access/);
    assert.equal(wrong.hook.counters().written, 0);
    assert.equal(await storedCount(influx, 'v2_token'), 0);
    // Nothing was lost: the log kept them, and the hook restarted with the right token writes them.
    await wrong.hook.stop();
    const { hook } = await startHook('v2_token', { log: { dir: wrong.config.log.dir } });
    await waitUntil('20 readings stored', async () => (await storedCount(influx, 'v2_token')) === 20);
    assert.deepEqual(await totalsByDevice(influx, 'v2_token'), expectedTotals(messages));
    assert.equal(hook.counters().influx_last_error, undefined);
  });
});
