import type { ServerResponse } from 'node:http';
import type { TSchema } from '@sinclair/typebox';
import { JsonText } from '@wattbus/bus';
import type { Topics } from '@wattbus/contracts';
import {
  AlertListParamsSchema,
  AlertListResultSchema,
  AlertTopics,
  BackfillResultSchema,
  DeviceStateSchema,
  QUERY_METHODS,
  shapeValidator,
  validator,
  type BackfillParams,
  type DevicesResult,
  type LiveEventsParams,
  type QueryMethod,
  type SetPowerParams,
} from '@wattbus/contracts';
import type { Fleet } from '@wattbus/fleet';
import type { Health } from '@wattbus/runtime';
import type { ApiClient } from './api-keys.js';
import type { LiveEvents } from './live-events.js';
import { HttpProblem } from './problem.js';
import type { RequestInput } from './spec.js';

export interface RouteContext {
  input: RequestInput;
  topics: Topics;
  /** Sends an MQTT request with this route's timeout and the HTTP request's id and cancel signal. */
  call(topic: string, params: Record<string, unknown>): Promise<unknown>;
  /** call(), but a result the responder sent as JSON text comes back as that JsonText, unparsed. */
  relay(topic: string, params: Record<string, unknown>): Promise<unknown>;
  /** Throws 404 UNKNOWN_DEVICE for a device no agent announced (unless configured to forward). */
  ensureKnownDevice(deviceId: string): void;
  health: Health;
  /** Which devices exist. */
  directory: Fleet;
  /** The live event streams (GET /api/v1/events). */
  events: LiveEvents;
  /** Who presented the key; undefined on routes that need none. */
  client: ApiClient | undefined;
}

export interface RouteResult {
  status: number;
  /** Encoded as JSON; a JsonText is written as it is. */
  body?: unknown;
  /** A streaming answer (server-sent events) writes the response itself. */
  stream?: (response: ServerResponse) => Promise<void>;
}

export interface Route {
  /**
   * query/device: one MQTT request, counted in flight, with that kind's default timeout (device
   * commands are shorter); local: answered by the gateway itself; stream: a long-lived response
   * that is not counted in flight (it would hold a slot for hours) and is ended by stop().
   */
  kind: 'query' | 'device' | 'local' | 'stream';
  /**
   * The bus params this route forwards: the query parameters as they are, plus path parameters
   * renamed (`id` → `device`); `schema` is what the answering service validates them with. A test
   * checks that openapi.yaml documents exactly these keys.
   */
  forwards?: { schema: TSchema; path: Record<string, string> };
  handle(context: RouteContext): Promise<RouteResult> | RouteResult;
}

/** Checks what a component answered against the contract before it becomes our HTTP answer. */
function expectResult<S extends TSchema>(schema: S, what: string, check = validator(schema)) {
  return (result: unknown): unknown => {
    if (!check(result)) {
      throw new HttpProblem('INTERNAL', `${what} answered outside the contract: ${check.errorText()}`, {
        status: 502,
      });
    }
    return result;
  };
}

const deviceState = expectResult(DeviceStateSchema, 'the device agent');
const backfillResult = expectResult(BackfillResultSchema, 'the device agent');
const alertList = expectResult(AlertListResultSchema, 'the alert hook');

const ok = (body: unknown): RouteResult => ({ status: 200, body });

// The query component's answers are checked for their shape only: a day of readings carries 1,440
// timestamps whose format checks cost more than the rest of the request; the component's own
// tests check its answers against the whole contract (services/query/test/properties.test.ts).
// An answer it sent as JSON text (`result_bytes`, docs/topics.md "Results passed through") is
// passed on unparsed: the component vouches for that text, and its tests check it.
const queryResults = Object.fromEntries(
  Object.entries(QUERY_METHODS).map(([method, spec]) => [
    method,
    expectResult(spec.result, 'the query component', shapeValidator(spec.result)),
  ]),
) as Record<QueryMethod, (result: unknown) => unknown>;

/**
 * A route answered by the query component: the HTTP query parameters are the method's params
 * (openapi.yaml takes their schemas from the contract), plus the device id from the path.
 */
function queryRoute(method: QueryMethod, withDevice = false): Route {
  return {
    kind: 'query',
    forwards: { schema: QUERY_METHODS[method].params, path: withDevice ? { id: 'device' } : {} },
    async handle({ input, topics, relay }) {
      const params = withDevice ? { ...input.query, device: input.path.id } : { ...input.query };
      const answer = await relay(topics.queryRequest(method), params);
      return ok(answer instanceof JsonText ? answer : queryResults[method](answer));
    },
  };
}

/** A route answered by the device's agent: one device request, its answer checked against the contract. */
function deviceRoute(
  method: string,
  params: (input: RequestInput) => Record<string, unknown>,
  result: (answer: unknown) => unknown,
): Route {
  return {
    kind: 'device',
    async handle({ input, topics, call, ensureKnownDevice }) {
      const id = input.path.id as string;
      ensureKnownDevice(id);
      return ok(result(await call(topics.deviceRequest(id, method), params(input))));
    },
  };
}

/** One handler per operationId of openapi.yaml; the gateway refuses to start when they differ. */
export const ROUTES: Record<string, Route> = {
  getLiveness: { kind: 'local', handle: () => ok({ status: 'ok' }) },

  getReadiness: {
    kind: 'local',
    handle: ({ health }) => ({
      status: health.ready ? 200 : 503,
      body: { ready: health.ready, checks: health.snapshot() },
    }),
  },

  listDevices: queryRoute('devices'),

  getDevice: {
    kind: 'query',
    async handle({ input, topics, call }) {
      // `devices` has no id filter; the fleet is small enough to pick one from the list.
      const result = queryResults.devices(await call(topics.queryRequest('devices'), {})) as DevicesResult;
      const device = result.devices.find((candidate) => candidate.id === input.path.id);
      if (!device) {
        throw new HttpProblem(
          'UNKNOWN_DEVICE',
          `the query component knows no device '${String(input.path.id)}'`,
          {
            parameter: { name: 'id', in: 'path' },
          },
        );
      }
      return ok(device);
    },
  },

  whoAmI: {
    kind: 'local',
    handle: ({ client }) => ok({ name: client!.name, scopes: client!.scopes }),
  },

  streamEvents: {
    kind: 'stream',
    handle: ({ input, events }) => ({
      status: 200,
      stream: (response) => events.open(response, input.query as LiveEventsParams),
    }),
  },

  getLatest: queryRoute('latest'),
  getReadings: queryRoute('readings', true),
  getEnergy: queryRoute('energy', true),
  getTotals: queryRoute('totals'),
  getCost: queryRoute('cost'),

  // Answered by the alert hook; the query parameters are AlertListParams as they are.
  listAlerts: {
    kind: 'query',
    forwards: { schema: AlertListParamsSchema, path: {} },
    async handle({ input, topics, call }) {
      return ok(alertList(await call(new AlertTopics(topics.base).request('list'), { ...input.query })));
    },
  },

  getDevicePower: deviceRoute('get', () => ({}), deviceState),
  setDevicePower: deviceRoute('set', (input) => ({ on: (input.body as SetPowerParams).on }), deviceState),
  // The agent reads the device's history and publishes it for the storage hook (docs/devices.md).
  backfillDevice: deviceRoute(
    'backfill',
    (input) => ({ days: (input.body as BackfillParams).days }),
    backfillResult,
  ),
};
