import type { ServiceMetrics } from '@wattbus/runtime';
import type { Logger } from 'pino';

export interface BrokerMetrics {
  /** Clients whose CONNECT was accepted and that have not gone yet. */
  clients_connected: number;
  /** PUBLISH packets from clients (wills included) that passed the ACL. */
  messages_published: number;
  /** CONNECTs refused: unknown user, wrong password, or anonymous while it is disabled. */
  auth_failures: number;
  /** PUBLISH and SUBSCRIBE requests refused by the ACL. */
  acl_denials: number;
}

/** The counters the broker bumps; `clients_connected` is read from aedes instead. */
export class BrokerCounters {
  messages_published = 0;
  auth_failures = 0;
  acl_denials = 0;
}

export interface StatsReporterOptions {
  intervalMs: number;
  read: () => BrokerMetrics;
  logger: Logger;
  /** Also hands each snapshot to this, e.g. to publish it on a `$SYS` topic. */
  publish?: (metrics: BrokerMetrics) => void;
}

/** Logs one JSON line of metrics every `intervalMs` (0 = never). */
export class StatsReporter {
  readonly #options: StatsReporterOptions;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: StatsReporterOptions) {
    this.#options = options;
  }

  start(): void {
    const { intervalMs } = this.#options;
    if (intervalMs <= 0 || this.#timer !== undefined) {
      return;
    }
    this.#timer = setInterval(() => this.report(), intervalMs);
    // Statistics alone are no reason to keep the process alive.
    this.#timer.unref();
  }

  report(): void {
    const metrics = this.#options.read();
    this.#options.logger.info({ metrics }, 'broker stats');
    this.#options.publish?.(metrics);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** The broker's counters as Prometheus metrics, read at each scrape. */
export function brokerPrometheusMetrics(metrics: ServiceMetrics, read: () => BrokerMetrics): void {
  metrics.gauge('wattbus_broker_clients_connected', 'Clients connected.', () => read().clients_connected);
  metrics.counter(
    'wattbus_broker_messages_published_total',
    'PUBLISH packets from clients (wills included) that passed the ACL.',
    () => read().messages_published,
  );
  metrics.counter(
    'wattbus_broker_auth_failures_total',
    'CONNECTs refused: unknown user, wrong password, or anonymous while disabled.',
    () => read().auth_failures,
  );
  metrics.counter(
    'wattbus_broker_acl_denials_total',
    'PUBLISH and SUBSCRIBE requests refused by the ACL.',
    () => read().acl_denials,
  );
}
