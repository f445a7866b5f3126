import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Type } from '@sinclair/typebox';
import { validator } from '@wattbus/contracts';
import { startMosquitto, type MosquittoServer } from '@wattbus/testing';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import { Bus, type Subscription } from '../src/index.js';

/**
 * A third-party app as mosquitto/acl.example's `client` user, on mosquitto (MQTT 5): it asks a
 * component that runs as the `query` user and reads only the replies under its own client id.
 */
const SHIPPED_ACL = readFileSync(new URL('../../../mosquitto/acl.example', import.meta.url), 'utf8');
const USERS = { query: 'query-secret', client: 'client-secret' };
const TOPIC = 'wattbus/query/req/devices';

describe("requests under mosquitto/acl.example's `client` user", () => {
  let mosquitto: MosquittoServer;
  let component: Bus;
  let served: Subscription;
  let app: MqttClient;
  const replies: IPublishPacket[] = [];

  before(async () => {
    mosquitto = await startMosquitto({ users: USERS, acl: SHIPPED_ACL });
    component = await Bus.connect({
      url: mosquitto.url,
      service: 'query',
      username: 'query',
      password: USERS.query,
    });
    served = await component.serve(TOPIC, validator(Type.Object({})), () => ({ devices: [] }));
    app = await mqtt.connectAsync(mosquitto.url, {
      clientId: 'app-1',
      username: 'client',
      password: USERS.client,
      protocolVersion: 5,
      reconnectPeriod: 0,
    });
    app.on('message', (_topic, _payload, packet) => replies.push(packet));
  });

  after(async () => {
    await app?.endAsync();
    await served?.unsubscribe();
    await component?.stop();
    await mosquitto?.destroy();
  });

  /** The first reply on `topic` from now on. */
  async function replyOn(topic: string, send: () => Promise<unknown>): Promise<IPublishPacket> {
    const from = replies.length;
    await send();
    for (;;) {
      const found = replies.slice(from).find((packet) => packet.topic === topic);
      if (found) return found;
      await new Promise((resolve) => app.once('message', resolve));
    }
  }

  it('reads its own reply tree and not another client’s', async () => {
    // mosquitto grants the wide filter and applies the ACL to each message it would deliver.
    await app.subscribeAsync('wattbus/replies/#', { qos: 1 });
    const envelope = (tree: string, id: string) =>
      JSON.stringify({ id, reply_to: `wattbus/replies/${tree}/${id}`, params: {} });
    // A request naming another client's tree is answered there, where this client cannot read it;
    // its own reply, answered after it, arrives (one publisher, in order).
    await replyOn('wattbus/replies/app-1/mine', async () => {
      await app.publishAsync(TOPIC, envelope('gateway-1', 'theirs'), { qos: 1 });
      await app.publishAsync(TOPIC, envelope('app-1', 'mine'), { qos: 1 });
    });
    assert.deepEqual(
      replies
        .filter((packet) => !packet.topic.startsWith('wattbus/replies/app-1/'))
        .map((packet) => packet.topic),
      [],
    );
  });

  it('asks with a Response Topic and Correlation Data only (MQTT 5), at QoS 0 and 1', async () => {
    for (const qos of [0, 1] as const) {
      const responseTopic = `wattbus/replies/app-1/q${qos}`;
      const reply = await replyOn(responseTopic, () =>
        app.publishAsync(TOPIC, JSON.stringify({ params: {} }), {
          qos,
          properties: { responseTopic, correlationData: Buffer.from(`q${qos}`) },
        }),
      );
      assert.equal(reply.properties?.correlationData?.toString(), `q${qos}`);
      assert.deepEqual(JSON.parse(reply.payload.toString()), {
        id: `q${qos}`,
        ok: true,
        result: { devices: [] },
      });
    }
  });

  it('asks with the envelope alone, as a 3.1.1 client would', async () => {
    const reply = await replyOn('wattbus/replies/app-1/e1', () =>
      app.publishAsync(
        TOPIC,
        JSON.stringify({ id: 'e1', reply_to: 'wattbus/replies/app-1/e1', params: {} }),
        {
          qos: 1,
        },
      ),
    );
    assert.deepEqual(JSON.parse(reply.payload.toString()), { id: 'e1', ok: true, result: { devices: [] } });
  });

  it('may not publish outside the request topics (PUBACK 0x87 on MQTT 5)', async () => {
    await assert.rejects(
      app.publishAsync('wattbus/devices/desk-1/readings', '{}', { qos: 1 }),
      (error: Error) => {
        assert.equal((error as Error & { code?: number }).code, 0x87);
        return true;
      },
    );
  });
});
