import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startAedes } from '@wattbus/testing';
import { Bus } from '../src/index.js';

describe('bus: falling back to MQTT 3.1.1', () => {
  let broker: { url: string; stop(): Promise<void> };
  before(async () => {
    broker = await startAedes();
  });
  after(async () => broker.stop());

  it('says "does not speak MQTT 5" once per broker, however many connections go there', async () => {
    const messages: { level: number; msg: string }[] = [];
    const logger = pino(
      { level: 'debug' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          for (const line of chunk.toString().split('\n')) if (line) messages.push(JSON.parse(line));
          done();
        },
      }),
    );
    const buses = [];
    for (let n = 0; n < 3; n++) buses.push(await Bus.connect({ url: broker.url, service: 'test', logger }));
    await Promise.all(buses.map((bus) => bus.stop()));
    assert.ok(buses.every((bus) => bus.protocolVersion === 4));
    const fallbacks = messages.filter((line) => line.msg.includes('does not speak MQTT 5'));
    assert.equal(fallbacks.length, 3, 'every fallback is still logged (at debug after the first)');
    assert.deepEqual(
      fallbacks.map((line) => line.level),
      [30, 20, 20],
    );
  });
});
