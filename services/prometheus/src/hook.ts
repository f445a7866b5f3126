import { Bus, busConnection, type BusOptions } from '@wattbus/bus';
import { Fleet } from '@wattbus/fleet';
import {
  busMetrics,
  HealthPublisher,
  type Logger,
  type Registry,
  type ServiceMetrics,
} from '@wattbus/runtime';
import type { PrometheusHookConfig } from './config.js';
import { deviceMetrics } from './device-metrics.js';

export const SERVICE_NAME = 'prometheus-hook';

export interface PrometheusHookDeps {
  config: PrometheusHookConfig;
  logger: Logger;
  /** How to connect to the broker: the front door's (it names a failure clearly); default Bus.connect. */
  connect?: (options: BusOptions) => Promise<Bus>;
  /** The hook's own metrics (its bus, devices known) go here. */
  metrics?: ServiceMetrics;
  /** Milliseconds since the epoch, for staleness. Default Date.now. */
  clock?: () => number;
}

/**
 * A peer of the storage hook: follows the fleet (libs/fleet: meta, availability, state and
 * live readings) and exposes it as Prometheus metrics in `registry`, computed at each scrape.
 * Serving the registry over HTTP is main's job (runtime's serveMetrics), so `npm start` can
 * put every in-process service on the same `/metrics`. Publishes its health on
 * `{base}/health/prometheus-hook`.
 */
export class PrometheusHook {
  readonly registry: Registry;
  #deps: PrometheusHookDeps;
  #bus: Bus | undefined;
  #fleet: Fleet | undefined;
  #health: HealthPublisher | undefined;

  constructor(deps: PrometheusHookDeps) {
    this.#deps = deps;
    this.registry = deviceMetrics({
      devices: () => this.#fleet?.devices() ?? [],
      staleAfterPolls: deps.config.stale_after_polls,
      clock: deps.clock,
    });
    if (deps.metrics) {
      busMetrics(deps.metrics, () => this.#bus);
      deps.metrics.gauge('wattbus_prometheus_devices', 'Devices the hook knows of.', () => this.#fleet?.size);
    }
  }

  async start(): Promise<void> {
    const { config, logger, clock } = this.#deps;
    const connect = this.#deps.connect ?? ((options: BusOptions) => Bus.connect(options));
    this.#bus = await connect({ ...busConnection(config.mqtt), service: SERVICE_NAME, logger });
    try {
      this.#fleet = new Fleet({ bus: this.#bus, clock, logger });
      await this.#fleet.start();
      this.#health = new HealthPublisher({
        bus: this.#bus,
        service: SERVICE_NAME,
        logger,
        metrics: () => ({ devices: this.#fleet?.size ?? 0 }),
      });
      await this.#health.start();
    } catch (error) {
      await this.stop();
      throw error;
    }
    logger.info({ stale_after_polls: config.stale_after_polls }, 'prometheus hook following the fleet');
  }

  /** The view behind the metrics (undefined before start). */
  get fleet(): Fleet | undefined {
    return this.#fleet;
  }

  get bus(): Bus | undefined {
    return this.#bus;
  }

  async stop(): Promise<void> {
    await this.#health?.stop();
    await this.#fleet?.stop();
    await this.#bus?.stop();
    this.#health = undefined;
    this.#fleet = undefined;
    this.#bus = undefined;
  }
}
