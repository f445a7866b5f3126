import assert from 'node:assert/strict';
import { WattbusError, validator } from '@wattbus/contracts';
import { createLogger, silentLogger } from '@wattbus/runtime';
import type { Bus } from '@wattbus/bus';
import { QueryConfigSchema, type QueryConfig } from '../src/index.js';

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
  const response = await fetch(`${influxUrl}/write?db=${DATABASE}&precision=ms`, {
    method: 'POST',
    body: lines.join('\n'),
  });
  assert.equal(response.status, 204, await response.text());
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
