import { join } from 'node:path';
import { Bus, busConnection, type BusOptions, type Subscription } from '@wattbus/bus';
import {
  AlertListParamsSchema,
  AlertTopics,
  isDeviceId,
  validator,
  type AlertListResult,
} from '@wattbus/contracts';
import { Fleet } from '@wattbus/fleet';
import { HealthPublisher, type Logger, type ServiceMetrics } from '@wattbus/runtime';
import { AlertBook } from './alert-book.js';
import type { AlertHookConfig } from './config.js';
import { Dispatcher } from './dispatcher.js';
import { DailyEnergy } from './energy.js';
import { Evaluator } from './evaluator.js';
import { AlertHistory } from './history.js';
import { DEFAULT_DEAD_LETTER_WINDOW_MS, Judge } from './judge.js';
import { Outbox } from './outbox.js';
import { ServiceWatch } from './services.js';
import { InfluxSink, WebhookSink } from './sinks.js';
import { EmailSink } from './email.js';
import { alertHookMetrics } from './metrics.js';

export const SERVICE_NAME = 'alert-hook';

export interface AlertHookDeps {
  config: AlertHookConfig;
  logger: Logger;
  /** Milliseconds since the epoch; tests move it to cross a local midnight. Default Date.now. */
  clock?: () => number;
  /** How to connect to the broker: the front door's (it names a failure clearly); default Bus.connect. */
  connect?: (options: BusOptions) => Promise<Bus>;
  /** Active alerts, notifications and the bus go here. */
  metrics?: ServiceMetrics;
}

/**
 * The alert hook: learns the fleet and service health from the bus, judges the configured
 * rules, keeps active alerts retained on the bus, and notifies webhooks and InfluxDB of every
 * transition through a durable outbox. Serves `{base}/alerts/req/list`.
 */
export class AlertHook {
  #deps: AlertHookDeps;
  #clock: () => number;
  #bus: Bus | undefined;
  #outbox: Outbox | undefined;
  #energy: DailyEnergy | undefined;
  #dispatcher: Dispatcher | undefined;
  #fleet: Fleet | undefined;
  #services: ServiceWatch | undefined;
  #book: AlertBook | undefined;
  #evaluator: Evaluator | undefined;
  #listing: Subscription | undefined;
  #health: HealthPublisher | undefined;
  #timers: NodeJS.Timeout[] = [];
  #emails: EmailSink[] = [];

  constructor(deps: AlertHookDeps) {
    this.#deps = deps;
    this.#clock = deps.clock ?? Date.now;
    if (deps.metrics) alertHookMetrics(deps.metrics, this);
  }

  /** The bus once connected (undefined before), for metrics. */
  get bus(): Bus | undefined {
    return this.#bus;
  }

  async start(): Promise<void> {
    const { config, logger } = this.#deps;
    const clock = this.#clock;
    const startedMs = clock();
    try {
      this.#outbox = new Outbox({ file: join(config.data_dir, 'outbox.jsonl'), logger });
      await this.#outbox.start();
      this.#energy = new DailyEnergy({
        file: join(config.data_dir, 'energy.json'),
        time_zone: config.time_zone,
        clock,
        logger,
      });
      await this.#energy.start();
      this.#bus = await (this.#deps.connect ?? Bus.connect)({
        ...busConnection(config.mqtt),
        service: SERVICE_NAME,
        logger,
      });
      const bus = this.#bus;
      this.#emails = await Promise.all(config.emails.map((email) => EmailSink.create(email)));
      const sinks = [
        new InfluxSink(config.influx),
        ...config.webhooks.map((webhook) => new WebhookSink(webhook)),
        ...this.#emails,
      ];
      this.#dispatcher = new Dispatcher({ outbox: this.#outbox, sinks, retry: config.retry, logger });
      const windows = config.rules.map((rule) => rule.window_ms ?? DEFAULT_DEAD_LETTER_WINDOW_MS);
      this.#fleet = new Fleet({ bus, clock, logger });
      this.#services = new ServiceWatch({
        bus,
        clock,
        dead_letter_memory_ms: Math.max(DEFAULT_DEAD_LETTER_WINDOW_MS, ...windows),
      });
      this.#book = new AlertBook({ bus, dispatcher: this.#dispatcher, clock, logger });
      const judge = new Judge({
        fleet: this.#fleet,
        services: this.#services,
        energy: this.#energy,
        clock,
        ratings_w: config.ratings_w,
        started_ms: startedMs,
      });
      this.#evaluator = new Evaluator({
        rules: config.rules,
        judge,
        book: this.#book,
        fleet: this.#fleet,
        clock,
        logger,
      });
      const evaluator = this.#evaluator;
      const energy = this.#energy;
      this.#fleet.on('reading', (reading) => {
        // Daily energy counts a device's totals, not its phases.
        if (reading.phase === undefined && reading.energy_wh !== undefined)
          energy.record(reading.device, reading.energy_wh);
      });
      this.#fleet.on('changed', (device) => evaluator.evaluateSubject(device, false));
      this.#services.on('service', (service) => evaluator.evaluateSubject(service, true));
      // Active alerts first, so retained device data arriving next cannot raise them again.
      await this.#book.recover(config.rules);
      await this.#fleet.start();
      await this.#services.start();
      this.#dispatcher.start();
      const history = new AlertHistory(config.influx);
      const book = this.#book;
      this.#listing = await bus.serve(
        new AlertTopics(bus.topics.base).request('list'),
        validator(AlertListParamsSchema),
        async (params): Promise<AlertListResult> => {
          const result: AlertListResult = {};
          const wantsHistory =
            params.active === false ||
            (params.active === undefined && (params.from ?? params.to) !== undefined);
          if (params.active !== false) {
            result.active = book
              .active()
              .filter(
                (alert) =>
                  (params.rule ?? alert.rule) === alert.rule &&
                  (params.subject ?? alert.subject) === alert.subject,
              );
          }
          if (wantsHistory) {
            const { fromMs, toMs } = AlertHistory.range(params, clock());
            result.history = await history.list(params, fromMs, toMs);
            result.from = new Date(fromMs).toISOString();
            result.to = new Date(toMs).toISOString();
          }
          return result;
        },
      );
      evaluator.start();
      this.#timers.push(
        setInterval(() => {
          evaluator.evaluateAll();
          energy
            .save()
            .catch((error: unknown) => logger.warn({ err: error }, 'could not save energy counters'));
        }, config.tick_ms),
      );
      if (config.unknown_device_warn_ms > 0) {
        this.#timers.push(setTimeout(() => this.#warnUnknownDevices(), config.unknown_device_warn_ms));
      }
      if (config.health_interval_ms > 0) {
        // Check `influx`: false while its InfluxDB writes fail.
        this.#health = new HealthPublisher({
          bus,
          service: SERVICE_NAME,
          logger,
          clock,
          intervalMs: config.health_interval_ms,
          probe: () => ({ influx: { ok: this.#dispatcher?.healthy('influx') ?? true } }),
          metrics: () => this.metrics(),
        });
        await this.#health.start();
      }
      logger.info(
        { rules: config.rules.length, webhooks: config.webhooks.length, active: this.#book.active().length },
        'alert hook started',
      );
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** Stops judging, lets recorded transitions finish, keeps undelivered ones in the outbox. */
  async stop(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers = [];
    this.#evaluator?.stop();
    await this.#listing?.unsubscribe().catch(() => undefined);
    this.#listing = undefined;
    await this.#fleet?.stop();
    this.#fleet?.removeAllListeners();
    await this.#services?.stop();
    await this.#book?.settle();
    await this.#dispatcher?.stop();
    for (const email of this.#emails) email.close();
    this.#emails = [];
    await this.#energy?.save().catch(() => undefined);
    await this.#outbox?.stop();
    await this.#health?.stop();
    this.#health = undefined;
    await this.#bus?.stop();
    this.#bus = undefined;
    this.#evaluator = undefined;
    this.#fleet = undefined;
    this.#services = undefined;
    this.#book = undefined;
    this.#dispatcher = undefined;
  }

  /** Active alerts (empty before start). */
  active() {
    return this.#book?.active() ?? [];
  }

  metrics(): Record<string, number> {
    const dispatch = this.#dispatcher?.metrics() ?? { delivered: 0, retried: 0, dropped: 0, pending: 0 };
    return {
      active_alerts: this.active().length,
      notifications_pending: dispatch.pending,
      notifications_delivered: dispatch.delivered,
      notifications_retried: dispatch.retried,
      notifications_dropped: dispatch.dropped,
      dead_lettered: this.#bus?.metrics().dead_lettered ?? 0,
    };
  }

  #warnUnknownDevices(): void {
    const fleet = this.#fleet;
    if (!fleet) return;
    for (const rule of this.#deps.config.rules) {
      for (const device of rule.devices ?? []) {
        if (isDeviceId(device) && !fleet.has(device)) {
          this.#deps.logger.warn(
            { rule: rule.name, device, after_ms: this.#deps.config.unknown_device_warn_ms },
            'rule names a device never seen on the bus (no meta, availability or reading): check its id',
          );
        }
      }
    }
  }
}
