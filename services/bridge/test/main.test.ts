import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { parse } from 'yaml';
import { runProgram, startMosquitto, type MosquittoServer, type ProgramRun } from '@wattbus/testing';
import { loadBridgeRegistry } from '../src/index.js';
import { Watcher, writeRegistry } from './helpers.js';
import { TasmotaPlug } from '@wattbus/simulators';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

describe('wattbus-bridge process', () => {
  let mosquitto: MosquittoServer;
  let watcher: Watcher;
  const runs: ProgramRun[] = [];
  const cleanups: (() => Promise<void>)[] = [];

  const run = (args: string[], env: Record<string, string> = {}) => {
    const started = runProgram(MAIN, {
      args,
      env: { LOG_LEVEL: 'warn', WATTBUS_BRIDGE_MQTT__URL: mosquitto.url, ...env },
    });
    runs.push(started);
    return started;
  };

  before(async () => {
    mosquitto = await startMosquitto();
    watcher = await Watcher.start(mosquitto.url);
  });

  after(async () => {
    await Promise.all(runs.map((started) => started.stop('SIGKILL')));
    await watcher?.stop();
    for (const cleanup of cleanups) await cleanup();
    await mosquitto?.destroy();
  });

  it('--help lists the options, the environment and where the keys are documented', async () => {
    const help = run(['--help']);
    assert.equal((await help.exited).code, 0);
    for (const text of [
      '--registry',
      '--discover',
      '--seconds',
      'WATTBUS_BRIDGE_FOREIGN_MQTT__URL',
      'services/bridge/README.md',
    ]) {
      assert.ok(help.stdout().includes(text), text);
    }
  });

  it('refuses a bad registry or config with exit code 2, naming every problem and its line', async () => {
    const registry = await writeRegistry([]);
    cleanups.push(registry.cleanup);
    await writeFile(
      registry.file,
      [
        'devices:',
        '  - { id: a, type: mqtt, location: home, kind: plug, connection: { profile: tasmota } }',
        '  - { id: b, type: mqtt, location: home, kind: plug, connection: { profile: nope, id: b } }',
      ].join('\n'),
    );
    const failed = run(['--registry', registry.file]);
    assert.equal((await failed.exited).code, 2);
    assert.match(failed.stderr(), /^wattbus-bridge: invalid device registry/);
    assert.match(failed.stderr(), /:2 \/devices\/0\/connection: missing required key 'id'/);
    const none = run([]);
    assert.equal((await none.exited).code, 2);
    assert.match(none.stderr(), /no device registry: pass --registry/);
    const badConfig = run(['--registry', registry.file], { WATTBUS_BRIDGE_MAX_PAYLOAD_BYTES: 'lots' });
    assert.equal((await badConfig.exited).code, 2);
    assert.match(
      badConfig.stderr(),
      /max_payload_bytes \(from WATTBUS_BRIDGE_MAX_PAYLOAD_BYTES\): must be integer/,
    );
    const badForeign = run(['--registry', registry.file], { WATTBUS_BRIDGE_FOREIGN_MQTT__URL: 'htp://x' });
    assert.equal((await badForeign.exited).code, 2);
    assert.match(
      badForeign.stderr(),
      /\/foreign_mqtt\/url: invalid MQTT broker URL 'htp:\/\/x': unsupported scheme 'htp'/,
    );
    const badSeconds = run(['--discover', '--seconds', 'soon']);
    assert.equal((await badSeconds.exited).code, 2);
    assert.match(badSeconds.stderr(), /--seconds must be a number of seconds/);
  });

  it('--discover lists what is published and proposes registry entries the bridge accepts', async () => {
    const client = await mqtt.connectAsync(mosquitto.url);
    const retained = { qos: 1, retain: true } as const;
    const documented: [string, string][] = [
      [
        'tele/tasmota_D1E2F3/SENSOR',
        '{"Time":"2026-03-01T12:00:00","ENERGY":{"Total":1.2,"Power":40,"Voltage":230,"Current":0.2}}',
      ],
      ['tele/tasmota_D1E2F3/LWT', 'Online'],
      ['zigbee2mqtt/hall/fridge plug', '{"state":"ON","power":85,"energy":3.1,"voltage":231,"current":0.4}'],
      ['zigbee2mqtt/bridge/state', '{"state":"online"}'],
      ['shellies/shellyplug-s-AABBCC/relay/0/power', '12.5'],
      [
        'shellyplusplugs-001122334455/status/switch:0',
        '{"id":0,"output":true,"apower":7,"aenergy":{"total":10}}',
      ],
      ['boiler-node/sensor/power/state', '1999.5'],
      ['boiler-node/sensor/uptime/state', '1234'],
    ];
    for (const [topic, payload] of documented) await client.publishAsync(topic, payload, retained);
    await client.endAsync();
    // LOG_LEVEL=info: even so, nothing but the YAML goes to stdout.
    const discovery = run(['--discover', '--seconds', '1'], {
      WATTBUS_BRIDGE_ID: 'bridge-discovery',
      LOG_LEVEL: 'info',
    });
    assert.equal((await discovery.exited).code, 0, discovery.stderr());
    const output = discovery.stdout();
    assert.deepEqual(
      discovery.lines.filter((line) => 'level' in line),
      [],
      'no log lines on stdout',
    );
    for (const [topic] of documented) assert.ok(output.includes(topic), `lists ${topic}`);
    const proposed = (
      parse(output) as { devices: { id: string; connection: { profile: string; id: string } }[] }
    ).devices;
    assert.deepEqual(
      proposed.map((device) => [device.id, device.connection.profile, device.connection.id]),
      [
        ['boiler-node', 'esphome', 'boiler-node'],
        ['shellyplug-s-aabbcc', 'shelly-gen1', 'shellyplug-s-AABBCC'],
        ['shellyplusplugs-001122334455', 'shelly-gen2', 'shellyplusplugs-001122334455'],
        ['tasmota-d1e2f3', 'tasmota', 'tasmota_D1E2F3'],
        ['hall-fridge-plug', 'zigbee2mqtt', 'hall/fridge plug'],
      ],
    );
    const registry = await writeRegistry([]);
    cleanups.push(registry.cleanup);
    await writeFile(registry.file, output);
    assert.equal((await loadBridgeRegistry(registry.file)).devices.length, 5);
  });

  it('bridges until SIGTERM, then publishes its devices and itself offline and exits 0; after SIGKILL the broker does', async () => {
    const registry = await writeRegistry([{ id: 'lamp', profile: 'tasmota', foreign: 'tasmota_LAMP' }]);
    cleanups.push(registry.cleanup);
    const plug = await TasmotaPlug.start(mosquitto.url, 'tasmota_LAMP');
    try {
      for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
        const from = watcher.seen.length;
        const since = () => watcher.seen.slice(from);
        const bridge = run(['--registry', registry.file], { WATTBUS_BRIDGE_ID: 'bridge-main' });
        await watcher.until('lamp online', () =>
          since().some((s) => s.topic === 'wattbus/devices/lamp/availability' && s.text === 'online'),
        );
        await plug.telemetry({ power: 9, voltage: 230, current: 0.04, factor: 0.9, total_kwh: 0.5 });
        await watcher.until('a reading', () =>
          since().some((s) => s.topic === 'wattbus/devices/lamp/readings'),
        );
        const exited = await bridge.stop(signal);
        if (signal === 'SIGTERM') assert.equal(exited.code, 0, bridge.stderr());
        await watcher.until(`lamp and bridge offline after ${signal}`, () => {
          const later = since();
          return (
            later.some((s) => s.topic === 'wattbus/devices/lamp/availability' && s.text === 'offline') &&
            later.some((s) => s.topic === 'wattbus/agents/bridge-main/availability' && s.text === 'offline')
          );
        });
      }
    } finally {
      await plug.kill();
    }
  });
});
