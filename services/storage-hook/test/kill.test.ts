import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import {
  startInflux,
  startMosquitto,
  waitUntil,
  type InfluxServer,
  type MosquittoServer,
} from '@wattbus/testing';
import {
  expectedTotals,
  publishAll,
  publisher,
  readings,
  startHookProcess,
  storedCount,
  totalsByDevice,
  type HookProcess,
} from './helpers.js';

describe('storage hook process killed with SIGKILL mid-stream', () => {
  let influx: InfluxServer;
  let mosquitto: MosquittoServer;
  let client: MqttClient;
  let logDir: string;
  const processes: HookProcess[] = [];

  before(async () => {
    [influx, mosquitto] = await Promise.all([startInflux(), startMosquitto()]);
    client = await publisher(mosquitto.url);
    logDir = mkdtempSync(join(tmpdir(), 'wattbus-hook-kill-'));
  });
  after(async () => {
    for (const hook of processes) hook.child.kill('SIGKILL');
    await client?.endAsync();
    await Promise.all([influx?.destroy(), mosquitto?.destroy()]);
    rmSync(logDir, { recursive: true, force: true });
  });

  it('loses nothing and duplicates nothing: broker session plus write-ahead log; SIGTERM then flushes', async (t) => {
    const env = {
      WATTBUS_STORAGE_HOOK_MQTT__URL: mosquitto.url,
      WATTBUS_STORAGE_HOOK_MQTT__CLIENT_ID: 'hook-kill',
      WATTBUS_STORAGE_HOOK_MQTT__BASE_TOPIC: 'kill',
      WATTBUS_STORAGE_HOOK_INFLUX__URL: influx.url,
      WATTBUS_STORAGE_HOOK_INFLUX__DATABASE: 'kill',
      WATTBUS_STORAGE_HOOK_LOG__DIR: logDir,
      // Small, slow batches so that the kill lands with readings acked but not yet written.
      WATTBUS_STORAGE_HOOK_BATCH__MAX_LINES: '500',
      WATTBUS_STORAGE_HOOK_BATCH__MAX_DELAY_MS: '1000',
      // The SIGTERM flush below waits for influxd to come back; leave room for a slow start.
      WATTBUS_STORAGE_HOOK_STOP_FLUSH_TIMEOUT_MS: '30000',
    };
    const first = await startHookProcess(env);
    processes.push(first);
    const messages = readings('kill', 50, 200);
    await publishAll(client, messages.slice(0, 2500));
    await waitUntil('the first 2,500 stored', async () => (await storedCount(influx, 'kill')) === 2500);
    // InfluxDB goes away, so what the hook acks now can only be in its log when it is killed.
    await influx.stop();
    const midStream = publishAll(client, messages.slice(2500, 5000));
    await waitUntil('a failed write', async () =>
      first.lines.some((line) => /write to InfluxDB failed/.test(line.msg)),
    );
    first.child.kill('SIGKILL');
    await first.exited;
    await midStream;
    await publishAll(client, messages.slice(5000)); // queued by the broker for the dead hook
    await influx.start();

    const second = await startHookProcess(env);
    processes.push(second);
    const replay = second.lines.find(
      (line) => line.msg === 'replaying the write-ahead log left by the last run',
    );
    assert.ok(Number(replay?.records) > 0, 'the killed hook had acked readings that only its log held');
    t.diagnostic(`replayed from the log after SIGKILL: ${String(replay?.records)}`);
    await waitUntil('all 10,000 stored', async () => (await storedCount(influx, 'kill')) === 10_000, {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    assert.deepEqual(await totalsByDevice(influx, 'kill'), expectedTotals(messages));

    // Graceful stop: SIGTERM writes out what the log holds and exits 0 with the log empty.
    await influx.stop();
    const more = readings('kill', 5, 20, 200);
    await publishAll(client, more);
    await waitUntil(
      'a failed write',
      async () => second.lines.filter((line) => /write to InfluxDB failed/.test(line.msg)).length > 0,
    );
    const startAgain = influx.start();
    second.child.kill('SIGTERM');
    await startAgain;
    assert.deepEqual(await second.exited, [0, null]);
    const stopped = second.lines.find((line) => line.msg === 'storage hook stopped') as
      { counters: { log_depth: number; received: number } } | undefined;
    assert.equal(stopped?.counters.log_depth, 0);
    assert.deepEqual(readdirSync(logDir), []);
    // What the broker still held (if the stop came before all 100 arrived) comes with the next start.
    const third = await startHookProcess(env);
    processes.push(third);
    await waitUntil('all 10,100 stored', async () => (await storedCount(influx, 'kill')) === 10_100);
    assert.deepEqual(await totalsByDevice(influx, 'kill'), expectedTotals([...messages, ...more]));
    third.child.kill('SIGTERM');
    assert.deepEqual(await third.exited, [0, null]);
  });
});
