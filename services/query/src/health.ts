import type { Bus } from '@wattbus/bus';
import { AlertTopics, type ServiceHealth } from '@wattbus/contracts';
import type { Logger } from '@wattbus/runtime';

export interface QueryHealthDeps {
  bus: Bus;
  logger: Logger;
  /** Topic level and `service` of the record (give each of several components its own). */
  name: string;
  intervalMs: number;
  metrics: () => Record<string, number>;
}

interface Check {
  ok: boolean;
  detail?: string;
  since: string;
}

/**
 * Publishes the component's ServiceHealth, retained, on `{base}/health/{name}`: checks `broker`,
 * `influx` (false since the last query found InfluxDB unreachable, true again after one that
 * worked) and `running`; on every change of `influx`, every `intervalMs`, and once on stop.
 */
export class QueryHealth {
  #deps: QueryHealthDeps;
  #influx: Check = { ok: true, since: new Date().toISOString() };
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(deps: QueryHealthDeps) {
    this.#deps = deps;
  }

  get topic(): string {
    return new AlertTopics(this.#deps.bus.topics.base).health(this.#deps.name);
  }

  async start(): Promise<void> {
    if (this.#deps.intervalMs === 0) return;
    this.#running = true;
    this.#timer = setInterval(() => void this.publish(), this.#deps.intervalMs);
    await this.publish();
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    clearInterval(this.#timer);
    await this.publish();
  }

  /** Records how the last InfluxDB call went; a change is published at once. */
  influx(ok: boolean, detail?: string): void {
    if (this.#influx.ok === ok) return;
    this.#influx = {
      ok,
      since: new Date().toISOString(),
      ...(detail ? { detail: detail.slice(0, 1000) } : {}),
    };
    if (this.#timer) void this.publish();
  }

  async publish(): Promise<void> {
    if (this.#deps.intervalMs === 0) return;
    const { bus } = this.#deps;
    const health: ServiceHealth = {
      service: this.#deps.name,
      ts: new Date().toISOString(),
      ready: this.#running && bus.connected && this.#influx.ok,
      checks: {
        broker: { ok: bus.connected },
        influx: { ...this.#influx },
        running: { ok: this.#running },
      },
      metrics: this.#deps.metrics(),
    };
    await bus
      .publish(this.topic, health, { qos: 1, retain: true })
      .catch((error: unknown) => this.#deps.logger.debug({ err: error }, 'could not publish health'));
  }
}
