import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { SharedSubscriptionsUnsupportedError } from '@wattbus/bus';
import { silentLogger } from '@wattbus/runtime';
import {
  startAedes,
  startInflux,
  startMosquitto,
  waitUntil,
  type AedesServer,
  type InfluxServer,
  type MosquittoServer,
} from '@wattbus/testing';
import { StorageHook } from '../src/index.js';
import {
  expectedTotals,
  hookConfig,
  publishAll,
  publisher,
  readings,
  startHookProcess,
  storedCount,
  totalsByDevice,
  type HookOverrides,
  type HookProcess,
} from './helpers.js';

/** Received-reading counter of a hook process, from its `storage hook stopped` line. */
function receivedOnStop(hook: HookProcess): number {
  const stopped = hook.lines.find((line) => line.msg === 'storage hook stopped') as
    { counters: { received: number } } | undefined;
  assert.ok(stopped, 'the hook logged its counters on stop');
  return stopped.counters.received;
}

/**
 * Publishes `messages` in chunks of 100 (each chunk's PUBACKs awaited), running `actions[i]`
 * without waiting for it when chunk i starts, so hooks join and leave mid-stream.
 */
async function stream(
  client: MqttClient,
  messages: Array<[string, unknown]>,
  actions: Record<number, () => Promise<unknown>>,
): Promise<void> {
  const running: Promise<unknown>[] = [];
  for (let chunk = 0; chunk * 100 < messages.length; chunk++) {
    const action = actions[chunk];
    if (action) running.push(action());
    await publishAll(client, messages.slice(chunk * 100, (chunk + 1) * 100));
  }
  await Promise.all(running);
}

describe('storage hooks scaling out and in on a share group (mosquitto)', () => {
  let influx: InfluxServer;
  let mosquitto: MosquittoServer;
  let client: MqttClient;
  const cleanups: Array<() => void> = [];
  const hooks: StorageHook[] = [];

  before(async () => {
    [influx, mosquitto] = await Promise.all([startInflux(), startMosquitto({ persistence: false })]);
    client = await publisher(mosquitto.url);
  });
  after(async () => {
    for (const hook of hooks) await hook.stop();
    await client?.endAsync();
    await Promise.all([influx?.destroy(), mosquitto?.destroy()]);
    for (const cleanup of cleanups) cleanup();
  });

  async function startHook(base: string, id: string, extra: HookOverrides = {}): Promise<StorageHook> {
    const { cleanup, ...config } = hookConfig({
      ...extra,
      mqtt: { url: mosquitto.url, base_topic: base, client_id: id, share_group: 'writers', ...extra.mqtt },
      influx: { url: influx.url, database: base, ...extra.influx },
    });
    cleanups.push(cleanup);
    const hook = new StorageHook({ config, logger: silentLogger() });
    hooks.push(hook);
    await hook.start();
    return hook;
  }

  it('1 → 2 → 4 → 2 → 1 hooks mid-stream: every reading stored exactly once', async () => {
    const messages = readings('scale', 20, 100); // 2,000
    const [one] = [await startHook('scale', 'scale-1')];
    const group: StorageHook[] = [one!];
    const join = (id: string) => async () => group.push(await startHook('scale', id));
    const leave = (index: number) => async () => group[index]!.stop();
    await stream(client, messages, {
      3: join('scale-2'),
      6: async () => Promise.all([join('scale-3')(), join('scale-4')()]),
      12: async () => Promise.all([leave(3)(), leave(2)()]),
      16: leave(1),
    });
    await waitUntil('all 2,000 stored', async () => (await storedCount(influx, 'scale')) === 2000, {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    assert.deepEqual(await totalsByDevice(influx, 'scale'), expectedTotals(messages));
    const received = group.map((hook) => hook.counters().received);
    assert.equal(
      received.reduce((sum, count) => sum + count, 0),
      2000,
      `each reading went to one member: ${received.join(' + ')}`,
    );
    assert.ok(
      received.every((count) => count > 0),
      `every member took a share: ${received.join(' / ')}`,
    );
  });

  it('a hook SIGTERMed mid-stream hands its share over: 0 lost, none twice', async () => {
    const logDir = mkdtempSync(join(tmpdir(), 'wattbus-hook-sigterm-'));
    cleanups.push(() => rmSync(logDir, { recursive: true, force: true }));
    const env = (id: string) => ({
      WATTBUS_STORAGE_HOOK_MQTT__URL: mosquitto.url,
      WATTBUS_STORAGE_HOOK_MQTT__CLIENT_ID: id,
      WATTBUS_STORAGE_HOOK_MQTT__BASE_TOPIC: 'sigterm',
      WATTBUS_STORAGE_HOOK_MQTT__SHARE_GROUP: 'writers',
      WATTBUS_STORAGE_HOOK_INFLUX__URL: influx.url,
      WATTBUS_STORAGE_HOOK_INFLUX__DATABASE: 'sigterm',
      WATTBUS_STORAGE_HOOK_LOG__DIR: join(logDir, id),
    });
    const [leaver, stayer] = await Promise.all([
      startHookProcess(env('sigterm-a')),
      startHookProcess(env('sigterm-b')),
    ]);
    try {
      const messages = readings('sigterm', 20, 100); // 2,000
      await stream(client, messages, {
        6: async () => {
          leaver.child.kill('SIGTERM');
          assert.deepEqual(await leaver.exited, [0, null]);
        },
      });
      await waitUntil('all 2,000 stored', async () => (await storedCount(influx, 'sigterm')) === 2000, {
        timeoutMs: 60_000,
        intervalMs: 200,
      });
      assert.deepEqual(await totalsByDevice(influx, 'sigterm'), expectedTotals(messages));
      assert.ok(
        leaver.lines.some((line) => line.msg === 'left the share group; its share goes to the others'),
      );
      stayer.child.kill('SIGTERM');
      assert.deepEqual(await stayer.exited, [0, null]);
      const received = [receivedOnStop(leaver), receivedOnStop(stayer)];
      assert.equal(
        received[0]! + received[1]!,
        2000,
        `each reading went to one member: ${received.join(' + ')}`,
      );
      assert.ok(received[0]! > 0, 'the leaver had taken a share before it left');
    } finally {
      for (const hook of [leaver, stayer]) hook.child.kill('SIGKILL');
    }
  });
});

describe('storage hooks on a broker without shared subscriptions (aedes)', () => {
  let influx: InfluxServer;
  let aedes: AedesServer;
  let client: MqttClient;
  const cleanups: Array<() => void> = [];
  const hooks: StorageHook[] = [];

  before(async () => {
    [influx, aedes] = await Promise.all([startInflux(), startAedes()]);
    client = await publisher(aedes.url);
  });
  after(async () => {
    for (const hook of hooks) await hook.stop();
    await client?.endAsync();
    await Promise.all([influx?.destroy(), aedes?.stop()]);
    for (const cleanup of cleanups) cleanup();
  });

  function hook(base: string, id: string, shareGroup?: string, extra: HookOverrides = {}): StorageHook {
    const { cleanup, ...config } = hookConfig({
      ...extra,
      mqtt: { url: aedes.url, base_topic: base, client_id: id, share_group: shareGroup },
      influx: { url: influx.url, database: base },
    });
    cleanups.push(cleanup);
    const created = new StorageHook({ config, logger: silentLogger() });
    hooks.push(created);
    return created;
  }

  it('a hook asked to join a share group fails at start, naming the missing feature', async () => {
    await assert.rejects(hook('nogroup', 'nogroup-1', 'writers').start(), (error: unknown) => {
      assert.ok(error instanceof SharedSubscriptionsUnsupportedError, String(error));
      assert.equal(error.evidence, 'no-delivery');
      assert.match(error.message, /^this broker does not support shared subscriptions/);
      return true;
    });
  });

  it('hot standby: two hooks without a group both store everything; InfluxDB holds each reading once', async () => {
    const pair = [hook('standby', 'standby-1'), hook('standby', 'standby-2')];
    await Promise.all(pair.map((member) => member.start()));
    const messages = readings('standby', 20, 100);
    await publishAll(client, messages);
    await waitUntil(
      'both hooks wrote all 2,000',
      async () => pair.every((member) => member.counters().written === 2000),
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    assert.equal(await storedCount(influx, 'standby'), 2000, 'a duplicate overwrote itself');
    assert.deepEqual(await totalsByDevice(influx, 'standby'), expectedTotals(messages));
  });

  it('partitioned by device: two hooks each store their half, every reading once', async () => {
    const pair = [0, 1].map((index) =>
      hook('parts', `parts-${index}`, undefined, { partition: { index, count: 2 } }),
    );
    await Promise.all(pair.map((member) => member.start()));
    const messages = readings('parts', 20, 100);
    await publishAll(client, messages);
    await waitUntil(
      'every reading received by both and written by one',
      async () => {
        const counters = pair.map((member) => member.counters());
        return (
          counters.every((c) => c.received + c.skipped === 2000) &&
          counters[0]!.written + counters[1]!.written === 2000
        );
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    const counters = pair.map((member) => member.counters());
    assert.ok(
      counters.every((c) => c.written > 0),
      `both wrote a share: ${counters.map((c) => c.written).join(' / ')}`,
    );
    assert.equal(await storedCount(influx, 'parts'), 2000);
    assert.deepEqual(await totalsByDevice(influx, 'parts'), expectedTotals(messages));
  });

  it('refuses a partition index outside its count', async () => {
    await assert.rejects(
      hook('badpart', 'badpart-1', undefined, { partition: { index: 2, count: 2 } }).start(),
      /partition\.index \(2\) must be below partition\.count \(2\)/,
    );
  });
});
