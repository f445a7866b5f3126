import { Bus, type BusOptions } from '@wattbus/bus';
import { assertSegment, type Availability } from '@wattbus/contracts';
import { SharedResources, type Registry } from '@wattbus/devices';
import { HealthPublisher, type Logger } from '@wattbus/runtime';
import type { AgentConfig } from './config.js';
import { Controller } from './controller.js';
import { DeviceSession, type AvailabilityChange } from './device-session.js';
import { DeviceWills } from './device-wills.js';
import { gridOffsetMs, Poller, type PollerMetrics } from './poller.js';
import { DevicePublisher } from './publisher.js';

export interface AgentDeviceMetrics extends Partial<PollerMetrics> {
  availability: Availability | 'unknown';
  operations: number;
  failures: number;
}

/** `{base}/agents/{agentId}/availability`: retained `online`, and the agent's own last will `offline`. */
export function agentAvailabilityTopic(baseTopic: string, agentId: string): string {
  return `${baseTopic}/agents/${assertSegment(agentId, 'agent id')}/availability`;
}

/**
 * One agent process: a device session per registry entry (driver + one-at-a-time queue +
 * availability), shared by the collector (a Poller per device) and the controller. Either role
 * can be switched off. start() connects and publishes meta; stop() publishes the devices offline.
 */
export class Agent {
  #config: AgentConfig;
  #registry: Registry;
  #logger: Logger;
  #bus: Bus | undefined;
  #shared = new SharedResources();
  #sessions = new Map<string, DeviceSession>();
  #pollers = new Map<string, Poller>();
  #controller: Controller | undefined;
  #wills: DeviceWills | undefined;
  #publisher: DevicePublisher | undefined;
  #health: HealthPublisher | undefined;
  #connect: (options: BusOptions) => Promise<Bus>;
  #stopping = false;

  constructor(deps: {
    config: AgentConfig;
    registry: Registry;
    logger: Logger;
    /** How to connect to the broker: the front door's (it names a failure clearly); default Bus.connect. */
    connect?: (options: BusOptions) => Promise<Bus>;
  }) {
    this.#config = deps.config;
    this.#registry = deps.registry;
    this.#logger = deps.logger;
    this.#connect = deps.connect ?? ((options) => Bus.connect(options));
  }

  get bus(): Bus | undefined {
    return this.#bus;
  }

  get willConnections(): number {
    return this.#wills?.connections ?? 0;
  }

  metrics(): Record<string, AgentDeviceMetrics> {
    const result: Record<string, AgentDeviceMetrics> = {};
    for (const [id, session] of this.#sessions) {
      const { operations, failures } = session.metrics();
      result[id] = {
        availability: session.availability ?? 'unknown',
        operations,
        failures,
        ...this.#pollers.get(id)?.metrics(),
      };
    }
    return result;
  }

  /** Connects, publishes meta and starts the roles; on any failure it undoes what it started and throws. */
  async start(): Promise<void> {
    try {
      await this.#start();
    } catch (error) {
      await this.stop().catch(() => undefined);
      throw error;
    }
  }

  async #start(): Promise<void> {
    const config = this.#config;
    const availabilityTopic = agentAvailabilityTopic(config.mqtt.base_topic, config.id);
    const bus = await this.#connect({
      url: config.mqtt.url,
      username: config.mqtt.username,
      password: config.mqtt.password,
      baseTopic: config.mqtt.base_topic,
      service: 'agent',
      clientId: config.id,
      will: { topic: availabilityTopic, payload: 'offline', retain: true },
      logger: this.#logger,
    });
    this.#bus = bus;
    const publisher = new DevicePublisher({ bus });
    this.#publisher = publisher;
    for (const device of this.#registry.devices) {
      const definition = this.#registry.drivers.get(device.type);
      if (!definition) throw new Error(`no driver for type '${device.type}' (device ${device.id})`);
      const driver = definition.create(device, {
        logger: this.#logger.child({ device: device.id }),
        shared: this.#shared,
      });
      this.#sessions.set(
        device.id,
        new DeviceSession({
          device,
          driver,
          onAvailabilityChange: (session, change) => this.#availabilityChanged(session, change),
        }),
      );
    }
    if (config.device_wills) {
      this.#wills = new DeviceWills({
        options: {
          url: config.mqtt.url,
          username: config.mqtt.username,
          password: config.mqtt.password,
          baseTopic: config.mqtt.base_topic,
          agentId: config.id,
        },
        devices: this.#registry.devices,
        logger: this.#logger,
        current: (id) => this.#sessions.get(id)?.availability,
      });
      await this.#wills.start();
    }
    await bus.publish(availabilityTopic, 'online', { qos: 1, retain: true });
    // After a reconnect the broker has published our will: say again what is true.
    bus.on('connect', () => {
      if (this.#stopping) return;
      void bus.publish(availabilityTopic, 'online', { qos: 1, retain: true }).catch(() => undefined);
      for (const session of this.#sessions.values()) {
        if (session.availability)
          void publisher.availability(session.device, session.availability).catch(() => undefined);
      }
    });
    await Promise.all(this.#registry.devices.map((device) => publisher.meta(device)));
    if (config.controller) {
      this.#controller = new Controller({
        bus,
        sessions: this.#sessions,
        publisher,
        logger: this.#logger,
        options: { answerUnknownDevices: config.answer_unknown_devices },
      });
      await this.#controller.start();
    }
    if (config.collector) {
      const sessions = [...this.#sessions.values()];
      const origin = Date.now();
      sessions.forEach((session, index) => {
        const poller = new Poller({ session, publisher, logger: this.#logger });
        this.#pollers.set(session.id, poller);
        poller.start(gridOffsetMs(index, sessions.length, session.device.poll_interval_ms), origin);
      });
    }
    // Named by the agent's id (several agents share a broker); the ACL allows wattbus/health/%c.
    this.#health = new HealthPublisher({
      bus,
      service: config.id,
      logger: this.#logger,
      metrics: () => this.#healthMetrics(),
    });
    await this.#health.start();
    this.#logger.info(
      {
        agent_id: config.id,
        devices: this.#sessions.size,
        collector: config.collector,
        controller: config.controller,
        device_wills: config.device_wills,
      },
      'agent started',
    );
  }

  /** Stops polling and serving, publishes every device offline (retained), closes devices and the broker connections. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    await this.#health?.stop();
    await Promise.all([...this.#pollers.values()].map((poller) => poller.stop()));
    await this.#controller?.stop();
    const publisher = this.#publisher;
    if (publisher && this.#bus?.connected) {
      await Promise.allSettled(
        [...this.#sessions.values()].map((session) => publisher.availability(session.device, 'offline')),
      );
    }
    await Promise.allSettled([...this.#sessions.values()].map((session) => session.driver.close()));
    await this.#shared.closeAll();
    await this.#wills?.stop();
    await this.#bus?.stop();
  }

  #healthMetrics(): Record<string, number> {
    const devices = Object.values(this.metrics());
    return {
      devices: devices.length,
      devices_online: devices.filter((device) => device.availability === 'online').length,
      devices_offline: devices.filter((device) => device.availability === 'offline').length,
      device_failures: devices.reduce((sum, device) => sum + device.failures, 0),
      will_connections: this.willConnections,
    };
  }

  #availabilityChanged(session: DeviceSession, change: AvailabilityChange): void {
    if (change.availability === 'offline') {
      this.#logger.warn(
        {
          device: session.id,
          code: change.error?.code,
          err: change.error?.message,
          failures: session.consecutiveFailures,
        },
        'device offline',
      );
    } else {
      this.#logger.info({ device: session.id }, 'device online');
    }
    if (this.#stopping || !this.#publisher) return;
    this.#publisher.availability(session.device, change.availability).catch((error: unknown) => {
      this.#logger.warn({ device: session.id, err: error }, 'could not publish availability');
    });
  }
}
