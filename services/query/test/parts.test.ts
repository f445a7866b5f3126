import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '@wattbus/bus';
import { DeadLetterSchema, ReadingSchema, validator, type DeadLetter } from '@wattbus/contracts';
import { startAedes, type AedesServer } from '@wattbus/testing';
import { Fleet, Tariff, chooseBase, underLocation } from '../src/index.js';
import { logger } from './helpers.js';

describe('Tariff', () => {
  const tariff = new Tariff(
    {
      currency: 'EUR',
      price_per_kwh: 0.2,
      periods: [
        { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from_hour: 8, to_hour: 20, price_per_kwh: 0.3 },
        {
          days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
          from_hour: 0,
          to_hour: 8,
          price_per_kwh: 0.1,
        },
      ],
    },
    'Europe/Madrid',
  );

  it('prices by local hour and weekday, first matching period, the flat price elsewhere', () => {
    assert.equal(tariff.priceAt(Date.parse('2026-11-06T06:59:59Z')), 0.1); // Fri 07:59 local
    assert.equal(tariff.priceAt(Date.parse('2026-11-06T07:00:00Z')), 0.3); // Fri 08:00
    assert.equal(tariff.priceAt(Date.parse('2026-11-06T18:59:59Z')), 0.3); // Fri 19:59
    assert.equal(tariff.priceAt(Date.parse('2026-11-06T19:00:00Z')), 0.2); // Fri 20:00
    assert.equal(tariff.priceAt(Date.parse('2026-11-07T12:00:00Z')), 0.2); // Sat 13:00
    assert.equal(tariff.priceAt(Date.parse('2026-11-08T05:00:00Z')), 0.1); // Sun 06:00
    // Summer time: 07:00 local is 05:00 UTC.
    assert.equal(tariff.priceAt(Date.parse('2026-07-06T05:30:00Z')), 0.1);
    assert.equal(tariff.priceAt(Date.parse('2026-07-06T06:00:00Z')), 0.3);
    assert.equal(tariff.timeOfUse, true);
    assert.equal(new Tariff({ currency: 'EUR', price_per_kwh: 0.25, periods: [] }, 'UTC').priceAt(0), 0.25);
  });
});

describe('chooseBase', () => {
  const hour = 3_600_000;
  it('takes the largest interval every boundary is a multiple of', () => {
    assert.equal(chooseBase([Date.parse('2026-11-02T00:00:00Z'), Date.parse('2026-11-03T00:00:00Z')]), hour);
    assert.equal(
      chooseBase([Date.parse('2026-11-02T00:15:00Z'), Date.parse('2026-11-03T00:00:00Z')]),
      900_000,
    );
    assert.equal(chooseBase([Date.parse('2026-11-02T00:00:01Z'), Date.parse('2026-11-03T00:00:00Z')]), 1000);
    assert.equal(chooseBase([Date.parse('2026-11-02T00:00:00.001Z'), Date.parse('2026-11-03T00:00:00Z')]), 1);
  });

  it('lines up with local hours of a half-hour zone for time-of-use prices', () => {
    const range = [Date.parse('2026-11-01T18:30:00Z'), Date.parse('2026-11-02T18:30:00Z')];
    assert.equal(chooseBase(range, 'Asia/Kolkata'), 1_800_000 / 2);
    assert.equal(
      chooseBase([Date.parse('2026-11-01T00:00:00Z'), Date.parse('2026-11-02T00:00:00Z')], 'Europe/Madrid'),
      hour,
    );
  });
});

describe('underLocation', () => {
  it('matches whole levels', () => {
    assert.ok(underLocation('hq/floor-2/room-1', 'hq/floor-2'));
    assert.ok(underLocation('hq/floor-2', 'hq/floor-2/'));
    assert.ok(underLocation('hq/floor-2', 'hq/floor-2'));
    assert.equal(underLocation('hq/floor-20', 'hq/floor-2'), false);
    assert.equal(underLocation('hq', 'hq/floor-2'), false);
  });
});

describe('Fleet (aedes)', () => {
  let broker: AedesServer;
  let bus: Bus;
  let publisher: Bus;
  let fleet: Fleet;
  const deadLetters: DeadLetter[] = [];
  let deadLettered: () => void = () => undefined;

  before(async () => {
    broker = await startAedes();
    bus = await Bus.connect({ url: broker.url, service: 'query', logger });
    publisher = await Bus.connect({ url: broker.url, service: 'publisher' });
    await publisher.subscribe(publisher.topics.deadLetter('query'), validator(DeadLetterSchema), (letter) => {
      deadLetters.push(letter);
      deadLettered();
    });
    fleet = new Fleet({ bus, logger });
    await fleet.start();
    await bus.subscribe(bus.topics.readings('marker'), validator(ReadingSchema), (reading) =>
      markers.get(reading.power_w)?.(),
    );
  });
  after(async () => {
    await fleet.stop();
    await bus.stop();
    await publisher.stop();
    await broker.stop();
  });

  const markers = new Map<number, () => void>();

  /**
   * Publishes, then a marker reading from the same client: the broker keeps one publisher's order,
   * and the fleet's route runs before the marker route below, so once the marker is seen here the
   * fleet has handled the message.
   */
  async function publishAndSettle(topic: string, payload: unknown, retain = false): Promise<void> {
    await publisher.publish(topic, payload, { retain });
    const marker = { ts: new Date().toISOString(), device: 'marker', power_w: markers.size + Math.random() };
    const seen = new Promise<void>((resolve) => markers.set(marker.power_w, resolve));
    await publisher.publish(publisher.topics.readings('marker'), marker);
    await seen;
  }

  it('keeps the newest reading per device and phase; an older one does not override it', async () => {
    const topic = publisher.topics.readings('p1');
    await publishAndSettle(topic, { ts: '2026-11-02T08:00:01.000Z', device: 'p1', power_w: 2 });
    await publishAndSettle(topic, { ts: '2026-11-02T08:00:00.000Z', device: 'p1', power_w: 1 });
    await publishAndSettle(topic, { ts: '2026-11-02T08:00:00.000Z', device: 'p1', power_w: 7, phase: 'L1' });
    const [entry] = fleet.latest(['p1']);
    assert.equal(entry!.reading?.power_w, 2);
    assert.deepEqual(
      entry!.phases.map((reading) => reading.power_w),
      [7],
    );
  });

  it("dead-letters a reading published on another device's topic", async () => {
    const seen = new Promise<void>((resolve) => (deadLettered = resolve));
    await publisher.publish(publisher.topics.readings('p2'), {
      ts: '2026-11-02T08:00:00.000Z',
      device: 'p1',
      power_w: 999,
    });
    await seen;
    assert.equal(deadLetters.at(-1)?.reason, 'rejected');
    assert.match(deadLetters.at(-1)!.message, /reading\.device p1 is not p2/);
    assert.equal(fleet.latest(['p1'])[0]!.reading?.power_w, 2);
  });

  it('forgets meta when its retained message is cleared, and the device once nothing is left', async () => {
    const meta = {
      id: 'm9',
      name: 'M9',
      type: 'tplink',
      kind: 'printer',
      location: 'hq/floor-1',
      poll_interval_ms: 1000,
      ts: '2026-11-02T08:00:00.000Z',
    };
    await publishAndSettle(publisher.topics.meta('m9'), meta, true);
    assert.equal(fleet.summaries({ kind: 'printer' })[0]?.id, 'm9');
    await publishAndSettle(publisher.topics.meta('m9'), '', true);
    assert.equal(fleet.has('m9'), false);
  });
});
