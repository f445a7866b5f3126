import { Type } from '@sinclair/typebox';
import {
  shareGroupFilter,
  type Bus,
  type JsonText,
  type ServeContext,
  type Subscription,
} from '@wattbus/bus';
import {
  QUERY_METHODS,
  ReadingSchema,
  WattbusError,
  invalidParams,
  isQueryMethod,
  validator,
  type QueryMethod,
  type QueryParams,
  type QueryResults,
  type Validator,
} from '@wattbus/contracts';
import { InfluxQueryClient, isTimeZone, seriesRows } from '@wattbus/influx';
import { HealthPublisher, type Logger, type ServiceMetrics } from '@wattbus/runtime';
import type { QueryConfig } from './config.js';
import { Fleet } from './fleet.js';
import { queryMetrics } from './metrics.js';
import { QueryMethods, type CallContext, type QueryHandlers } from './methods.js';
import { Tariff } from './tariff.js';

export interface QueryComponentDeps {
  bus: Bus;
  config: QueryConfig;
  logger: Logger;
  /** Requests, errors by code, devices known and the bus go here. */
  metrics?: ServiceMetrics;
}

const anyParams = validator(Type.Record(Type.String(), Type.Unknown()));
const checkReading = validator(ReadingSchema);
const paramsCheckers: { [M in QueryMethod]: Validator<QueryParams[M]> } = {
  devices: validator(QUERY_METHODS.devices.params),
  latest: validator(QUERY_METHODS.latest.params),
  readings: validator(QUERY_METHODS.readings.params),
  energy: validator(QUERY_METHODS.energy.params),
  totals: validator(QUERY_METHODS.totals.params),
  cost: validator(QUERY_METHODS.cost.params),
};
const FIELDS = ['power_w', 'voltage_v', 'current_a', 'energy_wh', 'power_factor', 'frequency_hz'] as const;
const WARMUP_RETRY_MS = 10_000;

/**
 * Answers `wattbus/query/req/{method}` (through a share group when one is configured, else as a
 * hot standby next to any other component: the requester keeps the first answer):
 * `devices` and `latest` from the in-memory fleet, the range methods from InfluxDB.
 */
export class QueryComponent {
  #deps: QueryComponentDeps;
  #client: InfluxQueryClient;
  #fleet: Fleet;
  #handlers: QueryHandlers;
  /** Absent with health_interval_ms 0. */
  #health: HealthPublisher | undefined;
  #counts = { requests: 0, store_unavailable: 0, query_failed: 0, too_large: 0 };
  #subscription: Subscription | undefined;
  #warmupTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  /** Resolves when the latest readings were read from InfluxDB once (or warm-up is disabled). */
  warmedUp: Promise<void>;
  #warmedUp!: () => void;

  constructor(deps: QueryComponentDeps) {
    this.#deps = deps;
    this.#client = new InfluxQueryClient({
      connection: deps.config.influx,
      paramMode: deps.config.influx_params,
      onReachable: (reachable, error) => this.#health?.health.set('influx', reachable, error?.message),
    });
    this.#fleet = new Fleet({ bus: deps.bus, logger: deps.logger });
    this.#handlers = new QueryMethods({
      fleet: this.#fleet,
      client: this.#client,
      config: deps.config,
      tariff: new Tariff(deps.config.tariff, deps.config.time_zone),
    });
    // Check `influx`: false since a query found InfluxDB unreachable, true after one that worked.
    this.#health =
      deps.config.health_interval_ms > 0
        ? new HealthPublisher({
            bus: deps.bus,
            service: deps.config.health_name,
            logger: deps.logger,
            intervalMs: deps.config.health_interval_ms,
            metrics: () => this.metrics(),
          })
        : undefined;
    this.#health?.health.set('influx', true);
    this.warmedUp = new Promise((resolve) => (this.#warmedUp = resolve));
    if (deps.metrics) queryMetrics(deps.metrics, this);
  }

  get bus(): Bus {
    return this.#deps.bus;
  }

  /** Counters for health records and logs. */
  metrics(): Record<string, number> {
    const bus = this.#deps.bus.metrics();
    return {
      requests: this.#counts.requests,
      store_unavailable: this.#counts.store_unavailable,
      query_failed: this.#counts.query_failed,
      query_too_large: this.#counts.too_large,
      devices_known: this.#fleet.size,
      dead_lettered: bus.dead_lettered,
    };
  }

  get requestFilter(): string {
    const group = this.#deps.config.mqtt.share_group;
    const filter = `${this.#deps.bus.topics.base}/query/req/+`;
    return group ? shareGroupFilter(group, filter) : filter;
  }

  async start(): Promise<void> {
    checkConfig(this.#deps.config);
    this.#stopped = false;
    await this.#client.start();
    await this.#fleet.start();
    await this.#warmUp();
    const group = this.#deps.config.mqtt.share_group;
    if (group) await this.#deps.bus.verifyShareGroup(group);
    this.#subscription = await this.#deps.bus.serve(this.requestFilter, anyParams, (params, context) =>
      this.#dispatch(params, context),
    );
    await this.#health?.start();
    this.#deps.logger.info({ filter: this.requestFilter }, 'query component serving');
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#warmupTimer);
    if (this.#subscription && this.#deps.config.mqtt.share_group) {
      // Leave the group without dropping requests already dealt to us: they are answered first.
      await this.#deps.bus.drain([this.#subscription]).catch(() => false);
    }
    await this.#subscription?.unsubscribe().catch(() => undefined);
    this.#subscription = undefined;
    await this.#fleet.stop();
    await this.#health?.stop();
  }

  async #dispatch(params: Record<string, unknown>, context: ServeContext): Promise<unknown> {
    const method = context.topic.slice(context.topic.lastIndexOf('/') + 1);
    if (!isQueryMethod(method)) {
      throw new WattbusError(
        'UNKNOWN_METHOD',
        `unknown query method ${JSON.stringify(method)}; methods: ${Object.keys(QUERY_METHODS).join(', ')}`,
      );
    }
    try {
      return await this.#run(method, params, this.#call(context));
    } catch (error) {
      if (error instanceof WattbusError) {
        if (error.code === 'STORE_UNAVAILABLE') this.#counts.store_unavailable++;
        else if (error.code === 'QUERY_FAILED') this.#counts.query_failed++;
        else if (error.code === 'QUERY_TOO_LARGE') this.#counts.too_large++;
      }
      throw error;
    }
  }

  /** Checks the params against the method's schema and calls its handler from the typed map. */
  async #run<M extends QueryMethod>(
    method: M,
    params: unknown,
    call: CallContext,
  ): Promise<QueryResults[M] | JsonText> {
    const check = paramsCheckers[method];
    if (!check(params)) {
      throw invalidParams(check);
    }
    this.#counts.requests++;
    return this.#handlers[method](params, call);
  }

  /** InfluxDB gets until the requester's deadline (and never longer than influx.timeout_ms). */
  #call(context: ServeContext): CallContext {
    const configured = this.#deps.config.influx.timeout_ms;
    const deadline = context.envelope.deadline
      ? Date.parse(context.envelope.deadline) - Date.now()
      : configured;
    return { timeoutMs: Math.max(100, Math.min(configured, deadline - 50)) };
  }

  /** Reads every device's latest reading once; retried in the background while InfluxDB is away. */
  async #warmUp(): Promise<void> {
    const lookback = this.#deps.config.warmup_lookback_ms;
    if (lookback === 0) return this.#warmedUp();
    try {
      const q = await this.#client.builder();
      const now = Date.now();
      q.statement(
        `SELECT * FROM "electricity" WHERE ${q.range(now - lookback, now + 60_000)} GROUP BY * ORDER BY time DESC LIMIT 1`,
      );
      const [result] = await this.#client.run(q);
      let count = 0;
      for (const series of result?.series ?? []) {
        for (const row of seriesRows(series)) {
          const reading: Record<string, unknown> = { ts: new Date(row.time as number).toISOString() };
          const tags = series.tags ?? {};
          reading.device = tags.device;
          for (const tag of ['phase', 'type', 'location'] as const) if (tags[tag]) reading[tag] = tags[tag];
          for (const field of FIELDS) if (typeof row[field] === 'number') reading[field] = row[field];
          if (checkReading(reading)) {
            this.#fleet.remember(reading);
            count++;
          }
        }
      }
      this.#deps.logger.info({ readings: count }, 'latest readings warmed up from InfluxDB');
      this.#warmedUp();
    } catch (error) {
      this.#deps.logger.warn({ err: error }, 'could not warm up from InfluxDB; retrying');
      if (!this.#stopped) this.#warmupTimer = setTimeout(() => void this.#warmUp(), WARMUP_RETRY_MS);
    }
  }
}

/** Checks what the schema cannot (time zone, tariff periods); main runs it before connecting. */
export function checkConfig(config: QueryConfig): void {
  if (!isTimeZone(config.time_zone))
    throw new Error(`time_zone: unknown time zone ${JSON.stringify(config.time_zone)}`);
  config.tariff.periods.forEach((period, i) => {
    if (period.to_hour <= period.from_hour) {
      throw new Error(
        `tariff/periods/${i}: to_hour must be after from_hour (split a period across midnight in two)`,
      );
    }
  });
}
