import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Bus } from '@wattbus/bus';
import { DevicesParamsSchema, validator, type DevicesResult } from '@wattbus/contracts';
import { ServiceMetrics } from '@wattbus/runtime';
import { checkMetrics, startAedes, valueOf, type AedesServer } from '@wattbus/testing';
import { Gateway } from '../src/index.js';
import { ApiClient, deferred, spec, testConfig } from './helpers.js';

describe('gateway metrics', () => {
  let broker: AedesServer;
  let component: Bus;
  let bus: Bus;
  let gateway: Gateway;
  let api: ApiClient;
  const metrics = new ServiceMetrics('gateway', { processMetrics: false });
  const arrived = deferred();
  const release = deferred();

  before(async () => {
    broker = await startAedes();
    component = await Bus.connect({ url: broker.url, service: 'test-component' });
    // A query component that holds the first `devices` request until the test releases it.
    await component.serve(
      component.topics.queryRequest('devices'),
      validator(DevicesParamsSchema),
      async (): Promise<DevicesResult> => {
        arrived.resolve();
        await release.promise;
        return { devices: [] };
      },
    );
    const logger = pino({ level: 'silent' });
    bus = await Bus.connect({ url: broker.url, service: 'gateway', logger });
    gateway = new Gateway({ config: testConfig(broker.url), bus, logger, spec, metrics });
    api = new ApiClient((await gateway.start()).url);
  });

  after(async () => {
    await gateway?.stop();
    await bus?.stop();
    await component?.stop();
    await broker?.stop();
  });

  it('shows a request in flight and its pending MQTT request while the component works on it', async () => {
    const answer = api.get('/api/v1/devices');
    await arrived.promise;
    const text = await metrics.registry.metrics();
    assert.equal(valueOf(text, 'wattbus_http_requests_in_flight'), 1);
    assert.equal(valueOf(text, 'wattbus_bus_pending_requests'), 1);
    release.resolve();
    assert.equal((await answer).status, 200);
    const after = await metrics.registry.metrics();
    assert.equal(valueOf(after, 'wattbus_http_requests_in_flight'), 0);
    assert.equal(valueOf(after, 'wattbus_bus_pending_requests'), 0);
  });

  it('counts requests by method, operation and status, with latency histograms', async () => {
    await api.get('/healthz', { key: null });
    await api.get('/api/v1/devices', { key: null });
    await api.get('/no/such/path', { key: null });
    const text = await metrics.registry.metrics();
    const count = (operation: string, status: string) =>
      valueOf(text, 'wattbus_http_request_duration_seconds_count', { method: 'GET', operation, status });
    assert.equal(count('listDevices', '200'), 1);
    assert.equal(count('listDevices', '401'), 1);
    assert.equal(count('none', '404'), 1);
    assert.equal(count('getLiveness', '200'), 1);
    assert.equal(
      valueOf(text, 'wattbus_http_request_duration_seconds_bucket', {
        method: 'GET',
        operation: 'listDevices',
        status: '401',
        le: '+Inf',
      }),
      1,
    );
    const lint = checkMetrics(text);
    assert.ok(lint.ok, lint.problems);
  });
});
