import { AlertTopics, type ServiceHealth } from '@wattbus/contracts';
import type { Logger } from 'pino';
import { Health } from './health.js';

/** What the publisher needs of a connection: a Bus, or the embedded broker publishing to itself. */
export interface HealthChannel {
  readonly topics: { readonly base: string };
  readonly connected: boolean;
  publish(topic: string, payload: unknown, options: { qos?: 0 | 1; retain?: boolean }): Promise<void>;
  on?(event: 'connect' | 'offline', listener: () => void): unknown;
  off?(event: 'connect' | 'offline', listener: () => void): unknown;
}

export type HealthProbe = () => Record<string, { ok: boolean; detail?: string }>;

export interface HealthPublisherOptions {
  bus: HealthChannel;
  /** Names the topic `{base}/health/{service}` and the record. */
  service: string;
  logger: Logger;
  /** Checks the part sets as things happen (a change is published at once). Default: a new Health. */
  health?: Health;
  /** Checks read at each publish, for state the part can only look at (a writer's last error). */
  probe?: HealthProbe;
  metrics?: () => Record<string, number>;
  /** Republish at least this often, so `stale_after_ms` rules can tell a crash; 0: on changes only. Default 30 s. */
  intervalMs?: number;
  /** Milliseconds since the epoch for `ts`; default Date.now (tests move it). */
  clock?: () => number;
}

export const DEFAULT_HEALTH_INTERVAL_MS = 30_000;

/**
 * Publishes a service's retained ServiceHealth on `{base}/health/{service}` (docs/alerts.md):
 * on start, on every change of a check or of the broker link, every `intervalMs`, and once with
 * `ready: false` on stop. Checks `broker` and `running` are its own; the part adds the rest.
 */
export class HealthPublisher {
  readonly health: Health;
  #options: HealthPublisherOptions;
  #own = new Health();
  #running = false;
  #timer: NodeJS.Timeout | undefined;
  #unlisten: Array<() => void> = [];

  constructor(options: HealthPublisherOptions) {
    this.#options = options;
    this.health = options.health ?? new Health();
  }

  get topic(): string {
    return new AlertTopics(this.#options.bus.topics.base).health(this.#options.service);
  }

  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    const { bus } = this.#options;
    const publish = () => void this.publish();
    this.#unlisten.push(this.health.onChange(publish));
    if (bus.on && bus.off) {
      bus.on('connect', publish);
      bus.on('offline', publish);
      this.#unlisten.push(() => {
        bus.off?.('connect', publish);
        bus.off?.('offline', publish);
      });
    }
    const intervalMs = this.#options.intervalMs ?? DEFAULT_HEALTH_INTERVAL_MS;
    if (intervalMs > 0) {
      this.#timer = setInterval(publish, intervalMs);
      this.#timer.unref();
    }
    await this.publish();
  }

  /** Publishes `ready: false` (check `running` false) and stops publishing. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    clearInterval(this.#timer);
    for (const unlisten of this.#unlisten.splice(0)) unlisten();
    await this.publish();
  }

  /** The record as it would be published now. */
  record(): ServiceHealth {
    const { bus, probe, metrics, clock } = this.#options;
    this.#own.set('broker', bus.connected);
    this.#own.set('running', this.#running);
    for (const [name, check] of Object.entries(probe?.() ?? {})) this.#own.set(name, check.ok, check.detail);
    const checks: ServiceHealth['checks'] = {};
    for (const [name, check] of Object.entries({ ...this.#own.snapshot(), ...this.health.snapshot() })) {
      checks[name] = {
        ok: check.ok,
        since: check.since,
        ...(check.detail ? { detail: check.detail.slice(0, 1000) } : {}),
      };
    }
    return {
      service: this.#options.service,
      ts: new Date((clock ?? Date.now)()).toISOString(),
      ready: Object.values(checks).every((check) => check.ok),
      checks,
      metrics: metrics?.() ?? {},
    };
  }

  /** Publishes the record now (retained, QoS 1); skipped while the broker is away (it is sent on reconnect). */
  async publish(): Promise<void> {
    const { bus, logger } = this.#options;
    if (!bus.connected) return;
    await bus
      .publish(this.topic, this.record(), { qos: 1, retain: true })
      .catch((error: unknown) => logger.debug({ err: error, topic: this.topic }, 'could not publish health'));
  }
}
