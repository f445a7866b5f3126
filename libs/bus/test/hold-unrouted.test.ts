import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import { validator } from '@wattbus/contracts';
import { startMosquitto, type MosquittoServer } from '@wattbus/testing';
import { Bus } from '../src/index.js';

const checkNumber = validator(Type.Object({ n: Type.Integer() }, { additionalProperties: false }));

describe('persistent session: messages queued while away', () => {
  let mosquitto: MosquittoServer;
  before(async () => {
    mosquitto = await startMosquitto({ persistence: false });
  });
  after(() => mosquitto.destroy());

  it('reach a subscribe() made after connect when holdUnroutedMs is set', async () => {
    const options = { url: mosquitto.url, service: 'hold', clientId: 'hold-test', clean: false };
    const first = await Bus.connect(options);
    await first.subscribe('hold/+', checkNumber, () => undefined, { qos: 1 });
    await first.stop();

    const publisher = await Bus.connect({ url: mosquitto.url, service: 'publisher' });
    for (let n = 0; n < 50; n++) await publisher.publish(`hold/${n}`, { n }, { qos: 1 });
    await publisher.stop();

    // The broker sends the queue right after CONNACK; the service does start-up work (opens its
    // log, replays it) before subscribe(). Without holdUnroutedMs these 50 are acked and lost.
    const resumed = await Bus.connect({ ...options, holdUnroutedMs: 5000 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const received: number[] = [];
    let all!: () => void;
    const done = new Promise<void>((resolve) => (all = resolve));
    await resumed.subscribe(
      'hold/+',
      checkNumber,
      (message) => {
        received.push(message.n);
        if (received.length === 50) all();
      },
      { qos: 1, ackAfterHandle: true },
    );
    await done;
    assert.deepEqual(
      [...received].sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, n) => n),
    );
    await resumed.stop();
  });

  it('does not hold a message of a stale session subscription once set up', { timeout: 20_000 }, async () => {
    const options = { url: mosquitto.url, service: 'stale', clientId: 'stale-test', clean: false };
    const first = await Bus.connect(options);
    await first.subscribe('old/+', checkNumber, () => undefined, { qos: 1 });
    await first.stop();
    // The session still has old/+; the service now only routes new/+.
    const resumed = await Bus.connect({ ...options, holdUnroutedMs: 60_000 });
    let arrived!: (n: number) => void;
    const fresh = new Promise<number>((resolve) => (arrived = resolve));
    await resumed.subscribe('new/+', checkNumber, (message) => arrived(message.n), { qos: 1 });
    const publisher = await Bus.connect({ url: mosquitto.url, service: 'publisher' });
    await publisher.publish('old/1', { n: 1 }, { qos: 1 });
    await publisher.publish('new/2', { n: 2 }, { qos: 1 });
    assert.equal(await fresh, 2); // would wait the 60 s hold if old/1 were held
    await publisher.stop();
    await resumed.stop();
  });

  it('batchAcks acknowledges every message: nothing is redelivered to the resumed session', async () => {
    const options = {
      url: mosquitto.url,
      service: 'acks',
      clientId: 'acks-test',
      clean: false,
      batchAcks: true,
    };
    const consumer = await Bus.connect(options);
    let count = 0;
    let all!: () => void;
    const done = new Promise<void>((resolve) => (all = resolve));
    await consumer.subscribe(
      'acks/+',
      checkNumber,
      () => {
        if (++count === 500) all();
      },
      { qos: 1, ackAfterHandle: true },
    );
    const publisher = await Bus.connect({ url: mosquitto.url, service: 'publisher' });
    await Promise.all(
      Array.from({ length: 500 }, (_, n) => publisher.publish(`acks/${n}`, { n }, { qos: 1 })),
    );
    await done;
    await consumer.stop();
    // A marker published while away is the only message the resumed session may get.
    await publisher.publish('acks/marker', { n: -1 }, { qos: 1 });
    await publisher.stop();
    const resumed = await Bus.connect({ ...options, holdUnroutedMs: 5000 });
    const received: number[] = [];
    let marker!: () => void;
    const markerSeen = new Promise<void>((resolve) => (marker = resolve));
    await resumed.subscribe('acks/+', checkNumber, (message) => {
      received.push(message.n);
      if (message.n === -1) marker();
    });
    await markerSeen;
    assert.deepEqual(received, [-1]);
    await resumed.stop();
  });

  it('withholds the PUBACKs when beforeAcks fails: the broker re-delivers the message', async () => {
    let failures = 1;
    const consumer = await Bus.connect({
      url: mosquitto.url,
      service: 'before-acks',
      clientId: 'before-acks-test',
      clean: false,
      batchAcks: true,
      beforeAcks: () => {
        if (failures-- > 0) throw new Error('disk full');
      },
      reconnectMinMs: 50,
    });
    const seen: number[] = [];
    let twice!: () => void;
    const deliveredTwice = new Promise<void>((resolve) => (twice = resolve));
    await consumer.subscribe(
      'ba/+',
      checkNumber,
      (message) => {
        seen.push(message.n);
        if (seen.length === 2) twice();
      },
      { qos: 1, ackAfterHandle: true },
    );
    const publisher = await Bus.connect({ url: mosquitto.url, service: 'publisher' });
    await publisher.publish('ba/7', { n: 7 }, { qos: 1 });
    await deliveredTwice; // the first delivery's PUBACK never left; the reconnect brought it again
    assert.deepEqual(seen, [7, 7]);
    await publisher.stop();
    await consumer.stop();
  });
});
