import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { freePort, httpsRequest } from '@wattbus/testing';
import { bannerOf, removePlatform, startPlatform, type Ports, type RunningPlatform } from './helpers.js';

/**
 * `npm start -- --tls`: a local CA made in the data dir on the first start, MQTT over TLS and HTTPS
 * only, checked from outside as a client would (a CA file, an API key, a password).
 */
describe('npm start -- --tls', { timeout: 180_000 }, () => {
  let dataDir: string;
  let ports: Ports;
  let running: RunningPlatform | undefined;
  let ca: Buffer;
  let apiKey: string;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'wattbus-platform-tls-'));
    ports = {
      http: await freePort(),
      mqtt: await freePort(),
      ws: await freePort(),
      influx: await freePort(),
    };
    running = startPlatform(dataDir, ports, ['--tls', '--plugs', '1', '--metrics-port', 'off']);
    await bannerOf(running);
    ca = readFileSync(join(dataDir, 'tls', 'ca.crt'));
    apiKey = readFileSync(join(dataDir, 'api-key'), 'utf8').trim();
  });

  after(() => removePlatform(running, dataDir));

  it('makes a local CA in the data dir, keys readable by the owner only, and prints its path', () => {
    for (const key of ['ca.key', 'server.key']) {
      assert.equal(statSync(join(dataDir, 'tls', key)).mode & 0o777, 0o600, key);
    }
    assert.match(running!.stdout(), /TLS CA +\S*tls\/ca\.crt \(new\)/);
    assert.match(running!.stdout(), new RegExp(`MQTT +mqtts://127\\.0\\.0\\.1:${ports.mqtt}`));
    assert.match(running!.stdout(), /--cafile \S*tls\/ca\.crt/);
  });

  it('serves the REST API over HTTPS and switches a plug', async () => {
    const base = `https://127.0.0.1:${ports.http}`;
    const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
    const devices = await httpsRequest(`${base}/api/v1/devices`, { ca, headers });
    assert.equal(devices.status, 200, devices.body);
    const switched = await httpsRequest(`${base}/api/v1/devices/desk-1/power`, {
      ca,
      headers,
      method: 'PUT',
      body: JSON.stringify({ on: false }),
    });
    assert.equal(switched.status, 200, switched.body);
    assert.equal((JSON.parse(switched.body) as { on: boolean }).on, false);
  });

  it('carries MQTT over TLS for a client with the CA', async () => {
    const password = readFileSync(join(dataDir, 'mqtt-operator.password'), 'utf8').trim();
    const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${ports.mqtt}`, {
      ca,
      username: 'operator',
      password,
    });
    try {
      await client.subscribeAsync('wattbus/devices/desk-1/readings');
      await new Promise((resolve) => client.once('message', resolve));
    } finally {
      await client.endAsync();
    }
  });

  it('refuses a client without the CA, and plaintext MQTT', async () => {
    const oneTry = { reconnectPeriod: 0, connectTimeout: 5000 };
    await assert.rejects(
      mqtt.connectAsync(`mqtts://127.0.0.1:${ports.mqtt}`, oneTry, false),
      /self-signed certificate in certificate chain|unable to verify the first certificate/,
    );
    await assert.rejects(mqtt.connectAsync(`mqtt://127.0.0.1:${ports.mqtt}`, oneTry, false));
    await assert.rejects(
      httpsRequest(`https://127.0.0.1:${ports.http}/healthz`),
      /self-signed|unable to verify/,
    );
  });
});
