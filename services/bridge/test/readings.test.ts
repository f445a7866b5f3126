import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, silentLogger } from '@wattbus/runtime';
import { StorageHook, StorageHookConfigSchema } from '@wattbus/storage-hook';
import {
  startInflux,
  startMosquitto,
  waitUntil,
  type InfluxServer,
  type MosquittoServer,
} from '@wattbus/testing';
import type { Bridge } from '../src/index.js';
import { Watcher, startBridge } from './helpers.js';
import { EsphomeNode, ShellyGen1, ShellyGen2, TasmotaPlug, Zigbee2MqttPlug } from '@wattbus/simulators';

const DATABASE = 'bridge';

/** One device per built-in profile; foreign names are placeholders in each vendor's style. */
const DEVICES = [
  // Its registry entry bounds it to a 16 A EU plug's 3680 W.
  { id: 'kitchen-plug', profile: 'tasmota', foreign: 'tasmota_A1B2C3', limits: { max_power_w: 3680 } },
  { id: 'desk-plug', profile: 'zigbee2mqtt', foreign: 'office/desk plug' },
  { id: 'washer', profile: 'shelly-gen1', foreign: 'shellyplug-s-C8C9A3' },
  { id: 'dryer', profile: 'shelly-gen2', foreign: 'shellyplusplugs-a0b1c2d3e4f5' },
  { id: 'heater', profile: 'esphome', foreign: 'heater-node' },
];

interface Stored {
  [field: string]: unknown;
}

/** Every stored row of a device, oldest first, as column → value. */
async function storedRows(influx: InfluxServer, device: string): Promise<Stored[]> {
  const result = await influx.query(DATABASE, `SELECT * FROM electricity WHERE device = '${device}'`);
  const series = result.results?.[0]?.series?.[0];
  if (!series) return [];
  return series.values.map((row) =>
    Object.fromEntries(series.columns.map((column, index) => [column, row[index]])),
  );
}

function assertClose(actual: unknown, expected: number, what: string): void {
  assert.equal(typeof actual, 'number', `${what}: ${String(actual)}`);
  assert.ok(Math.abs((actual as number) - expected) < 1e-6, `${what}: ${String(actual)} ≠ ${expected}`);
}

describe('bridge: built-in profiles on a real mosquitto, stored through the storage hook into influxd', () => {
  let mosquitto: MosquittoServer;
  let influx: InfluxServer;
  let hook: StorageHook;
  let hookDir: string;
  let bridge: Bridge;
  let stopBridge: () => Promise<void>;
  let watcher: Watcher;
  let tasmota: TasmotaPlug;
  let z2m: Zigbee2MqttPlug;
  let gen1: ShellyGen1;
  let gen2: ShellyGen2;
  let esphome: EsphomeNode;

  before(async () => {
    [mosquitto, influx] = await Promise.all([startMosquitto(), startInflux()]);
    hookDir = mkdtempSync(join(tmpdir(), 'wattbus-bridge-hook-'));
    const defaults = loadConfig({ schema: StorageHookConfigSchema, env: {} });
    hook = new StorageHook({
      config: {
        ...defaults,
        counters_log_interval_ms: 0,
        mqtt: { ...defaults.mqtt, url: mosquitto.url, client_id: 'bridge-test-hook' },
        influx: { ...defaults.influx, url: influx.url, database: DATABASE },
        log: { ...defaults.log, dir: hookDir },
        batch: { ...defaults.batch, max_delay_ms: 20 },
      },
      logger: silentLogger(),
    });
    await hook.start();
    watcher = await Watcher.start(mosquitto.url);
    ({ bridge, stop: stopBridge } = await startBridge(mosquitto.url, DEVICES));
    [tasmota, z2m, gen1, gen2, esphome] = await Promise.all([
      TasmotaPlug.start(mosquitto.url, 'tasmota_A1B2C3'),
      Zigbee2MqttPlug.start(mosquitto.url, 'office/desk plug'),
      ShellyGen1.start(mosquitto.url, 'shellyplug-s-C8C9A3'),
      ShellyGen2.start(mosquitto.url, 'shellyplusplugs-a0b1c2d3e4f5'),
      EsphomeNode.start(mosquitto.url, 'heater-node'),
    ]);
  });

  after(async () => {
    await Promise.allSettled([tasmota, z2m, gen1, gen2, esphome].map((device) => device?.kill()));
    await stopBridge?.();
    await watcher?.stop();
    await hook?.stop();
    rmSync(hookDir, { recursive: true, force: true });
    await Promise.all([mosquitto?.destroy(), influx?.destroy()]);
  });

  it('publishes meta for every device, with the profile as model and its report interval', async () => {
    for (const device of DEVICES) {
      const seen = await watcher.waitFor(
        `meta of ${device.id}`,
        (s) => s.topic === `wattbus/devices/${device.id}/meta`,
      );
      const meta = JSON.parse(seen.text) as { type: string; model: string; poll_interval_ms: number };
      assert.equal(meta.type, 'mqtt');
      assert.ok(meta.model.length > 0);
    }
    const tasmotaMeta = JSON.parse(
      watcher.seen.find((s) => s.topic === 'wattbus/devices/kitchen-plug/meta')!.text,
    );
    assert.equal(tasmotaMeta.model, 'Tasmota');
    assert.equal(tasmotaMeta.poll_interval_ms, 300_000);
  });

  it("turns each profile's documented payloads into readings in the contract's units, stored in InfluxDB", async () => {
    await tasmota.telemetry({ power: 61, voltage: 231, current: 0.286, factor: 0.92, total_kwh: 12.345 });
    await z2m.report();
    await gen1.report(45.5, 740_731);
    await gen2.status();
    await esphome.sensors({ power: 1500.2, energy_wh: 2345.6, voltage: 229.9, current: 6.526 });
    const expected: Record<string, Record<string, number>> = {
      'kitchen-plug': {
        power_w: 61,
        voltage_v: 231,
        current_a: 0.286,
        power_factor: 0.92,
        energy_wh: 12_345,
      },
      'desk-plug': { power_w: 61.2, voltage_v: 230, current_a: 0.27, energy_wh: 12_340 },
      // watt-minutes: 740731 / 60
      washer: { power_w: 45.5, energy_wh: 12_345.516666667 },
      dryer: { power_w: 61.2, voltage_v: 230.1, current_a: 0.271, frequency_hz: 50, energy_wh: 12_345.678 },
      heater: { power_w: 1500.2, voltage_v: 229.9, current_a: 6.526, energy_wh: 2345.6 },
    };
    for (const [device, fields] of Object.entries(expected)) {
      await watcher.waitFor(
        `a reading of ${device}`,
        (s) => s.topic === `wattbus/devices/${device}/readings`,
      );
      const readings = watcher.readings(device);
      assert.equal(readings.length, 1, `${device}: one reading (fields on separate topics coalesced)`);
      const reading = readings[0]!;
      assert.deepEqual(
        Object.keys(reading)
          .filter(
            (key) =>
              key.endsWith('_w') ||
              key.endsWith('_v') ||
              key.endsWith('_a') ||
              key.endsWith('_wh') ||
              key.endsWith('_hz') ||
              key === 'power_factor',
          )
          .sort(),
        Object.keys(fields).sort(),
        `${device}: fields`,
      );
      for (const [field, value] of Object.entries(fields))
        assertClose(reading[field as 'power_w'], value, `${device} ${field}`);
      assert.equal(reading.type, 'mqtt');
      assert.equal(reading.location, `home/test/${device}`);
    }
    await waitUntil('the storage hook wrote 5 readings', async () => hook.counters().written >= 5);
    for (const [device, fields] of Object.entries(expected)) {
      const rows = await storedRows(influx, device);
      assert.equal(rows.length, 1, `${device}: stored once`);
      for (const [field, value] of Object.entries(fields))
        assertClose(rows[0]![field], value, `${device} stored ${field}`);
      assert.equal(rows[0]!.type, 'mqtt');
    }
  });

  it("follows each device's availability topic (LWT, Zigbee2MQTT's retained availability, birth messages)", async () => {
    for (const device of DEVICES) {
      await watcher.waitFor(
        `${device.id} online`,
        (s) => s.topic === `wattbus/devices/${device.id}/availability` && s.text === 'online',
      );
    }
    // Tasmota's connection drops: mosquitto publishes its last will tele/<topic>/LWT Offline.
    await tasmota.kill();
    await watcher.until(
      'kitchen-plug offline',
      () => watcher.last('kitchen-plug', 'availability') === 'offline',
    );
    tasmota = await TasmotaPlug.start(mosquitto.url, 'tasmota_A1B2C3');
    await watcher.until(
      'kitchen-plug online again',
      () => watcher.last('kitchen-plug', 'availability') === 'online',
    );
    // Zigbee2MQTT: the legacy text payload and the JSON one.
    await z2m.availability('offline', true);
    await watcher.until(
      'desk-plug offline (legacy text)',
      () => watcher.last('desk-plug', 'availability') === 'offline',
    );
    await z2m.availability('online');
    await watcher.until(
      'desk-plug online (JSON)',
      () => watcher.last('desk-plug', 'availability') === 'online',
    );
    for (const [device, id] of [
      [gen1, 'washer'],
      [gen2, 'dryer'],
      [esphome, 'heater'],
    ] as const) {
      await device.kill();
      await watcher.until(
        `${id} offline by its last will`,
        () => watcher.last(id, 'availability') === 'offline',
      );
    }
    gen1 = await ShellyGen1.start(mosquitto.url, 'shellyplug-s-C8C9A3');
    gen2 = await ShellyGen2.start(mosquitto.url, 'shellyplusplugs-a0b1c2d3e4f5');
    esphome = await EsphomeNode.start(mosquitto.url, 'heater-node');
    for (const id of ['washer', 'dryer', 'heater']) {
      await watcher.until(`${id} online again`, () => watcher.last(id, 'availability') === 'online');
    }
    assert.equal(bridge.metrics().devices['kitchen-plug']!.availability, 'online');
  });

  it('dead-letters a corpus of bad payloads per profile with the reason, stores nothing of them, and keeps going', async () => {
    const T = 'tasmota_A1B2C3';
    const Z = 'zigbee2mqtt/office/desk plug';
    const S1 = 'shellies/shellyplug-s-C8C9A3';
    const S2 = 'shellyplusplugs-a0b1c2d3e4f5';
    const E = 'heater-node';
    const huge = JSON.stringify({ ENERGY: { Power: 1, Padding: 'x'.repeat(100 * 1024) } });
    const corpus: [topic: string, payload: string, reason: string, message: RegExp][] = [
      [`tele/${T}/SENSOR`, 'not json at all', 'unparsable', /not JSON/],
      [
        `tele/${T}/SENSOR`,
        '{"ENERGY":{"Power":"NaN","Voltage":230}}',
        'schema',
        /power_w: expected a number, got "NaN"/,
      ],
      [`tele/${T}/SENSOR`, '{"ENERGY":{"Power":"lots"}}', 'schema', /power_w: expected a number, got "lots"/],
      [
        `tele/${T}/SENSOR`,
        '{"ENERGY":{"Power":[61,0]}}',
        'schema',
        /power_w: expected a number, got \[61,0\]/,
      ],
      [
        `tele/${T}/SENSOR`,
        '{"Time":"2026-03-01T12:00:00","DS18B20":{"Temperature":21.5}}',
        'schema',
        /nothing to map: power_w \(ENERGY\.Power\)/,
      ],
      [
        `tele/${T}/SENSOR`,
        '{"ENERGY":{"Power":61,"Voltage":-5}}',
        'schema',
        /out of bounds: \/voltage_v: must be >= 0/,
      ],
      [
        `tele/${T}/SENSOR`,
        '{"ENERGY":{"Power":61,"Total":"1e999"}}',
        'schema',
        /energy_wh: expected a finite number/,
      ],
      [`tele/${T}/SENSOR`, '', 'schema', /empty payload/],
      [
        `tele/${T}/SENSOR`,
        `${'['.repeat(30_000)}${']'.repeat(30_000)}`,
        'schema',
        /power_w \(ENERGY\.Power\): Maximum call stack/,
      ],
      [`tele/${T}/SENSOR`, huge, 'oversize', /exceeds max_payload_bytes 65536/],
      [`stat/${T}/POWER`, 'maybe', 'schema', /state: expected a relay state/],
      [`tele/${T}/LWT`, 'Restarting', 'schema', /availability: expected an availability/],
      [Z, '{"power":"NaN","state":"ON"}', 'schema', /power_w: expected a number, got "NaN"/],
      [Z, '{"state":"BLINK"}', 'schema', /state: expected a relay state .*got "BLINK"/],
      [Z, '[1,2,3]', 'schema', /nothing to map/],
      [Z, '{"linkquality":90}', 'schema', /nothing to map/],
      [Z, '{"power":true}', 'schema', /power_w: expected a number, got true/],
      [Z, '"just text"', 'schema', /nothing to map/],
      [`${Z}/availability`, '{"state":"maybe"}', 'schema', /availability: expected an availability/],
      [`${S1}/relay/0/power`, 'nan', 'schema', /power_w: expected a number, got "nan"/],
      [`${S1}/relay/0/power`, '61 W', 'schema', /power_w: expected a number, got "61 W"/],
      [`${S1}/relay/0/energy`, '-5', 'schema', /out of bounds: \/energy_wh: must be >= 0/],
      [`${S1}/relay/0`, 'overpower', 'schema', /state: expected a relay state .*got "overpower"/],
      [`${S1}/online`, 'maybe', 'schema', /availability: expected an availability/],
      [
        `${S2}/status/switch:0`,
        '{"id":0,"apower":"NaN","output":true}',
        'schema',
        /power_w: expected a number/,
      ],
      [`${S2}/status/switch:0`, '{"id":0,"output":"yes"}', 'schema', /state: expected a relay state/],
      [
        `${S2}/status/switch:0`,
        '{"apower":1,"aenergy":{"total":-1}}',
        'schema',
        /out of bounds: \/energy_wh/,
      ],
      [`${S2}/status/switch:0`, '{"id":0,"apower":', 'unparsable', /not JSON/],
      [`${S2}/status/switch:0`, '{}', 'schema', /nothing to map/],
      [`${E}/sensor/power/state`, 'nan', 'schema', /power_w: expected a number, got "nan"/],
      [`${E}/sensor/power/state`, 'inf', 'schema', /power_w: expected a number, got "inf"/],
      [`${E}/sensor/voltage/state`, '229,9', 'schema', /voltage_v: expected a number, got "229,9"/],
      [`${E}/switch/relay/state`, 'UNKNOWN', 'schema', /state: expected a relay state/],
      [`${E}/status`, 'rebooting', 'schema', /availability: expected an availability/],
    ];
    const storedBefore = hook.counters().written;
    const deadBefore = watcher.deadLetters().length;
    for (const [topic, payload] of corpus) await tasmota.publish(topic, payload);
    await watcher.until(
      `${corpus.length} dead letters`,
      () => watcher.deadLetters().length - deadBefore >= corpus.length,
    );
    const letters = watcher.deadLetters().slice(deadBefore);
    assert.equal(letters.length, corpus.length);
    for (const [topic, payload, reason, message] of corpus) {
      const letter = letters.find(
        (candidate) =>
          candidate.topic === topic &&
          candidate.payload_bytes === Buffer.byteLength(payload) &&
          candidate.payload === payload.slice(0, 4096),
      );
      assert.ok(letter, `a dead letter for ${topic} ${payload.slice(0, 60)}`);
      assert.equal(letter.reason, reason, `${topic} ${payload.slice(0, 60)}: reason`);
      assert.match(letter.message, message, `${topic} ${payload.slice(0, 60)}`);
      assert.equal(letter.service, 'bridge');
    }
    const counted = bridge.metrics().dead_lettered;
    assert.equal(counted.schema + counted.unparsable + counted.oversize, corpus.length);
    assert.equal(counted.oversize, 1);

    // Still bridging, with nothing of the corpus stored: one more good message per device.
    await tasmota.telemetry({ power: 10, voltage: 230, current: 0.05, factor: 0.9, total_kwh: 12.5 });
    await z2m.report();
    await gen1.report(20, 741_000);
    await gen2.status();
    await esphome.sensors({ power: 30, energy_wh: 2346, voltage: 230, current: 0.13 });
    await waitUntil(
      'the storage hook wrote 5 more readings',
      async () => hook.counters().written >= storedBefore + 5,
    );
    for (const device of DEVICES) {
      const rows = await storedRows(influx, device.id);
      assert.equal(rows.length, 2, `${device.id}: only the two good readings are stored`);
      for (const row of rows) {
        assert.ok(
          typeof row.power_w === 'number' && Number.isFinite(row.power_w) && row.power_w >= 0,
          `${device.id}: ${JSON.stringify(row)}`,
        );
        if (row.voltage_v !== null) assert.ok((row.voltage_v as number) > 200);
      }
    }
    assert.equal(
      watcher.last('kitchen-plug', 'availability'),
      'online',
      'Restarting did not change availability',
    );
  });

  it('publishes the relay state each device reports, once per change', async () => {
    tasmota.on = false;
    await tasmota.state();
    await watcher.until(
      'kitchen-plug off',
      () => watcher.last('kitchen-plug', 'state')?.includes('"on":false') === true,
    );
    const before = watcher.seen.filter((s) => s.topic === 'wattbus/devices/kitchen-plug/state').length;
    await tasmota.state(); // unchanged: not republished
    await tasmota.publish('stat/tasmota_A1B2C3/POWER', 'ON');
    await watcher.until(
      'kitchen-plug on',
      () => watcher.last('kitchen-plug', 'state')?.includes('"on":true') === true,
    );
    assert.equal(
      watcher.seen.filter((s) => s.topic === 'wattbus/devices/kitchen-plug/state').length,
      before + 1,
    );
  });

  it("dead-letters a reading beyond its device's limits as implausible (the registry's, or any device's), stores none", async () => {
    const meta = JSON.parse(
      watcher.seen.find((s) => s.topic === 'wattbus/devices/kitchen-plug/meta')!.text,
    ) as { limits?: unknown };
    assert.deepEqual(meta.limits, { max_power_w: 3680 });
    const storedBefore = (await storedRows(influx, 'kitchen-plug')).length;
    const deadBefore = watcher.deadLetters().length;
    await tasmota.telemetry({ power: 5000, voltage: 230, current: 21.7, factor: 1, total_kwh: 12.6 });
    await esphome.sensors({ power: 3.4e38, energy_wh: 2347, voltage: 230, current: 0.13 });
    await watcher.until('two implausible dead letters', () => watcher.deadLetters().length >= deadBefore + 2);
    const letters = watcher.deadLetters().slice(deadBefore);
    assert.equal(letters.length, 2);
    for (const letter of letters) {
      assert.equal(letter.service, 'bridge');
      assert.equal(letter.reason, 'implausible');
    }
    const messages = letters.map((letter) => letter.message).sort();
    assert.match(messages[0]!, /heater \(esphome\): power_w 3\.4e\+38 W is beyond .*limit of ±10000000 W/);
    assert.match(messages[1]!, /kitchen-plug \(tasmota\): power_w 5000 W is beyond .*limit of ±3680 W/);
    assert.equal(bridge.metrics().dead_lettered.implausible, 2);

    // The next plausible reading is stored; the implausible one never was.
    await tasmota.telemetry({ power: 62, voltage: 230, current: 0.29, factor: 0.92, total_kwh: 12.6 });
    await waitUntil(
      'the plausible reading stored',
      async () => (await storedRows(influx, 'kitchen-plug')).length === storedBefore + 1,
    );
    const rows = await storedRows(influx, 'kitchen-plug');
    assert.ok(rows.every((row) => row.power_w !== 5000));
    assert.ok((await storedRows(influx, 'heater')).every((row) => row.power_w !== 3.4e38));
  });
});
