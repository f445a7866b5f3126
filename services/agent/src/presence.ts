import { Bus, busConnection, type BusOptions, type MqttConnection } from '@wattbus/bus';
import { assertSegment, type Availability } from '@wattbus/contracts';
import type { RegistryDevice } from '@wattbus/devices';
import type { Logger } from 'pino';
import type { DevicePublisher } from './publisher.js';

/** `{base}/agents/{agentId}/availability`: retained `online`, and the agent's own last will `offline`. */
export function agentAvailabilityTopic(baseTopic: string, agentId: string): string {
  return `${baseTopic}/agents/${assertSegment(agentId, 'agent id')}/availability`;
}

export interface AgentPresenceOptions {
  mqtt: Omit<MqttConnection, 'client_id'>;
  /** The agent's id: its client id and `{base}/agents/{id}/availability`. */
  id: string;
  /** Names its dead letters and log lines (`agent`, `bridge`). */
  service: string;
  logger: Logger;
  /** How to connect: the front door's `connect` (it names a failure clearly); default Bus.connect. */
  connect?: (options: BusOptions) => Promise<Bus>;
}

/**
 * An agent's own connection and what it says about itself: `{base}/agents/{id}/availability` is
 * `online` (retained) while it runs and its last will `offline`. After a reconnect (the broker
 * published the will meanwhile) it says `online` again, and each device's availability, whose
 * own wills may have fired too.
 */
export class AgentPresence {
  readonly bus: Bus;
  #topic: string;
  #retired = false;

  private constructor(bus: Bus, topic: string) {
    this.bus = bus;
    this.#topic = topic;
  }

  static async connect(options: AgentPresenceOptions): Promise<AgentPresence> {
    const topic = agentAvailabilityTopic(options.mqtt.base_topic, options.id);
    const connect = options.connect ?? ((busOptions: BusOptions) => Bus.connect(busOptions));
    const bus = await connect({
      ...busConnection(options.mqtt),
      service: options.service,
      clientId: options.id,
      will: { topic, payload: 'offline', retain: true },
      logger: options.logger,
    });
    return new AgentPresence(bus, topic);
  }

  /** Publishes `online` now, and after every reconnect again with the devices' `current` availability. */
  async announce(
    publisher: DevicePublisher,
    current: () => Iterable<[RegistryDevice, Availability | undefined]>,
  ): Promise<void> {
    await this.bus.publish(this.#topic, 'online', { qos: 1, retain: true });
    this.bus.on('connect', () => {
      if (this.#retired) return;
      void this.bus.publish(this.#topic, 'online', { qos: 1, retain: true }).catch(() => undefined);
      for (const [device, availability] of current()) {
        if (availability) void publisher.availability(device, availability).catch(() => undefined);
      }
    });
  }

  /** Stopping: reconnects announce nothing any more. */
  retire(): void {
    this.#retired = true;
  }
}
