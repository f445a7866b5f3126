import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MESSAGE_SCHEMAS, validator } from '@wattbus/contracts';
import { freePort, waitUntil } from '@wattbus/testing';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import { parse as parseYaml } from 'yaml';
import { bannerOf, run, startPlatform, type Ports, type RunningPlatform } from './helpers.js';

/**
 * The MQTT API as an outside developer meets it under `npm start`, from the docs alone: the
 * `client` account sends requests (QoS 0 and 1) and reads only its own replies; the tutorial's
 * Python, Node.js and Node-RED programs (docs/examples/, quoted by docs/writing-a-hook.md) run as
 * written and print what the doc says; and for 30 s every topic the platform publishes is one
 * asyncapi.yaml describes, with the QoS and retain flag it declares and a payload its schema accepts.
 */
const repository = new URL('../../../', import.meta.url).pathname;
const examples = join(repository, 'docs/examples');
const WATCH_MS = 30_000;

/** The python3 that has paho-mqtt (Debian's python3-paho-mqtt is for /usr/bin/python3). */
function pythonWithPaho(): string {
  for (const candidate of ['python3', '/usr/bin/python3']) {
    if (spawnSync(candidate, ['-c', 'import paho.mqtt'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  throw new Error('no python3 with paho-mqtt: install the Debian package python3-paho-mqtt');
}

interface Seen {
  topic: string;
  qos: number;
  retain: boolean;
  payload: Buffer;
}

describe('the MQTT API under npm start, from the docs', { timeout: 300_000 }, () => {
  let dir: string;
  let dataDir: string;
  let ports: Ports;
  let running: RunningPlatform | undefined;
  let watcher: MqttClient | undefined;
  let watchStarted = 0;
  const seen: Seen[] = [];
  /** Requests this test sends malformed on purpose: not the platform's, not the contract's. */
  const deliberatelyMalformed = new Set<string>();
  const password = (account: string) =>
    readFileSync(join(dataDir, `mqtt-${account}.password`), 'utf8').trim();
  const url = () => `mqtt://127.0.0.1:${ports.mqtt}`;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wattbus-mqtt-api-'));
    dataDir = join(dir, 'data');
    ports = {
      http: await freePort(),
      mqtt: await freePort(),
      ws: await freePort(),
      influx: await freePort(),
    };
    running = startPlatform(dataDir, ports, ['--demo']);
    await bannerOf(running);
    // Everything the platform publishes, as the read-only hook account sees it, from now on.
    watcher = await mqtt.connectAsync(url(), { username: 'hook', password: password('hook') });
    watcher.on('message', (topic, payload, packet) =>
      seen.push({ topic, qos: packet.qos, retain: packet.retain, payload }),
    );
    await watcher.subscribeAsync('#', { qos: 1 });
    watchStarted = Date.now();
  });

  after(async () => {
    await watcher?.endAsync();
    if (running?.child.exitCode === null) {
      running.child.kill('SIGTERM');
      await once(running.child, 'exit');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('a third-party client sends requests at QoS 0 and 1 and reads only its own replies', async () => {
    const client = await mqtt.connectAsync(url(), {
      clientId: 'third-party-app',
      username: 'client',
      password: password('client'),
      reconnectPeriod: 0,
    });
    try {
      const replies: IPublishPacket[] = [];
      client.on('message', (_topic, _payload, packet) => replies.push(packet));
      const [own] = await client.subscribeAsync('wattbus/replies/third-party-app/#', { qos: 1 });
      assert.equal(own!.qos, 1);
      await assert.rejects(
        client.subscribeAsync('wattbus/replies/gateway/#', { qos: 1 }),
        /Subscribe error/,
        "another requester's replies are not readable (SUBACK 128)",
      );
      for (const qos of [0, 1] as const) {
        const id = `qos-${qos}`;
        const envelope = { id, reply_to: `wattbus/replies/third-party-app/${id}`, params: {} };
        await client.publishAsync('wattbus/query/req/devices', JSON.stringify(envelope), { qos });
        await waitUntil(`the answer to the QoS ${qos} request`, async () =>
          replies.some((packet) => packet.topic.endsWith(`/${id}`)),
        );
        const reply = replies.find((packet) => packet.topic.endsWith(`/${id}`))!;
        const response = JSON.parse(reply.payload.toString()) as { id: string; ok: boolean };
        assert.deepEqual([response.id, response.ok], [id, true]);
      }
      // A malformed request names its reply address: answered, not left to time out.
      const malformed = JSON.stringify({
        id: 'bad-1',
        reply_to: 'wattbus/replies/third-party-app/bad-1',
        params: null,
      });
      deliberatelyMalformed.add(malformed);
      await client.publishAsync('wattbus/query/req/devices', malformed, { qos: 1 });
      await waitUntil('the INVALID_REQUEST answer', async () =>
        replies.some((packet) => packet.topic.endsWith('/bad-1')),
      );
      const bad = JSON.parse(
        replies.find((packet) => packet.topic.endsWith('/bad-1'))!.payload.toString(),
      ) as {
        error: { code: string; message: string };
      };
      assert.equal(bad.error.code, 'INVALID_REQUEST');
      assert.match(bad.error.message, /\/params: must be object/);
      // A command for a device nobody has: the embedded agent answers for unknown devices.
      const nobody = {
        id: 'nobody-1',
        reply_to: 'wattbus/replies/third-party-app/nobody-1',
        params: { on: true },
      };
      await client.publishAsync('wattbus/devices/nobody/req/set', JSON.stringify(nobody), { qos: 1 });
      await waitUntil('the UNKNOWN_DEVICE answer', async () =>
        replies.some((packet) => packet.topic.endsWith('/nobody-1')),
      );
      const unknown = JSON.parse(
        replies.find((packet) => packet.topic.endsWith('/nobody-1'))!.payload.toString(),
      ) as { error: { code: string; details: unknown } };
      assert.equal(unknown.error.code, 'UNKNOWN_DEVICE');
      assert.deepEqual(unknown.error.details, { device: 'nobody' });
      assert.ok(client.connected, 'the client is still connected');
    } finally {
      await client.endAsync();
    }
  });

  it('an MQTT 5 client is told the embedded broker speaks 3.1.1 (CONNACK: unacceptable protocol version)', async () => {
    await assert.rejects(
      mqtt.connectAsync(url(), {
        protocolVersion: 5,
        username: 'client',
        password: password('client'),
        reconnectPeriod: 0,
      }),
      /protocol version/i,
    );
  });

  it('the Python subscriber and request/response client print what the tutorial shows', async () => {
    const python = pythonWithPaho();
    const request = await run(python, [
      join(examples, 'python/request.py'),
      '127.0.0.1',
      String(ports.mqtt),
      password('client'),
    ]);
    assert.equal(request.status, 0, request.stderr);
    assert.match(request.stdout, /^\d+ devices: .*desk-1/m);
    assert.match(request.stdout, /^desk-1: [\d.]+ W$/m);
    assert.match(request.stdout, /^refused as expected: UNKNOWN_DEVICE: /m);
    const subscriber = await run(python, [
      join(examples, 'python/subscriber.py'),
      '127.0.0.1',
      String(ports.mqtt),
      'hook',
      password('hook'),
      '12',
    ]);
    assert.equal(subscriber.status, 0, subscriber.stderr);
    assert.equal(subscriber.stdout.trim().split('\n').length, 12);
    assert.match(subscriber.stdout, /^[a-z0-9-]+ \(.+\)( L[123])?: -?[\d.]+ W at \d{4}-/m);
  });

  it('the Node.js subscriber and request/response client (mqtt.js only) print what the tutorial shows', async () => {
    const request = await run(process.execPath, [
      join(examples, 'node/request.mjs'),
      url(),
      password('client'),
      'desk-2',
    ]);
    assert.equal(request.status, 0, request.stderr);
    assert.match(request.stdout, /^\d+ devices: .*desk-2/m);
    assert.match(request.stdout, /^desk-2 is now off$/m);
    assert.match(
      request.stdout,
      /^refused as expected: INVALID_PARAMS: .*\/fn: must be equal to one of the allowed values: mean, min, max, last, sum, count/m,
    );
    const subscriber = await run(process.execPath, [
      join(examples, 'node/subscriber.mjs'),
      url(),
      'hook',
      password('hook'),
      '12',
    ]);
    assert.equal(subscriber.status, 0, subscriber.stderr);
    assert.equal(subscriber.stdout.trim().split('\n').length, 12);
    // The demo's 3-phase meter: its phases and its phase-less total on one topic.
    const meter = await run(process.execPath, [
      join(examples, 'node/subscriber.mjs'),
      url(),
      'hook',
      password('hook'),
      '40',
    ]);
    assert.match(meter.stdout, /^main-meter \(.+\) L1: /m);
    assert.match(meter.stdout, /^main-meter \(.+\): /m);
  });

  it('the Node-RED flow, loaded by a real Node-RED, gets its reply', async () => {
    const userDir = join(dir, 'node-red');
    mkdirSync(userDir);
    // The flow as the tutorial ships it; only the broker's port is this test's.
    const flow = readFileSync(join(examples, 'node-red/request-flow.json'), 'utf8');
    assert.match(flow, /"port": "1883"/);
    writeFileSync(join(userDir, 'flows.json'), flow.replace('"port": "1883"', `"port": "${ports.mqtt}"`));
    // What a user types into the broker node's Security tab, as Node-RED stores it unencrypted.
    writeFileSync(
      join(userDir, 'flows_cred.json'),
      JSON.stringify({ 'wattbus-broker': { user: 'client', password: password('client') } }),
    );
    writeFileSync(
      join(userDir, 'settings.js'),
      `module.exports = ${JSON.stringify({
        uiPort: await freePort(),
        uiHost: '127.0.0.1',
        flowFile: 'flows.json',
        credentialSecret: false,
        httpAdminRoot: false,
        httpNodeRoot: false,
        logging: { console: { level: 'info' } },
      })};\n`,
    );
    const red = createRequire(import.meta.url).resolve('node-red/red.js'); // wherever npm put it
    const child = spawn(
      process.execPath,
      [red, '--userDir', userDir, '--settings', join(userDir, 'settings.js')],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    try {
      await waitUntil('the reply in Node-RED', async () => /\[debug:reply\] \d+ devices: /.test(output), {
        timeoutMs: 60_000,
        diagnostics: () => output,
      });
      assert.match(output, /\[debug:reply\] \d+ devices: .*desk-1/);
      assert.doesNotMatch(output, /\[debug:(error|timed out)\]/);
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });

  it(`for ${WATCH_MS / 1000} s, every topic published is in asyncapi.yaml, with its QoS, retain flag and schema`, async () => {
    const remaining = watchStarted + WATCH_MS - Date.now();
    if (remaining > 0) await new Promise((resolve) => setTimeout(resolve, remaining)); // a fixed observation window
    const contract = loadContract();
    const problems = new Set<string>();
    for (const message of seen) {
      if (deliberatelyMalformed.has(message.payload.toString())) continue;
      const channel = contract.find((candidate) => candidate.pattern.test(message.topic));
      if (!channel) {
        problems.add(`${message.topic}: no channel in asyncapi.yaml`);
        continue;
      }
      const where = `${message.topic} (${channel.address})`;
      if (channel.qos === undefined) problems.add(`${where}: no bindings.mqtt.qos`);
      // Requests come from clients (this test's, at QoS 0 too): the QoS is theirs.
      else if (!channel.sentByClients && message.qos !== channel.qos)
        problems.add(`${where}: QoS ${message.qos}, declared ${channel.qos}`);
      // A broker sets retain only on what it had kept: a retained topic's current value.
      if (message.retain && channel.retain !== true)
        problems.add(`${where}: retained, declared not retained`);
      if (message.payload.length === 0) {
        if (channel.retain !== true) problems.add(`${where}: empty payload on a topic that is not retained`);
        continue;
      }
      const text = message.payload.toString('utf8');
      let value: unknown = text;
      if (!channel.text) {
        try {
          value = JSON.parse(text);
        } catch {
          problems.add(`${where}: not JSON`);
          continue;
        }
      }
      if (!channel.checks.some((check) => check(value)))
        problems.add(`${where}: payload fits none of its schemas`);
    }
    assert.ok(seen.length > 100, `only ${seen.length} messages in ${WATCH_MS} ms`);
    const topics = new Set(seen.map((message) => message.topic.replace(/^(wattbus\/[a-z]+)\/[^/]+/, '$1/*')));
    for (const expected of [
      'wattbus/devices/*/readings',
      'wattbus/agents/*/availability',
      'wattbus/health/*',
    ]) {
      assert.ok(topics.has(expected), `nothing on ${expected} in ${[...topics].join(', ')}`);
    }
    assert.deepEqual([...problems], []);
  });
});

interface ChannelContract {
  address: string;
  pattern: RegExp;
  qos: number | undefined;
  retain: boolean | undefined;
  /** Its operation is a `send`: clients publish it, WattBus answers it. */
  sentByClients: boolean;
  text: boolean;
  checks: Array<(value: unknown) => boolean>;
}

type Yaml = Record<string, unknown>;

/** asyncapi.yaml's channels: a topic pattern each, the flags its operations declare, its payload schemas. */
function loadContract(): ChannelContract[] {
  const document = parseYaml(readFileSync(join(repository, 'asyncapi.yaml'), 'utf8')) as Yaml;
  const channels = document.channels as Record<string, Yaml>;
  const operations = Object.values(document.operations as Record<string, Yaml>);
  const components = (document.components as Yaml).messages as Record<string, Yaml>;
  return Object.entries(channels).map(([name, channel]) => {
    const address = String(channel.address);
    const pattern = new RegExp(`^${address.replace(/\{[^}]+\}/g, '[^/]+')}$`);
    const own = operations.filter((operation) => (operation.channel as Yaml).$ref === `#/channels/${name}`);
    const binding = own
      .map((operation) => ((operation.bindings as Yaml | undefined)?.mqtt ?? {}) as Yaml)
      .find((mqttBinding) => mqttBinding.qos !== undefined);
    const messages = Object.values(channel.messages as Record<string, Yaml>).map(
      (message) => components[String(message.$ref).split('/').pop()!]!,
    );
    const checks = messages.flatMap((message) => {
      const file = firstSchemaFile(message.payload);
      const schema = file === undefined ? undefined : MESSAGE_SCHEMAS[file];
      if (schema) return [validator(schema) as (value: unknown) => boolean];
      return [(value: unknown) => typeof value === 'string'];
    });
    return {
      address,
      pattern,
      qos: binding?.qos as number | undefined,
      retain: binding?.retain as boolean | undefined,
      sentByClients: own.some((operation) => operation.action === 'send'),
      text: messages.every((message) => message.contentType === 'text/plain'),
      checks,
    };
  });
}

/** `Reading` for a payload whose (first) `$ref` is ./libs/contracts/schemas/Reading.json. */
function firstSchemaFile(payload: unknown): string | undefined {
  const text = JSON.stringify(payload ?? {});
  return /libs\/contracts\/schemas\/([A-Za-z]+)\.json/.exec(text)?.[1];
}
