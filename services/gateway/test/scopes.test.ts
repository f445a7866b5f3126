import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startAedes, type AedesServer } from '@wattbus/testing';
import { KEYS, spec, startGateway } from './helpers.js';

/**
 * Every route of openapi.yaml × every kind of key, against a running gateway: no key and an
 * unknown key get 401, a key without the operation's scope 403, a key with it gets past the
 * check (whatever the route answers then: here no component runs, so 504 or a 400 for missing
 * parameters). The scopes expected are openapi.yaml's own `security` of each operation.
 */
const CALLERS = {
  'no key': null,
  'unknown key': 'wbk_not-a-key-of-this-gateway',
  read: KEYS.read,
  control: KEYS.control,
  'read+control': KEYS.both,
} as const;
const SCOPES_OF: Record<keyof typeof CALLERS, readonly string[]> = {
  'no key': [],
  'unknown key': [],
  read: ['read'],
  control: ['control'],
  'read+control': ['read', 'control'],
};

describe('every route × every key scope', () => {
  let broker: AedesServer;
  let stack: Awaited<ReturnType<typeof startGateway>>;

  before(async () => {
    broker = await startAedes();
    stack = await startGateway(broker.url, { query_timeout_ms: 200, device_timeout_ms: 200 });
  });

  after(async () => {
    await stack?.stop();
    await broker?.stop();
  });

  /** The status of one call; a stream (events) is cut once its headers are in. */
  async function statusOf(method: string, path: string, key: string | null): Promise<number> {
    const abort = new AbortController();
    const headers: Record<string, string> = key === null ? {} : { 'x-api-key': key };
    const body = method === 'PUT' ? JSON.stringify({ on: true }) : undefined;
    if (body) headers['content-type'] = 'application/json';
    const response = await fetch(`${stack.url}${path}`, { method, headers, body, signal: abort.signal });
    abort.abort();
    return response.status;
  }

  for (const operation of spec.operations) {
    const path = operation.path.replace('{id}', 'desk-1');
    for (const [caller, key] of Object.entries(CALLERS) as [keyof typeof CALLERS, string | null][]) {
      const granted =
        operation.scopes === null || operation.scopes.some((scope) => SCOPES_OF[caller].includes(scope));
      const expected = granted ? 'past the key check' : key === null || caller === 'unknown key' ? 401 : 403;
      it(`${operation.method.toUpperCase()} ${operation.path} (${operation.operationId}) with ${caller}: ${expected}`, async () => {
        const status = await statusOf(operation.method.toUpperCase(), path, key);
        if (granted) assert.ok(status !== 401 && status !== 403, `got ${status}`);
        else assert.equal(status, expected);
      });
    }
  }
});
