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
});
