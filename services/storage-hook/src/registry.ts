import { DeviceMetaSchema, validator, type DeviceMeta, type ReadingLimits } from '@wattbus/contracts';
import type { Bus, Subscription } from '@wattbus/bus';
import type { DeviceTags } from '@wattbus/influx';

const checkMeta = validator(DeviceMetaSchema);

/**
 * What the fleet says about each device, from the retained `devices/+/meta` topic: type and
 * location for readings that do not carry them, and the limits its readings are checked against.
 * An empty retained message forgets the device.
 */
export class DeviceRegistry {
  #bus: Bus;
  #devices = new Map<string, { tags: DeviceTags; limits?: ReadingLimits }>();
  #subscription: Subscription | undefined;

  constructor(deps: { bus: Bus }) {
    this.#bus = deps.bus;
  }

  async start(): Promise<void> {
    const topics = this.#bus.topics;
    this.#subscription = await this.#bus.subscribe(
      topics.allDevices('meta'),
      checkMeta,
      (meta: DeviceMeta, context) => {
        const device = topics.parseDeviceTopic(context.topic)?.deviceId;
        if (device !== meta.id) {
          this.#bus.reject(
            context.topic,
            JSON.stringify(meta),
            `meta id ${meta.id} does not match the topic`,
          );
          return;
        }
        this.#devices.set(meta.id, {
          tags: { type: meta.type, location: meta.location },
          ...(meta.limits ? { limits: meta.limits } : {}),
        });
      },
      {
        qos: 1,
        onEmpty: (context) => {
          const device = topics.parseDeviceTopic(context.topic)?.deviceId;
          if (device !== undefined) this.#devices.delete(device);
        },
      },
    );
  }

  tagsOf(device: string): DeviceTags | undefined {
    return this.#devices.get(device)?.tags;
  }

  /** The device's plausibility limits from its meta; empty (the defaults) when unknown. */
  limitsOf(device: string): ReadingLimits {
    return this.#devices.get(device)?.limits ?? {};
  }

  get size(): number {
    return this.#devices.size;
  }

  async stop(): Promise<void> {
    await this.#subscription?.unsubscribe();
    this.#subscription = undefined;
  }
}
