import { Bus } from '@wattbus/bus';
import { AlertTopics, type ServiceHealth } from '@wattbus/contracts';
import type { Logger } from '@wattbus/runtime';
import type { BackupConfig } from './config.js';

export const SERVICE_NAME = 'backup';

export interface HealthReporterDeps {
  mqtt: NonNullable<BackupConfig['mqtt']>;
  logger: Logger;
  now: () => number;
}

/**
 * Publishes the backup's ServiceHealth, retained, on `{base}/health/backup`: check `backup` is
 * false after a failed run (its detail says why), so an alert hook `health` rule with
 * `check: backup` raises a platform-health alert, and the next good run clears it.
 * A broker that is down never stops a backup: the report is logged and retried next time.
 */
export class HealthReporter {
  #deps: HealthReporterDeps;
  #bus: Bus | undefined;
  #topic: string;
  #last: ServiceHealth | undefined;

  constructor(deps: HealthReporterDeps) {
    this.#deps = deps;
    this.#topic = new AlertTopics(deps.mqtt.base_topic).health(SERVICE_NAME);
  }

  get topic(): string {
    return this.#topic;
  }

  async start(): Promise<void> {
    await this.#connect();
  }

  async report(ok: boolean, detail: string, metrics: Record<string, number>): Promise<void> {
    const ts = new Date(this.#deps.now()).toISOString();
    const since = this.#last?.checks.backup?.ok === ok ? (this.#last.checks.backup.since ?? ts) : ts;
    this.#last = {
      service: SERVICE_NAME,
      ts,
      ready: ok,
      checks: { backup: { ok, detail: detail.slice(0, 1000), since } },
      metrics,
    };
    await this.#publish();
  }

  /** Publishes the last report again with a fresh ts, so watchers see the service is alive. */
  async republish(): Promise<void> {
    if (this.#last === undefined) return;
    this.#last = { ...this.#last, ts: new Date(this.#deps.now()).toISOString() };
    await this.#publish();
  }

  async stop(): Promise<void> {
    const bus = this.#bus;
    this.#bus = undefined;
    await bus?.stop();
  }

  async #publish(): Promise<void> {
    const health = this.#last;
    if (health === undefined) return;
    if (this.#bus === undefined) await this.#connect();
    if (this.#bus === undefined) return;
    try {
      await this.#bus.publish(this.#topic, health, { qos: 1, retain: true });
    } catch (error) {
      this.#deps.logger.warn({ err: error, topic: this.#topic }, 'could not publish backup health');
    }
  }

  async #connect(): Promise<void> {
    const { mqtt, logger } = this.#deps;
    try {
      this.#bus = await Bus.connect({
        url: mqtt.url,
        service: SERVICE_NAME,
        baseTopic: mqtt.base_topic,
        username: mqtt.username,
        password: mqtt.password,
        connectTimeoutMs: 5000,
        logger,
      });
    } catch (error) {
      logger.warn({ err: error, url: mqtt.url }, 'cannot reach the MQTT broker; health reports wait for it');
    }
  }
}
