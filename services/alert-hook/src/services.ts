import { EventEmitter } from 'node:events';
import type { Bus, Subscription } from '@wattbus/bus';
import {
  AlertTopics,
  DeadLetterSchema,
  ServiceHealthSchema,
  validator,
  type ServiceHealth,
} from '@wattbus/contracts';

export interface ServiceView {
  service: string;
  health?: ServiceHealth;
  /** Clock time the last health record arrived. */
  health_received_ms?: number;
  /** Clock times of dead letters the service published, oldest first. */
  dead_letters_ms: number[];
}

export interface ServiceWatchDeps {
  bus: Bus;
  clock: () => number;
  /** Dead-letter times older than this are forgotten. */
  dead_letter_memory_ms: number;
}

/**
 * The services as seen on the bus, for health rules: retained health records and dead letters
 * (devices are libs/fleet's). Emits `service` (name) after each change.
 */
export class ServiceWatch extends EventEmitter<{ service: [string] }> {
  #deps: ServiceWatchDeps;
  #services = new Map<string, ServiceView>();
  #subscriptions: Subscription[] = [];

  constructor(deps: ServiceWatchDeps) {
    super();
    this.#deps = deps;
  }

  async start(): Promise<void> {
    const { bus } = this.#deps;
    const alertTopics = new AlertTopics(bus.topics.base);
    this.#subscriptions.push(
      await bus.subscribe(
        alertTopics.allHealth(),
        validator(ServiceHealthSchema),
        (health, { topic }) => {
          const service = alertTopics.serviceOf(topic);
          if (service === null || service !== health.service) return;
          const view = this.#service(service);
          view.health = health;
          view.health_received_ms = this.#deps.clock();
          this.emit('service', service);
        },
        { onEmpty: () => undefined },
      ),
      await bus.subscribe(
        alertTopics.allDeadLetters(),
        validator(DeadLetterSchema),
        (_record, { topic }) => {
          const service = alertTopics.serviceOf(topic);
          if (service === null) return;
          const view = this.#service(service);
          view.dead_letters_ms.push(this.#deps.clock());
          this.#forget(view);
          this.emit('service', service);
        },
        { qos: 0 },
      ),
    );
  }

  async stop(): Promise<void> {
    const subscriptions = this.#subscriptions;
    this.#subscriptions = [];
    await Promise.all(subscriptions.map((subscription) => subscription.unsubscribe().catch(() => undefined)));
    this.removeAllListeners();
  }

  service(name: string): ServiceView | undefined {
    return this.#services.get(name);
  }

  services(): ServiceView[] {
    return [...this.#services.values()];
  }

  /** Dead letters published by `service` within the last `window_ms`. */
  deadLetters(service: string, windowMs: number): number {
    const view = this.#services.get(service);
    if (!view) return 0;
    this.#forget(view);
    const since = this.#deps.clock() - windowMs;
    return view.dead_letters_ms.filter((at) => at > since).length;
  }

  #forget(view: ServiceView): void {
    const horizon = this.#deps.clock() - this.#deps.dead_letter_memory_ms;
    while (view.dead_letters_ms.length > 0 && view.dead_letters_ms[0]! <= horizon)
      view.dead_letters_ms.shift();
  }

  #service(name: string): ServiceView {
    let view = this.#services.get(name);
    if (!view) {
      view = { service: name, dead_letters_ms: [] };
      this.#services.set(name, view);
    }
    return view;
  }
}
