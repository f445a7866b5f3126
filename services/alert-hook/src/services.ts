import { EventEmitter } from 'node:events';
import type { Bus, Subscription } from '@wattbus/bus';
import {
  AlertTopics,
  AvailabilitySchema,
  DeadLetterSchema,
  DeviceMetaSchema,
  DeviceStateSchema,
  ReadingSchema,
  ServiceHealthSchema,
  validator,
  type Availability,
  type DeviceMeta,
  type ServiceHealth,
} from '@wattbus/contracts';

/** What the hook knows of one device, learned from the bus alone. */
export interface DeviceView {
  id: string;
  meta?: DeviceMeta;
  availability?: Availability;
  on?: boolean;
  power_w?: number;
  energy_wh?: number;
  /** Clock time of the last reading we received, and of when we first heard of the device. */
  last_reading_ms?: number;
  first_seen_ms: number;
}

export interface ServiceView {
  service: string;
  health?: ServiceHealth;
  /** Clock time the last health record arrived. */
  health_received_ms?: number;
  /** Clock times of dead letters the service published, oldest first. */
  dead_letters_ms: number[];
}

export interface FleetDeps {
  bus: Bus;
  clock: () => number;
  /** Dead-letter times older than this are forgotten. */
  dead_letter_memory_ms: number;
}

/**
 * Keeps the device fleet and service health as seen on the bus: retained meta, availability
 * and state, live readings, retained health and dead letters. Emits `device` (id, reading?)
 * and `service` (name) after each change.
 */
export class Fleet extends EventEmitter<{
  device: [string];
  reading: [string, number | undefined];
  service: [string];
}> {
  #deps: FleetDeps;
  #devices = new Map<string, DeviceView>();
  #services = new Map<string, ServiceView>();
  #subscriptions: Subscription[] = [];

  constructor(deps: FleetDeps) {
    super();
    this.#deps = deps;
  }

  async start(): Promise<void> {
    const { bus } = this.#deps;
    const topics = bus.topics;
    const alertTopics = new AlertTopics(topics.base);
    const deviceOf = (topic: string) => topics.parseDeviceTopic(topic)?.deviceId;
    this.#subscriptions.push(
      await bus.subscribe(topics.allDevices('meta'), validator(DeviceMetaSchema), (meta, { topic }) => {
        const id = deviceOf(topic);
        if (id === undefined || id !== meta.id) return;
        this.#device(id).meta = meta;
        this.emit('device', id);
      }),
      await bus.subscribe(
        topics.allDevices('availability'),
        validator(AvailabilitySchema),
        (availability, { topic }) => {
          const id = deviceOf(topic);
          if (id === undefined) return;
          this.#device(id).availability = availability;
          this.emit('device', id);
        },
        { encoding: 'text', onEmpty: () => undefined },
      ),
      await bus.subscribe(
        topics.allDevices('state'),
        validator(DeviceStateSchema),
        (state, { topic }) => {
          const id = deviceOf(topic);
          if (id === undefined) return;
          this.#device(id).on = state.on;
          this.emit('device', id);
        },
        { onEmpty: () => undefined },
      ),
      await bus.subscribe(topics.allDevices('readings'), validator(ReadingSchema), (reading, { topic }) => {
        const id = deviceOf(topic);
        if (id === undefined || id !== reading.device || reading.phase !== undefined) return; // totals only
        const device = this.#device(id);
        device.power_w = reading.power_w;
        device.last_reading_ms = this.#deps.clock();
        if (reading.energy_wh !== undefined) device.energy_wh = reading.energy_wh;
        this.emit('reading', id, reading.energy_wh);
        this.emit('device', id);
      }),
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

  device(id: string): DeviceView | undefined {
    return this.#devices.get(id);
  }

  devices(): DeviceView[] {
    return [...this.#devices.values()];
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

  #device(id: string): DeviceView {
    let device = this.#devices.get(id);
    if (!device) {
      device = { id, first_seen_ms: this.#deps.clock() };
      this.#devices.set(id, device);
    }
    return device;
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
