import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { Bus } from '@wattbus/bus';
import { ProblemSchema, validator, type ApiScope, type DeviceMeta } from '@wattbus/contracts';
import { hashApiKey, makeApiKey } from '../src/api-keys.js';
import { GatewayConfigSchema, type GatewayConfig } from '../src/config.js';
import { Gateway } from '../src/gateway.js';
import { OpenApiSpec } from '../src/spec.js';
import { loadConfig } from '@wattbus/runtime';

export const spec = OpenApiSpec.load();
const checkProblem = validator(ProblemSchema);

/** Keys for every test: one per scope combination. */
export const KEYS = {
  read: makeApiKey(),
  control: makeApiKey(),
  both: makeApiKey(),
} as const;

const KEY_SCOPES: Record<keyof typeof KEYS, ApiScope[]> = {
  read: ['read'],
  control: ['control'],
  both: ['read', 'control'],
};

/** A full gateway config for tests: port 0, the test keys, any overrides. */
export function testConfig(mqttUrl: string, overrides: Partial<GatewayConfig> = {}): GatewayConfig {
  const base = loadConfig({
    schema: GatewayConfigSchema,
    env: {
      WATTBUS_GATEWAY_PORT: '0',
      WATTBUS_GATEWAY_MQTT__URL: mqttUrl,
      WATTBUS_GATEWAY_API_KEYS: JSON.stringify(
        Object.entries(KEYS).map(([name, key]) => ({
          name: `test-${name}`,
          sha256: hashApiKey(key),
          scopes: KEY_SCOPES[name as keyof typeof KEYS],
        })),
      ),
    },
    envPrefix: 'WATTBUS_GATEWAY_',
  });
  return { ...base, ...overrides };
}

/** A pino logger whose lines the test can read and await. */
export function capturingLogger(): {
  logger: Logger;
  lines: Record<string, unknown>[];
  events: EventEmitter;
} {
  const lines: Record<string, unknown>[] = [];
  const events = new EventEmitter();
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (!text) continue;
        const line = JSON.parse(text) as Record<string, unknown>;
        lines.push(line);
        events.emit('line', line);
      }
      callback();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines, events };
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  body: unknown;
  text: string;
}

export interface ApiRequest {
  key?: keyof typeof KEYS | string | null;
  /** Send the key as `Authorization: Bearer` instead of X-API-Key. */
  bearer?: boolean;
  body?: unknown;
  /** Sent as is (for bodies that are not JSON). */
  rawBody?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * fetch against the gateway; every response is checked against openapi.yaml (status, content
 * type, body schema, required headers) before the test sees it, and every problem body against
 * the Problem schema with its request id.
 */
export class ApiClient {
  readonly baseUrl: string;
  responses = 0;

  constructor(baseUrl: string) {
    this.baseUrl = baseUrl;
  }

  async request(method: string, path: string, options: ApiRequest = {}): Promise<ApiResponse> {
    const headers: Record<string, string> = { ...options.headers };
    const key = options.key === undefined ? 'both' : options.key;
    if (key !== null) {
      const value = key in KEYS ? KEYS[key as keyof typeof KEYS] : key;
      if (options.bearer) headers.authorization = `Bearer ${value}`;
      else headers['x-api-key'] = value;
    }
    let body: string | undefined = options.rawBody;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await fetch(`${this.baseUrl}${path}`, { method, headers, body, signal: options.signal });
    const text = await response.text();
    const contentType = response.headers.get('content-type') ?? '';
    const parsed: unknown = /json/.test(contentType) && text ? JSON.parse(text) : text;
    this.#check(method, path, response, parsed);
    this.responses++;
    return { status: response.status, headers: response.headers, body: parsed, text };
  }

  get(path: string, options?: ApiRequest): Promise<ApiResponse> {
    return this.request('GET', path, options);
  }

  put(path: string, options?: ApiRequest): Promise<ApiResponse> {
    return this.request('PUT', path, options);
  }

  #check(method: string, path: string, response: Response, body: unknown): void {
    const where = `${method} ${path} → ${response.status}`;
    const requestId = response.headers.get('x-request-id');
    assert.ok(requestId, `${where}: no X-Request-Id`);
    const contentType = response.headers.get('content-type') ?? '';
    const operation = spec.match(method === 'HEAD' ? 'GET' : method, new URL(path, this.baseUrl).pathname);
    if (operation) {
      const problems = spec.checkResponse(
        operation.operationId,
        response.status,
        contentType,
        body,
        response.headers,
      );
      assert.deepEqual(problems, [], `${where} breaks openapi.yaml (${operation.operationId})`);
    }
    // Unknown routes and methods have no operation: they must still be problem+json.
    if (response.status >= 400 && (!operation || /problem\+json/.test(contentType))) {
      assert.match(contentType, /^application\/problem\+json/, `${where}: not problem+json`);
      assert.ok(checkProblem(body), `${where}: problem body: ${checkProblem.errorText()}`);
      assert.equal((body as { status: number }).status, response.status, `${where}: problem status`);
      assert.equal((body as { request_id: string }).request_id, requestId, `${where}: problem request_id`);
    }
  }
}

/** Starts a gateway on a connected bus; `stop()` stops both. */
export async function startGateway(
  mqttUrl: string,
  overrides: Partial<GatewayConfig> = {},
  logger: Logger = pino({ level: 'silent' }),
): Promise<{ gateway: Gateway; bus: Bus; api: ApiClient; url: string; stop: () => Promise<void> }> {
  const config = testConfig(mqttUrl, overrides);
  const bus = await Bus.connect({
    url: mqttUrl,
    service: 'gateway',
    maxPayloadBytes: config.mqtt.max_payload_bytes,
    logger,
    reconnectMinMs: 100,
    reconnectMaxMs: 500,
  });
  const gateway = new Gateway({ config, bus, logger, spec });
  const { url } = await gateway.start();
  return {
    gateway,
    bus,
    api: new ApiClient(url),
    url,
    stop: async () => {
      await gateway.stop();
      await bus.stop();
    },
  };
}

export function meta(id: string, extra: Partial<DeviceMeta> = {}): DeviceMeta {
  return {
    id,
    name: `Plug ${id}`,
    type: 'tplink',
    kind: 'workplace',
    location: `hq/floor-1/${id}`,
    poll_interval_ms: 1000,
    ts: new Date().toISOString(),
    ...extra,
  };
}

/** A promise and its resolver, for handlers the test releases. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Publishes retained metas for `ids` and resolves once the gateway knows every one. */
export async function announce(gateway: Gateway, bus: Bus, ids: readonly string[]): Promise<void> {
  const directory = gateway.devices!;
  const missing = new Set(ids.filter((id) => !directory.has(id)));
  const known = new Promise<void>((resolve) => {
    if (missing.size === 0) return resolve();
    const onAdded = (id: string) => {
      missing.delete(id);
      if (missing.size === 0) {
        directory.off('added', onAdded);
        resolve();
      }
    };
    directory.on('added', onAdded);
  });
  await Promise.all(ids.map((id) => bus.publish(bus.topics.meta(id), meta(id), { retain: true })));
  await known;
}
