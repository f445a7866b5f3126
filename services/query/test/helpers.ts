import assert from 'node:assert/strict';
import { WattbusError, validator } from '@wattbus/contracts';
import { createLogger, silentLogger } from '@wattbus/runtime';
import { Bus } from '@wattbus/bus';
import {
  startAedes,
  startInflux,
  writeLineProtocol,
  type AedesServer,
  type InfluxServer,
} from '@wattbus/testing';
import { QueryComponent, QueryConfigSchema, type QueryConfig } from '../src/index.js';

export const DATABASE = 'wattbus';
export const logger = process.env.TEST_LOG ? createLogger('query-test', 'debug') : silentLogger();

/** A config validated (and defaulted) by its schema, as loadConfig makes it. */
export function testConfig(overrides: {
  mqttUrl: string;
  influxUrl: string;
  shareGroup?: string;
  extra?: Record<string, unknown>;
}): QueryConfig {
  const config = {
    mqtt: { url: overrides.mqttUrl, share_group: overrides.shareGroup ?? '' },
    influx: { url: overrides.influxUrl, database: DATABASE, timeout_ms: 2000 },
    ...overrides.extra,
  };
  const check = validator(QueryConfigSchema);
  assert.ok(check(config), check.errorText());
  return config;
}

export interface Point {
  device: string;
  ts: string | number;
  fields: Record<string, number>;
  tags?: Record<string, string>;
}

/** Stores line-protocol lines in DATABASE, as the storage hook does. */
export async function writeLines(influxUrl: string, lines: string[]): Promise<void> {
  await writeLineProtocol(influxUrl, DATABASE, lines);
}

/** A started query component on its own aedes and influxd, and a client bus to ask it. */
export interface QueryStack {
  influx: InfluxServer;
  broker: AedesServer;
  client: Bus;
  component: QueryComponent;
  stop(): Promise<void>;
}

/**
 * Starts influxd and aedes, stores `lines`, runs `prepare` (e.g. retained meta) with the client
 * bus, then starts a query component with `extra` config over the defaults of testConfig.
 */
export async function startQueryStack(
  options: {
    lines?: string[];
    extra?: Record<string, unknown>;
    prepare?: (client: Bus, influxUrl: string) => Promise<void>;
  } = {},
): Promise<QueryStack> {
  const [influx, broker] = await Promise.all([startInflux(), startAedes()]);
  await influx.createDatabase(DATABASE);
  if (options.lines) await writeLines(influx.url, options.lines);
  const client = await Bus.connect({ url: broker.url, service: 'test-client' });
  await options.prepare?.(client, influx.url);
  const bus = await Bus.connect({ url: broker.url, service: 'query', logger });
  const component = new QueryComponent({
    bus,
    logger,
    config: testConfig({ mqttUrl: broker.url, influxUrl: influx.url, extra: options.extra }),
  });
  await component.start();
  return {
    influx,
    broker,
    client,
    component,
    async stop() {
      await component.stop();
      await bus.stop();
      await client.stop();
      await broker.stop();
      await influx.destroy();
    },
  };
}

/** Writes points as line protocol, as the storage hook stores readings. */
export async function writePoints(influxUrl: string, points: Point[]): Promise<void> {
  const lines = points.map((point) => {
    const tags = Object.entries({ device: point.device, ...point.tags })
      .map(([key, value]) => `${key}=${value}`)
      .join(',');
    const fields = Object.entries(point.fields)
      .map(([key, value]) => `${key}=${value}`)
      .join(',');
    const ms = typeof point.ts === 'number' ? point.ts : Date.parse(point.ts);
    return `electricity,${tags} ${fields} ${ms}`;
  });
  await writeLines(influxUrl, lines);
}

/** The error a request ends with (fails the test if it succeeds). */
export async function requestError(
  bus: Bus,
  method: string,
  params: Record<string, unknown>,
): Promise<WattbusError> {
  try {
    const result = await bus.request(bus.topics.queryRequest(method), params, { timeoutMs: 10_000 });
    assert.fail(`${method} ${JSON.stringify(params)} succeeded: ${JSON.stringify(result)}`);
  } catch (error) {
    if (!(error instanceof WattbusError)) throw error;
    return error;
  }
}

export function ask<R>(bus: Bus, method: string, params: Record<string, unknown>): Promise<R> {
  return bus.request<R>(bus.topics.queryRequest(method), params, { timeoutMs: 10_000 });
}
