import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedPlug } from '@wattbus/simulators';
import { startAedes, waitUntil, type AedesServer } from '@wattbus/testing';
import { PlausibilityGate, type Agent } from '../src/index.js';
import { Observer, capturingLogger, registryFor, startAgent } from './helpers.js';

const HOUR = 3_600_000;

describe('plausibility before publishing', () => {
  it('logs a device that glitches once an hour, counting what it dropped meanwhile', () => {
    const log = capturingLogger();
    let now = Date.parse('2026-11-23T08:00:00Z');
    const gate = new PlausibilityGate({ logger: log.logger, futureToleranceMs: 300_000, clock: () => now });
    const device = { id: 'desk-3' } as Parameters<PlausibilityGate['filter']>[0];
    const reading = (power_w: number) => ({ ts: new Date(now).toISOString(), device: 'desk-3', power_w });
    const limits = { max_power_w: 4600 };
    for (let i = 0; i < 100; i++) {
      assert.deepEqual(gate.filter(device, limits, [reading(23_456_789), reading(60)]), [reading(60)]);
      now += 1000;
    }
    now += HOUR;
    gate.filter(device, limits, [reading(3.4e38)]);
    const warnings = log.lines().filter((line) => line.level === 40);
    assert.equal(warnings.length, 2);
    assert.match(String(warnings[0]!.problem), /^power_w 23456789 W is beyond the device's limit of ±4600 W/);
    assert.equal(warnings[1]!.dropped_since_last_log, 99);
    assert.equal(gate.refused, 101);
  });
});

describe('collector with glitching plugs', () => {
  let broker: AedesServer;
  let observer: Observer;
  let agent: Agent;
  let cleanup: () => Promise<void>;
  const plugs: SimulatedPlug[] = [];
  const log = capturingLogger();

  before(async () => {
    broker = await startAedes();
    observer = await Observer.connect(broker.url);
    const realtime = { power: 23_456_789, voltage: 230, current: 0.3, total: 12 };
    plugs.push(await SimulatedPlug.start({ realtime }));
    plugs.push(await SimulatedPlug.start({ realtime: { ...realtime, power: 150 } }));
    const setup = await registryFor([
      { id: 'glitchy', host: plugs[0]!.host, port: plugs[0]!.port, poll_interval_ms: 50 },
      // The registry narrows the rating: this plug feeds a 100 W lamp circuit.
      {
        id: 'lamp',
        host: plugs[1]!.host,
        port: plugs[1]!.port,
        poll_interval_ms: 50,
        limits: { max_power_w: 100 },
      },
    ]);
    cleanup = setup.cleanup;
    agent = await startAgent(broker.url, setup.registry, { device_wills: false }, log.logger);
  });

  after(async () => {
    await agent?.stop();
    await observer?.stop();
    await Promise.all(plugs.map((plug) => plug.stop()));
    await broker?.stop();
    await cleanup?.();
  });

  it('publishes no reading beyond the limits (rating, or the registry override), logging each device once', async () => {
    await waitUntil('ten refused polls of each plug', async () => {
      const metrics = agent.metrics();
      return (
        (metrics.glitchy?.implausible_readings ?? 0) >= 10 && (metrics.lamp?.implausible_readings ?? 0) >= 10
      );
    });
    assert.equal(observer.count('glitchy'), 0);
    assert.equal(observer.count('lamp'), 0);
    const warnings = log
      .lines()
      .filter((line) => line.msg === 'implausible reading not published (logged once an hour per device)');
    assert.deepEqual(warnings.map((line) => [line.device, line.problem]).sort(), [
      ['glitchy', "power_w 23456789 W is beyond the device's limit of ±4600 W (max_power_w)"],
      ['lamp', "power_w 150 W is beyond the device's limit of ±100 W (max_power_w)"],
    ]);
    // The retained meta carries the limits the storage hook checks with.
    await observer.until('meta with limits', () => observer.meta.get('lamp')?.limits !== undefined);
    assert.deepEqual(observer.meta.get('lamp')!.limits, {
      max_current_a: 20,
      max_power_w: 100,
      max_voltage_v: 299,
    });
    // Back to sane values: readings flow again.
    plugs[0]!.setRealtime({ power: 60 });
    await observer.until('a reading of the recovered plug', () => observer.count('glitchy') > 0);
    assert.equal(observer.readings.get('glitchy')![0]!.power_w, 60);
  });
});
