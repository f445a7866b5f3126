import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  AlertListParamsSchema,
  AlertTopics,
  ServiceHealthSchema,
  TopicError,
  validator,
} from '../src/index.js';

describe('alert topics', () => {
  const topics = new AlertTopics();

  it('builds and parses the alert, request and health topics', () => {
    assert.equal(topics.alert('overload', 'desk-3'), 'wattbus/alerts/overload/desk-3');
    assert.equal(topics.rule('overload'), 'wattbus/alerts/overload/+');
    assert.equal(topics.request('list'), 'wattbus/alerts/req/list');
    assert.equal(topics.health('storage-hook'), 'wattbus/health/storage-hook');
    assert.deepEqual(topics.parseAlert('wattbus/alerts/overload/desk-3'), {
      rule: 'overload',
      subject: 'desk-3',
    });
    assert.equal(topics.parseAlert('wattbus/alerts/req/list'), null, 'a request is not an alert');
    assert.equal(topics.serviceOf('wattbus/deadletter/storage-hook'), 'storage-hook');
    assert.equal(topics.serviceOf('wattbus/health/Bad Name'), null);
  });

  it('refuses wildcards, bad names and the reserved rule name', () => {
    assert.throws(() => topics.alert('over+load', 'desk-3'), TopicError);
    assert.throws(() => topics.alert('overload', 'a/b'), TopicError);
    assert.throws(() => topics.alert('req', 'desk-3'), /reserved/);
    assert.throws(() => topics.health('#'), TopicError);
  });
});

describe('alert schemas', () => {
  it('list params: dates must be ISO, unknown keys refused', () => {
    const check = validator(AlertListParamsSchema);
    assert.ok(check({ active: true }));
    assert.equal(check({ from: 'yesterday' }), false);
    assert.equal(check({ since: '2026-11-23T00:00:00Z' }), false);
    assert.equal(check({ rule: 'a/b' }), false);
  });

  it('service health: metrics are numbers', () => {
    const check = validator(ServiceHealthSchema);
    const good = {
      service: 'x',
      ts: '2026-11-23T00:00:00.000Z',
      ready: true,
      checks: {},
      metrics: { wal_depth: 1 },
    };
    assert.ok(check(good));
    assert.equal(check({ ...good, metrics: { wal_depth: 'many' } }), false);
  });
});
