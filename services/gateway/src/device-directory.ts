import { EventEmitter } from 'node:events';
import type { Bus, Subscription } from '@wattbus/bus';
import { DeviceMetaSchema, validator } from '@wattbus/contracts';

const checkMeta = validator(DeviceMetaSchema);

export interface DeviceDirectoryDeps {
  bus: Bus;
}

/**
 * Which devices exist, from the retained `wattbus/devices/+/meta` each agent publishes. An agent
 * answers only for its own devices, so a command for a device nobody owns would otherwise wait
 * for the deadline and end in 504; with this the gateway answers 404 at once.
 * Emits `added` and `removed` with the device id.
 */
export class DeviceDirectory extends EventEmitter {
  #deps: DeviceDirectoryDeps;
  #known = new Set<string>();
  #subscription: Subscription | undefined;

  constructor(deps: DeviceDirectoryDeps) {
    super();
    this.#deps = deps;
  }

  async start(): Promise<void> {
    const { bus } = this.#deps;
    this.#subscription = await bus.subscribe(
      bus.topics.allDevices('meta'),
      checkMeta,
      (meta, context) => {
        // The topic names the device; a meta whose id disagrees is not trusted for another device.
        const parsed = bus.topics.parseDeviceTopic(context.topic);
        if (!parsed || parsed.deviceId !== meta.id || this.#known.has(meta.id)) return;
        this.#known.add(meta.id);
        this.emit('added', meta.id);
      },
      {
        qos: 1,
        // An empty retained payload clears the meta: the device was removed.
        onEmpty: (context) => {
          const parsed = bus.topics.parseDeviceTopic(context.topic);
          if (parsed && this.#known.delete(parsed.deviceId)) this.emit('removed', parsed.deviceId);
        },
      },
    );
    await this.#retainedDelivered();
  }

  /**
   * Resolves once the retained metas seem delivered, so a request right after start does not get
   * a false 404: when none arrived for `quietMs`, or after `maxMs`. MQTT gives no end-of-retained
   * marker, and brokers such as aedes replay retained messages asynchronously after the SUBACK
   * (a later SUBACK or message can overtake them), so a quiet period is the portable signal.
   */
  async #retainedDelivered(quietMs = 200, maxMs = 3_000): Promise<void> {
    await new Promise<void>((resolve) => {
      let quiet: NodeJS.Timeout;
      const done = () => {
        clearTimeout(quiet);
        clearTimeout(limit);
        this.off('added', restart);
        resolve();
      };
      const restart = () => {
        clearTimeout(quiet);
        quiet = setTimeout(done, quietMs);
      };
      const limit = setTimeout(done, maxMs);
      this.on('added', restart);
      restart();
    });
  }

  async stop(): Promise<void> {
    await this.#subscription?.unsubscribe().catch(() => undefined);
    this.#subscription = undefined;
  }

  has(deviceId: string): boolean {
    return this.#known.has(deviceId);
  }

  get size(): number {
    return this.#known.size;
  }
}
