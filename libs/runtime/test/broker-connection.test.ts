import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startAedes, startMosquitto, type AedesServer, type MosquittoServer } from '@wattbus/testing';
import { BrokerConnectionError, brokerUrlProblem, connectBus, silentLogger } from '../src/index.js';

describe('brokerUrlProblem', () => {
  it('takes the schemes mqtt.js connects with', () => {
    for (const url of [
      'mqtt://127.0.0.1:1883',
      'mqtts://broker',
      'ws://host:9001/mqtt',
      'wss://host',
      'tcp://h:1',
    ])
      assert.equal(brokerUrlProblem(url), undefined, url);
  });

  it('names the URL and what was expected', () => {
    assert.match(brokerUrlProblem('htp://x')!, /'htp:\/\/x': unsupported scheme 'htp' \(expected mqtt:\/\//);
    assert.match(brokerUrlProblem('http://x:1883')!, /unsupported scheme 'http'/);
    assert.match(brokerUrlProblem('broker:1883')!, /unsupported scheme 'broker'/);
    assert.match(brokerUrlProblem('127.0.0.1:1883')!, /'127\.0\.0\.1:1883': not a URL/);
  });
});

describe('connectBus: a refused login says "not authorised"', () => {
  let mosquitto: MosquittoServer;
  let aedes: AedesServer;

  before(async () => {
    mosquitto = await startMosquitto({ users: { query: 'right' }, persistence: false });
    aedes = await startAedes({
      authenticate: (_client, username, password, done) =>
        done(null, username === 'query' && password?.toString() === 'right'),
    });
  });
  after(async () => {
    await mosquitto?.destroy();
    await aedes?.stop();
  });

  for (const [name, url] of [
    ['mosquitto (MQTT 5, CONNACK 134/135)', () => mosquitto.url],
    ['aedes (MQTT 3.1.1, CONNACK 4/5)', () => aedes.url],
  ] as const) {
    it(name, async () => {
      for (const username of ['query', undefined]) {
        await assert.rejects(
          connectBus({
            url: url(),
            service: 'query',
            ...(username ? { username, password: 'wrong' } : {}),
            logger: silentLogger(),
          }),
          (error: Error) => {
            assert.ok(error instanceof BrokerConnectionError, String(error));
            assert.ok(error.message.includes(url()), error.message);
            assert.match(error.message, /not authorised/);
            if (username) assert.match(error.message, /user 'query'/);
            return true;
          },
        );
      }
      const bus = await connectBus({ url: url(), service: 'query', username: 'query', password: 'right' });
      await bus.stop();
    });
  }
});
