import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '@wattbus/bus';
import { ServiceHealthSchema, validator, type ServiceHealth } from '@wattbus/contracts';
import { startAedes, type AedesServer } from '@wattbus/testing';
import { HealthPublisher, silentLogger } from '../src/index.js';

describe('HealthPublisher', () => {
  let broker: AedesServer;
  let watcher: Bus;
  const received: ServiceHealth[] = [];
  let wake: (() => void) | undefined;

  before(async () => {
    broker = await startAedes();
    watcher = await Bus.connect({ url: broker.url, service: 'watcher', logger: silentLogger() });
    await watcher.subscribe('wattbus/health/+', validator(ServiceHealthSchema), (health) => {
      received.push(health);
      wake?.();
    });
  });
  after(async () => {
    await watcher?.stop();
    await broker?.stop();
  });

  async function next(match: (health: ServiceHealth) => boolean): Promise<ServiceHealth> {
    for (;;) {
      const found = received.find(match);
      if (found) {
        received.splice(0, received.indexOf(found) + 1);
        return found;
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
  }

  it('publishes on start, on a change of a check, and ready:false on stop, retained', async () => {
    const bus = await Bus.connect({ url: broker.url, service: 'svc', logger: silentLogger() });
    const publisher = new HealthPublisher({
      bus,
      service: 'svc',
      logger: silentLogger(),
      intervalMs: 0,
      metrics: () => ({ queue_depth: 3 }),
    });
    await publisher.start();
    const started = await next((health) => health.service === 'svc');
    assert.equal(started.ready, true);
    assert.deepEqual(Object.keys(started.checks).sort(), ['broker', 'running']);
    assert.equal(started.metrics.queue_depth, 3);

    publisher.health.set('influx', false, 'connect ECONNREFUSED');
    const down = await next((health) => health.checks.influx?.ok === false);
    assert.equal(down.ready, false);
    assert.equal(down.checks.influx?.detail, 'connect ECONNREFUSED');

    publisher.health.set('influx', true);
    assert.equal((await next((health) => health.checks.influx?.ok === true)).ready, true);

    await publisher.stop();
    const stopped = await next((health) => health.checks.running?.ok === false);
    assert.equal(stopped.ready, false);
    await bus.stop();

    // Retained: a newcomer learns the last word, ready:false.
    const late = await Bus.connect({ url: broker.url, service: 'late', logger: silentLogger() });
    try {
      const retained = await new Promise<ServiceHealth>((resolve) => {
        void late.subscribe(publisher.topic, validator(ServiceHealthSchema), resolve);
      });
      assert.equal(retained.ready, false);
    } finally {
      await late.stop();
    }
  });

  it('reads probed checks at each publish', async () => {
    const bus = await Bus.connect({ url: broker.url, service: 'probed', logger: silentLogger() });
    let failing = true;
    const publisher = new HealthPublisher({
      bus,
      service: 'probed',
      logger: silentLogger(),
      intervalMs: 0,
      probe: () => ({ influx: failing ? { ok: false, detail: 'HTTP 503' } : { ok: true } }),
    });
    await publisher.start();
    assert.equal((await next((health) => health.service === 'probed')).checks.influx?.ok, false);
    failing = false;
    await publisher.publish();
    assert.equal((await next((health) => health.service === 'probed')).ready, true);
    await publisher.stop();
    await bus.stop();
  });
});
