import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SimulatedPlug } from '@wattbus/simulators';
import { serveMetrics, ServiceMetrics, silentLogger, type MetricsServer } from '@wattbus/runtime';
import { checkMetrics, startAedes, valueOf, type AedesServer } from '@wattbus/testing';
import { Agent } from '../src/index.js';
import { agentConfig, Observer, registryFor } from './helpers.js';

describe('agent metrics', () => {
  let broker: AedesServer;
  let observer: Observer;
  let plug: SimulatedPlug;
  let agent: Agent;
  let server: MetricsServer;
  let cleanup: () => Promise<void>;

  const scrape = async () => (await fetch(server.url)).text();

  before(async () => {
    broker = await startAedes();
    observer = await Observer.connect(broker.url);
    plug = await SimulatedPlug.start({ realtime: { power: 42.5, voltage: 230, current: 0.2, total: 3 } });
    const setup = await registryFor([
      { id: 'desk-1', host: plug.host, port: plug.port, poll_interval_ms: 200 },
    ]);
    cleanup = setup.cleanup;
    const metrics = new ServiceMetrics('agent');
    agent = new Agent({
      config: agentConfig(broker.url, { device_wills: false }),
      registry: setup.registry,
      logger: silentLogger(),
      metrics,
    });
    server = await serveMetrics({ host: '127.0.0.1', port: 0, registries: [metrics.registry] });
    await agent.start();
  });

  after(async () => {
    await server?.stop();
    await agent?.stop();
    await observer?.stop();
    await plug?.stop();
    await broker?.stop();
    await cleanup?.();
  });

  it('counts polls on time, readings, devices by availability and its bus', { timeout: 15_000 }, async () => {
    await observer.until('a reading', () => (observer.readings.get('desk-1')?.length ?? 0) >= 2);
    const text = await scrape();
    assert.ok((valueOf(text, 'wattbus_agent_polls_total', { timing: 'on_time' }) ?? 0) >= 2);
    assert.ok((valueOf(text, 'wattbus_agent_readings_published_total') ?? 0) >= 2);
    assert.equal(valueOf(text, 'wattbus_agent_devices', { availability: 'online' }), 1);
    assert.equal(valueOf(text, 'wattbus_agent_devices', { availability: 'offline' }), 0);
    assert.equal(valueOf(text, 'wattbus_bus_connected', { service: 'agent' }), 1);
    const lint = checkMetrics(text);
    assert.ok(lint.ok, lint.problems);
  });

  it('counts a poll whose tick came while the event loop was busy as late', { timeout: 15_000 }, async () => {
    const late = async () => valueOf(await scrape(), 'wattbus_agent_polls_total', { timing: 'late' }) ?? 0;
    const before = await late();
    // Hold the event loop past two ticks (200 ms apart): the first tick due in that time fires
    // at least 300 ms late. Tried a few times, since a tick landing mid-poll is skipped instead.
    for (let attempt = 0; attempt < 5 && (await late()) === before; attempt++) {
      const until = Date.now() + 500;
      while (Date.now() < until);
      const polled = (observer.readings.get('desk-1')?.length ?? 0) + 1;
      await observer.until(
        'the next reading',
        () => (observer.readings.get('desk-1')?.length ?? 0) >= polled,
      );
    }
    assert.ok((await late()) > before, 'no poll counted late');
  });
});
