import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import { Agent, AgentConfigSchema, type AgentConfig } from '@wattbus/agent';
import { loadRegistry } from '@wattbus/devices';
import { SimulatedPlug } from '@wattbus/simulators';
import { silentLogger } from '@wattbus/runtime';
import { startAedes, startInflux, type AedesServer, type InfluxServer } from '@wattbus/testing';
import type { AlertHook } from '../src/index.js';
import { Receiver, startHook, testConfig } from './helpers.js';

/**
 * The whole path with nothing faked: a simulated HS110 on TCP, the real agent polling it and
 * publishing meta/availability/readings, the alert hook judging them, a webhook receiver.
 */
describe('alert hook with the real agent and a simulated HS110', () => {
  let aedes: AedesServer;
  let influx: InfluxServer;
  let plug: SimulatedPlug;
  let agent: Agent;
  let hook: AlertHook;
  let dir: string;
  const receiver = new Receiver();
  const running: AlertHook[] = [];

  before(async () => {
    [aedes, influx] = await Promise.all([startAedes(), startInflux()]);
    await influx.createDatabase('alerts_agent');
    await receiver.start();
    plug = await SimulatedPlug.start({
      model: 'hs110',
      realtime: { power: 60, voltage: 230, current: 0.3, total: 1 },
    });
    dir = await mkdtemp(join(tmpdir(), 'alert-agent-'));
    const file = join(dir, 'devices.yaml');
    const devices = [
      {
        id: 'sim-1',
        name: 'Simulated fridge',
        type: 'tplink',
        kind: 'appliance',
        location: 'test/kitchen',
        connection: { host: plug.host, port: plug.port },
        poll_interval_ms: 100,
        timeout_ms: 2000,
        offline_after_failures: 2,
        max_backoff_ms: 200,
      },
    ];
    await writeFile(file, JSON.stringify({ devices })); // JSON is YAML
    const config = Value.Default(AgentConfigSchema, {
      mqtt: { url: aedes.url },
      id: 'agent-alerts',
      device_wills: false,
    }) as AgentConfig;
    agent = new Agent({ config, registry: await loadRegistry(file), logger: silentLogger() });
    await agent.start();
    hook = await startHook(
      testConfig({ mqttUrl: aedes.url, influxUrl: influx.url, database: 'alerts_agent', receiver }, [
        // No threshold: the HS110's rating (3680 W) from the model the agent read from the plug.
        { name: 'overload', kind: 'power_above', hysteresis_w: 100, for_ms: 200 },
        { name: 'outage', kind: 'power_below', device_kinds: ['appliance'], threshold_w: 5, for_ms: 200 },
        // Generous silence window: a busy machine must not make a slow poll look like an outage.
        { name: 'offline', kind: 'offline', silent_polls: 30, for_ms: 200 },
      ]),
      running,
    );
  });

  after(async () => {
    await Promise.all(running.map((running) => running.stop()));
    await agent?.stop();
    await plug?.stop();
    await receiver.stop();
    await aedes?.stop();
    await influx?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('overload, outage and an unplugged plug are each raised and resolved, one notification per transition', async () => {
    plug.setRealtime({ power: 3800, current: 16.5 });
    const overload = await receiver.ruleNotification('overload', 'raised');
    assert.equal(overload.alert.subject, 'sim-1');
    assert.equal(overload.alert.threshold, 3680);
    assert.equal(overload.alert.location, 'test/kitchen');
    plug.setRealtime({ power: 60, current: 0.3 });
    await receiver.ruleNotification('overload', 'resolved');

    plug.setRealtime({ power: 0, current: 0 });
    const outage = await receiver.ruleNotification('outage', 'raised');
    assert.match(outage.alert.message, /sim-1 draws 0 W, below the expected 5 W/);
    plug.setRealtime({ power: 60, current: 0.3 });
    await receiver.ruleNotification('outage', 'resolved');

    await plug.stop(); // unplugged: the agent publishes it offline after two failed polls
    const offline = await receiver.ruleNotification('offline', 'raised');
    assert.equal(offline.alert.severity, 'warning');
    await plug.start();
    await receiver.ruleNotification('offline', 'resolved');

    const seen = receiver.notifications('sim-1').map((n) => `${n.alert.rule}:${n.event}`);
    assert.deepEqual(seen, [
      'overload:raised',
      'overload:resolved',
      'outage:raised',
      'outage:resolved',
      'offline:raised',
      'offline:resolved',
    ]);
    assert.equal(hook.active().length, 0);
  });
});
