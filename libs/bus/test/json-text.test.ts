import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import { ResponseEnvelopeSchema, WattbusError, validator, type ResponseEnvelope } from '@wattbus/contracts';
import { startAedes, startMosquitto } from '@wattbus/testing';
import { Bus, JsonText } from '../src/index.js';

const brokers = {
  mosquitto: async () => {
    const server = await startMosquitto({ persistence: false });
    return { url: server.url, stop: () => server.destroy() };
  },
  aedes: async () => startAedes(),
};

const anyParams = validator(Type.Record(Type.String(), Type.Unknown()));
const checkResponse = validator(ResponseEnvelopeSchema);
// Not ASCII on purpose: result_bytes counts bytes, not characters.
const TEXT = '{"device":"café","points":[{"ts":"2026-11-30T00:00:00.000Z","power_w":41.5}]}';

for (const [name, startBroker] of Object.entries(brokers)) {
  describe(`results passed through as JSON text (${name})`, () => {
    let broker: { url: string; stop(): Promise<void> };
    let server: Bus;
    let client: Bus;
    let watcher: Bus;
    const onWire = new Map<string, ResponseEnvelope>();
    const waiting = new Map<string, (envelope: ResponseEnvelope) => void>();
    /** The envelope of reply `id` as the watcher read it off the wire. */
    const envelopeOf = (id: string) =>
      new Promise<ResponseEnvelope>((resolve) => {
        const seen = onWire.get(id);
        if (seen) resolve(seen);
        else waiting.set(id, resolve);
      });

    before(async () => {
      broker = await startBroker();
      server = await Bus.connect({ url: broker.url, service: 'test-server' });
      client = await Bus.connect({ url: broker.url, service: 'test-client' });
      // Any other client reads the envelope as the documented JSON (no ACL on these brokers).
      watcher = await Bus.connect({ url: broker.url, service: 'test-watcher' });
      await watcher.subscribe(`${watcher.topics.base}/replies/#`, checkResponse, (envelope) => {
        onWire.set(envelope.id, envelope);
        waiting.get(envelope.id)?.(envelope);
      });
      await server.serve(server.topics.queryRequest('text'), anyParams, () => new JsonText(TEXT));
      await server.serve(server.topics.queryRequest('plain'), anyParams, (params) => {
        if (params.fail) throw new WattbusError('QUERY_TOO_LARGE', 'too many points');
        return { plain: true };
      });
    });

    after(async () => {
      await watcher?.stop();
      await client?.stop();
      await server?.stop();
      await broker?.stop();
    });

    it('answers with result_bytes ahead of the result: parsed by a plain request, its bytes to a raw one', async () => {
      const topic = client.topics.queryRequest('text');
      assert.deepEqual(await client.request(topic, {}, { id: 'plain-1' }), JSON.parse(TEXT));
      // Only a requester that asked gets result_bytes: an earlier release's contract has none.
      const plain = await envelopeOf('plain-1');
      assert.ok(plain.ok);
      assert.equal(plain.result_bytes, undefined);
      assert.deepEqual(plain.result, JSON.parse(TEXT));
      const raw = await client.request(topic, {}, { id: 'raw-1', raw: true });
      const envelope = await envelopeOf('raw-1');
      assert.ok(envelope.ok);
      assert.deepEqual(envelope.result, JSON.parse(TEXT));
      if (name === 'aedes') {
        // aedes speaks MQTT 3.1.1: no user property to ask with, so the usual envelope, parsed.
        assert.ok(!(raw instanceof JsonText));
        assert.deepEqual(raw, JSON.parse(TEXT));
        assert.equal(envelope.result_bytes, undefined);
        return;
      }
      assert.ok(raw instanceof JsonText, 'a raw request gets the text');
      assert.equal(raw.bytes.toString('utf8'), TEXT);
      assert.deepEqual(raw.parse(), JSON.parse(TEXT));
      assert.equal(envelope.result_bytes, Buffer.byteLength(TEXT));
    });

    it('gives a raw request over MQTT 3.1.1 (no user properties to ask with) the parsed result', async () => {
      const older = await Bus.connect({ url: broker.url, service: 'test-client-311', protocol: 4 });
      try {
        const answer = await older.request(
          older.topics.queryRequest('text'),
          {},
          { id: 'raw-311', raw: true },
        );
        assert.ok(!(answer instanceof JsonText));
        assert.deepEqual(answer, JSON.parse(TEXT));
        const envelope = await envelopeOf('raw-311');
        assert.ok(envelope.ok);
        assert.equal(envelope.result_bytes, undefined);
      } finally {
        await older.stop();
      }
    });

    it('gives a raw request a result sent as a value parsed, and an error as a rejection', async () => {
      const topic = client.topics.queryRequest('plain');
      const answer = await client.request(topic, {}, { raw: true });
      assert.ok(!(answer instanceof JsonText));
      assert.deepEqual(answer, { plain: true });
      await assert.rejects(client.request(topic, { fail: true }, { raw: true }), {
        code: 'QUERY_TOO_LARGE',
        message: 'too many points',
      });
    });

    it('parses a reply whose result_bytes does not account for its bytes instead of passing it on', async () => {
      const silent = client.topics.queryRequest('nobody-home');
      const pending = client.request(silent, {}, { id: 'forged-1', raw: true, timeoutMs: 5_000 });
      // The requester subscribed to its replies before publishing: the reply topic is live.
      await watcher.publish(
        client.topics.reply(client.clientId, 'forged-1'),
        '{"id":"forged-1","ok":true,"result_bytes":3,"result":{"a":1}}',
      );
      const answer = await pending;
      assert.ok(!(answer instanceof JsonText), 'a layout that does not add up is not passed through');
      assert.deepEqual(answer, { a: 1 });
    });
  });
}
