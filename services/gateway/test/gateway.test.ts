import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { Type } from '@sinclair/typebox';
import { Bus, JsonText } from '@wattbus/bus';
import {
  AlertListParamsSchema,
  AlertTopics,
  GetStateParamsSchema,
  QUERY_METHODS,
  SetPowerParamsSchema,
  WattbusError,
  validator,
  type Alert,
  type AlertListParams,
  type AlertListResult,
  type DeviceState,
  type DeviceSummary,
  type QueryMethod,
  type ReadingsParams,
  type ReadingsResult,
} from '@wattbus/contracts';
import { startAedes, startMosquitto, type AedesServer, type MosquittoServer } from '@wattbus/testing';
import {
  ApiClient,
  announce,
  capturingLogger,
  deferred,
  KEYS,
  meta,
  startGateway,
  type ApiResponse,
} from './helpers.js';

/** Each device answers with its own timestamp, so an answer shows whose it is. */
const tsOf = (id: string) =>
  new Date(Date.UTC(2026, 0, 1) + Number(id.replace(/\D/g, '') || 0) * 1000).toISOString();
const deviceOf = (topic: string) => topic.split('/')[2]!;
const ALERT: Alert = {
  id: '5f0c2a8e-6a4b-4a43-9d0e-1b7c6c2d9e11',
  rule: 'overload',
  kind: 'power_above',
  subject: 'desk-1',
  severity: 'warning',
  state: 'raised',
  message: 'desk-1 draws 3712 W, above 3680 W',
  value: 3712,
  threshold: 3680,
  unit: 'W',
  raised_at: '2026-11-23T18:45:00.000Z',
};
/** A readings answer as JSON text, as the query component writes it (`12.50` and the spaces:
 * JSON.stringify would never write them, so they show a pass-through). */
const textReadings = (params: ReadingsParams) =>
  new JsonText(
    `{"device":"${params.device}", "from":"${params.from}","to":"${params.to}","fields":["power_w"],"every":null,"fn":null,"phase":null,"points":[{"ts":"${params.from}","power_w":12.50}]}`,
  );
const TEXT_RANGE = 'from=2026-11-23T08:00:00.000Z&to=2026-11-23T09:00:00.000Z';
const TEXT_PASSED =
  '{"device":"text-1", "from":"2026-11-23T08:00:00.000Z","to":"2026-11-23T09:00:00.000Z","fields":["power_w"],"every":null,"fn":null,"phase":null,"points":[{"ts":"2026-11-23T08:00:00.000Z","power_w":12.50}]}';
const problem = (response: ApiResponse) => response.body as Record<string, unknown> & { parameter?: unknown };

describe('gateway (aedes, in-test component handlers)', () => {
  let broker: AedesServer;
  let component: Bus;
  let stack: Awaited<ReturnType<typeof startGateway>>;
  let api: ApiClient;
  const log = capturingLogger();
  const states = new Map<string, boolean>();
  const seen: { method: string; params: Record<string, unknown>; id: string }[] = [];
  let holdReadings: Promise<void> | undefined;
  const slowArrivals = new EventEmitter();
  const alertCalls: { params: AlertListParams; id: string }[] = [];

  before(async () => {
    broker = await startAedes();
    component = await Bus.connect({ url: broker.url, service: 'test-component' });
    const t = component.topics;
    await component.serve(
      `${t.base}/devices/+/req/get`,
      validator(GetStateParamsSchema),
      (_params, context) => {
        const id = deviceOf(context.topic);
        return { on: states.get(id) ?? false, ts: tsOf(id) } satisfies DeviceState;
      },
    );
    await component.serve(
      `${t.base}/devices/+/req/set`,
      validator(SetPowerParamsSchema),
      (params, context) => {
        const id = deviceOf(context.topic);
        if (id === 'broken-1')
          throw new WattbusError('DEVICE_UNREACHABLE', 'broken-1 (10.0.0.9:9999) did not answer');
        if (id === 'liar-1') return { on: 'yes' };
        states.set(id, params.on);
        return { on: params.on, ts: tsOf(id) } satisfies DeviceState;
      },
    );
    const serveQuery = (method: QueryMethod, handler: (params: Record<string, unknown>) => unknown) =>
      component.serve(
        t.queryRequest(method),
        validator(QUERY_METHODS[method].params),
        async (params, context) => {
          seen.push({ method, params: params as Record<string, unknown>, id: context.envelope.id });
          return handler(params as Record<string, unknown>);
        },
      );
    await serveQuery('readings', async (raw) => {
      const params = raw as ReadingsParams;
      if (params.device === 'ghost') throw new WattbusError('UNKNOWN_DEVICE', 'no device ghost');
      if (params.device === 'liar') return { points: 'many' };
      if (params.device === 'text-1') return textReadings(params);
      if (params.device === 'big') {
        // ~300 KB: more than the bus' default 64 KiB payload limit.
        const points = Array.from({ length: 3000 }, (_, n) => ({
          ts: new Date(Date.parse(params.from) + n * 1000).toISOString(),
          power_w: n + 0.123456789,
          voltage_v: 230.123456789,
          current_a: 0.123456789,
          energy_wh: 1234567.123456789,
        }));
        return {
          device: 'big',
          from: params.from,
          to: params.to,
          fields: ['power_w', 'voltage_v', 'current_a', 'energy_wh'],
          every: null,
          fn: null,
          phase: null,
          points,
        };
      }
      if (params.device === 'slow') {
        slowArrivals.emit('request');
        await holdReadings;
      }
      return {
        device: params.device,
        from: params.from,
        to: params.to,
        fields: params.fields ?? ['power_w'],
        every: params.every ?? null,
        fn: params.every ? (params.fn ?? 'mean') : null,
        phase: params.phase ?? null,
        points: [{ ts: params.from, power_w: 12.5 } as ReadingsResult['points'][number]],
      } satisfies ReadingsResult;
    });
    await serveQuery('devices', () => ({
      devices: ['desk-1', 'desk-2'].map((id): DeviceSummary => ({
        id,
        availability: 'online',
        state: null,
        reading: null,
      })),
    }));
    await serveQuery('latest', (params) => ({
      devices: (params.devices as string[]).map((id) => ({
        device: id,
        reading: { ts: tsOf(id), device: id, power_w: Number(id.replace(/\D/g, '')) },
        phases: [],
      })),
    }));
    await component.serve(
      new AlertTopics(t.base).request('list'),
      validator(AlertListParamsSchema),
      (params, context) => {
        alertCalls.push({ params, id: context.envelope.id });
        if (params.rule === 'too-long') throw new WattbusError('QUERY_TOO_LARGE', 'at most 31 days');
        if (params.rule === 'store-down') throw new WattbusError('STORE_UNAVAILABLE', 'influxd unreachable');
        if (params.rule === 'liar') return { active: [{ id: 'x' }] };
        const result: AlertListResult = {};
        if (params.active !== false) result.active = [ALERT];
        if (params.active === false || params.from !== undefined) {
          result.history = [
            {
              ts: ALERT.raised_at,
              alert_id: ALERT.id,
              rule: ALERT.rule,
              kind: ALERT.kind,
              subject: ALERT.subject,
              severity: ALERT.severity,
              state: 'raised',
              message: ALERT.message,
              value: 3712,
            },
          ];
          result.from = params.from ?? '2026-11-22T18:45:00.000Z';
          result.to = params.to ?? '2026-11-23T18:45:00.000Z';
        }
        return result;
      },
    );
    await serveQuery('energy', () => {
      throw new WattbusError('QUERY_TOO_LARGE', '26280 buckets exceed the limit of 10000');
    });
    await serveQuery('cost', () => {
      throw new WattbusError('STORE_UNAVAILABLE', 'influxd at http://127.0.0.1:1 refused the connection');
    });
    stack = await startGateway(
      broker.url,
      { device_timeout_ms: 2_000, query_timeout_ms: 3_000, route_timeouts_ms: { getTotals: 300 } },
      log.logger,
    );
    api = stack.api;
    await announce(stack.gateway, component, ['desk-1', 'desk-2', 'broken-1', 'liar-1']);
  });

  after(async () => {
    await stack?.stop();
    await component?.stop();
    await broker?.stop();
  });

  it('serves liveness, readiness, the contract as JSON and Swagger UI', async () => {
    assert.deepEqual((await api.get('/healthz', { key: null })).body, { status: 'ok' });
    const ready = await api.get('/readyz', { key: null });
    assert.equal(ready.status, 200);
    assert.equal((ready.body as { ready: boolean }).ready, true);
    const contract = await api.get('/openapi.json', { key: null });
    assert.equal((contract.body as { openapi: string }).openapi, '3.1.0');
    const docs = await fetch(`${stack.url}/docs/`);
    assert.equal(docs.status, 200);
    assert.match(await docs.text(), /swagger-ui/);
    const init = await fetch(`${stack.url}/docs/swagger-ui-init.js`);
    assert.match(await init.text(), /\/openapi\.json/);
  });

  it('switches a plug with a control key and returns the confirmed state; reads it back', async () => {
    const put = await api.put('/api/v1/devices/desk-1/power', { key: 'control', body: { on: true } });
    assert.equal(put.status, 200);
    assert.deepEqual(put.body, { on: true, ts: tsOf('desk-1') });
    assert.equal(states.get('desk-1'), true);
    const get = await api.get('/api/v1/devices/desk-1/power', { key: 'read', bearer: true });
    assert.deepEqual(get.body, { on: true, ts: tsOf('desk-1') });
  });

  it('answers 404 at once for a device no agent announced, and maps agent errors', async () => {
    const unknown = await api.put('/api/v1/devices/nobody-9/power', { body: { on: false } });
    assert.equal(unknown.status, 404);
    assert.equal(problem(unknown).code, 'UNKNOWN_DEVICE');
    assert.deepEqual(problem(unknown).parameter, { name: 'id', in: 'path' });
    const unreachable = await api.put('/api/v1/devices/broken-1/power', { body: { on: false } });
    assert.equal(unreachable.status, 502);
    assert.equal(problem(unreachable).code, 'DEVICE_UNREACHABLE');
    assert.match(String(problem(unreachable).detail), /did not answer/);
    const liar = await api.put('/api/v1/devices/liar-1/power', { body: { on: false } });
    assert.equal(liar.status, 502, 'an answer outside the contract is a bad gateway, never passed on');
    assert.match(String(problem(liar).detail), /outside the contract/);
  });

  it('maps query errors: UNKNOWN_DEVICE 404, QUERY_TOO_LARGE 422, STORE_UNAVAILABLE 503 with Retry-After', async () => {
    const range = 'from=2026-11-23T08:00:00Z&to=2026-11-23T09:00:00Z';
    const ghost = await api.get(`/api/v1/devices/ghost/readings?${range}`);
    assert.equal(ghost.status, 404);
    assert.equal(problem(ghost).code, 'UNKNOWN_DEVICE');
    const large = await api.get(`/api/v1/devices/desk-1/energy?${range}&every=15m`);
    assert.equal(large.status, 422);
    assert.equal(problem(large).code, 'QUERY_TOO_LARGE');
    const store = await api.get(`/api/v1/cost?${range}`);
    assert.equal(store.status, 503);
    assert.equal(store.headers.get('retry-after'), '5');
    assert.equal(problem(store).code, 'STORE_UNAVAILABLE');
    const liar = await api.get(`/api/v1/devices/liar/readings?${range}`);
    assert.equal(liar.status, 502);
  });

  it('passes query parameters as the method params, with the request id as correlation id', async () => {
    const response = await api.get(
      '/api/v1/devices/desk-2/readings?from=2026-11-23T08:00:00Z&to=2026-11-23T09:00:00Z&fields=power_w,voltage_v&every=1m&fn=max',
    );
    assert.equal(response.status, 200);
    const call = seen.findLast((entry) => entry.method === 'readings')!;
    assert.deepEqual(call.params, {
      device: 'desk-2',
      from: '2026-11-23T08:00:00Z',
      to: '2026-11-23T09:00:00Z',
      fields: ['power_w', 'voltage_v'],
      every: '1m',
      fn: 'max',
    });
    assert.equal(call.id, response.headers.get('x-request-id'));
    assert.deepEqual((response.body as ReadingsResult).fields, ['power_w', 'voltage_v']);
  });

  it('lists alerts through the alert hook topic: query parameters become AlertListParams as typed', async () => {
    const active = await api.get('/api/v1/alerts', { key: 'read' });
    assert.equal(active.status, 200, active.text);
    assert.deepEqual(active.body, { active: [ALERT] });
    assert.deepEqual(alertCalls.at(-1)!.params, {});
    assert.equal(alertCalls.at(-1)!.id, active.headers.get('x-request-id'));

    const history = await api.get(
      '/api/v1/alerts?active=false&from=2026-11-23T00:00:00Z&to=2026-11-24T00:00:00Z&rule=overload&subject=desk-1&limit=50',
    );
    assert.equal(history.status, 200, history.text);
    assert.deepEqual(alertCalls.at(-1)!.params, {
      active: false,
      from: '2026-11-23T00:00:00Z',
      to: '2026-11-24T00:00:00Z',
      rule: 'overload',
      subject: 'desk-1',
      limit: 50,
    });
    const body = history.body as AlertListResult;
    assert.equal(body.active, undefined);
    assert.equal(body.history?.[0]?.alert_id, ALERT.id);
    assert.equal(body.from, '2026-11-23T00:00:00Z');

    const both = await api.get('/api/v1/alerts?from=2026-11-23T00:00:00Z');
    assert.deepEqual(Object.keys(both.body as object).sort(), ['active', 'from', 'history', 'to']);
    assert.deepEqual(alertCalls.at(-1)!.params, { from: '2026-11-23T00:00:00Z' });
  });

  it('alerts: bad parameters 400 naming them (never sent), hook errors mapped, a read key needed', async () => {
    const calls = alertCalls.length;
    const cases: [string, string][] = [
      ['active=maybe', 'active'],
      ['limit=0', 'limit'],
      ['limit=10001', 'limit'],
      ['from=yesterday', 'from'],
      ['rule=Over%20Load', 'rule'],
      ['subject=a/b', 'subject'],
      ['severity=critical', 'severity'],
    ];
    for (const [query, name] of cases) {
      const response = await api.get(`/api/v1/alerts?${query}`);
      assert.equal(response.status, 400, `${query}: ${response.text}`);
      assert.deepEqual(problem(response).parameter, { name, in: 'query' }, query);
    }
    assert.equal(alertCalls.length, calls, 'no invalid request reached the alert hook');
    const tooLong = await api.get('/api/v1/alerts?rule=too-long');
    assert.equal(tooLong.status, 422);
    assert.equal(problem(tooLong).code, 'QUERY_TOO_LARGE');
    const storeDown = await api.get('/api/v1/alerts?rule=store-down');
    assert.equal(storeDown.status, 503);
    assert.equal(storeDown.headers.get('retry-after'), '5');
    const liar = await api.get('/api/v1/alerts?rule=liar');
    assert.equal(liar.status, 502, 'an answer outside AlertListResult is never passed on');
    assert.match(String(problem(liar).detail), /alert hook answered outside the contract/);
    assert.equal((await api.get('/api/v1/alerts', { key: 'control' })).status, 403);
    assert.equal((await api.get('/api/v1/alerts', { key: null })).status, 401);
  });

  it('over MQTT 3.1.1 (aedes) gets a JSON-text result in the usual envelope: parsed, checked, the same value', async () => {
    // No user property to ask for result_bytes with (docs/topics.md, "Results passed through").
    const response = await api.get(`/api/v1/devices/text-1/readings?${TEXT_RANGE}`);
    assert.equal(response.status, 200, response.text);
    assert.equal(response.text, JSON.stringify(JSON.parse(TEXT_PASSED)));
  });

  it('passes a reply larger than the bus default payload limit (a long readings answer)', async () => {
    const response = await api.get(
      '/api/v1/devices/big/readings?from=2026-11-23T08:00:00Z&to=2026-11-23T09:00:00Z&fields=power_w,voltage_v,current_a,energy_wh',
    );
    assert.equal(response.status, 200, response.text.slice(0, 300));
    assert.ok(response.text.length > 200_000, `only ${response.text.length} bytes`);
    assert.equal((response.body as ReadingsResult).points.length, 3000);
  });

  it('lists devices, finds one, and answers latest for several', async () => {
    const list = await api.get('/api/v1/devices?location=hq/floor-1&kind=workplace');
    assert.equal((list.body as { devices: unknown[] }).devices.length, 2);
    assert.deepEqual(seen.findLast((entry) => entry.method === 'devices')!.params, {
      location: 'hq/floor-1',
      kind: 'workplace',
    });
    const one = await api.get('/api/v1/devices/desk-2');
    assert.equal((one.body as DeviceSummary).id, 'desk-2');
    const none = await api.get('/api/v1/devices/desk-3');
    assert.equal(none.status, 404);
    const latest = await api.get('/api/v1/latest?devices=d-1,d-2');
    assert.deepEqual(
      (latest.body as { devices: { device: string }[] }).devices.map((entry) => entry.device),
      ['d-1', 'd-2'],
    );
  });

  it('500 concurrent requests for different devices each get their own device answer', async () => {
    const ids = Array.from({ length: 500 }, (_, n) => `plug-${n + 1}`);
    await announce(stack.gateway, component, ids);
    const answers = await Promise.all(
      ids.map((id, n) =>
        n % 2 === 0 ? api.get(`/api/v1/devices/${id}/power`) : api.get(`/api/v1/latest?devices=${id}`),
      ),
    );
    answers.forEach((answer, n) => {
      const id = ids[n]!;
      assert.equal(answer.status, 200, `${id}: ${answer.text}`);
      if (n % 2 === 0) assert.deepEqual(answer.body, { on: false, ts: tsOf(id) });
      else {
        const entry = (answer.body as { devices: { device: string; reading: { power_w: number } }[] })
          .devices[0]!;
        assert.equal(entry.device, id);
        assert.equal(entry.reading.power_w, n + 1);
      }
    });
    assert.equal(stack.bus.metrics().pending_requests, 0);
  });

  it('bad input: unknown route 404, wrong method 405, bad id/date/enum/parameter 400 naming it', async () => {
    const route = await api.get('/api/v1/nothing-here');
    assert.equal(route.status, 404);
    assert.equal(problem(route).code, 'NOT_FOUND');
    const method = await api.request('DELETE', '/api/v1/devices/desk-1/power');
    assert.equal(method.status, 405);
    assert.equal(method.headers.get('allow'), 'GET, PUT, HEAD');
    const cases: [string, string, 'path' | 'query'][] = [
      ['/api/v1/devices/Desk%201/power', 'id', 'path'],
      ['/api/v1/devices/desk-1/readings?from=yesterday&to=2026-11-23T09:00:00Z', 'from', 'query'],
      ['/api/v1/devices/desk-1/readings?to=2026-11-23T09:00:00Z', 'from', 'query'],
      [
        '/api/v1/devices/desk-1/readings?from=2026-11-23T08:00:00Z&to=2026-11-23T09:00:00Z&fn=median',
        'fn',
        'query',
      ],
      [
        '/api/v1/devices/desk-1/readings?from=2026-11-23T08:00:00Z&to=2026-11-23T09:00:00Z&fields=power_w,watts',
        'fields',
        'query',
      ],
      [
        '/api/v1/devices/desk-1/energy?from=2026-11-23T08:00:00Z&to=2026-11-23T09:00:00Z&every=2d',
        'every',
        'query',
      ],
      [
        '/api/v1/energy/totals?from=2026-11-23T08:00:00Z&to=2026-11-23T09:00:00Z&group_by=kind&depth=deep',
        'depth',
        'query',
      ],
      ['/api/v1/devices?colour=red', 'colour', 'query'],
    ];
    for (const [path, name, where] of cases) {
      const response = await api.get(path);
      assert.equal(response.status, 400, `${path}: ${response.text}`);
      assert.equal(problem(response).code, 'INVALID_PARAMS');
      assert.deepEqual(problem(response).parameter, { name, in: where }, path);
      assert.match(String(problem(response).detail), new RegExp(`'${name}'`));
    }
    // REST says about a parameter what an MQTT answer says about it, allowed values included.
    const range = { device: 'desk-1', from: '2026-11-23T08:00:00Z', to: '2026-11-23T09:00:00Z' };
    const rest = await api.get(`/api/v1/devices/desk-1/readings?from=${range.from}&to=${range.to}&fn=median`);
    const checkReadings = validator(QUERY_METHODS.readings.params);
    assert.equal(checkReadings({ ...range, fn: 'median' }), false);
    const [restError] = problem(rest).errors as { message: string }[];
    assert.equal(`/fn: ${restError!.message}`, checkReadings.errorText());
    assert.match(checkReadings.errorText(), /allowed values: mean, min, max, last, sum, count$/);
  });

  it('dates outside what InfluxDB stores: 400 naming the allowed range (never a 502 from the store)', async () => {
    const calls = alertCalls.length;
    const to = '9999-12-31T23:59:59.999999999Z';
    for (const path of [
      `/api/v1/energy/totals?from=2026-11-01T00:00:00Z&to=${to}&group_by=kind`,
      `/api/v1/cost?from=2026-11-01T00:00:00Z&to=${to}`,
      `/api/v1/alerts?from=2026-11-01T00:00:00Z&to=${to}`,
      `/api/v1/devices/desk-1/energy?from=1500-01-01T00:00:00Z&to=2026-11-01T00:00:00Z&every=1d`,
    ]) {
      const response = await api.get(path);
      assert.equal(response.status, 400, `${path}: ${response.text}`);
      assert.equal(problem(response).code, 'INVALID_PARAMS');
      assert.match(
        String(problem(response).detail),
        /'(to|from)': must be from 1678-01-01T00:00:00\.000Z to before 2262-01-01T00:00:00\.000Z/,
        path,
      );
    }
    assert.equal(alertCalls.length, calls, 'never sent to the alert hook');
  });

  it('bad bodies: not JSON 400, wrong key 400 naming it, not JSON content 415, too large 413', async () => {
    const path = '/api/v1/devices/desk-1/power';
    const notJson = await api.put(path, {
      rawBody: '{"on": fal',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(notJson.status, 400);
    assert.equal(problem(notJson).code, 'INVALID_REQUEST');
    assert.match(String(problem(notJson).detail), /not valid JSON/);
    const wrong = await api.put(path, { body: { on: 'off' } });
    assert.equal(wrong.status, 400);
    assert.deepEqual(problem(wrong).parameter, { name: '/on', in: 'body' });
    const extra = await api.put(path, { body: { on: true, colour: 'red' } });
    assert.deepEqual(problem(extra).parameter, { name: '/colour', in: 'body' });
    const missing = await api.put(path, {});
    assert.equal(missing.status, 400);
    assert.match(String(problem(missing).detail), /JSON body is required/);
    const text = await api.put(path, { rawBody: 'on', headers: { 'content-type': 'text/plain' } });
    assert.equal(text.status, 415);
    const large = await api.put(path, { body: { on: true, padding: 'x'.repeat(20_000) } });
    assert.equal(large.status, 413);
    assert.equal(problem(large).code, 'PAYLOAD_TOO_LARGE');
  });

  it('auth: 401 without or with an unknown key, 403 for a read key on power, keys never logged', async () => {
    const none = await api.get('/api/v1/devices', { key: null });
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="wattbus"');
    const unknown = await api.get('/api/v1/devices', { key: 'wbk_not-a-key' });
    assert.equal(unknown.status, 401);
    const basic = await api.get('/api/v1/devices', {
      key: null,
      headers: { authorization: 'Basic dXNlcjpwYXNz' },
    });
    assert.equal(basic.status, 401);
    const readOnPower = await api.put('/api/v1/devices/desk-1/power', { key: 'read', body: { on: false } });
    assert.equal(readOnPower.status, 403);
    assert.equal(problem(readOnPower).code, 'FORBIDDEN');
    assert.equal(states.get('desk-1'), true, 'the forbidden command never reached the agent');
    const controlOnRead = await api.get('/api/v1/devices', { key: 'control' });
    assert.equal(controlOnRead.status, 403);
    const text = JSON.stringify(log.lines);
    for (const key of Object.values(KEYS)) assert.ok(!text.includes(key), 'a key reached the log');
    assert.ok(!text.includes('wbk_not-a-key'));
  });

  it('logs one JSON line per request with request id, method, path, status, duration and key name', async () => {
    const lineFor = (id: string) =>
      new Promise<Record<string, unknown>>((resolve) => {
        const onLine = (line: Record<string, unknown>) => {
          if (line.request_id !== id) return;
          log.events.off('line', onLine);
          resolve(line);
        };
        log.events.on('line', onLine);
        const earlier = log.lines.find((line) => line.request_id === id);
        if (earlier) resolve(earlier);
      });
    const response = await api.get('/api/v1/devices/desk-1/power?', { key: 'read' });
    const line = await lineFor(response.headers.get('x-request-id')!);
    assert.equal(line.msg, 'request');
    assert.equal(line.method, 'GET');
    assert.equal(line.path, '/api/v1/devices/desk-1/power');
    assert.equal(line.operation, 'getDevicePower');
    assert.equal(line.status, 200);
    assert.equal(line.key, 'test-read');
    assert.equal(typeof line.duration_ms, 'number');
  });

  it('504 problem at the deadline when nobody answers; a component started later answers the next call', async () => {
    const path = '/api/v1/energy/totals?from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z&group_by=kind';
    const late = await api.get(path);
    assert.equal(late.status, 504);
    assert.equal(problem(late).code, 'TIMEOUT');
    const totals = await component.serve(
      component.topics.queryRequest('totals'),
      validator(QUERY_METHODS.totals.params),
      (params) => ({
        from: params.from,
        to: params.to,
        group_by: params.group_by,
        currency: 'EUR',
        groups: [],
        total_kwh: 0,
        total_cost: 0,
      }),
    );
    const answered = await api.get(path);
    assert.equal(answered.status, 200);
    assert.equal((answered.body as { group_by: string }).group_by, 'kind');
    await totals.unsubscribe();
  });

  it('a client that goes away cancels the wait: nothing stays pending', async () => {
    const held = deferred();
    holdReadings = held.promise;
    const abort = new AbortController();
    const arrived = once(slowArrivals, 'request');
    const closedLine = new Promise<Record<string, unknown>>((resolve) => {
      log.events.on('line', function onLine(line: Record<string, unknown>) {
        if (line.client_closed !== true) return;
        log.events.off('line', onLine);
        resolve(line);
      });
    });
    const request = api
      .get('/api/v1/devices/slow/readings?from=2026-11-23T08:00:00Z&to=2026-11-23T09:00:00Z', {
        signal: abort.signal,
      })
      .catch((error: unknown) => error);
    await arrived;
    assert.equal(stack.bus.metrics().pending_requests, 1);
    abort.abort();
    assert.equal(((await request) as Error).name, 'AbortError');
    const line = await closedLine;
    assert.equal(line.status, 499);
    assert.equal(stack.bus.metrics().pending_requests, 0);
    assert.equal(stack.gateway.metrics().in_flight, 0);
    held.resolve();
    holdReadings = undefined;
  });
});

describe('gateway limits and lifecycle (aedes)', () => {
  let broker: AedesServer;
  let component: Bus;
  const held = deferred();
  const arrivals: string[] = [];
  const arrived = new EventTarget();

  before(async () => {
    broker = await startAedes();
    component = await Bus.connect({ url: broker.url, service: 'test-component' });
    await component.serve(
      component.topics.queryRequest('latest'),
      validator(Type.Object({ devices: Type.Array(Type.String()) })),
      async (params) => {
        arrivals.push(params.devices[0]!);
        arrived.dispatchEvent(new Event('request'));
        await held.promise;
        return { devices: params.devices.map((device) => ({ device, reading: null, phases: [] })) };
      },
    );
  });

  after(async () => {
    held.resolve();
    await component?.stop();
    await broker?.stop();
  });

  const waitForArrivals = async (count: number) => {
    while (arrivals.length < count) await once(arrived, 'request');
  };

  it('beyond max_in_flight answers 503 with Retry-After at once; stop() lets in-flight requests finish', async () => {
    const stack = await startGateway(broker.url, { max_in_flight: 2 });
    try {
      const first = stack.api.get('/api/v1/latest?devices=a-1');
      const second = stack.api.get('/api/v1/latest?devices=a-2');
      await waitForArrivals(2);
      const third = await stack.api.get('/api/v1/latest?devices=a-3');
      assert.equal(third.status, 503);
      assert.equal(problem(third).code, 'OVERLOADED');
      assert.equal(third.headers.get('retry-after'), '1');
      assert.equal(arrivals.includes('a-3'), false, 'the refused request never reached the bus');

      const stopped = stack.gateway.stop();
      const ready = await stack.api.get('/readyz', { key: null }).catch(() => undefined);
      if (ready) assert.equal(ready.status, 503, 'not ready while stopping');
      held.resolve();
      const answers = await Promise.all([first, second]);
      assert.deepEqual(
        answers.map((answer) => answer.status),
        [200, 200],
        'requests in flight when stop() began still got their answers',
      );
      await stopped;
      await assert.rejects(fetch(`${stack.url}/healthz`), 'the server no longer accepts connections');
    } finally {
      await stack.stop();
    }
  });

  it('knows every device announced before it started as soon as start() resolves (no false 404)', async () => {
    const ids = Array.from({ length: 300 }, (_, n) => `early-${n}`);
    await Promise.all(
      ids.map((id) => component.publish(component.topics.meta(id), meta(id), { retain: true })),
    );
    const stack = await startGateway(broker.url);
    try {
      const missing = ids.filter((id) => !stack.gateway.devices!.has(id));
      assert.deepEqual(missing, []);
    } finally {
      await stack.stop();
    }
  });

  it('answers CORS preflights only for configured origins', async () => {
    const stack = await startGateway(broker.url, { cors_origins: ['https://dash.example'] });
    try {
      const preflight = await fetch(`${stack.url}/api/v1/devices/desk-1/power`, {
        method: 'OPTIONS',
        headers: { origin: 'https://dash.example', 'access-control-request-method': 'PUT' },
      });
      assert.equal(preflight.status, 204);
      assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://dash.example');
      assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /X-API-Key/);
      const other = await stack.api.get('/healthz', {
        key: null,
        headers: { origin: 'https://evil.example' },
      });
      assert.equal(other.headers.get('access-control-allow-origin'), null);
    } finally {
      await stack.stop();
    }
  });
});

describe('gateway passes a JSON-text result through (mosquitto, MQTT 5)', () => {
  let broker: MosquittoServer;
  let component: Bus;
  let stack: Awaited<ReturnType<typeof startGateway>>;

  before(async () => {
    broker = await startMosquitto({ persistence: false });
    component = await Bus.connect({ url: broker.url, service: 'test-component' });
    await component.serve(
      component.topics.queryRequest('readings'),
      validator(QUERY_METHODS.readings.params),
      (params) => textReadings(params as ReadingsParams),
    );
    stack = await startGateway(broker.url);
  });

  after(async () => {
    await stack?.stop();
    await component?.stop();
    await broker?.destroy();
  });

  it('writes the component\'s text on byte for byte (docs/topics.md, "Results passed through")', async () => {
    const response = await stack.api.get(`/api/v1/devices/text-1/readings?${TEXT_RANGE}`);
    assert.equal(response.status, 200, response.text);
    assert.match(String(response.headers.get('content-type')), /^application\/json/);
    assert.equal(response.text, TEXT_PASSED);
    assert.equal(Number(response.headers.get('content-length')), Buffer.byteLength(response.text));
  });
});
