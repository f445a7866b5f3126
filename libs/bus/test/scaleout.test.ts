import { once, type EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import { validator } from '@wattbus/contracts';
import {
  startAedes,
  startMosquitto,
  startMqttProxy,
  type AedesServer,
  type MosquittoServer,
  type MqttProxy,
} from '@wattbus/testing';
import mqtt from 'mqtt';
import {
  Bus,
  BusConnectError,
  SharedSubscriptionsUnsupportedError,
  busConnection,
  shareGroupFilter,
  MqttConnectionSchema,
  type ShareGroupEvidence,
} from '../src/index.js';

const anyNumber = validator(Type.Number());

function unsupported(evidence: ShareGroupEvidence) {
  return (error: unknown) => {
    assert.ok(
      error instanceof SharedSubscriptionsUnsupportedError,
      `expected SharedSubscriptionsUnsupportedError, got ${String(error)}`,
    );
    assert.equal(error.evidence, evidence);
    assert.match(error.message, /^this broker does not support shared subscriptions \(\$share\/writers\/…/);
    assert.match(error.message, /Unset share_group/);
    return true;
  };
}

/** Whether the broker still holds a session for `clientId` (CONNACK session present). */
async function sessionPresent(url: string, clientId: string, protocolVersion: 4 | 5): Promise<boolean> {
  const client = mqtt.connect(url, { clientId, clean: false, protocolVersion, reconnectPeriod: 0 });
  const [connack] = (await once(client as unknown as EventEmitter, 'connect')) as [
    { sessionPresent: boolean },
  ];
  await client.endAsync();
  return connack.sessionPresent;
}

/** Values handled by the members of a group; `all` resolves once `total` have been handled. */
function tally(total: number) {
  const seen: number[] = [];
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  return {
    all,
    record(into: number[], value: number) {
      into.push(value);
      seen.push(value);
      if (seen.length === total) done();
    },
  };
}

describe('share groups are verified before a service relies on them', () => {
  let mosquitto: MosquittoServer;
  let aedes: AedesServer;
  const proxies: MqttProxy[] = [];
  const buses: Bus[] = [];

  before(async () => {
    [mosquitto, aedes] = await Promise.all([startMosquitto({ persistence: false }), startAedes()]);
  });
  after(async () => {
    for (const bus of buses) await bus.stop();
    for (const proxy of proxies) await proxy.stop();
    await Promise.all([mosquitto?.destroy(), aedes?.stop()]);
  });

  async function connect(url: string, options: Partial<Parameters<typeof Bus.connect>[0]> = {}) {
    const bus = await Bus.connect({ url, service: 'test', probeTimeoutMs: 1000, ...options });
    buses.push(bus);
    return bus;
  }

  it('joins a group on mosquitto: the probe comes back through $share', async () => {
    const bus = await connect(mosquitto.url);
    await bus.verifyShareGroup('writers');
    assert.equal(
      shareGroupFilter('writers', 'wattbus/devices/+/readings'),
      '$share/writers/wattbus/devices/+/readings',
    );
  });

  it('the shipped mosquitto ACL example lets a service probe its group (and drain)', async () => {
    const acl = readFileSync(new URL('../../../mosquitto/acl.example', import.meta.url), 'utf8');
    const secured = await startMosquitto({ persistence: false, users: { 'storage-hook': 'secret' }, acl });
    try {
      const bus = await Bus.connect({
        url: secured.url,
        service: 'storage-hook',
        username: 'storage-hook',
        password: 'secret',
        clientId: 'hook-acl',
      });
      await bus.verifyShareGroup('writers');
      const filter = shareGroupFilter('writers', 'wattbus/devices/+/readings');
      const subscription = await bus.subscribe(filter, anyNumber, () => undefined);
      assert.equal(await bus.drain([subscription]), true);
      await bus.stop();
    } finally {
      await secured.destroy();
    }
  });

  it('fails on aedes, which accepts $share and delivers nothing', async () => {
    const bus = await connect(aedes.url);
    await assert.rejects(bus.verifyShareGroup('writers'), (error: unknown) => {
      unsupported('no-delivery')(error);
      assert.match((error as Error).message, /delivered nothing/);
      assert.match((error as Error).message, new RegExp(`at ${aedes.url}`));
      return true;
    });
  });

  it('fails on a broker that disconnects a $share subscriber with reason 158 (ejabberd), no crash', async () => {
    const proxy = await startMqttProxy(mosquitto.url, { sharedSubscribe: 'disconnect-158' });
    proxies.push(proxy);
    const bus = await connect(proxy.url);
    assert.equal(bus.protocolVersion, 5);
    await assert.rejects(bus.verifyShareGroup('writers'), (error: unknown) => {
      unsupported('disconnect')(error);
      assert.match((error as Error).message, /DISCONNECT 158/);
      return true;
    });
    // Subscribing through a group (without verifying first) says the same.
    await new Promise<void>((resolve) => (bus.connected ? resolve() : bus.once('connect', resolve)));
    await assert.rejects(
      bus.subscribe(shareGroupFilter('writers', 'wattbus/devices/+/readings'), anyNumber, () => undefined),
      unsupported('disconnect'),
    );
    // The bus reconnects (without re-sending the refused filter) and still works for plain subscriptions.
    await new Promise<void>((resolve) => (bus.connected ? resolve() : bus.once('connect', resolve)));
    let got: number | undefined;
    const arrived = new Promise<void>((resolve) =>
      bus.subscribe('plain/topic', anyNumber, (value) => {
        got = value;
        resolve();
      }),
    );
    await new Promise((resolve) => setImmediate(resolve));
    await bus.publish('plain/topic', 7);
    await arrived;
    assert.equal(got, 7);
  });

  it('fails at once when the MQTT 5 CONNACK says Shared Subscription Available = 0', async () => {
    const proxy = await startMqttProxy(mosquitto.url, {
      connackProperties: { sharedSubscriptionAvailable: false },
    });
    proxies.push(proxy);
    const bus = await connect(proxy.url, { probeTimeoutMs: 60_000 });
    await assert.rejects(bus.verifyShareGroup('writers'), unsupported('connack'));
  });
});

describe('mqtt.protocol, and the fallback when the socket closes without a CONNACK (RabbitMQ)', () => {
  let aedes: AedesServer;
  let mosquitto: MosquittoServer;
  let proxy: MqttProxy;
  const buses: Bus[] = [];

  before(async () => {
    [aedes, mosquitto] = await Promise.all([startAedes(), startMosquitto({ persistence: false })]);
    proxy = await startMqttProxy(aedes.url, { mqtt5Connect: 'close' });
  });
  after(async () => {
    for (const bus of buses) await bus.stop();
    await proxy?.stop();
    await Promise.all([aedes?.stop(), mosquitto?.destroy()]);
  });

  it('is a config key of the shared connection schema: auto (default), 5, 3.1.1', () => {
    assert.equal(MqttConnectionSchema.properties.protocol.default, 'auto');
    assert.ok(MqttConnectionSchema.properties.protocol.description);
    const connection = { url: 'mqtt://x', base_topic: 'wattbus' } as const;
    assert.equal(busConnection({ ...connection, protocol: 'auto' }).protocol, 'auto');
    assert.equal(busConnection({ ...connection, protocol: '5' }).protocol, 5);
    assert.equal(busConnection({ ...connection, protocol: '3.1.1' }).protocol, 4);
  });

  it('3.1.1 is used on a broker that speaks 5 when configured so', async () => {
    const bus = await Bus.connect({
      ...busConnection({ url: mosquitto.url, base_topic: 'wattbus', protocol: '3.1.1' }),
      service: 'test',
    });
    buses.push(bus);
    assert.equal(bus.protocolVersion, 4);
  });

  it('auto falls back to 3.1.1 when the broker closes the socket on an MQTT 5 CONNECT', async () => {
    const bus = await Bus.connect({ url: proxy.url, service: 'test', connectTimeoutMs: 10_000 });
    buses.push(bus);
    assert.equal(bus.protocolVersion, 4);
  });

  it('5 keeps trying and then says what the closed socket may mean', async () => {
    await assert.rejects(
      Bus.connect({
        url: proxy.url,
        service: 'test',
        protocol: 5,
        connectTimeoutMs: 1500,
        reconnectMinMs: 100,
      }),
      (error: unknown) => {
        assert.ok(error instanceof BusConnectError);
        assert.equal(error.reason, 'unreachable');
        assert.match(error.message, /no CONNACK/);
        assert.match(error.message, /set mqtt\.protocol to auto or 3\.1\.1/);
        return true;
      },
    );
  });
});

describe('leaving a share group hands its share over (mosquitto)', () => {
  let mosquitto: MosquittoServer;
  const buses: Bus[] = [];

  before(async () => {
    mosquitto = await startMosquitto({ persistence: false });
  });
  after(async () => {
    for (const bus of buses) await bus.stop();
    await mosquitto?.destroy();
  });

  async function member(clientId: string, handle: (value: number) => void, protocol: 4 | 5) {
    const bus = await Bus.connect({ url: mosquitto.url, service: 'test', clientId, clean: false, protocol });
    buses.push(bus);
    await bus.verifyShareGroup(`drain-${protocol}`);
    const filter = shareGroupFilter(`drain-${protocol}`, `drain-${protocol}/+`);
    // A slow handler, so messages wait in the member's queue when it leaves.
    const subscription = await bus.subscribe(
      filter,
      anyNumber,
      async (value) => {
        await new Promise((resolve) => setImmediate(resolve));
        handle(value);
      },
      { ackAfterHandle: true },
    );
    return { bus, subscription };
  }

  for (const protocol of [5, 4] as const) {
    it(`drain then stop({ endSession }): every message handled once, the session gone (MQTT ${protocol === 5 ? '5' : '3.1.1'})`, async () => {
      const TOTAL = 400;
      const leaving: number[] = [];
      const staying: number[] = [];
      const handled = tally(TOTAL);
      const a = await member(`leaver-${protocol}`, (value) => handled.record(leaving, value), protocol);
      const b = await member(`stayer-${protocol}`, (value) => handled.record(staying, value), protocol);
      const publisher = await Bus.connect({ url: mosquitto.url, service: 'publisher' });
      buses.push(publisher);
      const sent = Array.from({ length: TOTAL }, (_, index) => index);
      await Promise.all(
        sent.slice(0, 200).map((value) => publisher.publish(`drain-${protocol}/${value % 7}`, value)),
      );
      assert.equal(await a.bus.drain([a.subscription]), true, 'the marker came back');
      await a.bus.stop({ endSession: true });
      await Promise.all(
        sent.slice(200).map((value) => publisher.publish(`drain-${protocol}/${value % 7}`, value)),
      );
      await handled.all;
      const all = [...leaving, ...staying].sort((x, y) => x - y);
      assert.deepEqual(all, sent, `handled ${leaving.length} + ${staying.length}`);
      assert.ok(
        leaving.length > 0 && leaving.every((value) => value < 200),
        'the leaver took part, before it left',
      );
      assert.equal(await sessionPresent(mosquitto.url, `leaver-${protocol}`, protocol), false);
      await b.bus.stop({ endSession: true });
    });
  }
});
