import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Socket } from 'node:net';
import { startRedis, type RedisServer } from '@wattbus/testing';
import { parseBrokerConfig } from '../src/index.js';
import { redisConnection } from '../src/cluster.js';
import { Clients, Inbox, startBroker, type StartedBroker } from './helpers.js';

describe('two broker nodes sharing one Redis', () => {
  let redis: RedisServer;
  let one: StartedBroker;
  let two: StartedBroker;
  const clients = new Clients();

  before(async () => {
    redis = await startRedis();
    const node = (id: string) =>
      startBroker({
        anonymous: { enabled: true, publish: ['#'], subscribe: ['#'] },
        cluster: { redis_url: redis.url, node_id: id },
      });
    [one, two] = await Promise.all([node('node-1'), node('node-2')]);
  });
  after(async () => {
    await clients.closeAll();
    await Promise.all([one?.broker.stop(), two?.broker.stop()]);
    await redis?.destroy();
  });

  test('a message published on node 1 reaches a subscriber on node 2', async () => {
    const subscriber = await clients.connect(two.tcpUrl);
    const inbox = new Inbox(subscriber);
    await subscriber.subscribeAsync('live/#', { qos: 1 });
    const publisher = await clients.connect(one.tcpUrl);
    await publisher.publishAsync('live/a', 'across', { qos: 1 });
    assert.equal((await inbox.waitFor(subscriber, 'across')).topic, 'live/a');
  });

  test('a retained message published on node 1 is served by node 2', async () => {
    const publisher = await clients.connect(one.tcpUrl);
    await publisher.publishAsync('meta/plug-1', '{"id":"plug-1"}', { qos: 1, retain: true });
    const late = await clients.connect(two.tcpUrl);
    const inbox = new Inbox(late);
    await late.subscribeAsync('meta/+', { qos: 1 });
    const message = await inbox.waitFor(late, '{"id":"plug-1"}');
    assert.equal(message.topic, 'meta/plug-1');
  });

  test('a persistent session left on node 1 resumes on node 2 with what was queued meanwhile', async () => {
    const away = await clients.connect(one.tcpUrl, { clientId: 'hook-x', clean: false });
    await away.subscribeAsync('queued/#', { qos: 1 });
    await away.endAsync();
    const publisher = await clients.connect(one.tcpUrl);
    for (const n of [1, 2, 3]) await publisher.publishAsync('queued/r', `reading-${n}`, { qos: 1 });
    const back = await clients.connect(two.tcpUrl, { clientId: 'hook-x', clean: false });
    const inbox = new Inbox(back);
    for (const n of [1, 2, 3]) await inbox.waitFor(back, `reading-${n}`);
    assert.deepEqual(inbox.payloads().sort(), ['reading-1', 'reading-2', 'reading-3']);
  });

  test('the will of a client dropped on node 1 reaches a subscriber on node 2', async () => {
    const watcher = await clients.connect(two.tcpUrl);
    const inbox = new Inbox(watcher);
    await watcher.subscribeAsync('agents/+/availability', { qos: 1 });
    const agent = await clients.connect(one.tcpUrl, {
      will: { topic: 'agents/a1/availability', payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    (agent.stream as Socket).destroy(); // gone without a DISCONNECT
    assert.equal((await inbox.waitFor(watcher, 'offline')).topic, 'agents/a1/availability');
  });
});

describe('cluster config', () => {
  test('takes a redis:// URL with user, password and database', () => {
    const config = parseBrokerConfig({ cluster: { redis_url: 'redis://u:p%40ss@cache:6380/2' } });
    assert.equal(config.cluster?.heartbeat_interval_ms, 60_000);
    assert.equal(config.cluster?.max_session_delivery, 100_000);
    assert.deepEqual(redisConnection(config.cluster!.redis_url), {
      host: 'cache',
      port: 6380,
      username: 'u',
      password: 'p@ss',
      db: 2,
    });
    assert.deepEqual(redisConnection('rediss://cache').tls, {});
  });

  test('refuses anything but a redis URL, naming the key', () => {
    assert.throws(
      () => parseBrokerConfig({ cluster: { redis_url: 'http://cache:6379' } }),
      /cluster\/redis_url: must be a redis:\/\/ or rediss:\/\/ URL/,
    );
  });
});
