import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import { validator, type DeadLetter, type ResponseEnvelope } from '@wattbus/contracts';
import { startAedes, startMosquitto } from '@wattbus/testing';
import mqtt, { type IClientPublishOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { Bus, type Subscription } from '../src/index.js';

/**
 * Every kind of malformed request, sent raw as a third-party client would: an error reply where a
 * usable reply address exists (payload `reply_to`, or on MQTT 5 the Response Topic), a dead
 * letter otherwise. mosquitto speaks MQTT 5 (properties), aedes 3.1.1 (the envelope only).
 */

const REQUEST = 'wattbus/query/req/double';
const REPLIES = 'wattbus/replies/raw-client';
const DEAD_LETTERS = 'wattbus/deadletter/test-server';

type Expected =
  | { reply: string; id: string; code?: string; message?: RegExp; result?: unknown }
  | { deadLetter: DeadLetter['reason']; message: RegExp };

interface Case {
  name: string;
  payload: string;
  properties?: IClientPublishOptions['properties'];
  expect: Expected;
  /** Checks on the reply packet itself (MQTT 5 properties). */
  packet?: (packet: IPublishPacket) => void;
}

const envelope = (fields: Record<string, unknown>) => JSON.stringify(fields);
const replyTo = (id: string) => `${REPLIES}/${id}`;

/** Valid on either protocol: the envelope is the whole contract. */
const ENVELOPE_CASES: Case[] = [
  {
    name: 'a valid request is answered',
    payload: envelope({ id: 'ok-1', reply_to: replyTo('ok-1'), params: { n: 2 } }),
    expect: { reply: replyTo('ok-1'), id: 'ok-1', result: { double: 4 } },
  },
  {
    name: 'params null',
    payload: envelope({ id: 'null-1', reply_to: replyTo('null-1'), params: null }),
    expect: {
      reply: replyTo('null-1'),
      id: 'null-1',
      code: 'INVALID_REQUEST',
      message: /\/params: must be object/,
    },
  },
  {
    name: 'params missing',
    payload: envelope({ id: 'nop-1', reply_to: replyTo('nop-1') }),
    expect: {
      reply: replyTo('nop-1'),
      id: 'nop-1',
      code: 'INVALID_REQUEST',
      message: /required property 'params'/,
    },
  },
  {
    name: 'id missing: the reply goes to reply_to, named by its last level',
    payload: envelope({ reply_to: replyTo('noid-1'), params: { n: 1 } }),
    expect: {
      reply: replyTo('noid-1'),
      id: 'noid-1',
      code: 'INVALID_REQUEST',
      message: /required property 'id'/,
    },
  },
  {
    name: 'an unknown envelope key',
    payload: envelope({ id: 'key-1', reply_to: replyTo('key-1'), params: { n: 1 }, replyTo: 'x' }),
    expect: {
      reply: replyTo('key-1'),
      id: 'key-1',
      code: 'INVALID_REQUEST',
      message: /unknown key 'replyTo'/,
    },
  },
  {
    name: 'a deadline that is not a date-time',
    payload: envelope({ id: 'dl-1', reply_to: replyTo('dl-1'), params: { n: 1 }, deadline: 'soon' }),
    expect: {
      reply: replyTo('dl-1'),
      id: 'dl-1',
      code: 'INVALID_REQUEST',
      message: /\/deadline: must match format/,
    },
  },
  {
    name: 'params the method refuses',
    payload: envelope({ id: 'bad-1', reply_to: replyTo('bad-1'), params: { n: 'two' } }),
    expect: { reply: replyTo('bad-1'), id: 'bad-1', code: 'INVALID_PARAMS', message: /\/n: must be integer/ },
  },
  {
    name: 'not JSON',
    payload: '{"id": "json-1", oops',
    expect: { deadLetter: 'unparsable', message: /^not JSON/ },
  },
  {
    name: 'an empty payload',
    payload: '',
    expect: { deadLetter: 'schema', message: /empty payload/ },
  },
  {
    name: 'reply_to outside wattbus/replies/',
    payload: envelope({ id: 'out-1', reply_to: 'wattbus/devices/desk-1/req/set', params: { n: 1 } }),
    expect: {
      deadLetter: 'rejected',
      message: /reply_to "wattbus\/devices\/desk-1\/req\/set" is not a reply topic/,
    },
  },
  {
    name: 'reply_to missing',
    payload: envelope({ id: 'none-1', params: { n: 1 } }),
    expect: { deadLetter: 'rejected', message: /no reply address/ },
  },
  {
    name: 'a JSON array',
    payload: '[1, 2]',
    expect: { deadLetter: 'rejected', message: /no reply address/ },
  },
];

/** MQTT 5: Response Topic and Correlation Data suffice; the Response Topic wins. */
const MQTT5_CASES: Case[] = [
  {
    name: 'Response Topic and Correlation Data without id or reply_to in the payload',
    payload: envelope({ params: { n: 5 } }),
    properties: { responseTopic: replyTo('rt-1'), correlationData: Buffer.from('rt-1') },
    expect: { reply: replyTo('rt-1'), id: 'rt-1', result: { double: 10 } },
    packet: (packet) => assert.equal(packet.properties?.correlationData?.toString(), 'rt-1'),
  },
  {
    name: 'the Response Topic wins over reply_to',
    payload: envelope({ id: 'both-1', reply_to: replyTo('ignored'), params: { n: 1 } }),
    properties: { responseTopic: replyTo('both-1') },
    expect: { reply: replyTo('both-1'), id: 'both-1', result: { double: 2 } },
  },
  {
    name: 'a bad Response Topic is refused, answered at reply_to and named',
    payload: envelope({ id: 'badrt-1', reply_to: replyTo('badrt-1'), params: { n: 1 } }),
    properties: { responseTopic: 'wattbus/devices/desk-1/state' },
    expect: {
      reply: replyTo('badrt-1'),
      id: 'badrt-1',
      code: 'INVALID_REQUEST',
      message: /Response Topic "wattbus\/devices\/desk-1\/state" is not a reply topic/,
    },
  },
  {
    name: 'a bad Response Topic without reply_to is dead-lettered, named',
    payload: envelope({ id: 'badrt-2', params: { n: 1 } }),
    properties: { responseTopic: 'elsewhere/x' },
    expect: { deadLetter: 'rejected', message: /Response Topic "elsewhere\/x" is not a reply topic/ },
  },
  {
    name: 'not JSON, with a Response Topic: answered',
    payload: 'oops',
    properties: { responseTopic: replyTo('rtjson-1'), correlationData: Buffer.from('rtjson-1') },
    expect: { reply: replyTo('rtjson-1'), id: 'rtjson-1', code: 'INVALID_REQUEST', message: /^not JSON/ },
  },
  {
    name: 'params null, with Response Topic and Correlation Data: answered',
    payload: envelope({ params: null }),
    properties: { responseTopic: replyTo('rtnull-1'), correlationData: Buffer.from('rtnull-1') },
    expect: {
      reply: replyTo('rtnull-1'),
      id: 'rtnull-1',
      code: 'INVALID_REQUEST',
      message: /\/params: must be object/,
    },
  },
];

const brokers = {
  mosquitto: { start: () => startMosquitto({ persistence: false }), version: 5 as const },
  aedes: { start: () => startAedes(), version: 4 as const },
};

const checkDouble = validator(Type.Object({ n: Type.Integer() }, { additionalProperties: false }));

for (const [name, broker] of Object.entries(brokers)) {
  describe(`malformed requests on ${name} (MQTT ${broker.version === 5 ? '5' : '3.1.1'})`, () => {
    let stopBroker: () => Promise<void>;
    let server: Bus;
    let served: Subscription;
    let raw: MqttClient;
    const arrived: IPublishPacket[] = [];
    let onArrival: (() => void) | undefined;

    before(async () => {
      const started = await broker.start();
      stopBroker = 'destroy' in started ? () => started.destroy() : () => started.stop();
      server = await Bus.connect({ url: started.url, service: 'test-server' });
      served = await server.serve(REQUEST, checkDouble, (params) => ({ double: params.n * 2 }));
      raw = await mqtt.connectAsync(started.url, {
        clientId: 'raw-client',
        protocolVersion: broker.version,
        reconnectPeriod: 0,
      });
      raw.on('message', (_topic, _payload, packet) => {
        arrived.push(packet);
        onArrival?.();
      });
      await raw.subscribeAsync([`${REPLIES}/#`, DEAD_LETTERS], { qos: 1 });
    });

    after(async () => {
      await raw?.endAsync();
      await served?.unsubscribe();
      await server?.stop();
      await stopBroker?.();
    });

    /** The first packet after `from` that `matches`. */
    function next(from: number, matches: (packet: IPublishPacket) => boolean): Promise<IPublishPacket> {
      return new Promise((resolve) => {
        const look = () => {
          const found = arrived.slice(from).find(matches);
          if (!found) return;
          onArrival = undefined;
          resolve(found);
        };
        onArrival = look;
        look();
      });
    }

    const cases = broker.version === 5 ? [...ENVELOPE_CASES, ...MQTT5_CASES] : ENVELOPE_CASES;
    for (const testCase of cases) {
      it(testCase.name, async () => {
        const from = arrived.length;
        const expected = testCase.expect;
        const waited =
          'reply' in expected
            ? next(from, (packet) => packet.topic === expected.reply)
            : next(from, (packet) => packet.topic === DEAD_LETTERS);
        await raw.publishAsync(REQUEST, testCase.payload, { qos: 1, properties: testCase.properties });
        const packet = await waited;
        const body: unknown = JSON.parse(packet.payload.toString());
        if ('reply' in expected) {
          const response = body as ResponseEnvelope;
          assert.equal(response.id, expected.id);
          if (expected.code === undefined) {
            assert.deepEqual(response, { id: expected.id, ok: true, result: expected.result });
          } else {
            assert.equal(response.ok, false);
            if (response.ok) return;
            assert.equal(response.error.code, expected.code);
            assert.match(response.error.message, expected.message!);
          }
        } else {
          const letter = body as DeadLetter;
          assert.equal(letter.topic, REQUEST);
          assert.equal(letter.reason, expected.deadLetter);
          assert.match(letter.message, expected.message);
        }
        testCase.packet?.(packet);
      });
    }
  });
}
