import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { ServiceMetrics, silentLogger } from '@wattbus/runtime';
import {
  checkMetrics,
  freePort,
  startAedes,
  startInflux,
  valueOf,
  waitUntil,
  type AedesServer,
  type InfluxServer,
} from '@wattbus/testing';
import { StorageHook } from '../src/index.js';
import { hookConfig, publishAll, publisher, readings } from './helpers.js';

describe('storage hook metrics', () => {
  let influx: InfluxServer;
  let broker: AedesServer;
  let client: MqttClient;
  const hooks: StorageHook[] = [];
  const cleanups: Array<() => void> = [];

  async function startHook(name: string, influxUrl: string) {
    const config = hookConfig({
      mqtt: { url: broker.url, base_topic: name, client_id: `hook-${name}` },
      influx: { url: influxUrl, database: name },
    });
    cleanups.push(config.cleanup);
    const metrics = new ServiceMetrics('storage-hook', { processMetrics: false });
    const hook = new StorageHook({ config, logger: silentLogger(), metrics });
    hooks.push(hook);
    await hook.start();
    return { hook, scrape: () => metrics.registry.metrics() };
  }

  before(async () => {
    [influx, broker] = await Promise.all([startInflux(), startAedes()]);
    client = await publisher(broker.url);
  });
  after(async () => {
    await client?.endAsync();
    for (const hook of hooks) await hook.stop().catch(() => undefined);
    for (const cleanup of cleanups) cleanup();
    await Promise.all([influx?.destroy(), broker?.stop()]);
  });

  it('counts readings received and stored, dead letters by reason, the log and write latency', async () => {
    const { hook, scrape } = await startHook('counted', influx.url);
    await publishAll(client, [...readings('counted', 2, 5), ['counted/devices/dev-0/readings', '{"ts": 1']]);
    await waitUntil('10 readings stored and 1 dead letter', async () => {
      const counters = hook.counters();
      return counters.written === 10 && counters.dead_lettered === 1;
    });
    const text = await scrape();
    assert.equal(valueOf(text, 'wattbus_readings_received_total'), 10);
    assert.equal(valueOf(text, 'wattbus_readings_stored_total'), 10);
    assert.equal(valueOf(text, 'wattbus_bus_dead_letters_total', { reason: 'unparsable' }), 1);
    assert.equal(valueOf(text, 'wattbus_bus_dead_letters_total', { reason: 'schema' }), 0);
    assert.equal(valueOf(text, 'wattbus_wal_appended_total'), 10);
    assert.ok((valueOf(text, 'wattbus_wal_segments') ?? -1) >= 0);
    assert.ok(valueOf(text, 'wattbus_wal_bytes') !== undefined);
    const writes = valueOf(text, 'wattbus_influx_write_duration_seconds_count', { outcome: 'written' });
    assert.ok((writes ?? 0) >= 1, `write requests observed: ${writes}`);
    assert.equal(valueOf(text, 'wattbus_influx_write_retries_total'), 0);
    const lint = checkMetrics(text);
    assert.ok(lint.ok, lint.problems);
  });

  it('counts retries while InfluxDB is away, and the readings held in the log', async () => {
    const nobody = `http://127.0.0.1:${await freePort()}`;
    const { scrape } = await startHook('held', nobody);
    await publishAll(client, readings('held', 1, 3));
    await waitUntil(
      'a retried write',
      async () => (valueOf(await scrape(), 'wattbus_influx_write_retries_total') ?? 0) > 0,
    );
    const text = await scrape();
    assert.equal(valueOf(text, 'wattbus_readings_stored_total'), 0);
    assert.equal(valueOf(text, 'wattbus_wal_records'), 3);
  });
});
