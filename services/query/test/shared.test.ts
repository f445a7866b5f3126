import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Bus, SharedSubscriptionsUnsupportedError } from '@wattbus/bus';
import { loadConfig } from '@wattbus/runtime';
import { ResponseEnvelopeSchema, validator, type EnergyResult } from '@wattbus/contracts';
import {
  startAedes,
  startInflux,
  startMosquitto,
  type AedesServer,
  type InfluxServer,
  type MosquittoServer,
} from '@wattbus/testing';
import { QueryComponent, QueryConfigSchema } from '../src/index.js';
import { DATABASE, ask, logger, testConfig, writePoints } from './helpers.js';

const REQUESTS = 40;

describe('two query components on a shared subscription (mosquitto)', () => {
  let influx: InfluxServer;
  let mosquitto: MosquittoServer;
  const buses: Bus[] = [];
  const components: QueryComponent[] = [];
  let client: Bus;
  let monitor: Bus;

  before(async () => {
    [influx, mosquitto] = await Promise.all([startInflux(), startMosquitto({ persistence: false })]);
    await influx.createDatabase(DATABASE);
    await writePoints(influx.url, [
      { device: 'm1', ts: '2026-11-02T00:00:00Z', fields: { energy_wh: 0 } },
      { device: 'm1', ts: '2026-11-02T12:00:00Z', fields: { energy_wh: 1500 } },
    ]);
    for (const name of ['query-a', 'query-b']) {
      const bus = await Bus.connect({ url: mosquitto.url, service: 'query', clientId: name, logger });
      const component = new QueryComponent({
        bus,
        logger,
        config: testConfig({ mqttUrl: mosquitto.url, influxUrl: influx.url, shareGroup: 'query' }),
      });
      await component.start();
      buses.push(bus);
      components.push(component);
    }
    client = await Bus.connect({ url: mosquitto.url, service: 'client' });
    monitor = await Bus.connect({ url: mosquitto.url, service: 'monitor' });
  });

  after(async () => {
    for (const component of components) await component.stop();
    for (const bus of [...buses, client, monitor]) await bus?.stop();
    await mosquitto?.destroy();
    await influx?.destroy();
  });

  it('listens on $share/query/wattbus/query/req/+', () => {
    assert.equal(components[0]!.requestFilter, '$share/query/wattbus/query/req/+');
  });

  it('answers each request exactly once, both components taking a share', async () => {
    const replies = new Map<string, number>();
    let resolveAll!: () => void;
    const allSeen = new Promise<void>((resolve) => (resolveAll = resolve));
    let seen = 0;
    await monitor.subscribe(
      client.topics.replies(client.clientId),
      validator(ResponseEnvelopeSchema),
      (response) => {
        replies.set(response.id, (replies.get(response.id) ?? 0) + 1);
        if (++seen === REQUESTS) resolveAll();
      },
    );
    const params = { device: 'm1', from: '2026-11-02T00:00:00Z', to: '2026-11-03T00:00:00Z', every: '1d' };
    const results = await Promise.all(
      Array.from({ length: REQUESTS }, () => ask<EnergyResult>(client, 'energy', params)),
    );
    for (const result of results) assert.equal(result.total_kwh, 1.5);
    await allSeen;
    assert.equal(replies.size, REQUESTS);
    assert.ok(
      [...replies.values()].every((count) => count === 1),
      'a request was answered twice',
    );
    const served = buses.map((bus) => bus.metrics().requests_served);
    assert.equal(served[0]! + served[1]!, REQUESTS, `served ${served.join(' + ')}`);
    assert.ok(
      served.every((count) => count > 0),
      `one component took every request: ${served.join(' + ')}`,
    );
  });
});

describe('no $share unless asked for, and checked when asked for (aedes)', () => {
  let influx: InfluxServer;
  let aedes: AedesServer;
  let bus: Bus;

  before(async () => {
    [influx, aedes] = await Promise.all([startInflux(), startAedes()]);
    bus = await Bus.connect({ url: aedes.url, service: 'query', probeTimeoutMs: 1000, logger });
  });
  after(async () => {
    await bus?.stop();
    await aedes?.stop();
    await influx?.destroy();
  });

  it('serves without a share group by default', () => {
    const config = loadConfig({ schema: QueryConfigSchema, env: {} });
    assert.equal(config.mqtt.share_group, undefined);
    const component = new QueryComponent({ bus, logger, config });
    assert.equal(component.requestFilter, 'wattbus/query/req/+');
  });

  it('fails at start when its share group does not deliver, naming the missing feature', async () => {
    const component = new QueryComponent({
      bus,
      logger,
      config: testConfig({ mqttUrl: aedes.url, influxUrl: influx.url, shareGroup: 'query' }),
    });
    await assert.rejects(component.start(), (error: unknown) => {
      assert.ok(error instanceof SharedSubscriptionsUnsupportedError, String(error));
      assert.match(error.message, /^this broker does not support shared subscriptions \(\$share\/query\//);
      return true;
    });
    await component.stop();
  });
});
