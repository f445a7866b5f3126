import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { DeadLetterSchema, validator, type DeadLetter } from '@wattbus/contracts';
import { silentLogger } from '@wattbus/runtime';
import {
  startInflux,
  startMosquitto,
  waitUntil,
  type InfluxServer,
  type MosquittoServer,
} from '@wattbus/testing';
import { StorageHook } from '../src/index.js';
import {
  T0,
  expectedTotals,
  hookConfig,
  type HookOverrides,
  publishAll,
  publisher,
  readings,
  storedCount,
  totalsByDevice,
} from './helpers.js';

const checkDeadLetter = validator(DeadLetterSchema);

describe('storage hook (in-process) against mosquitto and influxd 1.6.7', () => {
  let influx: InfluxServer;
  let mosquitto: MosquittoServer;
  let client: MqttClient;
  const hooks: StorageHook[] = [];
  const cleanups: Array<() => void> = [];

  /** Each test has its own base topic, database, client id and log dir. */
  async function startHook(name: string, extra: HookOverrides = {}) {
    const config = hookConfig({
      ...extra,
      mqtt: { url: mosquitto.url, base_topic: name, client_id: `hook-${name}`, ...extra.mqtt },
      influx: { url: influx.url, database: name, ...extra.influx },
    });
    cleanups.push(config.cleanup);
    const hook = new StorageHook({ config, logger: silentLogger() });
    hooks.push(hook);
    await hook.start();
    return { hook, config };
  }

  before(async () => {
    [influx, mosquitto] = await Promise.all([startInflux(), startMosquitto()]);
    client = await publisher(mosquitto.url);
  });
  after(async () => {
    await client?.endAsync();
    for (const hook of hooks) await hook.stop().catch(() => undefined);
    for (const cleanup of cleanups) cleanup();
    await Promise.all([influx?.destroy(), mosquitto?.destroy()]);
  });

  it('stores 10,000 readings of 50 devices published at full speed, each exactly once', async () => {
    const { hook } = await startHook('full');
    const messages = readings('full', 50, 200);
    await publishAll(client, messages);
    await waitUntil(
      '10,000 readings in InfluxDB',
      async () => (await storedCount(influx, 'full')) === 10_000,
      {
        timeoutMs: 60_000,
        intervalMs: 200,
      },
    );
    assert.deepEqual(await totalsByDevice(influx, 'full'), expectedTotals(messages));
    const counters = hook.counters();
    assert.equal(counters.received, 10_000);
    assert.equal(counters.written, 10_000);
    assert.equal(counters.dead_lettered, 0);
  });

  it('stores a reading delivered twice as one point', async () => {
    const { hook } = await startHook('twice');
    const reading = { ts: new Date(T0).toISOString(), device: 'plug-1', power_w: 42.5 };
    await publishAll(client, [
      ['twice/devices/plug-1/readings', reading],
      ['twice/devices/plug-1/readings', reading],
    ]);
    await waitUntil('both deliveries written', async () => hook.counters().written === 2);
    const result = await influx.query('twice', 'SELECT * FROM electricity');
    assert.equal(result.results?.[0]?.series?.[0]?.values.length, 1);
  });

  it('stores the returned-energy counter and the negative power of an exporting meter', async () => {
    const { hook } = await startHook('export');
    const reading = {
      ts: new Date(T0).toISOString(),
      device: 'grid',
      phase: 'L1',
      power_w: -2450.5,
      energy_wh: 1834120.5,
      energy_returned_wh: 906310.25,
    };
    await publishAll(client, [['export/devices/grid/readings', reading]]);
    await waitUntil('the reading written', async () => hook.counters().written === 1);
    const result = await influx.query(
      'export',
      'SELECT power_w, energy_wh, energy_returned_wh, phase FROM electricity',
    );
    assert.deepEqual(result.results?.[0]?.series?.[0]?.values, [[T0, -2450.5, 1834120.5, 906310.25, 'L1']]);
  });

  it('dead-letters malformed, unknown, mistyped and conflicting readings with a reason; stores the good ones', async () => {
    await influx.createDatabase('bad');
    // An older writer stored frequency_hz as a string in this shard: our float will conflict.
    const seed = await fetch(`${influx.url}/write?db=bad&precision=ms`, {
      method: 'POST',
      body: `electricity,device=legacy frequency_hz="fifty" ${T0}`,
    });
    assert.equal(seed.status, 204);
    const { hook } = await startHook('bad');
    const deadLetters: DeadLetter[] = [];
    let sixth!: () => void;
    const sixReceived = new Promise<void>((resolve) => (sixth = resolve));
    const watcher = await publisher(mosquitto.url);
    watcher.on('message', (_topic, payload) => {
      const record = JSON.parse(payload.toString()) as unknown;
      assert.ok(checkDeadLetter(record), checkDeadLetter.errorText());
      deadLetters.push(record);
      if (deadLetters.length === 6) sixth();
    });
    await watcher.subscribeAsync('bad/deadletter/storage-hook', { qos: 1 });
    const at = (i: number) => new Date(T0 + i * 1000).toISOString();
    const good = readings('bad', 2, 10);
    const bad: Array<[string, unknown]> = [
      ['bad/devices/dev-0/readings', '{"ts": "2026-11-23T00:00:00.000Z", "device": "dev-0", '],
      ['bad/devices/dev-0/readings', { ts: at(50), device: 'dev-0', power_w: 1, colour: 'red' }],
      ['bad/devices/dev-0/readings', { ts: at(51), device: 'dev-0', power_w: 'lots' }],
      ['bad/devices/dev-0/readings', { ts: at(52), device: 'dev-0', power_w: 1, location: 'room\\' }],
      ['bad/devices/dev-1/readings', { ts: at(53), device: 'dev-0', power_w: 1 }],
      ['bad/devices/dev-1/readings', { ts: at(54), device: 'dev-1', power_w: 1, frequency_hz: 50 }],
    ];
    await publishAll(client, [...good.slice(0, 10), ...bad, ...good.slice(10)]);
    await sixReceived;
    await watcher.endAsync();
    const reasons = deadLetters.map((record) => `${record.reason}: ${record.message}`).sort();
    assert.equal(reasons.length, 6);
    assert.match(
      reasons[0]!,
      /^rejected: InfluxDB refused the reading: 400: partial write: field type conflict/,
    );
    assert.match(reasons[1]!, /^rejected: reading of dev-0 published on the topic of dev-1/);
    assert.match(reasons[2]!, /^rejected: tag location "room\\\\" must not end with a backslash/);
    assert.match(reasons[3]!, /^schema: \/: unknown key 'colour'/);
    assert.match(reasons[4]!, /^schema: \/power_w: must be number/);
    assert.match(reasons[5]!, /^unparsable: not JSON/);
    await waitUntil('the good readings stored', async () => hook.counters().written === 20);
    assert.deepEqual(await totalsByDevice(influx, 'bad'), expectedTotals(good));
  });

  it('fills type and location from the retained device meta when a reading lacks them', async () => {
    await client.publishAsync(
      'meta/devices/desk-3/meta',
      JSON.stringify({
        id: 'desk-3',
        name: 'Desk 3',
        type: 'tplink',
        kind: 'workplace',
        location: 'hq/floor-2',
        poll_interval_ms: 1000,
        ts: new Date(T0).toISOString(),
      }),
      { qos: 1, retain: true },
    );
    const { hook } = await startHook('meta');
    await publishAll(client, [
      ['meta/devices/desk-3/readings', { ts: new Date(T0).toISOString(), device: 'desk-3', power_w: 3 }],
      [
        'meta/devices/desk-3/readings',
        { ts: new Date(T0 + 1000).toISOString(), device: 'desk-3', power_w: 4, location: 'moved' },
      ],
    ]);
    await waitUntil('two readings written', async () => hook.counters().written === 2);
    const result = await influx.query('meta', 'SELECT power_w, location, type FROM electricity');
    assert.deepEqual(
      result.results?.[0]?.series?.[0]?.values.map((row) => row.slice(1)),
      [
        [3, 'hq/floor-2', 'tplink'],
        [4, 'moved', 'tplink'],
      ],
    );
    await client.publishAsync('meta/devices/desk-3/meta', '', { qos: 1, retain: true });
  });

  it('refuses implausible readings (beyond the device limits, from the future): dead-lettered with the reason, counted, never stored', async () => {
    // The agent puts the plug's limits (its rating) into the retained meta.
    await client.publishAsync(
      'sane/devices/plug-x/meta',
      JSON.stringify({
        id: 'plug-x',
        name: 'Plug X',
        type: 'tplink',
        kind: 'appliance',
        location: 'lab',
        poll_interval_ms: 1000,
        model: 'HS110(EU)',
        limits: { max_power_w: 4600, max_current_a: 20, max_voltage_v: 300 },
        ts: new Date(T0).toISOString(),
      }),
      { qos: 1, retain: true },
    );
    const { hook } = await startHook('sane');
    const deadLetters: DeadLetter[] = [];
    let allFour!: () => void;
    const fourReceived = new Promise<void>((resolve) => (allFour = resolve));
    const watcher = await publisher(mosquitto.url);
    watcher.on('message', (_topic, payload) => {
      const record = JSON.parse(payload.toString()) as unknown;
      assert.ok(checkDeadLetter(record), checkDeadLetter.errorText());
      deadLetters.push(record);
      if (deadLetters.length === 4) allFour();
    });
    await watcher.subscribeAsync('sane/deadletter/storage-hook', { qos: 1 });
    const at = (i: number) => new Date(T0 + i * 1000).toISOString();
    const plug = 'sane/devices/plug-x/readings';
    await publishAll(client, [
      [plug, { ts: at(0), device: 'plug-x', power_w: 60 }],
      [plug, { ts: at(1), device: 'plug-x', power_w: 23_456_789 }],
      [plug, { ts: at(2), device: 'plug-x', power_w: 60, energy_wh: 3.4e38 }],
      [plug, { ts: new Date(Date.now() + 400 * 86_400_000).toISOString(), device: 'plug-x', power_w: 60 }],
      [plug, { ts: at(3), device: 'plug-x', power_w: 61 }],
      // No meta: the limits any device has.
      ['sane/devices/unknown-x/readings', { ts: at(4), device: 'unknown-x', power_w: 1e308 }],
      ['sane/devices/unknown-x/readings', { ts: at(5), device: 'unknown-x', power_w: 2500 }],
    ]);
    await fourReceived;
    await watcher.endAsync();
    const reasons = deadLetters.map((record) => `${record.reason}: ${record.message}`).sort();
    assert.deepEqual(reasons.slice(0, 3), [
      "implausible: energy_wh 3.4e+38 Wh is beyond the device's limit of 10000000000000 Wh (max_energy_wh)",
      "implausible: power_w 1e+308 W is beyond the device's limit of ±10000000 W (max_power_w)",
      "implausible: power_w 23456789 W is beyond the device's limit of ±4600 W (max_power_w)",
    ]);
    assert.match(reasons[3]!, /^implausible: ts \S+ is 400 days in the future \(more than 300000 ms\)/);
    await waitUntil('the good readings stored', async () => hook.counters().written === 3);
    assert.deepEqual(
      await totalsByDevice(influx, 'sane'),
      new Map([
        ['plug-x', { count: 2, sum: 121 }],
        ['unknown-x', { count: 1, sum: 2500 }],
      ]),
    );
    assert.equal(hook.counters().implausible, 4);
    assert.equal(hook.counters().dead_lettered, 4);
    await client.publishAsync('sane/devices/plug-x/meta', '', { qos: 1, retain: true });
  });

  it('keeps every reading through an influxd outage mid-stream, without duplicates', async () => {
    const { hook } = await startHook('outage', { batch: { max_lines: 500 } });
    const first = readings('outage', 20, 50);
    const second = readings('outage', 20, 50, 50);
    await publishAll(client, first);
    await waitUntil('some readings stored', async () => (await storedCount(influx, 'outage')) > 0);
    await influx.stop();
    await publishAll(client, second);
    await waitUntil('the hook retrying', async () => hook.counters().retried >= 2);
    assert.ok(hook.counters().log_depth > 0, 'readings wait in the log');
    await influx.start();
    await waitUntil('all 2,000 stored', async () => (await storedCount(influx, 'outage')) === 2000, {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    assert.deepEqual(await totalsByDevice(influx, 'outage'), expectedTotals([...first, ...second]));
    await waitUntil('log empty', async () => hook.counters().log_depth === 0);
  });

  it('survives a hook outage longer than mosquitto’s default 1000-message queue (shipped config)', async () => {
    const { hook, config } = await startHook('away');
    await hook.stop(); // the persistent session stays on the broker
    const messages = readings('away', 10, 500); // 5,000 readings queued for the absent hook
    await publishAll(client, messages);
    const again = new StorageHook({ config, logger: silentLogger() });
    hooks.push(again);
    await again.start();
    await waitUntil('all 5,000 stored', async () => (await storedCount(influx, 'away')) === 5000, {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    assert.deepEqual(await totalsByDevice(influx, 'away'), expectedTotals(messages));
  });

  it('splits the readings over two hooks sharing a $share group, each reading stored once', async () => {
    const one = await startHook('shared', { mqtt: { share_group: 'writers', client_id: 'hook-shared-1' } });
    const two = await startHook('shared', { mqtt: { share_group: 'writers', client_id: 'hook-shared-2' } });
    const messages = readings('shared', 20, 100);
    await publishAll(client, messages);
    await waitUntil('all 2,000 stored', async () => (await storedCount(influx, 'shared')) === 2000, {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    assert.deepEqual(await totalsByDevice(influx, 'shared'), expectedTotals(messages));
    const received = [one.hook.counters().received, two.hook.counters().received];
    assert.equal(received[0]! + received[1]!, 2000, 'each reading went to one member');
    assert.ok(received[0]! > 0 && received[1]! > 0, `both members took a share: ${received.join(' / ')}`);
  });

  it('control: without the shipped queue sizing, mosquitto drops what the absent hook would get', async () => {
    const plain = await startMosquitto({ useProjectTuning: false });
    const plainClient = await publisher(plain.url);
    try {
      const { hook, config } = await startHook('control', { mqtt: { url: plain.url } });
      await hook.stop();
      await publishAll(plainClient, readings('control', 10, 300)); // 3,000 > 1,000
      const again = new StorageHook({ config, logger: silentLogger() });
      hooks.push(again);
      await again.start();
      // Published after the queue: once it is stored, everything queued before it was handled.
      const marker = { ts: new Date(T0).toISOString(), device: 'marker', power_w: 1 };
      await publishAll(plainClient, [['control/devices/marker/readings', marker]]);
      await waitUntil('the marker stored', async () =>
        (await totalsByDevice(influx, 'control')).has('marker'),
      );
      const stored = (await storedCount(influx, 'control')) - 1;
      assert.ok(stored <= 1000, `mosquitto's default queue kept ${stored} of 3,000`);
    } finally {
      await plainClient.endAsync();
      await plain.destroy();
    }
  });
});
