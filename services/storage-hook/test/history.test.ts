import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { DeadLetterSchema, validator, type EnergyHistory } from '@wattbus/contracts';
import { silentLogger } from '@wattbus/runtime';
import {
  startInflux,
  startMosquitto,
  waitUntil,
  type InfluxServer,
  type MosquittoServer,
} from '@wattbus/testing';
import { StorageHook } from '../src/index.js';
import { hookConfig, publishAll, publisher } from './helpers.js';

const checkDeadLetter = validator(DeadLetterSchema);

/** Three local days in Madrid, the middle one 25 hours long. */
const HISTORY: EnergyHistory = {
  device: 'desk-3',
  source: 'tplink-daystat',
  period: 'day',
  intervals: [
    { start: '2026-10-23T22:00:00.000Z', end: '2026-10-24T22:00:00.000Z', energy_wh: 1161 },
    { start: '2026-10-24T22:00:00.000Z', end: '2026-10-25T23:00:00.000Z', energy_wh: 1168 },
    { start: '2026-10-25T23:00:00.000Z', end: '2026-10-26T23:00:00.000Z', energy_wh: 1175.5 },
  ],
};

describe('storage hook: device history into energy_history', () => {
  let influx: InfluxServer;
  let mosquitto: MosquittoServer;
  let client: MqttClient;
  let hook: StorageHook;
  let cleanup: () => void;

  before(async () => {
    [influx, mosquitto] = await Promise.all([startInflux(), startMosquitto()]);
    client = await publisher(mosquitto.url);
    const config = hookConfig({
      mqtt: { url: mosquitto.url, base_topic: 'hist', client_id: 'hook-hist' },
      influx: { url: influx.url, database: 'hist' },
    });
    cleanup = config.cleanup;
    hook = new StorageHook({ config, logger: silentLogger() });
    await hook.start();
  });
  after(async () => {
    await client?.endAsync();
    await hook?.stop().catch(() => undefined);
    cleanup?.();
    await Promise.all([influx?.destroy(), mosquitto?.destroy()]);
  });

  async function stored(): Promise<unknown[][]> {
    const result = await influx
      .query('hist', 'SELECT energy_wh, duration_ms, device, period, source FROM energy_history')
      .catch(() => undefined);
    return result?.results?.[0]?.series?.[0]?.values ?? [];
  }

  it('stores each interval once by its start, however often the batch arrives', async () => {
    await publishAll(client, [['hist/devices/desk-3/history', HISTORY]]);
    await waitUntil('3 history points', async () => (await stored()).length === 3, { timeoutMs: 20_000 });
    const first = await stored();
    await publishAll(client, [
      ['hist/devices/desk-3/history', HISTORY],
      ['hist/devices/desk-3/history', HISTORY],
    ]);
    await waitUntil('the two repeats taken', async () => hook.counters().history_intervals === 9, {
      timeoutMs: 20_000,
    });
    await waitUntil('the log written out', async () => hook.counters().log_depth === 0, {
      timeoutMs: 20_000,
    });
    assert.deepEqual(await stored(), first);
    assert.deepEqual(first, [
      [1792792800000, 1161, 86_400_000, 'desk-3', 'day', 'tplink-daystat'],
      [1792879200000, 1168, 90_000_000, 'desk-3', 'day', 'tplink-daystat'],
      [1792969200000, 1175.5, 86_400_000, 'desk-3', 'day', 'tplink-daystat'],
    ]);
  });

  it('dead-letters history published on another device topic', async () => {
    const letters: unknown[] = [];
    await client.subscribeAsync('hist/deadletter/storage-hook', { qos: 1 });
    client.on('message', (_topic, payload) => letters.push(JSON.parse(payload.toString())));
    await publishAll(client, [['hist/devices/other/history', HISTORY]]);
    await waitUntil('a dead letter', async () => letters.length > 0, { timeoutMs: 10_000 });
    const letter = letters[0];
    assert.ok(checkDeadLetter(letter));
    assert.match(letter.message, /history of desk-3 published on the topic of other/);
  });
});
