import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as connectTcp } from 'node:net';
import { after, afterEach, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { Broker, parseBrokerConfig, STATS_TOPIC } from '../src/index.js';
import {
  Clients,
  whenClosed,
  Inbox,
  nextMessage,
  silentLogger,
  startBroker,
  user,
  type StartedBroker,
} from './helpers.js';

const NOT_AUTHORIZED = 5;
const SUBSCRIBE_REFUSED = 128;

/** mqtt.js rejects a refused SUBSCRIBE with the SUBACK attached. */
function isSubscribeRefusal(error: unknown): boolean {
  const granted = (error as { packet?: { granted?: unknown } }).packet?.granted;
  assert.deepEqual(granted, [SUBSCRIBE_REFUSED]);
  return true;
}

describe('broker with users and ACLs', () => {
  let started: StartedBroker;
  const clients = new Clients();

  before(async () => {
    started = await startBroker({
      ws_port: 0,
      users: [
        await user('plug-1', 'plug-1-secret', {
          publish: ['wattbus/devices/{username}/#'],
          subscribe: ['wattbus/devices/{username}/#'],
        }),
        await user('plug-2', 'plug-2-secret', {
          publish: ['wattbus/devices/{username}/#'],
          subscribe: ['wattbus/devices/{username}/#'],
        }),
        await user('admin', 'admin-secret', { publish: ['wattbus/#'], subscribe: ['wattbus/#', '$SYS/#'] }),
        await user('client', 'client-secret', {
          publish: ['wattbus/query/req/+'],
          subscribe: ['wattbus/replies/{clientid}/#'],
        }),
      ],
    });
  });
  afterEach(() => clients.closeAll());
  after(() => started.broker.stop());

  const plug1 = { username: 'plug-1', password: 'plug-1-secret' };
  const plug2 = { username: 'plug-2', password: 'plug-2-secret' };
  const admin = { username: 'admin', password: 'admin-secret' };

  test('refuses a wrong password with CONNACK "not authorised"', async () => {
    const failuresBefore = started.broker.metrics().auth_failures;
    const code = await clients.refusalCode(started.tcpUrl, { username: 'plug-1', password: 'wrong' });
    assert.equal(code, NOT_AUTHORIZED);
    assert.equal(started.broker.metrics().auth_failures, failuresBefore + 1);
  });

  test('refuses an unknown user', async () => {
    const code = await clients.refusalCode(started.tcpUrl, { username: 'nobody', password: 'plug-1-secret' });
    assert.equal(code, NOT_AUTHORIZED);
  });

  test('refuses a user without a password', async () => {
    assert.equal(await clients.refusalCode(started.tcpUrl, { username: 'plug-1' }), NOT_AUTHORIZED);
  });

  test('refuses anonymous clients when anonymous access is disabled', async () => {
    assert.equal(await clients.refusalCode(started.tcpUrl), NOT_AUTHORIZED);
  });

  test('a device publishes to and subscribes its own topics', async () => {
    const device = await clients.connect(started.tcpUrl, plug1);
    const inbox = new Inbox(device);
    const [granted] = await device.subscribeAsync('wattbus/devices/plug-1/#', { qos: 1 });
    assert.equal(granted?.qos, 1);
    await device.publishAsync('wattbus/devices/plug-1/readings', 'own reading', { qos: 1 });
    const message = await inbox.waitFor(device, 'own reading');
    assert.equal(message.topic, 'wattbus/devices/plug-1/readings');
  });

  test('a device may subscribe a narrower filter of its own subtree', async () => {
    const device = await clients.connect(started.tcpUrl, plug1);
    const granted = await device.subscribeAsync([
      'wattbus/devices/plug-1/+',
      'wattbus/devices/plug-1/readings',
    ]);
    assert.deepEqual(
      granted.map((grant) => grant.qos),
      [0, 0],
    );
  });

  test("a device cannot subscribe another device's topics or wider filters", async () => {
    const device = await clients.connect(started.tcpUrl, plug1);
    const denialsBefore = started.broker.metrics().acl_denials;
    for (const filter of ['wattbus/devices/plug-2/#', 'wattbus/devices/+/readings', 'wattbus/#', '#']) {
      await assert.rejects(device.subscribeAsync(filter), isSubscribeRefusal, filter);
    }
    assert.equal(started.broker.metrics().acl_denials, denialsBefore + 4);
    assert.ok(device.connected, 'a refused SUBSCRIBE leaves the connection up');
  });

  test('a requester reads the replies under its own client id and nobody else’s', async () => {
    const requester = await clients.connect(started.tcpUrl, {
      username: 'client',
      password: 'client-secret',
      clientId: 'my-app',
    });
    await requester.subscribeAsync('wattbus/replies/my-app/#');
    for (const filter of ['wattbus/replies/gateway-1/#', 'wattbus/replies/+/#']) {
      await assert.rejects(requester.subscribeAsync(filter), isSubscribeRefusal, filter);
    }
  });

  test('a refused filter does not affect the others of the same SUBSCRIBE', async () => {
    const device = await clients.connect(started.tcpUrl, plug1);
    const inbox = new Inbox(device);
    const refusal = await device
      .subscribeAsync(['wattbus/devices/plug-1/#', 'wattbus/devices/plug-2/#'])
      .then(
        () => undefined,
        (error: unknown) => error as { packet?: { granted?: number[] } },
      );
    assert.deepEqual(refusal?.packet?.granted, [0, SUBSCRIBE_REFUSED]);
    await device.publishAsync('wattbus/devices/plug-1/state', 'still subscribed', { qos: 1 });
    await inbox.waitFor(device, 'still subscribed');
  });

  test('a shared subscription is checked by the filter inside it', async () => {
    const device = await clients.connect(started.tcpUrl, plug1);
    const [granted] = await device.subscribeAsync('$share/storage/wattbus/devices/plug-1/#');
    assert.equal(granted?.qos, 0);
    await assert.rejects(
      device.subscribeAsync('$share/storage/wattbus/devices/plug-2/#'),
      isSubscribeRefusal,
    );
  });

  test("a device publishing to another device's topic is disconnected and nothing is delivered", async () => {
    const victim = await clients.connect(started.tcpUrl, plug2);
    const inbox = new Inbox(victim);
    await victim.subscribeAsync('wattbus/devices/plug-2/#');
    const intruder = await clients.connect(started.tcpUrl, plug1);
    const denialsBefore = started.broker.metrics().acl_denials;

    const closed = whenClosed(intruder);
    intruder.publish('wattbus/devices/plug-2/req/switch', 'forged');
    await closed;

    // The broker handled the forged PUBLISH before closing the intruder's connection, so a message
    // sent after that arrives after anything the forged one could have caused.
    const sender = await clients.connect(started.tcpUrl, admin);
    await sender.publishAsync('wattbus/devices/plug-2/req/switch', 'barrier', { qos: 1 });
    await inbox.waitFor(victim, 'barrier');
    assert.deepEqual(inbox.payloads(), ['barrier']);
    assert.equal(started.broker.metrics().acl_denials, denialsBefore + 1);
  });

  test('an admin subscribed to wattbus/# receives device messages', async () => {
    const adminClient = await clients.connect(started.tcpUrl, admin);
    const inbox = new Inbox(adminClient);
    await adminClient.subscribeAsync('wattbus/#', { qos: 1 });
    const device = await clients.connect(started.tcpUrl, plug1);
    await device.publishAsync('wattbus/devices/plug-1/readings', 'for the admin', { qos: 1 });
    const message = await inbox.waitFor(adminClient, 'for the admin');
    assert.equal(message.topic, 'wattbus/devices/plug-1/readings');
  });

  test('nobody may publish to $SYS topics', async () => {
    const adminClient = await clients.connect(started.tcpUrl, admin);
    const closed = whenClosed(adminClient);
    adminClient.publish('$SYS/wattbus/broker/stats', 'forged');
    await closed;
  });

  test('MQTT over WebSocket works', async () => {
    assert.ok(started.ports.wsPort !== undefined);
    const device = await clients.connect(`ws://127.0.0.1:${started.ports.wsPort}`, plug1);
    const inbox = new Inbox(device);
    await device.subscribeAsync('wattbus/devices/plug-1/state');
    await device.publishAsync('wattbus/devices/plug-1/state', 'over websocket', { qos: 1 });
    await inbox.waitFor(device, 'over websocket');
  });

  test('WebSocket clients are authenticated too', async () => {
    const url = `ws://127.0.0.1:${started.ports.wsPort}`;
    assert.equal(await clients.refusalCode(url, { username: 'plug-1', password: 'wrong' }), NOT_AUTHORIZED);
  });

  test('metrics count connected clients and published messages', async () => {
    const before = started.broker.metrics();
    const device = await clients.connect(started.tcpUrl, plug1);
    const inbox = new Inbox(device);
    await device.subscribeAsync('wattbus/devices/plug-1/readings');
    await device.publishAsync('wattbus/devices/plug-1/readings', 'counted', { qos: 1 });
    await inbox.waitFor(device, 'counted');
    const now = started.broker.metrics();
    assert.equal(now.clients_connected, before.clients_connected + 1);
    assert.equal(now.messages_published, before.messages_published + 1);
  });
});

describe('broker with read-only anonymous access', () => {
  let started: StartedBroker;
  const clients = new Clients();

  before(async () => {
    started = await startBroker({
      anonymous: { enabled: true, subscribe: ['wattbus/#'] },
      users: [await user('collector', 'collector-secret', { publish: ['wattbus/devices/+/readings'] })],
    });
  });
  afterEach(() => clients.closeAll());
  after(() => started.broker.stop());

  test('anonymous clients may subscribe and receive', async () => {
    const watcher = await clients.connect(started.tcpUrl);
    const inbox = new Inbox(watcher);
    await watcher.subscribeAsync('wattbus/#');
    const collector = await clients.connect(started.tcpUrl, {
      username: 'collector',
      password: 'collector-secret',
    });
    await collector.publishAsync('wattbus/devices/plug-9/readings', 'public reading', { qos: 1 });
    await inbox.waitFor(watcher, 'public reading');
  });

  test('anonymous clients may not subscribe outside their rules', async () => {
    const watcher = await clients.connect(started.tcpUrl);
    await assert.rejects(watcher.subscribeAsync('$SYS/#'), isSubscribeRefusal);
  });

  test('anonymous clients may not publish', async () => {
    const watcher = await clients.connect(started.tcpUrl);
    const inbox = new Inbox(watcher);
    await watcher.subscribeAsync('wattbus/#');
    const writer = await clients.connect(started.tcpUrl);
    const closed = whenClosed(writer);
    writer.publish('wattbus/devices/plug-9/readings', 'anonymous write');
    await closed;

    const collector = await clients.connect(started.tcpUrl, {
      username: 'collector',
      password: 'collector-secret',
    });
    await collector.publishAsync('wattbus/devices/plug-9/readings', 'barrier', { qos: 1 });
    await inbox.waitFor(watcher, 'barrier');
    assert.deepEqual(inbox.payloads(), ['barrier']);
  });

  test('a wrong password does not fall back to anonymous', async () => {
    const code = await clients.refusalCode(started.tcpUrl, { username: 'collector', password: 'wrong' });
    assert.equal(code, NOT_AUTHORIZED);
  });
});

describe('broker statistics', () => {
  test('are logged as one JSON line and published on $SYS', async () => {
    const lines: Record<string, unknown>[] = [];
    let lineArrived: () => void = () => {};
    const logger = pino(
      { level: 'info' },
      {
        write(line: string) {
          lines.push(JSON.parse(line) as Record<string, unknown>);
          lineArrived();
        },
      },
    );
    const started = await startBroker(
      {
        stats_interval_ms: 25,
        users: [await user('admin', 'admin-secret', { subscribe: ['$SYS/wattbus/#'] })],
      },
      logger,
    );
    const clients = new Clients();
    try {
      const adminClient = await clients.connect(started.tcpUrl, {
        username: 'admin',
        password: 'admin-secret',
      });
      const [granted] = await adminClient.subscribeAsync(STATS_TOPIC);
      assert.equal(granted?.qos, 0);
      const { topic, payload } = await nextMessage(adminClient);
      assert.equal(topic, STATS_TOPIC);
      const published = JSON.parse(payload) as Record<string, unknown>;
      assert.equal(published.clients_connected, 1);
      assert.deepEqual(Object.keys(published).sort(), [
        'acl_denials',
        'auth_failures',
        'clients_connected',
        'messages_published',
      ]);

      while (!lines.some((line) => line.msg === 'broker stats')) {
        await new Promise<void>((resolve) => (lineArrived = resolve));
      }
      const logged = lines.find((line) => line.msg === 'broker stats');
      assert.deepEqual(Object.keys(logged?.metrics as object).sort(), Object.keys(published).sort());
    } finally {
      await clients.closeAll();
      await started.broker.stop();
    }
  });
});

describe('broker lifecycle', () => {
  test('reports the ports it bound and none for WebSocket when ws_port is not set', async () => {
    const started = await startBroker({});
    try {
      assert.ok(started.ports.mqttPort! > 0);
      assert.equal(started.ports.wsPort, undefined);
      assert.equal('wsPort' in started.ports, false);
    } finally {
      await started.broker.stop();
    }
  });

  test('stop() closes connected clients and sockets that never sent CONNECT', async () => {
    const started = await startBroker({ anonymous: { enabled: true, subscribe: ['#'] } });
    const clients = new Clients();
    const client = await clients.connect(started.tcpUrl);
    const clientClosed = whenClosed(client);
    const silentSocket = connectTcp(started.ports.mqttPort!, '127.0.0.1');
    // Should the server not have accepted it yet, closing the listener resets it instead.
    silentSocket.on('error', () => {});
    await once(silentSocket, 'connect');
    const socketClosed = once(silentSocket, 'close');

    await started.broker.stop();
    await Promise.all([clientClosed, socketClosed]);
    await clients.closeAll();

    const refused = connectTcp(started.ports.mqttPort!, '127.0.0.1');
    const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    assert.equal(error.code, 'ECONNREFUSED');
    assert.equal(started.broker.metrics().clients_connected, 0);
  });

  test('stop() is safe before start() and twice', async () => {
    const broker = new Broker({ config: parseBrokerConfig({ port: 0 }), logger: silentLogger });
    await broker.stop();
    await broker.start();
    await broker.stop();
    await broker.stop();
  });

  test('start() twice is refused', async () => {
    const started = await startBroker({});
    try {
      await assert.rejects(started.broker.start(), /already started/);
    } finally {
      await started.broker.stop();
    }
  });

  test('start() fails on a port in use and leaves nothing open', async () => {
    const first = await startBroker({});
    try {
      const second = new Broker({
        config: parseBrokerConfig({ port: first.ports.mqttPort!, ws_port: 0 }),
        logger: silentLogger,
      });
      await assert.rejects(second.start(), { code: 'EADDRINUSE' });
      await second.stop();
    } finally {
      await first.broker.stop();
    }
  });

  test('start() fails on a WebSocket port in use and closes the TCP listener it opened', async () => {
    const first = await startBroker({ ws_port: 0 });
    try {
      const second = new Broker({
        config: parseBrokerConfig({ port: 0, ws_port: first.ports.wsPort }),
        logger: silentLogger,
      });
      await assert.rejects(second.start(), { code: 'EADDRINUSE' });
      // Restartable: the failed attempt left no state behind.
      await first.broker.stop();
      const ports = await second.start();
      assert.equal(ports.wsPort, first.ports.wsPort);
      await second.stop();
    } finally {
      await first.broker.stop();
    }
  });
});
