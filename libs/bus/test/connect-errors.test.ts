import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import { validator } from '@wattbus/contracts';
import {
  freePort,
  startAedes,
  startMosquitto,
  type AedesServer,
  type MosquittoServer,
} from '@wattbus/testing';
import { pino } from 'pino';
import { Bus, BusConnectError, BusRefusedError, checkBrokerUrl } from '../src/index.js';
import { describeDisconnect } from '../src/refusals.js';

interface LogLine {
  level: number;
  msg: string;
  reason?: string;
  [key: string]: unknown;
}

const WARN = 40;

/** A logger that keeps its lines, and resolves `next(...)` when one matches. */
function recordingLogger() {
  const lines: LogLine[] = [];
  const waiting: { test: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = [];
  const logger = pino(
    { level: 'debug' },
    {
      write(text: string) {
        const line = JSON.parse(text) as LogLine;
        lines.push(line);
        for (const waiter of [...waiting]) {
          if (!waiter.test(line)) continue;
          waiting.splice(waiting.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      },
    },
  );
  return {
    logger,
    lines,
    next(test: (line: LogLine) => boolean): Promise<LogLine> {
      const seen = lines.find(test);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiting.push({ test, resolve }));
    },
  };
}

function connectError(check: (error: BusConnectError) => void) {
  return (error: unknown) => {
    assert.ok(error instanceof BusConnectError, `expected a BusConnectError, got ${String(error)}`);
    check(error);
    return true;
  };
}

const checkAnything = validator(Type.Unknown());

describe('Bus.connect with a malformed or unsupported URL', () => {
  for (const url of [
    'htp://127.0.0.1:1883',
    'mqtt//127.0.0.1:1883',
    '',
    'mqtt://',
    'http://127.0.0.1:1883',
  ]) {
    it(`rejects '${url}' at once, naming it and the schemes expected`, async () => {
      // mqtt.js would connect `htp://…` as mqtt:// and '' to localhost:1883, and time out here.
      await assert.rejects(
        Bus.connect({ url, service: 'test', connectTimeoutMs: 1000 }),
        connectError((error) => {
          assert.equal(error.reason, 'url');
          assert.ok(error.message.includes(`'${url}'`), error.message);
          assert.match(error.message, /expected mqtt:\/\/host:port; mqtts, ws, wss, tcp, tls, ssl work too/);
        }),
      );
    });
  }

  it('hides a password in the URL it names', async () => {
    await assert.rejects(
      Bus.connect({ url: 'htp://alice:s3cret@127.0.0.1:1883', service: 'test', connectTimeoutMs: 1000 }),
      connectError((error) => {
        assert.doesNotMatch(error.message, /s3cret/);
        assert.match(error.message, /'htp:\/\/alice:\*\*\*@127\.0\.0\.1:1883'/);
        assert.equal(error.url, 'htp://alice:***@127.0.0.1:1883');
      }),
    );
  });

  it('accepts every scheme mqtt.js opens in Node', () => {
    for (const url of [
      'mqtt://broker:1883',
      'mqtts://broker',
      'ws://broker:9001/mqtt',
      'wss://broker/mqtt',
      'tcp://[::1]:1883',
      'tls://broker:8883',
      'ssl://broker:8883',
    ]) {
      assert.equal(checkBrokerUrl(url).href.length > 0, true, url);
    }
  });
});

describe('Bus.connect to a broker nobody listens on', () => {
  it('logs every failed attempt with its reason, then rejects as unreachable', async () => {
    const port = await freePort();
    const log = recordingLogger();
    await assert.rejects(
      Bus.connect({
        url: `mqtt://127.0.0.1:${port}`,
        service: 'test',
        connectTimeoutMs: 1500,
        reconnectMinMs: 100,
        reconnectMaxMs: 200,
        logger: log.logger,
      }),
      connectError((error) => {
        assert.equal(error.reason, 'unreachable');
        assert.match(
          error.message,
          new RegExp(`at mqtt://127\\.0\\.0\\.1:${port} within 1500 ms: .*ECONNREFUSED`),
        );
      }),
    );
    const attempts = log.lines.filter((line) => line.msg.startsWith('could not connect to the MQTT broker'));
    assert.ok(attempts.length >= 2, `${attempts.length} attempts logged`);
    for (const attempt of attempts) {
      assert.equal(attempt.level, WARN);
      assert.match(attempt.reason ?? '', /ECONNREFUSED/);
    }
  });
});

describe('bus on mosquitto with a password file and an ACL', () => {
  let mosquitto: MosquittoServer;
  before(async () => {
    mosquitto = await startMosquitto({
      persistence: false,
      users: { alice: 'alice-secret', bob: 'bob-secret' },
      acl: ['user alice', 'topic readwrite allowed/#', 'user bob', 'topic read allowed/#'].join('\n'),
    });
  });
  after(() => mosquitto.destroy());

  for (const protocol of [5, 4] as const) {
    it(`refuses a wrong password as "not authorised", naming the user (MQTT ${protocol === 5 ? '5' : '3.1.1'})`, async () => {
      await assert.rejects(
        Bus.connect({
          url: mosquitto.url,
          service: 'test',
          username: 'alice',
          password: 'wrong-secret',
          protocol,
          connectTimeoutMs: 10_000,
        }),
        connectError((error) => {
          assert.equal(error.reason, 'not-authorised');
          assert.equal(error.code, protocol === 5 ? 135 : 5);
          assert.equal(error.username, 'alice');
          assert.match(error.message, /^not authorised: the broker refused user 'alice'/);
          assert.doesNotMatch(error.message, /wrong-secret|lost the broker|within/);
        }),
      );
    });
  }

  it('names the user given in the URL, and anonymous clients, without the password', async () => {
    const [, hostAndPort] = mosquitto.url.split('//');
    await assert.rejects(
      Bus.connect({ url: `mqtt://bob:nope@${hostAndPort}`, service: 'test' }),
      connectError((error) => {
        assert.equal(error.reason, 'not-authorised');
        assert.match(error.message, /user 'bob'/);
        assert.match(error.message, /mqtt:\/\/bob:\*\*\*@/);
        assert.doesNotMatch(error.message, /nope/);
      }),
    );
    await assert.rejects(
      Bus.connect({ url: mosquitto.url, service: 'test' }),
      connectError((error) => {
        assert.equal(error.reason, 'not-authorised');
        assert.match(error.message, /anonymous/);
      }),
    );
  });

  it('says "not authorised" when the ACL refuses a publish (MQTT 5 PUBACK 0x87)', async () => {
    const bob = await Bus.connect({
      url: mosquitto.url,
      service: 'test',
      username: 'bob',
      password: 'bob-secret',
    });
    assert.equal(bob.protocolVersion, 5);
    await assert.rejects(bob.publish('allowed/x', { n: 1 }), (error: unknown) => {
      assert.ok(error instanceof BusRefusedError);
      assert.equal(error.operation, 'publish');
      assert.equal(error.code, 0x87);
      assert.match(
        error.message,
        /^not authorised: the broker refused a publish to 'allowed\/x' by user 'bob'/,
      );
      assert.match(error.message, /ACL/);
      return true;
    });
    await bob.stop();
  });

  it('logs each failed reconnect attempt with its reason after losing the broker', async () => {
    const log = recordingLogger();
    const bus = await Bus.connect({
      url: mosquitto.url,
      service: 'test',
      username: 'alice',
      password: 'alice-secret',
      reconnectMinMs: 50,
      reconnectMaxMs: 100,
      logger: log.logger,
    });
    await mosquitto.stop();
    const lost = await log.next((line) => line.msg === 'lost the broker; reconnecting');
    assert.equal(lost.level, WARN);
    const failed = await log.next((line) => line.msg.startsWith('could not connect to the MQTT broker'));
    assert.equal(failed.level, WARN);
    assert.match(failed.reason ?? '', /ECONNREFUSED/);
    await bus.stop();
    await mosquitto.start();
  });
});

describe('a DISCONNECT from an MQTT 5 broker', () => {
  it('is logged with its reason', async () => {
    const mosquitto = await startMosquitto({ persistence: false, extraConfig: 'max_packet_size 2000' });
    const log = recordingLogger();
    const bus = await Bus.connect({
      url: mosquitto.url,
      service: 'test',
      logger: log.logger,
      reconnectMinMs: 60_000,
    });
    await bus.publish('big/x', 'x'.repeat(5000), { qos: 0 });
    const line = await log.next((candidate) => candidate.msg.includes('disconnected us'));
    assert.equal(line.level, WARN);
    assert.equal(line.msg, 'the broker disconnected us (DISCONNECT 149 Packet too large)');
    const lost = await log.next((candidate) => candidate.msg === 'lost the broker; reconnecting');
    assert.equal(lost.reason, line.msg);
    await bus.stop();
    await mosquitto.destroy();
  });

  it('says "not authorised" for reason 135, which an ACL refusal brings', () => {
    assert.match(
      describeDisconnect(135, 'dave'),
      /^not authorised: the broker disconnected user 'dave' \(DISCONNECT 135 Not authorized\); its ACL/,
    );
  });
});

describe('bus on aedes with authenticate and authorize hooks', () => {
  let aedes: AedesServer;
  before(async () => {
    aedes = await startAedes({
      authenticate: (_client, username, password, done) => {
        if (username === 'carol' && password?.toString() === 'carol-secret') return done(null, true);
        done(Object.assign(new Error('bad credentials'), { returnCode: 4 as const }), false);
      },
      authorizeSubscribe: (_client, subscription, done) => {
        // As services/broker denies: no error (aedes would drop the client), a null subscription.
        done(null, subscription.topic.startsWith('forbidden/') ? null : subscription);
      },
      authorizePublish: (_client, packet, done) => {
        done(packet.topic.startsWith('forbidden/') ? new Error('not for you') : null);
      },
    });
  });
  after(() => aedes.stop());

  it('refuses wrong credentials as "not authorised" after falling back to MQTT 3.1.1', async () => {
    await assert.rejects(
      Bus.connect({ url: aedes.url, service: 'test', username: 'carol', password: 'wrong-secret' }),
      connectError((error) => {
        assert.equal(error.reason, 'not-authorised');
        assert.equal(error.code, 4);
        assert.match(
          error.message,
          /^not authorised: the broker refused user 'carol' \(CONNACK 4 Bad username or password\)/,
        );
        assert.doesNotMatch(error.message, /wrong-secret/);
      }),
    );
  });

  it('rejects a subscription the ACL refuses (SUBACK 0x80)', async () => {
    const log = recordingLogger();
    const bus = await Bus.connect({
      url: aedes.url,
      service: 'test',
      username: 'carol',
      password: 'carol-secret',
      logger: log.logger,
    });
    await assert.rejects(
      bus.subscribe('forbidden/x', checkAnything, () => undefined),
      (error: unknown) => {
        assert.ok(error instanceof BusRefusedError);
        assert.equal(error.operation, 'subscribe');
        assert.equal(error.code, 0x80);
        assert.match(
          error.message,
          /the broker refused a subscription to 'forbidden\/x' by user 'carol' \(SUBACK 0x80/,
        );
        assert.match(error.message, /ACL/);
        return true;
      },
    );
    // aedes drops a client whose publish its ACL refuses; 3.1.1 gives no reason, the log hints at it.
    await bus.publish('forbidden/y', { n: 1 }, { qos: 0 });
    const lost = await log.next((line) => line.msg === 'lost the broker; reconnecting');
    assert.match(lost.reason ?? '', /ACL refuses a publish/);
    await bus.stop();
  });
});
