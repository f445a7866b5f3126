import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { Bus } from '@wattbus/bus';
import type { DeviceState } from '@wattbus/contracts';
import { RegistryError } from '@wattbus/devices';
import { silentLogger } from '@wattbus/runtime';
import { startMosquitto, type MosquittoServer } from '@wattbus/testing';
import {
  Bridge,
  loadBridgeRegistry,
  loadMqttProfile,
  toAvailability,
  toFieldUnit,
  toNumber,
  toSwitch,
} from '../src/index.js';
import { Watcher, bridgeConfig, writeRegistry } from './helpers.js';

/** A device no built-in profile knows: power in mW, energy in kWh as a string, relay as 0/1, its own online topic. */
const USER_PROFILE = `
model: Placeholder Meter M1
report_interval_ms: 10000
variables:
  site: lab
messages:
  - topic: meters/{site}/{id}/data
    payload: json
    reading:
      power_w: { value: p_mw, unit: mW }
      energy_wh: { value: e.kwh, unit: kWh }
      voltage_v: "$number(u_dv) / 10"
    state: relay
  - topic: meters/{site}/{id}/alive
    availability: { value: $, online: [yes], offline: [no] }
set:
  topic: meters/{site}/{id}/cmd
  payload: '{"relay": $on ? 1 : 0, "by": $bridge}'
`;

describe('values from foreign payloads', () => {
  it('takes numbers and numeric strings, refuses everything else with the value named', () => {
    assert.equal(toNumber(12.5), 12.5);
    assert.equal(toNumber(' 12 '), 12);
    assert.equal(toNumber('1e3'), 1000);
    assert.equal(toNumber('-0.5'), -0.5);
    for (const bad of [
      'NaN',
      'nan',
      '',
      '12 W',
      '1,5',
      'inf',
      'Infinity',
      true,
      null,
      [12],
      { v: 1 },
      '0x10',
    ]) {
      assert.throws(() => toNumber(bad), /expected a (finite )?number, got/, JSON.stringify(bad));
    }
    assert.throws(() => toNumber('1e999'), /expected a finite number, got "1e999"/);
  });

  it('converts kWh, watt-minutes and mW into the fields’ units', () => {
    assert.equal(toFieldUnit('energy_wh', '12.345', 'kWh'), 12_345);
    assert.equal(toFieldUnit('energy_wh', 740_731, 'Wmin'), 12_345.516666667);
    assert.equal(toFieldUnit('power_w', 61_200, 'mW'), 61.2);
    assert.equal(toFieldUnit('power_factor', 92, '%'), 0.92);
  });

  it('reads relay states and availability the ways devices write them', () => {
    for (const on of ['ON', 'on', 'On', 1, '1', true, 'true']) assert.equal(toSwitch(on), true, String(on));
    for (const off of ['OFF', 'off', 0, '0', false, 'false']) assert.equal(toSwitch(off), false, String(off));
    assert.throws(() => toSwitch('TOGGLE'), /expected a relay state .*got "TOGGLE"/);
    assert.throws(() => toSwitch(2), /got 2/);
    assert.equal(toAvailability('Online'), 'online');
    assert.equal(toAvailability('false'), 'offline');
    assert.throws(() => toAvailability('Restarting'), /expected an availability/);
  });
});

describe('profiles and the registry', () => {
  it('loads every built-in profile', () => {
    for (const name of ['tasmota', 'zigbee2mqtt', 'shelly-gen1', 'shelly-gen2', 'esphome']) {
      const profile = loadMqttProfile(name);
      assert.ok(profile.messages.length > 0, name);
      assert.ok(profile.set, `${name} switches`);
    }
    assert.throws(
      () => loadMqttProfile('tasmot'),
      /no built-in MQTT profile 'tasmot'; built-in: esphome, shelly-gen1/,
    );
  });

  it('names every problem of a profile file with its line', async () => {
    const registry = await writeRegistry([{ id: 'm1', profile: './bad.yaml', foreign: 'm1' }]);
    try {
      await writeFile(
        join(registry.dir, 'bad.yaml'),
        [
          'model: Broken',
          'report_interval_ms: 1000',
          'messages:',
          '  - topic: meters/{id}/data',
          '    reading:',
          '      power_w: { value: "p.[", unit: W }',
          '      energy_wh: { value: e, unit: kW }',
          '  - topic: meters/{id}/{nope}',
          '    state: relay',
          '  - topic: meters/all',
          '    availability: $',
          '  - topic: meters/{id}/empty',
          'set: { topic: "meters/{id}/cmd", payload: "$on" }',
        ].join('\n'),
      );
      await assert.rejects(loadBridgeRegistry(registry.file), (error: RegistryError) => {
        const text = error.message;
        assert.match(text, /\/devices\/0\/connection\/profile: invalid MQTT device profile .*bad\.yaml:/);
        assert.match(
          text,
          /bad\.yaml:6 \/messages\/0\/reading\/power_w: JSONata expression does not compile/,
        );
        assert.match(
          text,
          /bad\.yaml:7 \/messages\/0\/reading\/energy_wh\/unit: unit 'kW' does not fit energy_wh; expected 'Wh' or 'kWh' or 'mWh' or 'Wmin'/,
        );
        assert.match(text, /bad\.yaml:8 \/messages\/1\/topic: unknown placeholder \{nope\}/);
        assert.match(
          text,
          /bad\.yaml:10 \/messages\/2\/topic: topic 'meters\/all' has no \{id\} placeholder/,
        );
        assert.match(text, /bad\.yaml:12 \/messages\/3: maps nothing/);
        return true;
      });
    } finally {
      await registry.cleanup();
    }
  });

  it('refuses registry entries with unknown profiles, variables, types and connection keys', async () => {
    const registry = await writeRegistry(
      [
        { id: 'a', profile: 'tasmota', foreign: 'a', variables: { channel: '1' } },
        { id: 'b', profile: 'nope', foreign: 'b' },
        { id: 'c', profile: 'shelly-gen1', foreign: 'c/+' },
      ],
      {},
    );
    try {
      await assert.rejects(loadBridgeRegistry(registry.file), (error: RegistryError) => {
        assert.match(error.message, /\/devices\/2\/connection\/id: must match pattern/);
        return true;
      });
      await writeFile(
        registry.file,
        [
          'devices:',
          '  - { id: a, type: mqtt, location: home, kind: plug, connection: { profile: tasmota, id: a, variables: { channel: "1" } } }',
          '  - { id: b, type: mqtt, location: home, kind: plug, connection: { profile: nope, id: b } }',
          '  - { id: c, type: tplink, location: home, kind: plug, connection: { host: c } }',
        ].join('\n'),
      );
      await assert.rejects(
        loadBridgeRegistry(registry.file),
        /unknown device type 'tplink' \(device 'c'\); expected one of: mqtt/,
      );
      await writeFile(
        registry.file,
        [
          'devices:',
          '  - { id: a, type: mqtt, location: home, kind: plug, connection: { profile: tasmota, id: a, variables: { channel: "1" } } }',
          '  - { id: b, type: mqtt, location: home, kind: plug, connection: { profile: nope, id: b } }',
        ].join('\n'),
      );
      await assert.rejects(loadBridgeRegistry(registry.file), (error: RegistryError) => {
        assert.match(
          error.message,
          /:2 \/devices\/0\/connection\/variables\/channel: profile 'tasmota' has no variable 'channel'/,
        );
        assert.match(error.message, /:3 \/devices\/1\/connection\/profile: unknown MQTT device profile/);
        return true;
      });
    } finally {
      await registry.cleanup();
    }
  });
});

describe('a user profile on mosquitto', () => {
  let mosquitto: MosquittoServer;

  before(async () => {
    mosquitto = await startMosquitto();
  });
  after(async () => {
    await mosquitto?.destroy();
  });

  it('maps with its own expressions, units, variables and availability words, and switches with its own payload', async () => {
    const registry = await writeRegistry([
      { id: 'lab-meter', profile: './meter.yaml', foreign: 'M-0042', variables: { site: 'hall' } },
    ]);
    await writeFile(join(registry.dir, 'meter.yaml'), USER_PROFILE);
    const { devices } = await loadBridgeRegistry(registry.file);
    const bridge = new Bridge({ config: bridgeConfig(mosquitto.url), devices, logger: silentLogger() });
    const watcher = await Watcher.start(mosquitto.url);
    const device = await mqtt.connectAsync(mosquitto.url);
    const client = await Bus.connect({ url: mosquitto.url, service: 'test-client', logger: silentLogger() });
    try {
      await bridge.start();
      await device.subscribeAsync('meters/hall/M-0042/cmd');
      device.on('message', (_topic, payload) => {
        const { relay } = JSON.parse(payload.toString()) as { relay: number };
        void device.publishAsync('meters/hall/M-0042/data', JSON.stringify({ relay }));
      });
      await device.publishAsync('meters/hall/M-0042/alive', 'yes');
      await watcher.until('online', () => watcher.last('lab-meter', 'availability') === 'online');
      await device.publishAsync(
        'meters/hall/M-0042/data',
        JSON.stringify({ p_mw: 61_200, e: { kwh: '1.5' }, u_dv: '2301', relay: 1 }),
      );
      await watcher.waitFor('a reading', (s) => s.topic === 'wattbus/devices/lab-meter/readings');
      const [reading] = watcher.readings('lab-meter');
      assert.equal(reading!.power_w, 61.2);
      assert.equal(reading!.energy_wh, 1500);
      assert.equal(reading!.voltage_v, 230.1);
      const state = await client.request<DeviceState>(client.topics.deviceRequest('lab-meter', 'set'), {
        on: false,
      });
      assert.equal(state.on, false);
      await device.publishAsync('meters/hall/M-0042/alive', 'no');
      await watcher.until('offline', () => watcher.last('lab-meter', 'availability') === 'offline');
      // Another site's meter of the same id is not this device.
      await device.publishAsync('meters/lab/M-0042/data', JSON.stringify({ p_mw: 1 }));
      await device.publishAsync('meters/hall/M-0042/data', JSON.stringify({ p_mw: 2000 }));
      await watcher.waitForCount('readings', (s) => s.topic === 'wattbus/devices/lab-meter/readings', 2);
      assert.deepEqual(
        watcher.readings('lab-meter').map((r) => r.power_w),
        [61.2, 2],
      );
    } finally {
      await client.stop();
      await device.endAsync();
      await bridge.stop();
      await watcher.stop();
      await registry.cleanup();
    }
  });
});
