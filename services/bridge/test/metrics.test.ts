import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceMetrics, silentLogger } from '@wattbus/runtime';
import { TasmotaPlug } from '@wattbus/simulators';
import { checkMetrics, startAedes, valueOf, type AedesServer } from '@wattbus/testing';
import { Bridge, loadBridgeRegistry } from '../src/index.js';
import { Watcher, bridgeConfig, writeRegistry } from './helpers.js';

describe('bridge metrics', () => {
  let broker: AedesServer;
  let watcher: Watcher;
  let plug: TasmotaPlug;
  let bridge: Bridge;
  let cleanup: () => Promise<void>;
  const metrics = new ServiceMetrics('bridge', { processMetrics: false });

  before(async () => {
    broker = await startAedes();
    watcher = await Watcher.start(broker.url);
    plug = await TasmotaPlug.start(broker.url, 'tasmota_A1B2C3');
    const registry = await writeRegistry([
      { id: 'kitchen-plug', profile: 'tasmota', foreign: 'tasmota_A1B2C3' },
    ]);
    cleanup = registry.cleanup;
    const { devices } = await loadBridgeRegistry(registry.file);
    bridge = new Bridge({ config: bridgeConfig(broker.url), devices, logger: silentLogger(), metrics });
    await bridge.start();
  });

  after(async () => {
    await bridge?.stop();
    await plug?.stop();
    await watcher?.stop();
    await broker?.stop();
    await cleanup?.();
  });

  it('counts messages, readings and devices by availability', async () => {
    await plug.telemetry({ power: 61, voltage: 231, current: 0.286, factor: 0.92, total_kwh: 12.345 });
    await watcher.waitFor('a reading', (seen) => seen.topic === 'wattbus/devices/kitchen-plug/readings');
    const text = await metrics.registry.metrics();
    assert.ok((valueOf(text, 'wattbus_bridge_messages_total') ?? 0) >= 1);
    assert.equal(valueOf(text, 'wattbus_bridge_readings_total'), 1);
    assert.equal(valueOf(text, 'wattbus_bridge_devices', { availability: 'online' }), 1);
    assert.equal(valueOf(text, 'wattbus_bus_connected'), 1);
    const lint = checkMetrics(text);
    assert.ok(lint.ok, lint.problems);
  });
});
