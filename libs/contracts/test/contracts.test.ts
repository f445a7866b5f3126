import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  MESSAGE_SCHEMAS,
  ReadingSchema,
  RequestEnvelopeSchema,
  ResponseEnvelopeSchema,
  Topics,
  TopicError,
  validator,
} from '../src/index.js';

describe('schemas', () => {
  for (const [name, schema] of Object.entries(MESSAGE_SCHEMAS)) {
    const examples = (schema as { examples?: unknown[] }).examples;
    it(`${name}: has examples and every example validates`, () => {
      assert.ok(Array.isArray(examples) && examples.length > 0, `${name} has no examples`);
      const check = validator(schema);
      for (const example of examples) assert.ok(check(example), `${name} example: ${check.errorText()}`);
    });
  }

  it('rejects a reading with a wrong type, an unknown key or a bad device id, naming the path', () => {
    const check = validator(ReadingSchema);
    const good = { ts: '2026-11-23T18:45:00.000Z', device: 'desk-3', power_w: 5 };
    assert.ok(check(good));
    assert.equal(check({ ...good, power_w: '5' }), false);
    assert.match(check.errorText(), /\/power_w: must be number/);
    assert.equal(check({ ...good, watts: 5 }), false);
    assert.match(check.errorText(), /unknown key 'watts'/);
    assert.equal(check({ ...good, device: 'Desk 3' }), false);
    assert.match(check.errorText(), /\/device/);
    assert.equal(check({ ...good, ts: 'yesterday' }), false);
    assert.match(check.errorText(), /\/ts: must match format "date-time"/);
  });

  it('response envelope is either ok with a result or an error with a known code', () => {
    const check = validator(ResponseEnvelopeSchema);
    assert.ok(check({ id: 'a', ok: true, result: 1 }));
    assert.ok(check({ id: 'a', ok: false, error: { code: 'UNKNOWN_DEVICE', message: 'no such device' } }));
    assert.equal(check({ id: 'a', ok: false, error: { code: 'WHATEVER', message: 'x' } }), false);
    assert.equal(check({ id: 'a', ok: true, result: 1, error: {} }), false);
  });

  it('request envelope ids may not carry topic wildcards', () => {
    const check = validator(RequestEnvelopeSchema);
    assert.equal(check({ id: 'a/b', reply_to: 'wattbus/replies/x/a', params: {} }), false);
    assert.equal(check({ id: '#', reply_to: 'wattbus/replies/x/a', params: {} }), false);
  });
});

describe('topics', () => {
  const topics = new Topics();

  it('builds the topics of the contract', () => {
    assert.equal(topics.readings('desk-3'), 'wattbus/devices/desk-3/readings');
    assert.equal(topics.state('desk-3'), 'wattbus/devices/desk-3/state');
    assert.equal(topics.availability('desk-3'), 'wattbus/devices/desk-3/availability');
    assert.equal(topics.deviceRequest('desk-3', 'set'), 'wattbus/devices/desk-3/req/set');
    assert.equal(topics.queryRequest('energy'), 'wattbus/query/req/energy');
    assert.equal(topics.reply('gw-1', 'abc'), 'wattbus/replies/gw-1/abc');
    assert.equal(new Topics('site/a').readings('m1'), 'site/a/devices/m1/readings');
  });

  for (const bad of ['a/b', '+', '#', '', 'x+', 'a#', 'Desk', 'x\u0000y']) {
    it(`refuses device id ${JSON.stringify(bad)}`, () => {
      assert.throws(() => topics.readings(bad), TopicError);
      assert.throws(() => topics.deviceRequest(bad, 'set'), TopicError);
    });
  }

  for (const bad of ['a/b', '+', '#', '']) {
    it(`refuses method / requester ${JSON.stringify(bad)}`, () => {
      assert.throws(() => topics.queryRequest(bad), TopicError);
      assert.throws(() => topics.reply(bad, 'id'), TopicError);
    });
  }

  it('refuses a base topic with wildcards or empty levels', () => {
    for (const bad of ['', 'a//b', '/a', 'a/+', '#']) assert.throws(() => new Topics(bad), TopicError);
  });

  it('parses device topics and ignores others', () => {
    assert.deepEqual(topics.parseDeviceTopic('wattbus/devices/desk-3/readings'), {
      deviceId: 'desk-3',
      kind: 'readings',
    });
    assert.equal(topics.parseDeviceTopic('wattbus/devices/desk-3/readings/x'), null);
    assert.equal(topics.parseDeviceTopic('wattbus/devices/Desk/readings'), null);
    assert.equal(topics.parseDeviceTopic('wattbus/devices/desk-3/req/set'), null);
    assert.equal(topics.parseDeviceTopic('other/devices/desk-3/readings'), null);
  });

  it('tells whether a topic is one device topic, exactly as readings() and history() build it', () => {
    assert.ok(topics.isDeviceTopic('wattbus/devices/desk-3/readings', 'desk-3', 'readings'));
    assert.ok(topics.isDeviceTopic(topics.history('desk-3'), 'desk-3', 'history'));
    for (const other of [
      'wattbus/devices/desk-30/readings',
      'wattbus/devices/desk-/readings',
      'wattbus/devices/desk-3/readings/x',
      'wattbus/devices/desk-3/history',
      'wattbus/devices/desk-3xreadings',
      'wattbusx/devices/desk-3/readings',
      'other/devices/desk-3/readings',
      'wattbus/device/sdesk-3/readings',
    ]) {
      assert.equal(topics.isDeviceTopic(other, 'desk-3', 'readings'), false, other);
    }
  });

  it('recognises reply topics only under its own base', () => {
    assert.ok(topics.isReplyTopic('wattbus/replies/gw/abc'));
    assert.equal(topics.isReplyTopic('wattbus/devices/x/req/set'), false);
    assert.equal(topics.isReplyTopic('wattbus/replies/gw/+'), false);
    assert.equal(topics.isReplyTopic('wattbus/replies/gw/a/b'), false);
  });
});
