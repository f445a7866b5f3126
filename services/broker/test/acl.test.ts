import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  covers,
  expandRules,
  isValidTopicFilter,
  isValidTopicName,
  subscribedFilter,
  TopicPermissions,
} from '../src/acl.js';

describe('covers(pattern, filter)', () => {
  const cases: [pattern: string, filter: string, expected: boolean][] = [
    // the device-agent rule of the brief
    ['wattbus/devices/plug-1/#', 'wattbus/devices/plug-1/readings', true],
    ['wattbus/devices/plug-1/#', 'wattbus/devices/plug-1/+', true],
    ['wattbus/devices/plug-1/#', 'wattbus/devices/plug-1/#', true],
    ['wattbus/devices/plug-1/#', 'wattbus/devices/plug-1/req/switch', true],
    ['wattbus/devices/plug-1/#', 'wattbus/devices/plug-1', true], // a/# matches a itself
    ['wattbus/devices/plug-1/#', 'wattbus/devices/+/readings', false],
    ['wattbus/devices/plug-1/#', 'wattbus/devices/plug-2/readings', false],
    ['wattbus/devices/plug-1/#', 'wattbus/devices/plug-10/readings', false],
    ['wattbus/devices/plug-1/#', 'wattbus/#', false],
    ['wattbus/devices/plug-1/#', '#', false],
    ['wattbus/devices/plug-1/#', 'wattbus/devices', false],
    // exact topics
    ['a/b', 'a/b', true],
    ['a/b', 'a/b/c', false],
    ['a/b/c', 'a/b', false],
    ['a/b', 'a/+', false],
    ['a/b', 'a/#', false],
    // single-level wildcard
    ['a/+/c', 'a/b/c', true],
    ['a/+/c', 'a/+/c', true],
    ['a/+/c', 'a/b/c/d', false],
    ['a/+/c', 'a/#', false],
    ['a/+', 'a', false],
    ['a/+', 'a/', true], // + matches an empty level
    ['+/+', 'a/b', true],
    ['a/+/#', 'a/b/c/d', true],
    ['a/+/#', 'a/b', true],
    ['a/+/#', 'a/#', false], // a/# matches a, which a/+/# does not
    // multi-level wildcard
    ['#', 'anything/at/all', true],
    ['#', '#', true],
    ['#', '+/x', true],
    ['a/#', 'a/+/x/#', true],
    ['a/#', 'b/#', false],
    // `$` topics are not matched by a leading wildcard [MQTT-4.7.2-1]
    ['#', '$SYS/broker/stats', false],
    ['+/broker/stats', '$SYS/broker/stats', false],
    ['$SYS/#', '$SYS/broker/stats', true],
    ['$SYS/#', '$SYS/#', true],
    // invalid input covers nothing
    ['a/#/b', 'a/x/b', false],
    ['a/b', 'a/b#', false],
    ['a+/b', 'a+/b', false],
    ['', '', false],
    ['#', '', false],
  ];
  for (const [pattern, filter, expected] of cases) {
    test(`${JSON.stringify(pattern)} ${expected ? 'covers' : 'does not cover'} ${JSON.stringify(filter)}`, () => {
      assert.equal(covers(pattern, filter), expected);
    });
  }
});

describe('topic syntax', () => {
  test('topic names have no wildcards and are not empty', () => {
    assert.equal(isValidTopicName('wattbus/devices/plug-1/readings'), true);
    assert.equal(isValidTopicName('a//b'), true);
    assert.equal(isValidTopicName(''), false);
    assert.equal(isValidTopicName('a/+'), false);
    assert.equal(isValidTopicName('a/#'), false);
    assert.equal(isValidTopicName('a\u0000b'), false);
  });

  test('topic filters place wildcards on whole levels, # last', () => {
    for (const filter of ['#', '+', 'a/+/b', 'a/#', '+/+/#', 'a//b', '/']) {
      assert.equal(isValidTopicFilter(filter), true, filter);
    }
    for (const filter of ['', 'a/#/b', '#/a', 'a#', 'a/b+', 'a/+b/c', '##', 'a\u0000']) {
      assert.equal(isValidTopicFilter(filter), false, filter);
    }
  });

  test('a shared subscription reads the filter after its group', () => {
    assert.equal(subscribedFilter('wattbus/#'), 'wattbus/#');
    assert.equal(subscribedFilter('$share/storage/wattbus/devices/+/readings'), 'wattbus/devices/+/readings');
    assert.equal(subscribedFilter('$share/storage'), undefined);
    assert.equal(subscribedFilter('$share//wattbus/#'), undefined);
    assert.equal(subscribedFilter('$share/+/wattbus/#'), undefined);
  });
});

describe('expandRules', () => {
  test('puts the username in place of {username}', () => {
    assert.deepEqual(expandRules(['wattbus/devices/{username}/#', 'wattbus/query/req/+'], 'plug-1'), [
      'wattbus/devices/plug-1/#',
      'wattbus/query/req/+',
    ]);
  });

  test('drops rules naming {username} when there is none', () => {
    assert.deepEqual(expandRules(['wattbus/devices/{username}/#', 'wattbus/#'], undefined), ['wattbus/#']);
  });

  test('puts the client id in place of {clientid}, next to {username}', () => {
    assert.deepEqual(
      expandRules(['wattbus/replies/{clientid}/#', 'x/{username}/{clientid}'], 'app', 'app-1'),
      ['wattbus/replies/app-1/#', 'x/app/app-1'],
    );
  });

  test('drops rules whose client id is missing or would widen them', () => {
    const rules = ['wattbus/replies/{clientid}/#', 'wattbus/query/req/+'];
    assert.deepEqual(expandRules(rules, 'app'), ['wattbus/query/req/+']);
    for (const clientId of ['#', '+', 'a/b', '']) {
      assert.deepEqual(expandRules(rules, 'app', clientId), ['wattbus/query/req/+'], clientId);
    }
  });
});

describe('TopicPermissions', () => {
  const device = new TopicPermissions(
    { publish: ['wattbus/devices/{username}/#'], subscribe: ['wattbus/devices/{username}/#', '$SYS/#'] },
    'plug-1',
  );

  test('allows publishing inside the rules only', () => {
    assert.equal(device.canPublish('wattbus/devices/plug-1/readings'), true);
    assert.equal(device.canPublish('wattbus/devices/plug-2/readings'), false);
    assert.equal(device.canPublish('wattbus/devices/plug-1/+'), false, 'wildcards are not topic names');
  });

  test('never allows publishing to $ topics', () => {
    const admin = new TopicPermissions({ publish: ['#', '$SYS/#'], subscribe: [] });
    assert.equal(admin.canPublish('wattbus/x'), true);
    assert.equal(admin.canPublish('$SYS/wattbus/broker/stats'), false);
    assert.equal(admin.canPublish('$share/group/wattbus/x'), false);
  });

  test('allows subscribing to filters the rules cover, shared or not', () => {
    assert.equal(device.canSubscribe('wattbus/devices/plug-1/+'), true);
    assert.equal(device.canSubscribe('$share/g/wattbus/devices/plug-1/#'), true);
    assert.equal(device.canSubscribe('$SYS/broker/stats'), true);
    assert.equal(device.canSubscribe('wattbus/devices/+/readings'), false);
    assert.equal(device.canSubscribe('$share/g/wattbus/devices/plug-2/#'), false);
    assert.equal(device.canSubscribe('$share/g'), false);
  });

  test('lets a requester read only its own reply tree', () => {
    const requester = new TopicPermissions(
      { publish: ['wattbus/query/req/+'], subscribe: ['wattbus/replies/{clientid}/#'] },
      'client',
      'my-app',
    );
    assert.equal(requester.canSubscribe('wattbus/replies/my-app/#'), true);
    assert.equal(requester.canSubscribe('wattbus/replies/my-app/+'), true);
    assert.equal(requester.canSubscribe('wattbus/replies/gateway-1/#'), false);
    assert.equal(requester.canSubscribe('wattbus/replies/+/#'), false);
  });

  test('allows nothing without rules', () => {
    const nobody = new TopicPermissions({ publish: [], subscribe: [] }, 'x');
    assert.equal(nobody.canPublish('a'), false);
    assert.equal(nobody.canSubscribe('a'), false);
  });
});
