import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '@wattbus/bus';
import { WattbusError, type DeviceState, type Problem } from '@wattbus/contracts';
import {
  Gateway,
  GatewayConfigSchema,
  OpenApiSpec,
  connectGatewayBus,
  hashApiKey,
  makeApiKey,
} from '@wattbus/gateway';
import { parseConfig, silentLogger } from '@wattbus/runtime';
import { startMosquitto, waitUntil, type MosquittoServer } from '@wattbus/testing';
import { Watcher, startBridge } from './helpers.js';
import { EsphomeNode, ShellyGen1, ShellyGen2, TasmotaPlug, Zigbee2MqttPlug } from '@wattbus/simulators';

const DEVICES = [
  { id: 'kitchen-plug', profile: 'tasmota', foreign: 'tasmota_A1B2C3', timeout_ms: 1500 },
  { id: 'desk-plug', profile: 'zigbee2mqtt', foreign: 'desk_plug', timeout_ms: 1500 },
  { id: 'washer', profile: 'shelly-gen1', foreign: 'shellyplug-s-C8C9A3' },
  { id: 'dryer', profile: 'shelly-gen2', foreign: 'shellyplusplugs-a0b1c2d3e4f5' },
  { id: 'heater', profile: 'esphome', foreign: 'heater-node' },
  // Registered, but no such device ever publishes.
  { id: 'ghost', profile: 'tasmota', foreign: 'tasmota_GHOST', timeout_ms: 300 },
];

/** The REST gateway in-process, with one key of both scopes; every answer is checked against openapi.yaml. */
async function startGateway(url: string) {
  const key = makeApiKey();
  const config = parseConfig(
    GatewayConfigSchema,
    {
      port: 0,
      mqtt: { url },
      api_keys: [{ name: 'test', sha256: hashApiKey(key), scopes: ['read', 'control'] }],
    },
    'test gateway',
  );
  const bus = await connectGatewayBus(config, silentLogger());
  const spec = OpenApiSpec.load();
  const gateway = new Gateway({ config, bus, logger: silentLogger(), spec });
  const { url: base } = await gateway.start();
  const call = async (method: 'GET' | 'PUT', path: string, body?: unknown) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { 'x-api-key': key, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = (await response.json()) as unknown;
    const operation = spec.match(method, path)!;
    assert.deepEqual(
      spec.checkResponse(
        operation.operationId,
        response.status,
        response.headers.get('content-type') ?? '',
        json,
        response.headers,
      ),
      [],
      `${method} ${path} → ${response.status} breaks openapi.yaml`,
    );
    return { status: response.status, body: json };
  };
  return {
    gateway,
    call,
    stop: async () => {
      await gateway.stop();
      await bus.stop();
    },
  };
}

describe('bridge: set/get on mosquitto, through the REST gateway and the bus', () => {
  let mosquitto: MosquittoServer;
  let stopBridge: () => Promise<void>;
  let watcher: Watcher;
  let client: Bus;
  let rest: Awaited<ReturnType<typeof startGateway>>;
  let tasmota: TasmotaPlug;
  let z2m: Zigbee2MqttPlug;
  let gen1: ShellyGen1;
  let gen2: ShellyGen2;
  let esphome: EsphomeNode;

  const request = (id: string, method: string, params: Record<string, unknown>) =>
    client.request<DeviceState>(client.topics.deviceRequest(id, method), params, { timeoutMs: 5000 });

  before(async () => {
    mosquitto = await startMosquitto();
    watcher = await Watcher.start(mosquitto.url);
    [tasmota, z2m, gen1, gen2, esphome] = await Promise.all([
      TasmotaPlug.start(mosquitto.url, 'tasmota_A1B2C3'),
      Zigbee2MqttPlug.start(mosquitto.url, 'desk_plug'),
      ShellyGen1.start(mosquitto.url, 'shellyplug-s-C8C9A3'),
      ShellyGen2.start(mosquitto.url, 'shellyplusplugs-a0b1c2d3e4f5'),
      EsphomeNode.start(mosquitto.url, 'heater-node'),
    ]);
    ({ stop: stopBridge } = await startBridge(mosquitto.url, DEVICES));
    client = await Bus.connect({ url: mosquitto.url, service: 'test-client', logger: silentLogger() });
    rest = await startGateway(mosquitto.url);
    await waitUntil('the gateway knows every device', async () =>
      DEVICES.every((d) => rest.gateway.devices!.has(d.id)),
    );
    // Retained availability (LWT, birth, Zigbee2MQTT's availability) arrived when the bridge subscribed.
    for (const id of ['kitchen-plug', 'desk-plug', 'washer', 'dryer', 'heater']) {
      await watcher.until(`${id} online`, () => watcher.last(id, 'availability') === 'online');
    }
  });

  after(async () => {
    await Promise.allSettled([tasmota, z2m, gen1, gen2, esphome].map((device) => device?.kill()));
    await rest?.stop();
    await client?.stop();
    await stopBridge?.();
    await watcher?.stop();
    await mosquitto?.destroy();
  });

  it('switches a Tasmota and a Zigbee2MQTT plug via REST, answering the state the plug confirmed', async () => {
    for (const [id, plug, topic, offPayload] of [
      ['kitchen-plug', tasmota, 'cmnd/tasmota_A1B2C3/POWER', 'OFF'],
      ['desk-plug', z2m, 'zigbee2mqtt/desk_plug/set', '{"state":"OFF"}'],
    ] as const) {
      const off = await rest.call('PUT', `/api/v1/devices/${id}/power`, { on: false });
      assert.equal(off.status, 200, JSON.stringify(off.body));
      assert.equal((off.body as DeviceState).on, false);
      assert.equal(plug.on, false, `${id}: the simulated relay is off`);
      assert.deepEqual(plug.commands.at(-1), { topic, payload: offPayload });
      await watcher.until(
        `${id} retained state off`,
        () => watcher.last(id, 'state')?.includes('"on":false') === true,
      );
      const on = await rest.call('PUT', `/api/v1/devices/${id}/power`, { on: true });
      assert.equal(on.status, 200);
      assert.equal((on.body as DeviceState).on, true);
      assert.equal(plug.on, true);
      // get asks the device (an empty POWER command; Zigbee2MQTT's /get) and answers what it says.
      plug.on = false; // switched by hand, nobody told the bridge
      const got = await rest.call('GET', `/api/v1/devices/${id}/power`);
      assert.equal(got.status, 200);
      assert.equal((got.body as DeviceState).on, false);
    }
    assert.deepEqual(tasmota.commands.at(-1), { topic: 'cmnd/tasmota_A1B2C3/POWER', payload: '' });
    assert.deepEqual(z2m.commands.at(-1), { topic: 'zigbee2mqtt/desk_plug/get', payload: '{"state":""}' });
  });

  it('switches Shelly Gen1, Shelly Gen2 and ESPHome through their own command topics', async () => {
    assert.equal((await request('washer', 'set', { on: false })).on, false);
    assert.equal(gen1.on, false);
    assert.deepEqual(gen1.commands.at(-1), {
      topic: 'shellies/shellyplug-s-C8C9A3/relay/0/command',
      payload: 'off',
    });
    // Gen1 has no get command: the last state it reported.
    const commands = gen1.commands.length;
    assert.equal((await request('washer', 'get', {})).on, false);
    assert.equal(gen1.commands.length, commands);

    assert.equal((await request('dryer', 'set', { on: false })).on, false);
    assert.equal(gen2.on, false);
    const rpc = JSON.parse(gen2.commands.at(-1)!.payload) as Record<string, unknown>;
    assert.deepEqual(rpc, { id: 1, src: 'bridge-test', method: 'Switch.Set', params: { id: 0, on: false } });
    assert.equal((await request('dryer', 'get', {})).on, false);
    assert.deepEqual(gen2.commands.at(-1), {
      topic: 'shellyplusplugs-a0b1c2d3e4f5/command',
      payload: 'status_update',
    });

    assert.equal((await request('heater', 'set', { on: false })).on, false);
    assert.equal(esphome.on, false);
    assert.deepEqual(esphome.commands.at(-1), { topic: 'heater-node/switch/relay/command', payload: 'OFF' });
    assert.equal((await request('heater', 'set', { on: true })).on, true);
  });

  it('runs concurrent commands to one device one at a time, in order', async () => {
    const wanted = [false, true, false, true, false];
    const results = await Promise.all(wanted.map((on) => request('kitchen-plug', 'set', { on })));
    assert.deepEqual(
      results.map((state) => state.on),
      wanted,
    );
    assert.equal(tasmota.on, false);
    assert.deepEqual(
      tasmota.commands.slice(-5).map((command) => command.payload),
      wanted.map((on) => (on ? 'ON' : 'OFF')),
    );
  });

  it('answers DEVICE_UNREACHABLE without a confirming state, DEVICE_STATE_MISMATCH when the relay does not move', async () => {
    await assert.rejects(request('ghost', 'set', { on: true }), (error: WattbusError) => {
      assert.equal(error.code, 'DEVICE_UNREACHABLE');
      assert.match(error.message, /no state from ghost \(tasmota 'tasmota_GHOST'\) within 300 ms/);
      return true;
    });
    tasmota.silent = true;
    const silent = await rest.call('PUT', '/api/v1/devices/kitchen-plug/power', { on: true });
    assert.equal(silent.status, 502);
    assert.equal((silent.body as Problem).code, 'DEVICE_UNREACHABLE');
    tasmota.silent = false;

    tasmota.stuck = true;
    await assert.rejects(request('kitchen-plug', 'set', { on: true }), (error: WattbusError) => {
      assert.equal(error.code, 'DEVICE_STATE_MISMATCH');
      assert.match(error.message, /kitchen-plug did not switch on: it reports off/);
      return true;
    });
    tasmota.stuck = false;

    // Offline by its availability topic: refused at once, nothing sent.
    await z2m.availability('offline');
    await watcher.until('desk-plug offline', () => watcher.last('desk-plug', 'availability') === 'offline');
    const sent = z2m.commands.length;
    const offline = await rest.call('PUT', '/api/v1/devices/desk-plug/power', { on: false });
    assert.equal(offline.status, 502);
    assert.match((offline.body as Problem).detail ?? '', /desk-plug is offline/);
    assert.equal(z2m.commands.length, sent);
    await z2m.availability('online');
    await watcher.until('desk-plug online', () => watcher.last('desk-plug', 'availability') === 'online');

    await assert.rejects(request('kitchen-plug', 'toggle', {}), /UNKNOWN_METHOD|no method 'toggle'/);
    await assert.rejects(request('kitchen-plug', 'set', { on: 'yes' }), /invalid params/);
  });
});

describe('bridge: devices on another broker (foreign_mqtt)', () => {
  let wattbus: MosquittoServer;
  let devices: MosquittoServer;

  before(async () => {
    [wattbus, devices] = await Promise.all([startMosquitto(), startMosquitto()]);
  });
  after(async () => {
    await Promise.all([wattbus?.destroy(), devices?.destroy()]);
  });

  it('reads and switches a plug on the devices broker, publishing and serving on the WattBus one', async () => {
    const watcher = await Watcher.start(wattbus.url);
    const plug = await TasmotaPlug.start(devices.url, 'tasmota_REMOTE');
    const { stop } = await startBridge(
      wattbus.url,
      [{ id: 'remote-plug', profile: 'tasmota', foreign: 'tasmota_REMOTE' }],
      {
        foreign_mqtt: { url: devices.url },
      },
    );
    const client = await Bus.connect({ url: wattbus.url, service: 'test-client', logger: silentLogger() });
    try {
      await watcher.until(
        'remote-plug online',
        () => watcher.last('remote-plug', 'availability') === 'online',
      );
      await plug.telemetry({ power: 5, voltage: 230, current: 0.02, factor: 0.5, total_kwh: 1 });
      await watcher.waitFor('a reading', (s) => s.topic === 'wattbus/devices/remote-plug/readings');
      await plug.publish('tele/tasmota_REMOTE/SENSOR', 'garbage');
      const letter = await watcher.waitFor(
        'a dead letter on the WattBus broker',
        (s) => s.topic === 'wattbus/deadletter/bridge',
      );
      assert.match(letter.text, /tele\/tasmota_REMOTE\/SENSOR/);
      const state = await client.request<DeviceState>(client.topics.deviceRequest('remote-plug', 'set'), {
        on: false,
      });
      assert.equal(state.on, false);
      assert.equal(plug.on, false);
      // The devices' broker goes away: nothing is known about its devices any more.
      await devices.stop();
      await watcher.until(
        'remote-plug offline with its broker',
        () => watcher.last('remote-plug', 'availability') === 'offline',
      );
    } finally {
      await client.stop();
      await stop();
      await plug.kill().catch(() => undefined);
      await watcher.stop();
    }
  });
});
