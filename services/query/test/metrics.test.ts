import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '@wattbus/bus';
import { ServiceMetrics } from '@wattbus/runtime';
import { checkMetrics, freePort, startAedes, valueOf, type AedesServer } from '@wattbus/testing';
import { QueryComponent } from '../src/index.js';
import { logger, requestError, testConfig } from './helpers.js';

describe('query component metrics', () => {
  let broker: AedesServer;
  let bus: Bus;
  let client: Bus;
  let component: QueryComponent;
  const metrics = new ServiceMetrics('query', { processMetrics: false });

  before(async () => {
    broker = await startAedes();
    // Nothing listens at the InfluxDB address: range queries fail with STORE_UNAVAILABLE.
    const influxUrl = `http://127.0.0.1:${await freePort()}`;
    bus = await Bus.connect({ url: broker.url, service: 'query', logger });
    client = await Bus.connect({ url: broker.url, service: 'client' });
    component = new QueryComponent({
      bus,
      config: testConfig({ mqttUrl: broker.url, influxUrl, extra: { warmup_lookback_ms: 0 } }),
      logger,
      metrics,
    });
    await component.start();
  });

  after(async () => {
    await component?.stop();
    await client?.stop();
    await bus?.stop();
    await broker?.stop();
  });

  it('counts requests, errors by code and its bus', async () => {
    await client.request(client.topics.queryRequest('devices'), {}, { timeoutMs: 10_000 });
    const error = await requestError(client, 'energy', {
      device: 'desk-1',
      from: '2026-11-02T00:00:00Z',
      to: '2026-11-03T00:00:00Z',
      every: '1d',
      tz: 'UTC',
    });
    assert.equal(error.code, 'STORE_UNAVAILABLE');
    const text = await metrics.registry.metrics();
    assert.equal(valueOf(text, 'wattbus_query_requests_total'), 2);
    assert.equal(valueOf(text, 'wattbus_query_errors_total', { code: 'STORE_UNAVAILABLE' }), 1);
    assert.equal(valueOf(text, 'wattbus_bus_requests_served_total'), 2);
    const lint = checkMetrics(text);
    assert.ok(lint.ok, lint.problems);
  });
});
