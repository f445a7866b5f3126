import { busConnection, type Bus } from '@wattbus/bus';
import type { Availability } from '@wattbus/contracts';
import type { RegistryDevice } from '@wattbus/devices';
import { HealthPublisher, type Health } from '@wattbus/runtime';
import { DeviceWills } from './device-wills.js';
import { AgentPresence, type AgentPresenceOptions } from './presence.js';
import { DevicePublisher } from './publisher.js';

/** A device as an agent holds it: its registry entry and the availability it last published. */
export interface HeldDevice {
  readonly device: RegistryDevice;
  readonly availability: Availability | undefined;
}

export interface AgentCoreOptions extends AgentPresenceOptions {
  /** The devices the agent holds, by id: a live map, read whenever their availability is re-asserted. */
  devices: ReadonlyMap<string, HeldDevice>;
  /** `device_wills`: hold each device's last will on a connection of its own. */
  deviceWills: boolean;
}

/**
 * What every agent (the device agent, the bridge) opens first and closes last: its own broker
 * connection and presence, the publisher of its devices, their will connections, and its health.
 * Its owner starts its own parts between connect() and startHealth(), and stops them between
 * retire() and close().
 */
export class AgentCore {
  readonly publisher: DevicePublisher;
  /** Open a device's will connection (add) before its availability is published; undefined without `device_wills`. */
  readonly wills: DeviceWills | undefined;
  #options: AgentCoreOptions;
  #presence: AgentPresence;
  #health: HealthPublisher | undefined;

  private constructor(options: AgentCoreOptions, presence: AgentPresence) {
    this.#options = options;
    this.#presence = presence;
    this.publisher = new DevicePublisher({ bus: presence.bus });
    if (options.deviceWills) {
      this.wills = new DeviceWills({
        options: { ...busConnection(options.mqtt), baseTopic: options.mqtt.base_topic, agentId: options.id },
        devices: [],
        logger: options.logger,
        current: (id) => options.devices.get(id)?.availability,
      });
    }
  }

  /** Connects with the agent's last will (its availability `offline`). */
  static async connect(options: AgentCoreOptions): Promise<AgentCore> {
    return new AgentCore(options, await AgentPresence.connect(options));
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
      service: this.#options.id,
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
