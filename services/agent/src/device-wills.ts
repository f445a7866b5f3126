import { Bus, type BusOptions } from '@wattbus/bus';
import type { Availability } from '@wattbus/contracts';
import type { RegistryDevice } from '@wattbus/devices';
import type { Logger } from 'pino';

/** TLS (mqtts://, wss://): the same CA and client certificate as the agent's own connection. */
export interface DeviceWillsOptions extends Pick<BusOptions, 'caFile' | 'certFile' | 'keyFile'> {
  url: string;
  username?: string;
  password?: string;
  baseTopic: string;
  agentId: string;
}

/**
 * One MQTT will can cover one topic, so an agent's own will cannot mark each of its devices
 * offline. This part opens one tiny connection per device whose only job is to hold the will
 * `offline` (retained) on that device's availability topic: if the agent process dies, the
 * broker publishes every device offline. It publishes nothing else, except re-asserting the
 * device's current availability after a reconnect (its will fired when the connection dropped).
 */
export class DeviceWills {
  #options: DeviceWillsOptions;
  #logger: Logger;
  #devices: RegistryDevice[];
  #current: (deviceId: string) => Availability | undefined;
  #buses = new Map<string, Bus>();

  constructor(deps: {
    options: DeviceWillsOptions;
    devices: RegistryDevice[];
    logger: Logger;
    /** The availability to re-assert after a will connection reconnected. */
    current: (deviceId: string) => Availability | undefined;
  }) {
    this.#options = deps.options;
    this.#devices = deps.devices;
    this.#logger = deps.logger;
    this.#current = deps.current;
  }

  get connections(): number {
    return this.#buses.size;
  }

  async start(): Promise<void> {
    await this.add(this.#devices);
  }

  /** Opens the will connections of `devices`; if one fails, none of them stays open. */
  async add(devices: readonly RegistryDevice[]): Promise<void> {
    const opened = await Promise.allSettled(devices.map((device) => this.#open(device)));
    const failed = opened.find((result) => result.status === 'rejected');
    if (failed) {
      await Promise.allSettled(devices.map((device) => this.remove(device.id)));
      throw (failed as PromiseRejectedResult).reason;
    }
  }

  /** Closes a device's will connection without its will: the agent says what is true itself. */
  async remove(deviceId: string): Promise<void> {
    const bus = this.#buses.get(deviceId);
    this.#buses.delete(deviceId);
    await bus?.stop();
  }

  async #open(device: RegistryDevice): Promise<void> {
    const bus = await Bus.connect({
      url: this.#options.url,
      username: this.#options.username,
      password: this.#options.password,
      caFile: this.#options.caFile,
      certFile: this.#options.certFile,
      keyFile: this.#options.keyFile,
      baseTopic: this.#options.baseTopic,
      service: 'agent-will',
      clientId: `${this.#options.agentId}-will-${device.id}`,
      will: {
        topic: `${this.#options.baseTopic}/devices/${device.id}/availability`,
        payload: 'offline',
        retain: true,
        // On a graceful stop the agent publishes offline itself, before closing these.
        publishOnStop: false,
      },
      logger: this.#logger,
    });
    this.#buses.set(device.id, bus);
    bus.on('connect', () => {
      const availability = this.#current(device.id);
      if (!availability) return;
      bus
        .publish(bus.topics.availability(device.id), availability, { qos: 1, retain: true })
        .catch(() => undefined);
    });
  }

  async stop(): Promise<void> {
    const buses = [...this.#buses.values()];
    this.#buses.clear();
    await Promise.allSettled(buses.map((bus) => bus.stop()));
  }
}
