import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mqttPacket from 'mqtt-packet';
import { startAedes, type AedesServer } from '@wattbus/testing';
import { Bus } from '../src/index.js';

describe('a bus client stays small', () => {
  let broker: AedesServer;
  let bus: Bus;

  before(async () => {
    broker = await startAedes();
    bus = await Bus.connect({ url: broker.url, service: 'memory' });
  });

  after(async () => {
    await bus?.stop();
    await broker?.stop();
  });

  it("never builds mqtt-packet's cache of 65,536 packet-id buffers (6 MB of heap)", async () => {
    // QoS 1 publishes write packet ids, which is when mqtt-packet would build the cache.
    await bus.publish('wattbus/test/memory', { n: 1 }, { qos: 1 });
    assert.equal(mqttPacket.writeToStream.cacheNumbers, false);
  });
});
