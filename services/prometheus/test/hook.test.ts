import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Bus } from '@wattbus/bus';
import type { DeviceMeta, Reading } from '@wattbus/contracts';
import {
  parseConfig,
  serveMetrics,
  ServiceMetrics,
  silentLogger,
  type MetricsServer,
} from '@wattbus/runtime';
import {
  checkMetrics,
  parseExposition,
  samplesOf,
  startAedes,
  valueOf,
  type AedesServer,
} from '@wattbus/testing';
import { PrometheusHook, PrometheusHookConfigSchema } from '../src/index.js';

interface ExporterMetric {
  name: string;
  type: 'gauge' | 'counter';
  labels: string[];
  wattbus: true | string;
}
const exporter = JSON.parse(
  readFileSync(new URL('./fixtures/tplink-plug-exporter.json', import.meta.url), 'utf8'),
) as { source: string; metrics: ExporterMetric[] };

const LIMIT = { timeout: 15_000 };

const plugMeta: DeviceMeta = {
  id: 'desk-1',
  name: 'Desk 1 (laptop, screens)',
  type: 'tplink',
  kind: 'workplace',
  location: 'hq/floor-1/desk-1',
  poll_interval_ms: 1000,
  model: 'HS110(EU)',
  ts: '2026-11-23T18:45:00.000Z',
};
const meterMeta: DeviceMeta = {
  id: 'main-meter',
  name: 'Main meter',
  type: 'modbus',
  kind: 'meter',
  location: 'hq/basement',
  poll_interval_ms: 1000,
  model: 'eastron-sdm630',
  ts: '2026-11-23T18:45:00.000Z',
};

describe('prometheus hook', () => {
  let broker: AedesServer;
  let agent: Bus;
  let hook: PrometheusHook;
  let server: MetricsServer;
  let now = Date.parse('2026-11-23T18:45:00.000Z');

  /** The hook's /metrics, as Prometheus would get it. */
  async function scrape(): Promise<string> {
    const response = await fetch(server.url);
    assert.equal(response.status, 200);
    return response.text();
  }

  /** Resolves once `ok()` holds, checked after every change the hook's fleet sees. */
  function until(ok: () => boolean): Promise<void> {
    const fleet = hook.fleet!;
    return new Promise((resolve) => {
      const check = () => {
        if (!ok()) return;
        fleet.off('changed', check);
        fleet.off('removed', check);
        resolve();
      };
      fleet.on('changed', check);
      fleet.on('removed', check);
      check();
    });
  }

  async function publishReading(reading: Reading): Promise<void> {
    const heard = until(() => hook.fleet!.get(reading.device)?.reading_received_ms === now);
    await agent.publish(agent.topics.readings(reading.device), reading);
    await heard;
  }

  before(async () => {
    broker = await startAedes();
    agent = await Bus.connect({ url: broker.url, service: 'agent' });
    // What an agent leaves retained before the hook starts.
    for (const meta of [plugMeta, meterMeta]) {
      await agent.publish(agent.topics.meta(meta.id), meta, { retain: true });
      await agent.publish(agent.topics.availability(meta.id), 'online', { retain: true });
    }
    await agent.publish(
      agent.topics.state('desk-1'),
      { on: true, ts: '2026-11-23T18:45:00.000Z' },
      { retain: true },
    );
    const config = parseConfig(PrometheusHookConfigSchema, { mqtt: { url: broker.url } }, 'the test hook');
    const metrics = new ServiceMetrics('prometheus-hook', { processMetrics: false });
    hook = new PrometheusHook({ config, logger: silentLogger(), metrics, clock: () => now });
    await hook.start();
    server = await serveMetrics({
      host: '127.0.0.1',
      port: 0,
      registries: [hook.registry, metrics.registry],
    });
    await until(() => hook.fleet!.get('desk-1')?.state !== undefined && hook.fleet!.size === 2);
    await publishReading({
      ts: '2026-11-23T18:45:00.000Z',
      device: 'desk-1',
      power_w: 61.2,
      voltage_v: 231.4,
      current_a: 0.31,
      energy_wh: 15234.5,
    });
    for (const [phase, power_w] of [
      ['L1', 1200],
      ['L2', 800.5],
    ] as const) {
      await publishReading({ ts: '2026-11-23T18:45:00.000Z', device: 'main-meter', phase, power_w });
    }
    await publishReading({
      ts: '2026-11-23T18:45:00.000Z',
      device: 'main-meter',
      power_w: 2000.5,
      energy_wh: 1_200_000,
      energy_returned_wh: 300_000,
      power_factor: 0.95,
      frequency_hz: 50,
    });
  });

  after(async () => {
    await server?.stop();
    await hook?.stop();
    await agent?.stop();
    await broker?.stop();
  });

  it('exposes a TP-Link plug under the exporter names, with its labels and units', LIMIT, async () => {
    const text = await scrape();
    const labels = { alias: 'Desk 1 (laptop, screens)', id: 'desk-1', model: 'HS110(EU)', type: 'tplink' };
    assert.equal(valueOf(text, 'kasa_power_load', labels), 61.2);
    assert.equal(valueOf(text, 'kasa_voltage', labels), 231.4);
    assert.equal(valueOf(text, 'kasa_current', labels), 0.31);
    assert.equal(valueOf(text, 'kasa_power_total', labels), 15.2345, 'kWh, as the exporter has it');
    assert.equal(valueOf(text, 'kasa_relay_state', labels), 1);
    assert.equal(valueOf(text, 'kasa_online', labels), 1);
    assert.deepEqual(samplesOf(text, 'kasa_power_load', { id: 'main-meter' }), [], 'only TP-Link devices');
  });

  it('names and types the kasa_* series as tplink-plug-exporter does', LIMIT, async () => {
    const text = await scrape();
    const exposed = exporter.metrics.filter((metric) => metric.wattbus === true);
    assert.deepEqual(exposed.map((metric) => metric.name).sort(), [
      'kasa_current',
      'kasa_online',
      'kasa_power_load',
      'kasa_power_total',
      'kasa_relay_state',
      'kasa_voltage',
    ]);
    for (const metric of exposed) {
      assert.match(text, new RegExp(`^# TYPE ${metric.name} ${metric.type}$`, 'm'), metric.name);
      const samples = samplesOf(text, metric.name);
      assert.ok(samples.length > 0, `no ${metric.name}`);
      for (const sample of samples) {
        const names = Object.keys(sample.labels);
        for (const label of metric.labels) assert.ok(names.includes(label), `${metric.name} lacks ${label}`);
        assert.deepEqual(
          names.sort(),
          ['alias', 'id', 'model', 'type'],
          `${metric.name}: ${names.join(',')}`,
        );
      }
    }
    const kasaNames = new Set(
      parseExposition(text).flatMap((sample) => (sample.name.startsWith('kasa_') ? [sample.name] : [])),
    );
    const known = new Set(exporter.metrics.map((metric) => metric.name));
    for (const name of kasaNames) assert.ok(known.has(name), `${name} is not a tplink-plug-exporter name`);
  });

  it('exposes every device as wattbus_* series by Prometheus conventions, per phase', LIMIT, async () => {
    const text = await scrape();
    const plug = { device: 'desk-1', location: 'hq/floor-1/desk-1', kind: 'workplace' };
    assert.equal(valueOf(text, 'wattbus_power_watts', plug), 61.2);
    assert.equal(valueOf(text, 'wattbus_voltage_volts', plug), 231.4);
    assert.equal(valueOf(text, 'wattbus_current_amperes', plug), 0.31);
    assert.equal(valueOf(text, 'wattbus_energy_joules_total', plug), 15234.5 * 3600);
    assert.equal(valueOf(text, 'wattbus_online', plug), 1);
    assert.equal(valueOf(text, 'wattbus_relay_on', plug), 1);
    assert.equal(
      valueOf(text, 'wattbus_reading_timestamp_seconds', plug),
      Date.parse('2026-11-23T18:45:00.000Z') / 1000,
    );
    const meter = { device: 'main-meter', location: 'hq/basement', kind: 'meter' };
    const power = samplesOf(text, 'wattbus_power_watts', meter);
    assert.deepEqual(
      power.map((sample) => [sample.labels.phase, sample.value]),
      [
        [undefined, 2000.5],
        ['L1', 1200],
        ['L2', 800.5],
      ],
    );
    assert.deepEqual(
      samplesOf(text, 'wattbus_power_factor', meter).map((sample) => sample.value),
      [0.95],
    );
    assert.deepEqual(
      samplesOf(text, 'wattbus_frequency_hertz', meter).map((sample) => sample.value),
      [50],
    );
    assert.deepEqual(
      samplesOf(text, 'wattbus_energy_returned_joules_total', meter).map((sample) => sample.value),
      [300_000 * 3600],
      'returned energy where the meter counts it',
    );
    assert.deepEqual(samplesOf(text, 'wattbus_energy_returned_joules_total', plug), [], 'a plug counts none');
    assert.equal(
      valueOf(text, 'wattbus_device_info', {
        device: 'main-meter',
        name: 'Main meter',
        type: 'modbus',
        model: 'eastron-sdm630',
      }),
      1,
    );
    assert.equal(valueOf(text, 'wattbus_prometheus_devices', { service: 'prometheus-hook' }), 2);
    const lint = checkMetrics(text);
    assert.ok(lint.ok, lint.problems);
  });

  it('drops reading series once readings go stale, keeping online', LIMIT, async () => {
    now += 5 * 1000; // five poll intervals: still fresh
    assert.equal(valueOf(await scrape(), 'wattbus_power_watts', { device: 'desk-1' }), 61.2);
    now += 1;
    const text = await scrape();
    assert.equal(valueOf(text, 'wattbus_power_watts', { device: 'desk-1' }), undefined);
    assert.equal(valueOf(text, 'kasa_power_load', { id: 'desk-1' }), undefined);
    assert.equal(valueOf(text, 'kasa_online', { id: 'desk-1' }), 1);
    await publishReading({ ts: '2026-11-23T18:45:06.001Z', device: 'desk-1', power_w: 70 });
    assert.equal(valueOf(await scrape(), 'kasa_power_load', { id: 'desk-1' }), 70);
  });

  it(
    'keeps only *_online at 0 once availability says offline, and drops a removed device',
    LIMIT,
    async () => {
      const offline = until(() => hook.fleet!.get('desk-1')?.availability === 'offline');
      await agent.publish(agent.topics.availability('desk-1'), 'offline', { retain: true });
      await offline;
      let text = await scrape();
      assert.equal(valueOf(text, 'kasa_online', { id: 'desk-1' }), 0);
      assert.equal(valueOf(text, 'wattbus_online', { device: 'desk-1' }), 0);
      for (const name of ['kasa_power_load', 'kasa_relay_state', 'kasa_power_total']) {
        assert.deepEqual(samplesOf(text, name, { id: 'desk-1' }), [], name);
      }
      for (const name of ['wattbus_power_watts', 'wattbus_relay_on']) {
        assert.deepEqual(samplesOf(text, name, { device: 'desk-1' }), [], name);
      }
      const removed = until(() => !hook.fleet!.has('main-meter'));
      await agent.publish(agent.topics.meta('main-meter'), '', { retain: true });
      await removed;
      text = await scrape();
      assert.deepEqual(
        parseExposition(text).filter((sample) => sample.labels.device === 'main-meter'),
        [],
      );
      const lint = checkMetrics(text);
      assert.ok(lint.ok, lint.problems);
    },
  );
});
