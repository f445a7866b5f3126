import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '@wattbus/bus';
import { DeadLetterSchema, ReadingSchema, validator } from '@wattbus/contracts';
import { checkMetrics, startAedes, valueOf, type AedesServer } from '@wattbus/testing';
import {
  ServiceMetrics,
  busMetrics,
  exposition,
  serveAdmin,
  serveMetrics,
  adminSchema,
} from '../src/index.js';
import { parseConfig } from '../src/config.js';
import { Type } from '@sinclair/typebox';
import { pino } from 'pino';

describe('service metrics', () => {
  it('reads counters and gauges from the core at scrape time, labelled with the service', async () => {
    const core = { received: 3, depth: 7, byReason: { schema: 2, rejected: 1 } };
    const metrics = new ServiceMetrics('storage-hook', { processMetrics: false });
    metrics.counter('wattbus_readings_received_total', 'Readings taken.', () => core.received);
    metrics.gauge('wattbus_wal_records', 'Readings in the log.', () => core.depth);
    metrics.counter('wattbus_refused_total', 'Refused, by reason.', () => core.byReason, 'reason');
    let text = await metrics.registry.metrics();
    assert.equal(valueOf(text, 'wattbus_readings_received_total', { service: 'storage-hook' }), 3);
    assert.equal(valueOf(text, 'wattbus_refused_total', { reason: 'schema', service: 'storage-hook' }), 2);
    core.received = 10;
    core.depth = 0;
    text = await metrics.registry.metrics();
    assert.equal(valueOf(text, 'wattbus_readings_received_total', { service: 'storage-hook' }), 10);
    assert.equal(valueOf(text, 'wattbus_wal_records', { service: 'storage-hook' }), 0);
    const lint = checkMetrics(text);
    assert.ok(lint.ok, lint.problems);
  });

  it('observes histograms, and the default process metrics pass promtool', async () => {
    const metrics = new ServiceMetrics('gateway');
    const latency = metrics.histogram('wattbus_http_request_duration_seconds', 'Requests.', [
      'method',
      'status',
    ]);
    latency.observe({ method: 'GET', status: '200' }, 0.004);
    const text = await metrics.registry.metrics();
    assert.equal(
      valueOf(text, 'wattbus_http_request_duration_seconds_count', {
        method: 'GET',
        status: '200',
        service: 'gateway',
      }),
      1,
    );
    assert.match(text, /^process_cpu_seconds_total\{service="gateway"\} /m);
    const lint = checkMetrics(text);
    assert.ok(lint.ok, lint.problems);
  });

  it('joins registries into one exposition, gathering families that share a name', async () => {
    const query = new ServiceMetrics('query', { processMetrics: false });
    const gateway = new ServiceMetrics('gateway', { processMetrics: false });
    const process = new ServiceMetrics('platform');
    query.counter('wattbus_bus_messages_received_total', 'Messages.', () => 5);
    gateway.counter('wattbus_bus_messages_received_total', 'Messages.', () => 8);
    gateway.gauge('wattbus_http_requests_in_flight', 'In flight.', () => 1);
    const text = await exposition([process.registry, query.registry, gateway.registry]);
    assert.equal(text.match(/^# TYPE wattbus_bus_messages_received_total /gm)?.length, 1);
    assert.equal(valueOf(text, 'wattbus_bus_messages_received_total', { service: 'query' }), 5);
    assert.equal(valueOf(text, 'wattbus_bus_messages_received_total', { service: 'gateway' }), 8);
    assert.match(text, /^process_cpu_seconds_total\{service="platform"\} /m);
    const lint = checkMetrics(text);
    assert.ok(lint.ok, lint.problems);
  });
});

describe('bus metrics', () => {
  let broker: AedesServer;
  let bus: Bus;

  before(async () => {
    broker = await startAedes();
    bus = await Bus.connect({ url: broker.url, service: 'metrics-test' });
  });

  after(async () => {
    await bus.stop();
    await broker.stop();
  });

  it('reports dead letters by reason, messages and the connection', async () => {
    const metrics = new ServiceMetrics('metrics-test', { processMetrics: false });
    let current: Bus | undefined = undefined;
    busMetrics(metrics, () => current);
    const before = await metrics.registry.metrics();
    assert.equal(
      valueOf(before, 'wattbus_bus_connected', { service: 'metrics-test' }),
      undefined,
      'no bus yet',
    );
    current = bus;
    let deadLettered!: () => void;
    const heard = new Promise<void>((resolve) => (deadLettered = resolve));
    await bus.subscribe(bus.topics.deadLetter(bus.service), validator(DeadLetterSchema), () =>
      deadLettered(),
    );
    await bus.subscribe(bus.topics.allDevices('readings'), validator(ReadingSchema), () => undefined);
    await bus.publish(bus.topics.readings('desk-1'), '{not json');
    await heard;
    const text = await metrics.registry.metrics();
    assert.equal(valueOf(text, 'wattbus_bus_connected', { service: 'metrics-test' }), 1);
    assert.equal(
      valueOf(text, 'wattbus_bus_dead_letters_total', { reason: 'unparsable', service: 'metrics-test' }),
      1,
    );
    assert.ok((valueOf(text, 'wattbus_bus_messages_published_total', { service: 'metrics-test' }) ?? 0) >= 1);
    const lint = checkMetrics(text);
    assert.ok(lint.ok, lint.problems);
  });
});

describe('metrics server', () => {
  it('serves /metrics on the admin port, 404 elsewhere, and nothing when disabled', async () => {
    const metrics = new ServiceMetrics('agent', { processMetrics: false });
    metrics.counter('wattbus_polls_total', 'Polls.', () => 4);
    const server = await serveMetrics({ host: '127.0.0.1', port: 0, registries: [metrics.registry] });
    try {
      const response = await fetch(server.url);
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      assert.equal(valueOf(await response.text(), 'wattbus_polls_total', { service: 'agent' }), 4);
      assert.equal((await fetch(server.url.replace('/metrics', '/other'))).status, 404);
      assert.equal((await fetch(server.url, { method: 'POST' })).status, 405);
    } finally {
      await server.stop();
    }
    const Schema = Type.Object({ admin: adminSchema(9999) });
    const config = parseConfig(Schema, { admin: { enabled: false } }, 'a test');
    assert.deepEqual(config.admin, { enabled: false, host: '127.0.0.1', port: 9999 });
    assert.equal(await serveAdmin(config.admin, [metrics.registry]), undefined);
  });

  it('runs on without /metrics when the admin port is taken, saying so', async () => {
    const metrics = new ServiceMetrics('agent', { processMetrics: false });
    const first = await serveMetrics({ host: '127.0.0.1', port: 0, registries: [metrics.registry] });
    const lines: string[] = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => lines.push(line) });
    try {
      const admin = { enabled: true, host: '127.0.0.1', port: first.port };
      assert.equal(await serveAdmin(admin, [metrics.registry], logger), undefined);
      assert.match(
        lines.join(''),
        new RegExp(`cannot serve /metrics on 127\\.0\\.0\\.1:${first.port} \\(EADDRINUSE\\)`),
      );
    } finally {
      await first.stop();
    }
  });
});
