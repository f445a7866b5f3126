import { randomUUID } from 'node:crypto';
import express, {
  type ErrorRequestHandler,
  type Express,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import swaggerUi from 'swagger-ui-express';
import { JsonText, type Bus } from '@wattbus/bus';
import type { Fleet } from '@wattbus/fleet';
import type { Health, Logger } from '@wattbus/runtime';
import { presentedKey, type ApiClient, type ApiKeys } from './api-keys.js';
import type { GatewayConfig } from './config.js';
import { dashboardRouter } from './dashboard.js';
import { InFlight } from './in-flight.js';
import type { LiveEvents } from './live-events.js';
import type { RequestDone } from './metrics.js';
import { HttpProblem, renderProblem, toHttpProblem } from './problem.js';
import type { Route, RouteContext } from './routes.js';
import type { OpenApiSpec, Operation } from './spec.js';

export interface HttpAppDeps {
  config: GatewayConfig;
  spec: OpenApiSpec;
  routes: Record<string, Route>;
  bus: Bus;
  /** Which devices exist. */
  directory: Fleet;
  events: LiveEvents;
  health: Health;
  apiKeys: ApiKeys;
  logger: Logger;
  inFlight: InFlight;
  /** True once stop() began: new API requests get 503 and `Connection: close`. */
  stopping: () => boolean;
  /** Told of every finished request (metrics). */
  requestDone?: (request: RequestDone) => void;
}

interface Locals {
  requestId: string;
  operationId?: string;
  client?: ApiClient;
}

const locals = (res: Response) => res.locals as Locals;

// A client-chosen X-Request-Id is logged next to ours, only when it is short and plain.
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The express app: every API route comes from an operation of openapi.yaml (routing, scopes,
 * parameter and body validation), its handler from ROUTES, and every error leaves as
 * application/problem+json through one error handler.
 */
export function createHttpApp(deps: HttpAppDeps): Express {
  checkRoutesMatchSpec(deps.spec, deps.routes);
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(requestIdAndLog(deps.logger, deps.requestDone));
  if (deps.config.cors_origins.length > 0) app.use(cors(deps.config.cors_origins));

  app.use(dashboardRouter(deps.logger));
  app.get('/openapi.json', (_req, res) => {
    res.json(deps.spec.document);
  });
  app.use(
    '/docs',
    swaggerUi.serve,
    swaggerUi.setup(undefined, {
      customSiteTitle: 'WattBus API',
      swaggerOptions: { url: '/openapi.json', persistAuthorization: true },
    }),
  );

  const pathsSeen = new Map<string, Set<string>>();
  for (const operation of deps.spec.operations) {
    const route = deps.routes[operation.operationId]!;
    const handlers: RequestHandler[] = [
      (_req, res, next) => {
        locals(res).operationId = operation.operationId;
        next();
      },
    ];
    if (route.kind === 'query' || route.kind === 'device') handlers.push(admit(deps));
    handlers.push(authenticate(deps.apiKeys, operation));
    if (operation.hasBody) handlers.push(...jsonBody(deps.config.max_body_bytes));
    handlers.push(handle(deps, operation, route));
    app[operation.method](operation.expressPath, ...handlers);
    const methods = pathsSeen.get(operation.expressPath) ?? new Set<string>();
    methods.add(operation.method.toUpperCase());
    pathsSeen.set(operation.expressPath, methods);
  }
  for (const [path, methods] of pathsSeen) {
    if (methods.has('GET')) methods.add('HEAD');
    app.all(path, (req, _res, next) => {
      next(
        new HttpProblem(
          'METHOD_NOT_ALLOWED',
          `${req.method} is not allowed here; use ${[...methods].join(', ')}`,
          {
            headers: { Allow: [...methods].join(', ') },
          },
        ),
      );
    });
  }
  app.use((req, _res, next) => {
    next(
      new HttpProblem(
        'NOT_FOUND',
        `no route ${req.method} ${req.path}; the API is described at /openapi.json`,
      ),
    );
  });
  app.use(problemHandler(deps.logger));
  return app;
}

function checkRoutesMatchSpec(spec: OpenApiSpec, routes: Record<string, Route>): void {
  const inSpec = new Set(spec.operations.map((operation) => operation.operationId));
  const missing = [...inSpec].filter((id) => !routes[id]);
  const extra = Object.keys(routes).filter((id) => !inSpec.has(id));
  if (missing.length > 0 || extra.length > 0) {
    throw new Error(
      `routes and openapi.yaml disagree: ${missing.length ? `no handler for ${missing.join(', ')}` : ''}${
        missing.length && extra.length ? '; ' : ''
      }${extra.length ? `no operation for ${extra.join(', ')}` : ''}`,
    );
  }
}

function requestIdAndLog(logger: Logger, requestDone: HttpAppDeps['requestDone']): RequestHandler {
  return (req, res, next) => {
    const started = performance.now();
    const requestId = randomUUID();
    locals(res).requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    res.once('close', () => {
      const finished = res.writableFinished;
      const status = finished ? res.statusCode : 499; // 499: the client went away first (nginx' code)
      const clientId = req.get('x-request-id');
      const line = {
        request_id: requestId,
        ...(clientId && CLIENT_REQUEST_ID.test(clientId) ? { client_request_id: clientId } : {}),
        method: req.method,
        // The path only: a query string is the client's text and could carry anything.
        path: req.path,
        operation: locals(res).operationId,
        status,
        duration_ms: Math.round((performance.now() - started) * 10) / 10,
        ...(locals(res).client ? { key: locals(res).client!.name } : {}),
        ...(finished ? {} : { client_closed: true }),
      };
      if (status >= 500 && status !== 503) logger.warn(line, 'request');
      else logger.info(line, 'request');
      requestDone?.({
        method: req.method,
        operation: line.operation ?? 'none',
        status,
        duration_ms: line.duration_ms,
      });
    });
    next();
  };
}

function cors(origins: readonly string[]): RequestHandler {
  const any = origins.includes('*');
  return (req, res, next) => {
    const origin = req.get('origin');
    if (!origin || !(any || origins.includes(origin))) return next();
    res.setHeader('Access-Control-Allow-Origin', any ? '*' : origin);
    if (!any) res.vary('Origin');
    res.setHeader('Access-Control-Expose-Headers', 'X-Request-Id, Retry-After, WWW-Authenticate');
    if (req.method === 'OPTIONS' && req.get('access-control-request-method')) {
      res.setHeader('Access-Control-Allow-Methods', 'GET, PUT, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'Authorization, X-API-Key, Content-Type, X-Request-Id');
      res.setHeader('Access-Control-Max-Age', '600');
      res.status(204).end();
      return;
    }
    next();
  };
}

/** Bounded in-flight requests: beyond the bound, 503 at once instead of an unbounded queue. */
function admit(deps: HttpAppDeps): RequestHandler {
  return (_req, res, next) => {
    if (deps.stopping()) {
      res.setHeader('Connection', 'close');
      return next(
        new HttpProblem('SHUTTING_DOWN', 'the gateway is shutting down; retry on another instance'),
      );
    }
    if (!deps.inFlight.tryEnter()) {
      return next(
        new HttpProblem(
          'OVERLOADED',
          `more than ${deps.config.max_in_flight} requests in flight; retry shortly`,
        ),
      );
    }
    res.once('close', () => deps.inFlight.leave());
    next();
  };
}

function authenticate(apiKeys: ApiKeys, operation: Operation): RequestHandler {
  const scopes = operation.scopes ?? [];
  const challenge = { 'WWW-Authenticate': 'Bearer realm="wattbus"' };
  return (req, res, next) => {
    if (operation.scopes === null) return next();
    const key = presentedKey({
      authorization: req.get('authorization'),
      'x-api-key': req.headers['x-api-key'],
    });
    if (key === undefined) {
      return next(
        new HttpProblem(
          'UNAUTHORIZED',
          'send an API key as `Authorization: Bearer <key>` or `X-API-Key: <key>`',
          {
            headers: challenge,
          },
        ),
      );
    }
    const client = key === null ? undefined : apiKeys.identify(key);
    if (!client) {
      return next(
        new HttpProblem('UNAUTHORIZED', 'the API key is malformed or not known', { headers: challenge }),
      );
    }
    locals(res).client = client;
    if (!scopes.some((scope) => client.scopes.includes(scope))) {
      return next(
        new HttpProblem(
          'FORBIDDEN',
          `this operation needs the ${scopes.join(' or ')} scope; the key has ${client.scopes.join(', ')}`,
        ),
      );
    }
    next();
  };
}

function jsonBody(limitBytes: number): RequestHandler[] {
  return [
    (req, _res, next) => {
      const hasBody =
        req.get('content-length') !== undefined
          ? req.get('content-length') !== '0'
          : req.get('transfer-encoding') !== undefined;
      if (hasBody && !req.is('application/json')) {
        return next(
          new HttpProblem(
            'UNSUPPORTED_MEDIA_TYPE',
            `the body must be application/json, not ${req.get('content-type') ?? '(none)'}`,
          ),
        );
      }
      next();
    },
    express.json({ limit: limitBytes, strict: true }),
  ];
}

function handle(deps: HttpAppDeps, operation: Operation, route: Route): RequestHandler {
  const { config, bus, spec, directory, events, health } = deps;
  const timeoutMs =
    config.route_timeouts_ms[operation.operationId] ??
    (route.kind === 'device' ? config.device_timeout_ms : config.query_timeout_ms);
  return async (req, res) => {
    const input = spec.validateRequest(operation.operationId, {
      path: { ...req.params },
      query: { ...(req.query as Record<string, unknown>) },
      body: req.body as unknown,
    });
    const cancel = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) cancel.abort();
    });
    const ask = (topic: string, params: Record<string, unknown>, raw: boolean) => {
      // Fail fast: mqtt.js would queue the request offline and the client would wait for the deadline.
      if (!bus.connected) {
        throw new HttpProblem(
          'BROKER_UNAVAILABLE',
          'the gateway is reconnecting to the MQTT broker; retry shortly',
        );
      }
      return bus.request(topic, params, { timeoutMs, signal: cancel.signal, id: locals(res).requestId, raw });
    };
    const context: RouteContext = {
      input,
      topics: bus.topics,
      health,
      directory,
      events,
      client: locals(res).client,
      call: (topic, params) => ask(topic, params, false),
      relay: (topic, params) => ask(topic, params, true),
      ensureKnownDevice: (deviceId) => {
        if (config.unknown_devices === 'not_found' && !directory.has(deviceId)) {
          throw new HttpProblem('UNKNOWN_DEVICE', `no agent announced a device '${deviceId}'`, {
            parameter: { name: 'id', in: 'path' },
          });
        }
      },
    };
    const result = await route.handle(context);
    if (result.stream) return result.stream(res);
    if (res.writableEnded || res.destroyed) return;
    sendJson(res, result.status, result.body);
  };
}

/**
 * An API answer, written straight to node:http: express' res.json() would also hash the body for
 * an ETag (a day of readings is ~70 KB) that no API client revalidates with. A JsonText (a
 * result the query component encoded) goes out as its bytes.
 */
function sendJson(res: Response, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  if (body instanceof JsonText) {
    res.setHeader('Content-Length', body.bytes.length);
    res.end(body.bytes);
    return;
  }
  // A string goes out with the headers in one write (a Buffer would be a second chunk).
  const text = body === undefined ? '' : JSON.stringify(body);
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

function problemHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req: Request, res: Response, _next) => {
    const problem = toHttpProblem(fromBodyParser(error));
    if (problem.code === 'INTERNAL' && !(error instanceof HttpProblem)) {
      logger.error({ err: error, request_id: locals(res).requestId }, 'request failed');
    }
    if (res.headersSent || res.destroyed) return;
    const rendered = renderProblem(problem, locals(res).requestId, req.path);
    res.status(rendered.status).set(rendered.headers).type('application/problem+json').json(rendered.body);
  };
}

/** body-parser's errors carry a `type`; turn them into the problems the contract promises. */
function fromBodyParser(error: unknown): unknown {
  const type = (error as { type?: unknown }).type;
  if (type === 'entity.too.large') {
    const limit = (error as { limit?: number }).limit;
    return new HttpProblem('PAYLOAD_TOO_LARGE', `the body exceeds ${limit ?? 'the limit of'} bytes`);
  }
  if (type === 'entity.parse.failed') {
    return new HttpProblem('INVALID_REQUEST', `the body is not valid JSON: ${(error as Error).message}`, {
      parameter: { name: '/', in: 'body' },
    });
  }
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
    return new HttpProblem('UNSUPPORTED_MEDIA_TYPE', (error as Error).message);
  }
  if (type === 'request.aborted') return new HttpProblem('INVALID_REQUEST', 'the client aborted the body');
  return error;
}
