import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import {
  DeadLetterSchema,
  ReadingSchema,
  WattbusError,
  validator,
  type DeadLetter,
  type Reading,
} from '@wattbus/contracts';
import { startAedes, startMosquitto } from '@wattbus/testing';
import { Bus, BusStoppedError, RequestTimeoutError } from '../src/index.js';

interface BrokerUnderTest {
  url: string;
  stop(): Promise<void>;
}

const brokers: Record<string, () => Promise<BrokerUnderTest>> = {
  mosquitto: async () => {
    const server = await startMosquitto({ persistence: false });
    return { url: server.url, stop: () => server.destroy() };
  },
  aedes: async () => startAedes(),
};

const checkDouble = validator(Type.Object({ n: Type.Integer() }, { additionalProperties: false }));
const checkReading = validator(ReadingSchema);
const checkDeadLetter = validator(DeadLetterSchema);

/** Resolves once `count` items were pushed. */
function collector<T>(count: number) {
  const items: T[] = [];
  let resolve!: (items: T[]) => void;
  const done = new Promise<T[]>((r) => (resolve = r));
  return {
    items,
    done,
    push(item: T) {
      items.push(item);
      if (items.length === count) resolve(items);
    },
  };
}

for (const [name, startBroker] of Object.entries(brokers)) {
  describe(`bus on ${name}`, () => {
    let broker: BrokerUnderTest;
    let server: Bus;
    let client: Bus;

    before(async () => {
      broker = await startBroker();
      server = await Bus.connect({ url: broker.url, service: 'test-server' });
      client = await Bus.connect({ url: broker.url, service: 'test-client' });
    });

    after(async () => {
      await client.stop();
      await server.stop();
      await broker.stop();
    });

    it(`speaks MQTT ${name === 'mosquitto' ? '5' : '3.1.1'}`, () => {
      assert.equal(client.protocolVersion, name === 'mosquitto' ? 5 : 4);
    });

    it('answers 1,000 concurrent requests, each with its own answer', async () => {
      const topic = client.topics.queryRequest('double');
      const subscription = await server.serve(topic, checkDouble, (params) => ({
        n: params.n,
        double: params.n * 2,
      }));
      const answers = await Promise.all(
        Array.from({ length: 1000 }, (_, n) => client.request<{ n: number; double: number }>(topic, { n })),
      );
      answers.forEach((answer, n) => assert.deepEqual(answer, { n, double: n * 2 }));
      assert.equal(client.metrics().pending_requests, 0);
      await subscription.unsubscribe();
    });

    it('rejects with a timeout error at the deadline when nobody serves', async () => {
      const started = Date.now();
      await assert.rejects(
        client.request(client.topics.queryRequest('nobody'), {}, { timeoutMs: 300 }),
        (error) => {
          assert.ok(error instanceof RequestTimeoutError);
          assert.equal(error.code, 'TIMEOUT');
          return true;
        },
      );
      assert.ok(Date.now() - started >= 299, 'rejected before its deadline');
    });

    it("uses the caller's correlation id, and refuses one already pending or a cancelled signal", async () => {
      const topic = client.topics.queryRequest('echo-id');
      const subscription = await server.serve(topic, checkDouble, (params, context) => ({
        n: params.n,
        id: context.envelope.id,
      }));
      assert.deepEqual(await client.request(topic, { n: 1 }, { id: 'http-req-1' }), {
        n: 1,
        id: 'http-req-1',
      });
      const silent = client.topics.queryRequest('nobody-home');
      const pending = client.request(silent, {}, { id: 'dup-1', timeoutMs: 200 });
      await assert.rejects(client.request(silent, {}, { id: 'dup-1' }), { code: 'INVALID_REQUEST' });
      await assert.rejects(pending, { code: 'TIMEOUT' });
      await assert.rejects(client.request(silent, {}, { signal: AbortSignal.abort() }), { code: 'TIMEOUT' });
      await subscription.unsubscribe();
    });

    it(
      'routes a topic seen before by the subscriptions of now, added and removed',
      { timeout: 10_000 },
      async () => {
        const topic = client.topics.readings('meter-9');
        const reading = (power: number) => ({
          ts: '2026-11-23T18:45:00.000Z',
          device: 'meter-9',
          power_w: power,
        });
        const exact = collector<Reading>(1);
        const one = await server.subscribe(topic, checkReading, (value) => exact.push(value));
        await client.publish(topic, reading(1));
        await exact.done;
        const wildcard = collector<Reading>(1);
        const all = await server.subscribe(client.topics.allDevices('readings'), checkReading, (value) =>
          wildcard.push(value),
        );
        await one.unsubscribe();
        await client.publish(topic, reading(2));
        assert.deepEqual(
          (await wildcard.done).map((value) => value.power_w),
          [2],
        );
        assert.deepEqual(
          exact.items.map((value) => value.power_w),
          [1],
        );
        await all.unsubscribe();
      },
    );

    it('turns handler errors into error envelopes with their code', async () => {
      const topic = client.topics.deviceRequest('desk-1', 'set');
      const subscription = await server.serve(topic, checkDouble, (params) => {
        if (params.n === 1) throw new WattbusError('UNKNOWN_DEVICE', 'no device desk-1');
        throw new Error('boom with secret detail');
      });
      await assert.rejects(client.request(topic, { n: 1 }), {
        code: 'UNKNOWN_DEVICE',
        message: 'no device desk-1',
      });
      await assert.rejects(client.request(topic, { n: 2 }), (error: WattbusError) => {
        assert.equal(error.code, 'INTERNAL');
        assert.doesNotMatch(error.message, /secret/);
        return true;
      });
      await assert.rejects(client.request(topic, { n: 'two' }), (error: WattbusError) => {
        assert.equal(error.code, 'INVALID_PARAMS');
        assert.match(error.message, /\/n: must be integer/);
        return true;
      });
      await subscription.unsubscribe();
    });

    it('dead-letters malformed, schema-violating and oversize payloads while valid ones flow', async () => {
      const topic = client.topics.readings('meter-7');
      const received = collector<Reading>(2);
      const letters = collector<DeadLetter>(3);
      const deadLetters = await client.subscribe(
        client.topics.deadLetter('test-server'),
        checkDeadLetter,
        (letter) => letters.push(letter),
      );
      const readings = await server.subscribe(topic, checkReading, (reading) => received.push(reading));
      const reading = (power_w: number) => ({ ts: new Date().toISOString(), device: 'meter-7', power_w });

      await client.publish(topic, reading(1));
      await client.publish(topic, '{"ts": oops');
      await client.publish(topic, { ...reading(2), power_w: 'lots' });
      await client.publish(topic, JSON.stringify({ ...reading(3), pad: 'x'.repeat(70_000) }));
      await client.publish(topic, reading(4));

      assert.deepEqual(
        (await received.done).map((item) => item.power_w),
        [1, 4],
      );
      const reasons = (await letters.done).map((letter) => [letter.reason, letter.topic]);
      assert.deepEqual(reasons, [
        ['unparsable', topic],
        ['schema', topic],
        ['oversize', topic],
      ]);
      assert.match(letters.items[1]!.message, /\/power_w: must be number/);
      assert.equal(server.metrics().dead_lettered, 3);
      await readings.unsubscribe();
      await deadLetters.unsubscribe();
    });

    // A minute's linger: within the test's 10 s only a publish that must not wait, or stop, sends them.
    it(
      'sends lingering publishes in order, at once when a publish that must not wait follows',
      { timeout: 10_000 },
      async () => {
        const topic = client.topics.readings('linger-1');
        const received = collector<Reading>(5);
        const readings = await server.subscribe(topic, checkReading, (reading) => received.push(reading));
        const reading = (power_w: number) => ({ ts: new Date().toISOString(), device: 'linger-1', power_w });
        const lingering = [1, 2, 3].map((n) => client.publish(topic, reading(n), { lingerMs: 60_000 }));
        await client.publish(topic, reading(4));
        await Promise.all(lingering);
        // Alone, a lingering publish leaves when its time is up.
        await client.publish(topic, reading(5), { lingerMs: 20 });
        assert.deepEqual(
          (await received.done).map((item) => item.power_w),
          [1, 2, 3, 4, 5],
        );
        const last = collector<Reading>(1);
        const stopping = await server.subscribe(client.topics.readings('linger-2'), checkReading, (item) =>
          last.push(item),
        );
        const agent = await Bus.connect({ url: broker.url, service: 'agent' });
        const held = agent.publish(
          agent.topics.readings('linger-2'),
          { ...reading(6), device: 'linger-2' },
          {
            lingerMs: 60_000,
          },
        );
        await agent.stop();
        await held;
        assert.equal((await last.done)[0]!.power_w, 6, 'stop sends what lingers');
        await readings.unsubscribe();
        await stopping.unsubscribe();
      },
    );

    it('refuses a request whose reply_to points outside the reply topics', async () => {
      const topic = client.topics.queryRequest('hijack');
      const letters = collector<DeadLetter>(1);
      const deadLetters = await client.subscribe(
        client.topics.deadLetter('test-server'),
        checkDeadLetter,
        (letter) => letters.push(letter),
      );
      let served = 0;
      const subscription = await server.serve(topic, checkDouble, () => ++served);
      await client.publish(topic, { id: 'x1', reply_to: 'wattbus/devices/desk-1/req/set', params: { n: 1 } });
      const [letter] = await letters.done;
      assert.equal(letter!.reason, 'rejected');
      assert.equal(served, 0);
      await subscription.unsubscribe();
      await deadLetters.unsubscribe();
    });

    it('on stop, rejects pending requests and publishes its will itself', async () => {
      const willTopic = client.topics.availability('agent-1');
      const agent = await Bus.connect({
        url: broker.url,
        service: 'agent',
        will: { topic: willTopic, payload: 'offline', retain: true },
      });
      await agent.publish(willTopic, 'online', { retain: true });
      const states = collector<string>(2);
      const availability = await client.subscribe(
        willTopic,
        validator(Type.String()),
        (state) => states.push(state),
        {
          encoding: 'text',
        },
      );
      const slowTopic = agent.topics.queryRequest('slow');
      const arrived = collector<unknown>(1);
      const never = await server.serve(slowTopic, validator(Type.Object({})), () => {
        arrived.push(1);
        return new Promise(() => undefined);
      });
      const pending = agent.request(slowTopic, {}, { timeoutMs: 60_000 }).catch((error: unknown) => error);
      await arrived.done;
      await agent.stop();
      await never.unsubscribe();
      assert.ok((await pending) instanceof BusStoppedError);
      assert.deepEqual(await states.done, ['online', 'offline']);
      await availability.unsubscribe();
      await client.publish(willTopic, '', { retain: true });
    });
  });
}

describe('Bus.connect with a malformed URL', () => {
  it('names the URL and the schemes it expects', async () => {
    await assert.rejects(
      Bus.connect({ url: 'nonsense', service: 'test', connectTimeoutMs: 1000 }),
      /invalid MQTT broker URL 'nonsense': .*expected mqtt:\/\/host:port/,
    );
  });
});
