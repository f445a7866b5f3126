import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { ERROR_CODES, HTTP_SCHEMAS, validator } from '@wattbus/contracts';
import { loadConfig } from '@wattbus/runtime';
import { ApiKeys, hashApiKey, makeApiKey, presentedKey } from '../src/api-keys.js';
import { GatewayConfigSchema } from '../src/config.js';
import { runMakeKey } from '../src/make-key-command.js';
import { openApiComponentSchemas } from '../src/openapi-components.js';
import { HTTP_STATUS_BY_CODE } from '../src/problem.js';
import { ROUTES } from '../src/routes.js';
import { OPENAPI_FILE, OpenApiSpec } from '../src/spec.js';

const run = promisify(execFile);
const gatewayDir = fileURLToPath(new URL('..', import.meta.url));

describe('openapi.yaml', () => {
  const spec = OpenApiSpec.load();

  it('has components.schemas exactly as generated from libs/contracts (run npm run openapi:sync)', () => {
    const committed = (parseYaml(readFileSync(OPENAPI_FILE, 'utf8')) as { components: { schemas: unknown } })
      .components.schemas;
    assert.deepEqual(
      committed,
      JSON.parse(JSON.stringify(openApiComponentSchemas())),
      'openapi.yaml is stale: run `npm run openapi:sync -w @wattbus/gateway`',
    );
  });

  it('passes the redocly linter (recommended-strict)', async () => {
    const { stdout, stderr } = await run(
      'npx',
      ['--no-install', 'redocly', 'lint', '--config', 'redocly.yaml', OPENAPI_FILE],
      {
        cwd: gatewayDir,
        env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
      },
    );
    assert.match(`${stdout}${stderr}`, /Your API description is valid/);
  });

  it('documents exactly the params each forwarding route sends: every one the contract accepts, and no other', () => {
    type Parameter = Record<string, string>;
    type Operation = { operationId?: string; parameters?: Parameter[] };
    const document = parseYaml(readFileSync(OPENAPI_FILE, 'utf8')) as {
      paths: Record<string, Record<string, Operation> & { parameters?: Parameter[] }>;
      components: { parameters: Record<string, Parameter> };
    };
    const resolve = (parameter: Parameter) =>
      parameter.$ref ? document.components.parameters[parameter.$ref.split('/').pop()!]! : parameter;
    let checked = 0;
    for (const { parameters: shared = [], ...operations } of Object.values(document.paths)) {
      for (const operation of Object.values(operations) as Operation[]) {
        const forwards = operation.operationId ? ROUTES[operation.operationId]?.forwards : undefined;
        if (!forwards) continue;
        const parameters = [...shared, ...(operation.parameters ?? [])].map(resolve);
        const documented = parameters.flatMap((parameter) => {
          if (parameter.in === 'query') return [parameter.name!];
          const renamed = forwards.path[parameter.name!];
          return renamed ? [renamed] : [];
        });
        const accepted = Object.keys((forwards.schema as unknown as { properties: object }).properties);
        assert.deepEqual(documented.sort(), accepted.sort(), operation.operationId);
        checked++;
      }
    }
    assert.equal(checked, 7, 'devices, latest, readings, energy, totals, cost and the alert list');
  });

  it('has a handler for every operation and an operation for every handler', () => {
    assert.deepEqual(
      spec.operations.map((operation) => operation.operationId).sort(),
      Object.keys(ROUTES).sort(),
    );
  });

  it('asks for read on every data route and control on PUT power and POST backfill; health needs no key', () => {
    for (const operation of spec.operations) {
      if (operation.path === '/healthz' || operation.path === '/readyz') assert.equal(operation.scopes, null);
      else if (operation.method === 'put' || operation.operationId === 'backfillDevice')
        assert.deepEqual(operation.scopes, ['control'], operation.operationId);
      else assert.deepEqual(operation.scopes, ['read'], operation.operationId);
    }
  });

  it('response validation catches a body, status or content type outside the contract', () => {
    const headers = new Headers();
    assert.deepEqual(
      spec.checkResponse(
        'getDevicePower',
        200,
        'application/json',
        { on: true, ts: '2026-11-23T18:45:00.000Z' },
        headers,
      ),
      [],
    );
    assert.match(
      spec.checkResponse('getDevicePower', 200, 'application/json', { on: 'yes', ts: 'now' }, headers).join(),
      /body\/on: must be boolean/,
    );
    assert.match(
      spec.checkResponse('getDevicePower', 200, 'text/html', '<p>', headers).join(),
      /content type/,
    );
    assert.match(
      spec.checkResponse('getLiveness', 418, 'application/json', {}, headers).join(),
      /418 is not documented/,
    );
    assert.match(
      spec.checkResponse('getDevicePower', 401, 'application/problem+json', {}, headers).join(),
      /WWW-Authenticate is required/,
    );
  });

  it('every HTTP schema example validates', () => {
    for (const [name, schema] of Object.entries(HTTP_SCHEMAS)) {
      const check = validator(schema);
      for (const example of (schema as { examples?: unknown[] }).examples ?? []) {
        assert.ok(check(example), `${name}: ${check.errorText()}`);
      }
    }
  });

  it('maps every bus error code to an HTTP status (one table)', () => {
    for (const code of ERROR_CODES) assert.ok(HTTP_STATUS_BY_CODE[code].status >= 400, code);
    assert.equal(HTTP_STATUS_BY_CODE.INVALID_PARAMS.status, 400);
    assert.equal(HTTP_STATUS_BY_CODE.UNKNOWN_DEVICE.status, 404);
    assert.equal(HTTP_STATUS_BY_CODE.QUERY_TOO_LARGE.status, 422);
    assert.equal(HTTP_STATUS_BY_CODE.DEVICE_UNREACHABLE.status, 502);
    assert.equal(HTTP_STATUS_BY_CODE.TIMEOUT.status, 504);
    assert.equal(HTTP_STATUS_BY_CODE.STORE_UNAVAILABLE.status, 503);
  });
});

/** What `make-key` prints. */
function makeKeyOutput(options: { scopes: string; name: string }): string {
  let text = '';
  runMakeKey(options, {
    write: (chunk: string) => {
      text += chunk;
      return true;
    },
  } as NodeJS.WritableStream);
  return text;
}

describe('API keys', () => {
  it('make-key prints a key once and a config entry with only its sha256', () => {
    const text = makeKeyOutput({ scopes: 'read,control', name: 'ops' });
    const key = /^# (wbk_\S+)$/m.exec(text)![1]!;
    const [entry] = parseYaml(text) as { name: string; sha256: string; scopes: string[] }[];
    assert.deepEqual(entry, { name: 'ops', sha256: hashApiKey(key), scopes: ['read', 'control'] });
    const keys = new ApiKeys([entry as never]);
    assert.deepEqual(keys.identify(key), { name: 'ops', scopes: ['read', 'control'] });
    assert.equal(keys.identify(`${key}x`), undefined);
  });

  it('make-key also prints the entry as JSON, for WATTBUS_GATEWAY_API_KEYS in docker-compose', () => {
    const text = makeKeyOutput({ scopes: 'read', name: 'screen' });
    const key = /^# (wbk_\S+)$/m.exec(text)![1]!;
    const json = /^# +(\{.*\})$/m.exec(text)![1]!;
    const keys = loadConfig({
      schema: GatewayConfigSchema,
      env: { WATTBUS_GATEWAY_API_KEYS: `[${json}]` },
      envPrefix: 'WATTBUS_GATEWAY_',
    }).api_keys;
    assert.deepEqual(new ApiKeys(keys).identify(key), { name: 'screen', scopes: ['read'] });
  });

  it('keys are 256-bit random and read from Bearer or X-API-Key', () => {
    const key = makeApiKey();
    assert.match(key, /^wbk_[A-Za-z0-9_-]{43}$/);
    assert.notEqual(makeApiKey(), key);
    assert.equal(presentedKey({ authorization: `Bearer ${key}` }), key);
    assert.equal(presentedKey({ authorization: `bearer  ${key}` }), key);
    assert.equal(presentedKey({ 'x-api-key': key }), key);
    assert.equal(presentedKey({}), undefined);
    assert.equal(presentedKey({ authorization: 'Basic abc' }), null);
    assert.equal(presentedKey({ 'x-api-key': ' ' }), null);
  });
});

describe('config', () => {
  it('fills every default, reads nested keys and key lists from the environment', () => {
    const config = loadConfig({
      schema: GatewayConfigSchema,
      env: {
        WATTBUS_GATEWAY_MQTT__URL: 'mqtt://broker:1883',
        WATTBUS_GATEWAY_API_KEYS: JSON.stringify([{ name: 'a', sha256: 'a'.repeat(64), scopes: ['read'] }]),
        WATTBUS_GATEWAY_CORS_ORIGINS: 'https://a.example,https://b.example',
      },
      envPrefix: 'WATTBUS_GATEWAY_',
    });
    assert.equal(config.port, 8080);
    assert.equal(config.mqtt.url, 'mqtt://broker:1883');
    assert.equal(config.mqtt.base_topic, 'wattbus');
    assert.equal(config.query_timeout_ms, 10_000);
    assert.equal(config.device_timeout_ms, 5_000);
    assert.equal(config.unknown_devices, 'not_found');
    assert.deepEqual(config.cors_origins, ['https://a.example', 'https://b.example']);
    assert.equal(config.api_keys.length, 1);
  });

  it('refuses a key stored in clear instead of its hash, naming the place', () => {
    assert.throws(
      () =>
        loadConfig({
          schema: GatewayConfigSchema,
          env: {
            WATTBUS_GATEWAY_API_KEYS: JSON.stringify([{ name: 'a', sha256: makeApiKey(), scopes: ['read'] }]),
          },
          envPrefix: 'WATTBUS_GATEWAY_',
        }),
      /\/api_keys\/0\/sha256 \(from WATTBUS_GATEWAY_API_KEYS\)|\/api_keys\/0\/sha256/,
    );
  });
});
