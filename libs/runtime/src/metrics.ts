import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Type, type Static } from '@sinclair/typebox';
import type { Bus } from '@wattbus/bus';
import type { Logger } from 'pino';
import {
  AggregatorRegistry,
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type CounterConfiguration,
  type GaugeConfiguration,
  type LabelValues,
} from 'prom-client';

export { Registry } from 'prom-client';
export type { Histogram } from 'prom-client';

/** Values read from a core at scrape time: one number, or one per value of a label. */
export type Observed = number | undefined | Record<string, number>;

export interface ServiceMetricsOptions {
  /** prom-client's default process metrics (CPU, memory, event loop, GC). Default true; one per process. */
  processMetrics?: boolean;
}

/**
 * One service's Prometheus metrics: a prom-client registry whose every series carries
 * `service="<name>"`, so several services can share one process (and one `/metrics`).
 * Cores keep their own counts; `counter()` and `gauge()` read them at scrape time, so a core
 * needs no metrics code in its hot path. Histograms are observed where the event happens.
 */
export class ServiceMetrics {
  readonly registry = new Registry();

  constructor(
    readonly service: string,
    options: ServiceMetricsOptions = {},
  ) {
    this.registry.setDefaultLabels({ service });
    if (options.processMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry });
      // Gauges named like counters (promtool refuses them); nodejs_active_* by type says the same.
      for (const name of MISNAMED_DEFAULT_METRICS) this.registry.removeSingleMetric(name);
    }
  }

  /** A counter the core keeps (a number, or numbers by `label`), read at each scrape. */
  counter(name: string, help: string, read: () => Observed, label?: string): void {
    observed(this.registry, { name, help, type: 'counter', labelNames: label ? [label] : [] }, (emit) =>
      emitObserved(read(), label, emit),
    );
  }

  /** A gauge the core keeps (a number, or numbers by `label`), read at each scrape. */
  gauge(name: string, help: string, read: () => Observed, label?: string): void {
    observed(this.registry, { name, help, type: 'gauge', labelNames: label ? [label] : [] }, (emit) =>
      emitObserved(read(), label, emit),
    );
  }

  /** A histogram observed by the caller; buckets in the metric's unit (seconds by convention). */
  histogram<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    buckets: number[] = DURATION_BUCKETS_SECONDS,
  ): Histogram<L> {
    return new Histogram({ name, help, labelNames, buckets, registers: [this.registry] });
  }
}

const MISNAMED_DEFAULT_METRICS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** Durations from 1 ms to 10 s: HTTP requests, InfluxDB writes. */
export const DURATION_BUCKETS_SECONDS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

function emitObserved(value: Observed, label: string | undefined, emit: Emit): void {
  if (value === undefined) return;
  if (typeof value === 'number') return emit({}, value);
  if (!label) throw new Error('values by label need the label name');
  for (const [labelValue, count] of Object.entries(value)) emit({ [label]: labelValue }, count);
}

/** Hands one sample (labels and value) to the metric being collected. */
export type Emit = (labels: LabelValues<string>, value: number) => void;

export interface ObservedMetric {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  labelNames: readonly string[];
}

/**
 * A counter or gauge whose samples are all produced at scrape time by `collect`: a series not
 * emitted again disappears, and an unlabelled one without a value is absent (not 0).
 */
export function observed(registry: Registry, metric: ObservedMetric, collect: (emit: Emit) => void): void {
  const configuration = {
    name: metric.name,
    help: metric.help,
    labelNames: metric.labelNames,
    registers: [registry],
  };
  if (metric.type === 'counter') new ObservedCounter(configuration, collect);
  else new ObservedGauge(configuration, collect);
}

/**
 * The samples straight from `collect`, without prom-client's per-label map: a scrape of the
 * fleet emits ten thousands of series, and that map (a hash and an object per set()) cost more
 * than the rest of the scrape together.
 */
function samples(collect: (emit: Emit) => void): { labels: LabelValues<string>; value: number }[] {
  const values: { labels: LabelValues<string>; value: number }[] = [];
  collect((labels, value) => values.push({ labels, value }));
  return values;
}

class ObservedGauge extends Gauge<string> {
  readonly #collect: (emit: Emit) => void;
  constructor(configuration: GaugeConfiguration<string>, collect: (emit: Emit) => void) {
    super(configuration);
    this.#collect = collect;
  }
  override async get() {
    return { ...(await super.get()), values: samples(this.#collect) };
  }
}

class ObservedCounter extends Counter<string> {
  readonly #collect: (emit: Emit) => void;
  constructor(configuration: CounterConfiguration<string>, collect: (emit: Emit) => void) {
    super(configuration);
    this.#collect = collect;
  }
  override async get() {
    return { ...(await super.get()), values: samples(this.#collect) };
  }
}

/**
 * What every service's bus counts, as `wattbus_bus_*`: messages in and out, dead letters by
 * reason, handler errors, requests sent, timed out and served, pending requests, and whether
 * the broker is connected. `bus` may be undefined before start (nothing is reported then).
 */
export function busMetrics(metrics: ServiceMetrics, bus: () => Bus | undefined): void {
  const read = <T>(pick: (bus: Bus) => T) => {
    const current = bus();
    return current === undefined ? undefined : pick(current);
  };
  const counts = () => read((current) => current.metrics());
  metrics.counter(
    'wattbus_bus_messages_received_total',
    'MQTT messages routed to a handler.',
    () => counts()?.received,
  );
  metrics.counter(
    'wattbus_bus_messages_published_total',
    'MQTT messages published.',
    () => counts()?.published,
  );
  metrics.counter(
    'wattbus_bus_dead_letters_total',
    'Messages refused and sent to the dead-letter topic, by reason (unparsable, schema, oversize, rejected).',
    () => counts()?.dead_lettered_by_reason,
    'reason',
  );
  metrics.counter(
    'wattbus_bus_handler_errors_total',
    'Message handlers that threw.',
    () => counts()?.handler_errors,
  );
  metrics.counter(
    'wattbus_bus_requests_sent_total',
    'Requests sent over MQTT.',
    () => counts()?.requests_sent,
  );
  metrics.counter(
    'wattbus_bus_requests_timed_out_total',
    'Requests sent that got no response in time.',
    () => counts()?.requests_timed_out,
  );
  metrics.counter('wattbus_bus_requests_served_total', 'Requests answered.', () => counts()?.requests_served);
  metrics.gauge(
    'wattbus_bus_pending_requests',
    'Requests sent and waiting for their response.',
    () => counts()?.pending_requests,
  );
  metrics.gauge('wattbus_bus_connected', '1 while connected to the MQTT broker.', () =>
    read((current) => (current.connected ? 1 : 0)),
  );
}

/**
 * The exposition of several registries as one page. Families with distinct names are joined
 * as they are; when two registries share a name (each in-process service has its bus), the
 * series are gathered under one family (they differ by their `service` label).
 */
export async function exposition(registries: readonly Registry[]): Promise<string> {
  const names = registries.flatMap((registry) => registry.getMetricsAsArray().map((metric) => metric.name));
  if (new Set(names).size === names.length) {
    const pages = await Promise.all(registries.map((registry) => registry.metrics()));
    return pages.filter((page) => page.trim() !== '').join('\n');
  }
  const json = await Promise.all(registries.map((registry) => registry.getMetricsAsJSON()));
  return AggregatorRegistry.aggregate(json).metrics();
}

/** The `admin:` keys of a service's config: where its `/metrics` is served. */
export function adminSchema(defaultPort: number) {
  return Type.Object(
    {
      enabled: Type.Boolean({ default: true, description: 'Serve /metrics (Prometheus text format).' }),
      host: Type.String({
        default: '127.0.0.1',
        description: 'Address of the admin listener; 0.0.0.0 to let a Prometheus elsewhere scrape it.',
      }),
      port: Type.Integer({
        minimum: 0,
        maximum: 65535,
        default: defaultPort,
        description: 'Port of /metrics; 0 lets the OS choose.',
      }),
    },
    { additionalProperties: false, default: {} },
  );
}
export type AdminConfig = Static<ReturnType<typeof adminSchema>>;

export interface MetricsServer {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

export interface ServeMetricsOptions {
  host: string;
  port: number;
  /** Read on every scrape, so parts may come and go. */
  registries: readonly Registry[] | (() => readonly Registry[]);
  logger?: Logger;
}

/** An HTTP listener serving `GET /metrics` (and `/` with a pointer to it); everything else is 404. */
export async function serveMetrics(options: ServeMetricsOptions): Promise<MetricsServer> {
  const registries = () =>
    typeof options.registries === 'function' ? options.registries() : options.registries;
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('use GET\n');
      return;
    }
    if (path === '/') {
      response.writeHead(200, { 'content-type': 'text/plain' }).end('WattBus metrics: GET /metrics\n');
      return;
    }
    if (path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end(`no ${path}; metrics are at /metrics\n`);
      return;
    }
    exposition(registries()).then(
      (text) => response.writeHead(200, { 'content-type': Registry.PROMETHEUS_CONTENT_TYPE }).end(text),
      (error: unknown) => {
        options.logger?.error({ err: error }, 'could not collect metrics');
        response.writeHead(500, { 'content-type': 'text/plain' }).end(`${(error as Error).message}\n`);
      },
    );
  });
  server.keepAliveTimeout = 65_000; // longer than a scrape interval, so Prometheus keeps its connection
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `http://${host}:${port}/metrics`;
  options.logger?.info({ url }, 'serving metrics');
  return {
    url,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Serves a service's metrics where its `admin:` config says; undefined when disabled. A port
 * that cannot be bound (taken, not allowed) is logged as an error and the service runs on
 * without /metrics: monitoring is not worth an outage, and Prometheus shows the target down.
 */
export async function serveAdmin(
  admin: AdminConfig,
  registries: ServeMetricsOptions['registries'],
  logger?: Logger,
): Promise<MetricsServer | undefined> {
  if (!admin.enabled) return undefined;
  try {
    return await serveMetrics({ host: admin.host, port: admin.port, registries, logger });
  } catch (error) {
    logger?.error(
      { err: error, host: admin.host, port: admin.port },
      `cannot serve /metrics on ${admin.host}:${admin.port} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); running without it: set admin.port`,
    );
    return undefined;
  }
}
