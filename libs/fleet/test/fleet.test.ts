import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '@wattbus/bus';
import {
  DeadLetterSchema,
  validator,
  type DeadLetter,
  type DeviceMeta,
  type Reading,
} from '@wattbus/contracts';
import { BROKERS_UNDER_TEST, type BrokerUnderTest } from '@wattbus/testing';
import { Fleet, type FleetPart } from '../src/index.js';

function meta(id: string, extra: Partial<DeviceMeta> = {}): DeviceMeta {
  return {
    id,
    name: `Plug ${id}`,
    type: 'tplink',
    kind: 'workplace',
    location: `hq/${id}`,
    poll_interval_ms: 1000,
    ts: '2026-11-02T08:00:00.000Z',
    ...extra,
  };
}

function reading(device: string, ts: string, power_w: number, extra: Partial<Reading> = {}): Reading {
  return { ts, device, power_w, ...extra };
}

/** A test waits for events; one that never comes fails the test instead of hanging it. */
const LIMIT = { timeout: 10_000 };

/** Resolves once `ok()` holds, checked now and after every change the fleet reports. */
function until(fleet: Fleet, ok: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (!ok()) return;
      fleet.off('changed', check);
      fleet.off('removed', check);
      resolve();
    };
    fleet.on('changed', check);
    fleet.on('removed', check);
    check();
  });
}

for (const [name, startBroker] of Object.entries(BROKERS_UNDER_TEST)) {
  describe(`fleet on ${name}`, () => {
    let broker: BrokerUnderTest;
    let bus: Bus;
    let agent: Bus;
    let fleet: Fleet;
    const events: string[] = [];
    const deadLetters: DeadLetter[] = [];
    const deadLetterWaiters: Array<() => void> = [];

    /** Resolves with the next dead letter the fleet's service publishes. */
    function nextDeadLetter(): Promise<DeadLetter> {
      return new Promise((resolve) => deadLetterWaiters.push(() => resolve(deadLetters.at(-1)!)));
    }

    before(async () => {
      broker = await startBroker();
      bus = await Bus.connect({ url: broker.url, service: 'fleet-test' });
      agent = await Bus.connect({ url: broker.url, service: 'agent' });
      await agent.subscribe(agent.topics.deadLetter('fleet-test'), validator(DeadLetterSchema), (letter) => {
        deadLetters.push(letter);
        deadLetterWaiters.shift()?.();
      });
      fleet = new Fleet({ bus });
      for (const event of ['added', 'removed'] as const)
        fleet.on(event, (id) => events.push(`${event} ${id}`));
      await fleet.start();
    });

    after(async () => {
      await fleet.stop();
      await bus.stop();
      await agent.stop();
      await broker.stop();
    });

    it(
      'knows the devices whose retained meta, availability and state exist before it starts',
      LIMIT,
      async () => {
        await agent.publish(agent.topics.meta('early'), meta('early'), { retain: true });
        await agent.publish(agent.topics.availability('early'), 'online', { retain: true });
        await agent.publish(
          agent.topics.state('early'),
          { on: true, ts: '2026-11-02T08:00:00.000Z' },
          { retain: true },
        );
        const late = await Bus.connect({ url: broker.url, service: 'fleet-late' });
        const started = new Fleet({ bus: late });
        try {
          await started.start();
          await until(
            started,
            () =>
              started.get('early')?.state !== undefined &&
              started.get('early')?.availability !== undefined &&
              started.get('early')?.meta !== undefined,
          );
          const device = started.get('early')!;
          assert.equal(device.meta?.location, 'hq/early');
          assert.equal(device.availability, 'online');
          assert.equal(device.state?.on, true);
          assert.equal(device.reading, undefined);
        } finally {
          await started.stop();
          await late.stop();
        }
      },
    );

    it('waits for retained metas with retainedDelivered()', LIMIT, async () => {
      const ids = ['settle-1', 'settle-2', 'settle-3'];
      for (const id of ids) await agent.publish(agent.topics.meta(id), meta(id), { retain: true });
      const late = await Bus.connect({ url: broker.url, service: 'fleet-late' });
      const started = new Fleet({ bus: late, parts: ['meta'] });
      try {
        await started.start();
        await started.retainedDelivered();
        assert.deepEqual(
          ids.filter((id) => started.has(id)),
          ids,
        );
      } finally {
        await started.stop();
        await late.stop();
      }
    });

    it('follows availability, state and the latest reading per device and phase', LIMIT, async () => {
      await agent.publish(agent.topics.meta('p1'), meta('p1'), { retain: true });
      await agent.publish(agent.topics.availability('p1'), 'offline', { retain: true });
      await agent.publish(
        agent.topics.state('p1'),
        { on: false, ts: '2026-11-02T08:00:00.000Z' },
        { retain: true },
      );
      await until(
        fleet,
        () => fleet.get('p1')?.state?.on === false && fleet.get('p1')?.availability === 'offline',
      );
      const seen: number[] = [];
      fleet.on('reading', (taken) => taken.device === 'p1' && seen.push(taken.power_w));
      const topic = agent.topics.readings('p1');
      await agent.publish(topic, reading('p1', '2026-11-02T08:00:02.000Z', 20));
      await agent.publish(topic, reading('p1', '2026-11-02T08:00:01.000Z', 10)); // older: not the latest
      await agent.publish(topic, reading('p1', '2026-11-02T08:00:01.000Z', 7, { phase: 'L1' }));
      await agent.publish(agent.topics.availability('p1'), 'online', { retain: true });
      await agent.publish(
        agent.topics.state('p1'),
        { on: true, ts: '2026-11-02T08:00:03.000Z' },
        { retain: true },
      );
      await until(fleet, () => fleet.get('p1')?.state?.on === true);
      const device = fleet.get('p1')!;
      assert.equal(device.availability, 'online');
      assert.equal(device.reading?.power_w, 20);
      assert.deepEqual(
        [...device.phases.values()].map((phase) => phase.power_w),
        [7],
      );
      assert.deepEqual(seen, [20, 10, 7], 'every live reading is told, latest or not');
      assert.equal(typeof device.reading_received_ms, 'number');
      // A stored reading (say, from InfluxDB at start) goes through the same rule.
      assert.equal(fleet.remember(reading('p1', '2026-11-02T07:00:00.000Z', 1)), false);
      assert.equal(fleet.remember(reading('p1', '2026-11-02T08:00:05.000Z', 30)), true);
      assert.equal(fleet.get('p1')?.reading?.power_w, 30);
    });

    it('notes when a live reading arrived, even one that is not the latest', LIMIT, async () => {
      let now = 1_000;
      const clocked = new Fleet({ bus, parts: ['readings'], clock: () => now });
      await clocked.start();
      try {
        const topic = agent.topics.readings('clocked');
        await agent.publish(topic, reading('clocked', '2026-11-02T08:00:02.000Z', 20));
        await until(clocked, () => clocked.get('clocked')?.reading !== undefined);
        assert.equal(clocked.get('clocked')?.first_seen_ms, 1_000);
        assert.equal(clocked.get('clocked')?.reading_received_ms, 1_000);
        now = 5_000;
        await agent.publish(topic, reading('clocked', '2026-11-02T07:00:00.000Z', 10)); // its clock jumped back
        await until(clocked, () => clocked.get('clocked')?.reading_received_ms === 5_000);
        assert.equal(clocked.get('clocked')?.reading?.power_w, 20);
        now = 9_000;
        clocked.remember(reading('clocked', '2026-11-02T09:00:00.000Z', 30)); // stored, not heard
        assert.equal(clocked.get('clocked')?.reading?.power_w, 30);
        assert.equal(clocked.get('clocked')?.reading_received_ms, 5_000);
      } finally {
        await clocked.stop();
      }
    });

    it('never takes a reading from the future as the latest, live or stored', LIMIT, async () => {
      const topic = agent.topics.readings('skewed');
      const iso = (offsetMs: number) => new Date(Date.now() + offsetMs).toISOString();
      await agent.publish(topic, reading('skewed', iso(400 * 86_400_000), 9_999)); // a clock 400 days ahead
      await until(fleet, () => fleet.get('skewed')?.reading_received_ms !== undefined);
      assert.equal(fleet.get('skewed')?.reading, undefined);
      await agent.publish(topic, reading('skewed', iso(-2_000), 40));
      await until(fleet, () => fleet.get('skewed')?.reading !== undefined);
      assert.equal(fleet.get('skewed')?.reading?.power_w, 40);
      assert.equal(fleet.remember(reading('skewed', iso(3_600_000), 50)), false);
      assert.equal(fleet.get('skewed')?.reading?.power_w, 40);
      // Within the tolerance (clock skew between hosts) a reading is taken.
      assert.equal(fleet.remember(reading('skewed', iso(60_000), 60)), true);
      assert.equal(fleet.get('skewed')?.reading?.power_w, 60);
    });

    it('removes a device whose meta is cleared, and tells its listeners', LIMIT, async () => {
      await agent.publish(agent.topics.meta('gone'), meta('gone'), { retain: true });
      await agent.publish(agent.topics.availability('gone'), 'online', { retain: true });
      await until(fleet, () => fleet.get('gone')?.availability === 'online');
      assert.ok(events.includes('added gone'));
      await agent.publish(agent.topics.meta('gone'), '', { retain: true });
      await until(fleet, () => !fleet.has('gone'));
      assert.equal(events.at(-1), 'removed gone');
      assert.equal(
        deadLetters.filter((letter) => letter.topic.includes('/gone/')).length,
        0,
        'a clear is no error',
      );
    });

    it('forgets a cleared availability or state, and the device once nothing is left', LIMIT, async () => {
      await agent.publish(agent.topics.meta('part'), meta('part'), { retain: true });
      await agent.publish(
        agent.topics.state('part'),
        { on: true, ts: '2026-11-02T08:00:00.000Z' },
        { retain: true },
      );
      await until(fleet, () => fleet.get('part')?.state !== undefined);
      await agent.publish(agent.topics.state('part'), '', { retain: true });
      await until(fleet, () => fleet.get('part')?.state === undefined);
      assert.equal(fleet.get('part')?.meta?.id, 'part', 'the device stays while its meta does');

      await agent.publish(agent.topics.availability('lone'), 'online', { retain: true });
      await until(fleet, () => fleet.has('lone'));
      await agent.publish(agent.topics.availability('lone'), '', { retain: true });
      await until(fleet, () => !fleet.has('lone'));
      assert.equal(events.at(-1), 'removed lone');
    });

    it(
      'dead-letters a meta or reading that names another device, counted, and keeps the good data',
      LIMIT,
      async () => {
        await agent.publish(agent.topics.meta('m1'), meta('m1'), { retain: true });
        await until(fleet, () => fleet.has('m1'));
        const before = bus.metrics().dead_lettered_by_reason.rejected;

        let letter = nextDeadLetter();
        await agent.publish(agent.topics.meta('m1'), meta('m2', { location: 'elsewhere' }), { retain: true });
        assert.equal((await letter).reason, 'rejected');
        assert.match(deadLetters.at(-1)!.message, /^meta\.id m2 is not m1, the device its topic names$/);
        assert.equal(deadLetters.at(-1)!.topic, agent.topics.meta('m1'));

        letter = nextDeadLetter();
        await agent.publish(agent.topics.readings('m1'), reading('m2', '2026-11-02T08:00:00.000Z', 99));
        assert.equal((await letter).reason, 'rejected');
        assert.match(deadLetters.at(-1)!.message, /^reading\.device m2 is not m1/);

        assert.equal(bus.metrics().dead_lettered_by_reason.rejected, before + 2);
        assert.equal(fleet.get('m1')?.meta?.location, 'hq/m1');
        assert.equal(fleet.get('m1')?.reading, undefined);
        assert.equal(fleet.has('m2'), false);
        await agent.publish(agent.topics.meta('m1'), '', { retain: true });
      },
    );

    it(
      'dead-letters malformed meta, state and availability with the reason; the device keeps its last good data',
      LIMIT,
      async () => {
        await agent.publish(agent.topics.meta('bad'), meta('bad'), { retain: true });
        await agent.publish(agent.topics.availability('bad'), 'online', { retain: true });
        await agent.publish(
          agent.topics.state('bad'),
          { on: true, ts: '2026-11-02T08:00:00.000Z' },
          { retain: true },
        );
        await until(
          fleet,
          () => fleet.get('bad')?.state !== undefined && fleet.get('bad')?.availability !== undefined,
        );
        const counted = bus.metrics().dead_lettered_by_reason;

        let letter = nextDeadLetter();
        await agent.publish(agent.topics.meta('bad'), { id: 'bad', name: 'no type' }, { retain: true });
        assert.equal((await letter).reason, 'schema');
        letter = nextDeadLetter();
        await agent.publish(agent.topics.state('bad'), '{"on": tru', { retain: true });
        assert.equal((await letter).reason, 'unparsable');
        assert.match(deadLetters.at(-1)!.message, /^not JSON/);
        letter = nextDeadLetter();
        await agent.publish(agent.topics.availability('bad'), 'maybe', { retain: true });
        assert.equal((await letter).reason, 'schema');
        letter = nextDeadLetter();
        await agent.publish('wattbus/devices/Not-An-Id/meta', meta('bad'), { retain: true });
        assert.equal((await letter).reason, 'rejected');
        assert.match(deadLetters.at(-1)!.message, /names no valid device id/);

        const now = bus.metrics().dead_lettered_by_reason;
        assert.equal(now.schema, counted.schema + 2);
        assert.equal(now.unparsable, counted.unparsable + 1);
        const device = fleet.get('bad')!;
        assert.equal(device.meta?.type, 'tplink');
        assert.equal(device.state?.on, true);
        assert.equal(device.availability, 'online');
        await agent.publish('wattbus/devices/Not-An-Id/meta', '', { retain: true });
      },
    );

    it('follows only the parts it is asked to', LIMIT, async () => {
      const parts: FleetPart[] = ['meta'];
      const metaOnly = new Fleet({ bus, parts });
      await metaOnly.start();
      try {
        await agent.publish(agent.topics.readings('quiet'), reading('quiet', '2026-11-02T08:00:00.000Z', 5));
        await agent.publish(agent.topics.meta('quiet'), meta('quiet'), { retain: true });
        await until(metaOnly, () => metaOnly.has('quiet'));
        await until(fleet, () => fleet.get('quiet')?.meta !== undefined);
        assert.ok(fleet.get('quiet')?.reading, 'the full fleet took the reading');
        assert.equal(metaOnly.get('quiet')?.reading, undefined);
      } finally {
        await metaOnly.stop();
      }
    });
  });
}
