import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SimulatedPlug, type SimulatedModel } from '@wattbus/simulators';
import { startAedes, type AedesServer } from '@wattbus/testing';
import type { Agent } from '../src/index.js';
import { capturingLogger, Observer, registryFor, startAgent } from './helpers.js';

const INTERVALS_MS = [100, 150, 200, 300, 400];

describe('collector: 20 simulated plugs', () => {
  let broker: AedesServer;
  let observer: Observer;
  let agent: Agent;
  let cleanup: () => Promise<void>;
  const log = capturingLogger();
  const plugs: SimulatedPlug[] = [];
  const interval = (index: number) => INTERVALS_MS[index % INTERVALS_MS.length]!;
  const id = (index: number) => `plug-${String(index + 1).padStart(2, '0')}`;
  // A slow plug (answers after 350 ms, polled every 100 ms) and one the test unplugs.
  const SLOW = 20;
  const FLAKY = 21;
  // Answers after 150 ms, polled every 200 ms: the grid keeps a 200 ms period, where scheduling
  // "interval after the previous poll" would drift to 350 ms.
  const STEADY = 22;

  before(async () => {
    broker = await startAedes();
    observer = await Observer.connect(broker.url);
    for (let index = 0; index < 23; index++) {
      const model: SimulatedModel = index % 2 === 0 ? 'hs110' : 'hs110v2';
      plugs.push(
        await SimulatedPlug.start({
          model,
          responseDelay: index === SLOW ? 350 : index === STEADY ? 150 : 0,
          realtime: {
            power: 10 + index * 3.217,
            voltage: 229 + index / 7,
            current: 0.05 + index / 100,
            total: 1 + index * 1.5,
          },
        }),
      );
    }
    const setup = await registryFor(
      plugs.map((plug, index) => ({
        id: index === SLOW ? 'slow' : index === FLAKY ? 'flaky' : index === STEADY ? 'steady' : id(index),
        host: plug.host,
        port: plug.port,
        poll_interval_ms: index === STEADY ? 200 : index >= 20 ? 100 : interval(index),
        timeout_ms: 2000,
        offline_after_failures: 3,
        max_backoff_ms: 400,
      })),
    );
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

  it('publishes meta, then readings on every device topic at the configured rates', async () => {
    const ids = Array.from({ length: 20 }, (_, index) => id(index));
    await observer.until('meta of every device', () => ids.every((device) => observer.meta.has(device)));
    assert.deepEqual(
      { ...observer.meta.get('plug-03'), ts: undefined, model: undefined },
      {
        id: 'plug-03',
        name: 'Plug 3',
        type: 'tplink',
        kind: 'workplace',
        location: 'hq/floor-3/desk-3',
        poll_interval_ms: 200,
        // The plausibility limits from the HS110's rating (16 A at 230 V, + 25 %).
        limits: { max_current_a: 20, max_power_w: 4600, max_voltage_v: 299 },
        ts: undefined,
        model: undefined,
      },
    );
    await observer.until('a first reading of every device', () =>
      ids.every((device) => observer.count(device) > 0),
    );
    const startCounts = ids.map((device) => observer.count(device));
    const started = Date.now();
    // The window is measured by events: it ends once the slowest-polled devices gave 8 more readings.
    await observer.until('8 readings of the 400 ms devices', () =>
      ids.every(
        (device, index) => interval(index) !== 400 || observer.count(device) - startCounts[index]! >= 8,
      ),
    );
    const elapsed = Date.now() - started;
    for (const [index, device] of ids.entries()) {
      const got = observer.count(device) - startCounts[index]!;
      const expected = elapsed / interval(index);
      // Generous bounds: the point is "proportional to its own interval", not precise timing.
      assert.ok(
        got >= expected * 0.6 - 1 && got <= expected * 1.15 + 2,
        `${device} (every ${interval(index)} ms): ${got} readings in ${elapsed} ms, expected about ${expected.toFixed(1)}`,
      );
    }
    const metrics = agent.metrics();
    for (const device of ids) assert.equal(metrics[device]?.failed_polls, 0, `${device} had failed polls`);
  });

  it('publishes the simulators’ emeter values in reading units, for both firmware styles', async () => {
    for (const [index, plug] of plugs.slice(0, 20).entries()) {
      const last = observer.readings.get(id(index))!.at(-1)!;
      assert.deepEqual(
        { ...last, ts: undefined },
        {
          ...plug.expected(),
          device: id(index),
          type: 'tplink',
          location: `hq/floor-${(index % 3) + 1}/desk-${index + 1}`,
          ts: undefined,
        },
        `${id(index)} (${plug.model})`,
      );
    }
    // New values reach the topic with the next poll.
    plugs[0]!.setRealtime({ power: 1234.5, total: 99.25 });
    plugs[1]!.setRealtime({ power: 432.1, total: 88.125 });
    await observer.until('the new values', () =>
      [0, 1].every(
        (index) => observer.readings.get(id(index))!.at(-1)!.power_w === plugs[index]!.expected().power_w,
      ),
    );
    assert.equal(observer.readings.get('plug-01')!.at(-1)!.energy_wh, 99250);
    assert.equal(observer.readings.get('plug-02')!.at(-1)!.energy_wh, 88125);
    assert.equal(observer.bus.metrics().dead_lettered, 0, 'every message matched its contract schema');
  });

  it('publishes the relay state retained, once per change', async () => {
    await observer.until('a state of plug-05', () => (observer.states.get('plug-05')?.length ?? 0) > 0);
    assert.equal(observer.states.get('plug-05')!.at(-1)!.on, false);
    plugs[4]!.relayOn = true;
    await observer.until('plug-05 on', () => observer.states.get('plug-05')!.at(-1)!.on === true);
    const before = observer.count('plug-05');
    await observer.until('3 more readings of plug-05', () => observer.count('plug-05') >= before + 3);
    assert.equal(observer.states.get('plug-05')!.length, 2, 'unchanged state is not republished every poll');
  });

  it('never has two polls in flight on a slow plug: ticks are skipped instead', async () => {
    const slow = plugs[SLOW]!;
    const before = observer.count('slow');
    const started = Date.now();
    await observer.until('4 readings of the slow plug', () => observer.count('slow') >= before + 4);
    const elapsed = Date.now() - started;
    assert.equal(slow.maxInFlight, 1, 'the slow plug never saw two requests at once');
    assert.ok(
      observer.count('slow') - before <= elapsed / 350 + 1,
      'readings follow the plug’s pace, not the 100 ms interval',
    );
    const metrics = agent.metrics().slow!;
    assert.ok(metrics.skipped_ticks! > 0, 'overrun ticks were skipped');
    assert.equal(metrics.failed_polls, 0);
    assert.ok(
      plugs.every((plug) => plug.maxInFlight <= 1),
      'no plug ever had two requests at once',
    );
  });

  it('polls on a fixed grid: the time a poll takes does not add to the period', async () => {
    // Every tick of the grid is either polled or (when the previous poll overran it) skipped, so
    // polls + skipped ticks follow the clock at one per 200 ms. Scheduling each poll "200 ms after
    // the previous one ended" would give one per 350 ms and no skipped ticks.
    const ticks = () => agent.metrics().steady!.polls! + agent.metrics().steady!.skipped_ticks!;
    const before = observer.count('steady');
    const ticksBefore = ticks();
    const started = Date.now();
    await observer.until('10 readings of the steady plug', () => observer.count('steady') >= before + 10);
    const elapsed = Date.now() - started;
    const counted = ticks() - ticksBefore;
    const expected = elapsed / 200;
    assert.ok(
      counted >= expected * 0.85 - 2 && counted <= expected + 2,
      `${counted} ticks in ${elapsed} ms for a 200 ms interval (expected about ${expected.toFixed(1)})`,
    );
    assert.equal(plugs[STEADY]!.maxInFlight, 1);
  });

  it('marks an unreachable plug offline after 3 failures and online when it is back, while the others flow', async () => {
    const flaky = plugs[FLAKY]!;
    await observer.until('flaky online', () => observer.lastAvailability('flaky') === 'online');
    await flaky.stop();
    await observer.until('flaky offline', () => observer.lastAvailability('flaky') === 'offline');
    assert.ok(agent.metrics().flaky!.failures >= 3);
    // Meanwhile the other plugs keep publishing.
    const others = observer.count('plug-01');
    await observer.until(
      'plug-01 readings while flaky is away',
      () => observer.count('plug-01') >= others + 5,
    );
    // With the plug away, polls back off (interval 100 ms, at most 400 ms apart): count the attempts.
    const attemptsBefore = agent.metrics().flaky!.polls!;
    const waitStarted = Date.now();
    await observer.until('more plug-01 readings', () => observer.count('plug-01') >= others + 15);
    const attempts = agent.metrics().flaky!.polls! - attemptsBefore;
    assert.ok(attempts <= (Date.now() - waitStarted) / 200 + 2, `backed off: ${attempts} attempts`);
    const readingsBefore = observer.count('flaky');
    await flaky.start();
    await observer.until('flaky online again', () => observer.lastAvailability('flaky') === 'online');
    await observer.until('flaky readings again', () => observer.count('flaky') > readingsBefore);
    assert.deepEqual(observer.availability.get('flaky')!.slice(-3), ['online', 'offline', 'online']);
    const changes = log
      .lines()
      .filter((line) => line.device === 'flaky' && /^device (on|off)line$/.test(String(line.msg)));
    assert.deepEqual(
      changes.map((line) => line.msg),
      ['device online', 'device offline', 'device online'],
      'one log line per change, none per failed poll',
    );
    assert.equal(changes[1]!.code, 'DEVICE_UNREACHABLE');
  });
});
