import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitUntil } from '@wattbus/testing';
import mqtt, { type IPublishPacket } from 'mqtt';
import { bannerOf, startPlatform, type Ports, type RunningPlatform } from './helpers.js';

/**
 * `npm start -- --broker mosquitto`: the Debian mosquitto 2 in place of the embedded aedes, so an
 * MQTT 5 client connects and asks with a Response Topic and Correlation Data alone.
 */
describe('npm start -- --broker mosquitto: MQTT 5 clients', { timeout: 180_000 }, () => {
  let dir: string;
  let ports: Ports;
  let running: RunningPlatform | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wattbus-mqtt5-'));
    ports = {
      http: await freePort(),
      mqtt: await freePort(),
      ws: await freePort(),
      influx: await freePort(),
    };
    running = startPlatform(join(dir, 'data'), ports, ['--demo', '--broker', 'mosquitto']);
    await bannerOf(running);
  });

  after(async () => {
    if (running?.child.exitCode === null) {
      running.child.kill('SIGTERM');
      await once(running.child, 'exit');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers an MQTT 5 request that has only a Response Topic and Correlation Data', async () => {
    const password = readFileSync(join(dir, 'data', 'mqtt-client.password'), 'utf8').trim();
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${ports.mqtt}`, {
      protocolVersion: 5,
      clientId: 'app-5',
      username: 'client',
      password,
      reconnectPeriod: 0,
    });
    try {
      const replies: IPublishPacket[] = [];
      client.on('message', (_topic, _payload, packet) => replies.push(packet));
      await client.subscribeAsync('wattbus/replies/app-5/#', { qos: 1 });
      await client.publishAsync('wattbus/query/req/devices', JSON.stringify({ params: {} }), {
        qos: 1,
        properties: { responseTopic: 'wattbus/replies/app-5/r1', correlationData: Buffer.from('r1') },
      });
      await waitUntil('the MQTT 5 answer', async () => replies.length > 0);
      const [reply] = replies;
      assert.equal(reply!.topic, 'wattbus/replies/app-5/r1');
      assert.equal(reply!.properties?.correlationData?.toString(), 'r1');
      const response = JSON.parse(reply!.payload.toString()) as {
        id: string;
        ok: boolean;
        result: { devices: unknown[] };
      };
      assert.deepEqual([response.id, response.ok], ['r1', true]);
      assert.ok(response.result.devices.length > 0);
      // MQTT 5 tells a publisher what the ACL refused, without closing the connection.
      await assert.rejects(client.publishAsync('wattbus/devices/desk-1/readings', '{}', { qos: 1 }), {
        code: 0x87,
      });
      assert.ok(client.connected);
    } finally {
      await client.endAsync();
    }
  });

  it('lets anonymous clients watch, as the embedded broker does', async () => {
    const watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${ports.mqtt}`, {
      protocolVersion: 5,
      reconnectPeriod: 0,
    });
    try {
      const topics: string[] = [];
      watcher.on('message', (topic) => topics.push(topic));
      await watcher.subscribeAsync('wattbus/devices/+/meta', { qos: 1 });
      await waitUntil('retained meta', async () => topics.length > 0);
      await assert.rejects(watcher.publishAsync('wattbus/devices/desk-1/req/set', '{}', { qos: 1 }), {
        code: 0x87,
      });
    } finally {
      await watcher.endAsync();
    }
  });
});
