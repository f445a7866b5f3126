import { busConnection, type Bus } from '@wattbus/bus';
import type { Availability } from '@wattbus/contracts';
import type { RegistryDevice } from '@wattbus/devices';
import { HealthPublisher, type Health } from '@wattbus/runtime';
import type { AgentConfig } from './config.js';
import { DeviceWills } from './device-wills.js';
import { AgentPresence, type AgentPresenceOptions } from './presence.js';
import { DevicePublisher } from './publisher.js';

/** A device as an agent holds it: its registry entry and the availability it last published. */
export interface HeldDevice {
  readonly device: RegistryDevice;
  readonly availability: Availability | undefined;
}

export interface AgentCoreOptions extends Pick<AgentPresenceOptions, 'service' | 'logger' | 'connect'> {
  /** The keys every agent's config has: its `id` (client id, availability and health topics), `mqtt`, `device_wills`. */
  config: Pick<AgentConfig, 'id' | 'mqtt' | 'device_wills'>;
  /** The devices the agent holds, by id: a live map, read whenever their availability is re-asserted. */
  devices: ReadonlyMap<string, HeldDevice>;
}

/**
 * What every agent (the device agent, the bridge) opens first and closes last: its own broker
 * connection and presence, the publisher of its devices, their will connections, and its health.
 * Its owner starts its own parts between connect() and startHealth(), and stops them between
 * retire() and close().
 */
export class AgentCore {
  readonly publisher: DevicePublisher;
  /** The devices' will connections: the owner adds a device's before it publishes its availability; undefined without `device_wills`. */
  readonly wills: DeviceWills | undefined;
  #options: AgentCoreOptions;
  #presence: AgentPresence;
  #health: HealthPublisher | undefined;

  private constructor(options: AgentCoreOptions, presence: AgentPresence) {
    this.#options = options;
    this.#presence = presence;
    this.publisher = new DevicePublisher({ bus: presence.bus });
    const { id, mqtt, device_wills } = options.config;
    if (device_wills) {
      this.wills = new DeviceWills({
        options: { ...busConnection(mqtt), baseTopic: mqtt.base_topic, agentId: id },
        devices: [],
        logger: options.logger,
        current: (deviceId) => options.devices.get(deviceId)?.availability,
      });
    }
  }

  /** Connects with the agent's last will (its availability `offline`). */
  static async connect(options: AgentCoreOptions): Promise<AgentCore> {
    const { id, mqtt } = options.config;
    return new AgentCore(options, await AgentPresence.connect({ ...options, id, mqtt }));
  }

  get bus(): Bus {
    return this.#presence.bus;
  }

  /** Says the agent `online`, and after every reconnect again with each device's availability. */
  async announce(): Promise<void> {
    const devices = this.#options.devices;
    await this.#presence.announce(this.publisher, () =>
      [...devices.values()].map(({ device, availability }) => [device, availability]),
    );
  }

  /** Publishes the agent's health: `metrics`, and the checks `health` holds besides the publisher's own. */
  async startHealth(metrics: () => Record<string, number>, health?: Health): Promise<void> {
    // Named by the agent's id (several agents share a broker); the ACL allows wattbus/health/%c.
    this.#health = new HealthPublisher({
      bus: this.bus,
      service: this.#options.config.id,
      logger: this.#options.logger,
      metrics,
      health,
    });
    await this.#health.start();
  }

  /** The first step of a stop: reconnects announce nothing any more and the health says not ready. */
  async retire(): Promise<void> {
    this.#presence.retire();
    await this.#health?.stop();
  }

  /** The last step of a stop: closes the will connections, then the agent's own (publishing `offline`). */
  async close(): Promise<void> {
    await this.wills?.stop();
    await this.bus.stop();
  }
}
