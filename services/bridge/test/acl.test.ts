import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { Bus } from '@wattbus/bus';
import type { DeviceState, ServiceHealth } from '@wattbus/contracts';
import { silentLogger } from '@wattbus/runtime';
import { startMosquitto, type MosquittoServer } from '@wattbus/testing';
import { Watcher, startBridge } from './helpers.js';

/** The ACL we ship, as production loads it, plus a user for the devices and one for the test's requests. */
const SHIPPED_ACL = readFileSync(new URL('../../../mosquitto/acl.example', import.meta.url), 'utf8');
const USERS = { bridge: 'bridge-secret', device: 'device-secret', tester: 'tester-secret' };

/** Per profile: a reading message, and how a device answers a command with its new state. */
const DEVICES = [
  {
    id: 'p-tasmota',
    profile: 'tasmota',
    foreign: 't1',
    reading: ['tele/t1/SENSOR', '{"ENERGY":{"Power":5}}'],
    command: 'cmnd/t1/POWER',
    answer: ['stat/t1/POWER', 'ON'],
  },
  {
    id: 'p-z2m',
    profile: 'zigbee2mqtt',
    foreign: 'room/plug',
    reading: ['zigbee2mqtt/room/plug', '{"power":6}'],
    command: 'zigbee2mqtt/room/plug/set',
    answer: ['zigbee2mqtt/room/plug', '{"state":"ON"}'],
  },
  {
    id: 'p-gen1',
    profile: 'shelly-gen1',
    foreign: 'sg1',
    reading: ['shellies/sg1/relay/0/power', '7'],
    command: 'shellies/sg1/relay/0/command',
    answer: ['shellies/sg1/relay/0', 'on'],
  },
  {
    id: 'p-gen2',
    profile: 'shelly-gen2',
    foreign: 'sp2',
    reading: ['sp2/status/switch:0', '{"apower":8}'],
    command: 'sp2/rpc',
    answer: ['sp2/status/switch:0', '{"output":true}'],
  },
  {
    id: 'p-esphome',
    profile: 'esphome',
    foreign: 'node1',
    reading: ['node1/sensor/power/state', '9'],
    command: 'node1/switch/relay/command',
    answer: ['node1/switch/relay/state', 'ON'],
  },
] as const;

describe("bridge under mosquitto/acl.example's `bridge` user", () => {
  let mosquitto: MosquittoServer;
  let device: MqttClient;

  before(async () => {
    mosquitto = await startMosquitto({
      users: USERS,
      acl: `${SHIPPED_ACL}\nuser device\ntopic readwrite #\n\nuser tester\ntopic readwrite #\n`,
    });
    device = await mqtt.connectAsync(mosquitto.url, { username: 'device', password: USERS.device });
  });
  after(async () => {
    await device?.endAsync();
    await mosquitto?.destroy();
  });

  it('may read every built-in profile topic, write every command topic and answer on the WattBus topics', async () => {
    const credentials = { username: 'tester', password: USERS.tester };
    const watcher = await Watcher.start(mosquitto.url, 'wattbus/#', credentials);
    const { stop } = await startBridge(
      mosquitto.url,
      DEVICES.map(({ id, profile, foreign }) => ({ id, profile, foreign, timeout_ms: 2000 })),
      { mqtt: { url: mosquitto.url, username: 'bridge', password: USERS.bridge } },
    );
    const client = await Bus.connect({
      url: mosquitto.url,
      ...credentials,
      service: 'tester',
      logger: silentLogger(),
    });
    // The device side answers each command with the state it now has.
    await device.subscribeAsync(DEVICES.map((entry) => entry.command));
    device.on('message', (topic) => {
      const entry = DEVICES.find((candidate) => candidate.command === topic);
      if (entry) void device.publishAsync(entry.answer[0], entry.answer[1]);
    });
    try {
      // Its health, named by its id (startBridge's `bridge-test`), not by its user.
      const health = JSON.parse(
        (
          await watcher.waitFor(
            'health record of the bridge',
            (s) => s.topic === 'wattbus/health/bridge-test',
          )
        ).text,
      ) as ServiceHealth;
      assert.equal(health.ready, true);
      assert.equal(health.checks.devices_broker?.ok, true);
      assert.equal(health.metrics.devices, DEVICES.length);
      for (const entry of DEVICES) await device.publishAsync(entry.reading[0], entry.reading[1]);
      for (const entry of DEVICES) {
        await watcher.waitFor(
          `a reading of ${entry.id}`,
          (s) => s.topic === `wattbus/devices/${entry.id}/readings`,
        );
        const state = await client.request<DeviceState>(client.topics.deviceRequest(entry.id, 'set'), {
          on: true,
        });
        assert.equal(state.on, true, entry.id);
      }
    } finally {
      await client.stop();
      await stop();
      await watcher.stop();
    }
  });
});
