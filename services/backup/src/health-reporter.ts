import { HealthPublisher, type HealthChannel, type HealthProbe, type Logger } from '@wattbus/runtime';

export const SERVICE_NAME = 'backup';

export interface HealthReporterDeps {
  bus: HealthChannel;
  logger: Logger;
  /** Milliseconds since the epoch for the records' `ts`; default Date.now. */
  now?: () => number;
}

/**
 * The backup's ServiceHealth, retained on `{base}/health/backup` through runtime's
 * HealthPublisher: check `backup` is false after a failed run (its detail says why), so an alert
 * hook `health` rule with `check: backup` raises a platform-health alert, and the next good run
 * clears it. Published on start, after every run, every minute, and `ready: false` on stop.
 */
export class HealthReporter {
  #publisher: HealthPublisher;
  #last: { ok: boolean; detail: string } | undefined;
  #metrics: Record<string, number> = {};

  constructor(deps: HealthReporterDeps) {
    this.#publisher = new HealthPublisher({
      bus: deps.bus,
      service: SERVICE_NAME,
      logger: deps.logger,
      clock: deps.now,
      intervalMs: 60_000,
      probe: (): ReturnType<HealthProbe> => (this.#last ? { backup: this.#last } : {}),
      metrics: () => this.#metrics,
    });
  }

  get topic(): string {
    return this.#publisher.topic;
  }

  start(): Promise<void> {
    return this.#publisher.start();
  }

  /** Publishes how the last run went; a broker that is away never fails a backup (it gets the next one). */
  async report(ok: boolean, detail: string, metrics: Record<string, number>): Promise<void> {
    this.#last = { ok, detail };
    this.#metrics = metrics;
    await this.#publisher.publish();
  }

  stop(): Promise<void> {
    return this.#publisher.stop();
  }
}
