import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { Broker, parseBrokerConfig } from '@wattbus/broker';
import { Bus, SharedSubscriptionsUnsupportedError } from '@wattbus/bus';
import type { DeviceMeta, DevicesResult } from '@wattbus/contracts';
import { Gateway, GatewayConfigSchema, connectGatewayBus, hashApiKey, makeApiKey } from '@wattbus/gateway';
import { QueryComponent, QueryConfigSchema } from '@wattbus/query';
import { loadConfig, silentLogger } from '@wattbus/runtime';
import { StorageHook, StorageHookConfigSchema } from '@wattbus/storage-hook';
import { startAedes, startInflux, startRedis, waitUntil, type InfluxServer } from '@wattbus/testing';

/**
 * Hot standby on brokers without shared subscriptions: two storage hooks and two query
 * components, none in a share group, on one aedes and on two aedes nodes sharing a Redis
 * (each instance on its own node). Every reading stored once, every request answered once at the
 * gateway (which drops the second answer).
 */
const DEVICES = 20;
const READINGS = 2000;
const REQUESTS = 20;
const KEY = makeApiKey();
const T0 = Date.parse('2026-11-23T00:00:00.000Z');

interface Topology {
  /** The broker URL of node 1 and of node 2 (the same URL for a single broker). */
  nodes: [string, string];
  stop(): Promise<void>;
}

const TOPOLOGIES: Record<string, () => Promise<Topology>> = {
  'one aedes': async () => {
    const aedes = await startAedes();
    return { nodes: [aedes.url, aedes.url], stop: () => aedes.stop() };
  },
  'two aedes nodes on one Redis': async () => {
    const redis = await startRedis();
    const brokers = ['node-1', 'node-2'].map(
      (id) =>
        new Broker({
          config: parseBrokerConfig({
            port: 0,
            stats_interval_ms: 0,
            anonymous: { enabled: true, publish: ['#'], subscribe: ['#'] },
            cluster: { redis_url: redis.url, node_id: id },
          }),
          logger: silentLogger(),
        }),
    );
    const ports = await Promise.all(brokers.map((broker) => broker.start()));
    const [one, two] = ports.map(({ mqttPort }) => `mqtt://127.0.0.1:${mqttPort}`) as [string, string];
    return {
      nodes: [one, two],
      async stop() {
        await Promise.all(brokers.map((broker) => broker.stop()));
        await redis.destroy();
      },
    };
  },
};

/** A query component's config for `database` on `influxUrl`, as its environment would give it. */
function queryConfig(influxUrl: string, env: Record<string, string>) {
  return loadConfig({
    schema: QueryConfigSchema,
    env: { WATTBUS_QUERY_INFLUX__URL: influxUrl, WATTBUS_QUERY_WARMUP_LOOKBACK_MS: '0', ...env },
    envPrefix: 'WATTBUS_QUERY_',
  });
}

function meta(id: string): DeviceMeta {
  return {
    id,
    name: `Plug ${id}`,
    type: 'tplink',
    kind: 'workplace',
    location: 'hq/floor-1',
    poll_interval_ms: 1000,
    ts: new Date(T0).toISOString(),
  };
}

for (const [name, startTopology] of Object.entries(TOPOLOGIES)) {
  describe(`hot standby on ${name}`, () => {
    let topology: Topology;
    let influx: InfluxServer;
    let publisher: MqttClient;
    const dirs: string[] = [];
    const hooks: StorageHook[] = [];
    const components: QueryComponent[] = [];
    const buses: Bus[] = [];
    let gateway: Gateway;
    let gatewayBus: Bus;
    let gatewayUrl: string;
    const database = name.startsWith('one') ? 'standby1' : 'standby2';

    before(async () => {
      [topology, influx] = await Promise.all([startTopology(), startInflux()]);
      const [one, two] = topology.nodes;
      publisher = await mqtt.connectAsync(one, { clientId: `publisher-${database}` });
      // Device meta is retained on node 1 before anything on node 2 starts.
      for (let d = 0; d < DEVICES; d++) {
        await publisher.publishAsync(`wattbus/devices/dev-${d}/meta`, JSON.stringify(meta(`dev-${d}`)), {
          qos: 1,
          retain: true,
        });
      }
      for (const [index, url] of [one, two].entries()) {
        const dir = mkdtempSync(join(tmpdir(), 'wattbus-standby-'));
        dirs.push(dir);
        const defaults = loadConfig({ schema: StorageHookConfigSchema, env: {} });
        const hook = new StorageHook({
          config: {
            ...defaults,
            counters_log_interval_ms: 0,
            mqtt: { ...defaults.mqtt, url, client_id: `${database}-hook-${index}` },
            influx: { ...defaults.influx, url: influx.url, database },
            log: { ...defaults.log, dir },
          },
          logger: silentLogger(),
        });
        hooks.push(hook);
        await hook.start();
        const bus = await Bus.connect({ url, service: 'query', logger: silentLogger() });
        buses.push(bus);
        const component = new QueryComponent({
          bus,
          logger: silentLogger(),
          config: queryConfig(influx.url, {
            WATTBUS_QUERY_MQTT__URL: url,
            WATTBUS_QUERY_INFLUX__DATABASE: database,
            WATTBUS_QUERY_HEALTH_NAME: `query-${index}`,
          }),
        });
        components.push(component);
        await component.start();
      }
      const config = loadConfig({
        schema: GatewayConfigSchema,
        env: {
          WATTBUS_GATEWAY_PORT: '0',
          WATTBUS_GATEWAY_MQTT__URL: two,
          WATTBUS_GATEWAY_API_KEYS: JSON.stringify([
            { name: 'test', sha256: hashApiKey(KEY), scopes: ['read'] },
          ]),
        },
        envPrefix: 'WATTBUS_GATEWAY_',
      });
      gatewayBus = await connectGatewayBus(config, silentLogger());
      gateway = new Gateway({ config, bus: gatewayBus, logger: silentLogger() });
      gatewayUrl = (await gateway.start()).url;
    });

    after(async () => {
      await gateway?.stop();
      await gatewayBus?.stop();
      for (const component of components) await component.stop();
      for (const bus of buses) await bus.stop();
      for (const hook of hooks) await hook.stop();
      await publisher?.endAsync();
      await topology?.stop();
      await influx?.destroy();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    });

    it('the gateway on node 2 knows the devices whose meta was retained on node 1', () => {
      assert.equal(gateway.devices?.size, DEVICES);
      assert.equal(gateway.devices?.get('dev-7')?.meta?.location, 'hq/floor-1');
    });

    it('both hooks store every reading; InfluxDB holds each once', async () => {
      const published: Promise<unknown>[] = [];
      for (let i = 0; i < READINGS; i++) {
        const device = `dev-${i % DEVICES}`;
        const reading = {
          ts: new Date(T0 + Math.floor(i / DEVICES) * 1000).toISOString(),
          device,
          power_w: i,
        };
        published.push(
          publisher.publishAsync(`wattbus/devices/${device}/readings`, JSON.stringify(reading), { qos: 1 }),
        );
      }
      await Promise.all(published);
      await waitUntil(
        'both hooks wrote every reading',
        async () => hooks.every((hook) => hook.counters().written === READINGS),
        { timeoutMs: 60_000, intervalMs: 200 },
      );
      const result = await influx.query(database, 'SELECT count(power_w), sum(power_w) FROM electricity');
      const [, count, sum] = result.results?.[0]?.series?.[0]?.values[0] ?? [];
      assert.equal(count, READINGS, 'a duplicate overwrote itself');
      assert.equal(sum, (READINGS * (READINGS - 1)) / 2);
    });

    it('every request is answered once at the gateway; the second answer is dropped', async () => {
      const responses = await Promise.all(
        Array.from({ length: REQUESTS }, () =>
          fetch(`${gatewayUrl}/api/v1/devices`, { headers: { 'x-api-key': KEY } }),
        ),
      );
      for (const response of responses) {
        assert.equal(response.status, 200);
        assert.equal(((await response.json()) as DevicesResult).devices.length, DEVICES);
      }
      const served = buses.map((bus) => bus.metrics().requests_served);
      await waitUntil(
        'the second answers arrived',
        async () => gatewayBus.metrics().responses_unmatched >= REQUESTS,
      );
      assert.deepEqual(
        buses.map((bus) => bus.metrics().requests_served),
        [REQUESTS, REQUESTS],
        `each component answered every request (${served.join(', ')} when the gateway had all answers)`,
      );
      assert.equal(gatewayBus.metrics().responses_unmatched, REQUESTS, 'one answer per request was dropped');
    });

    it('a component asking for a share group here fails at start, naming the missing feature', async () => {
      const bus = await Bus.connect({ url: topology.nodes[0], service: 'query', probeTimeoutMs: 1000 });
      buses.push(bus);
      const component = new QueryComponent({
        bus,
        logger: silentLogger(),
        config: queryConfig(influx.url, { WATTBUS_QUERY_MQTT__SHARE_GROUP: 'query' }),
      });
      await assert.rejects(component.start(), (error: unknown) => {
        assert.ok(error instanceof SharedSubscriptionsUnsupportedError, String(error));
        assert.match(error.message, /^this broker does not support shared subscriptions \(\$share\/query\//);
        return true;
      });
      await component.stop();
    });
  });
}
