import type { Bus, Subscription } from '@wattbus/bus';
import {
  AvailabilitySchema,
  DeviceMetaSchema,
  DeviceStateSchema,
  ReadingSchema,
  isFromTheFuture,
  validator,
  type Availability,
  type DeviceMeta,
  type DeviceState,
  type DeviceSummary,
  type LatestResult,
  type Reading,
} from '@wattbus/contracts';
import type { Logger } from '@wattbus/runtime';

export interface FleetDeps {
  bus: Bus;
  logger: Logger;
}

export interface FleetDevice {
  id: string;
  meta?: DeviceMeta;
  availability?: Availability;
  state?: DeviceState;
  /** Latest reading without a phase (a plug, or a 3-phase meter's total). */
  reading?: Reading;
  /** Latest per-phase readings of a 3-phase meter. */
  phases: Map<string, Reading>;
}

export interface FleetFilter {
  location?: string;
  kind?: string;
}

const checkMeta = validator(DeviceMetaSchema);
const checkState = validator(DeviceStateSchema);
const checkAvailability = validator(AvailabilitySchema);
const checkReading = validator(ReadingSchema);

/**
 * The query component's view of the fleet, kept in memory from the retained meta, availability
 * and state topics and the readings stream, so "what is drawing now" needs no database.
 */
export class Fleet {
  #deps: FleetDeps;
  #devices = new Map<string, FleetDevice>();
  #subscriptions: Subscription[] = [];

  constructor(deps: FleetDeps) {
    this.#deps = deps;
  }

  async start(): Promise<void> {
    const { bus } = this.#deps;
    const topics = bus.topics;
    const idOf = (topic: string) => topics.parseDeviceTopic(topic)?.deviceId;
    this.#subscriptions.push(
      await bus.subscribe(
        topics.allDevices('meta'),
        checkMeta,
        (meta, { topic }) => {
          const id = idOf(topic);
          if (id !== meta.id)
            return bus.reject(topic, JSON.stringify(meta), `meta.id ${meta.id} is not ${id}`);
          this.#device(id).meta = meta;
        },
        { onEmpty: ({ topic }) => this.#forget(idOf(topic), 'meta') },
      ),
      await bus.subscribe(
        topics.allDevices('availability'),
        checkAvailability,
        (availability, { topic }) => {
          const id = idOf(topic);
          if (id) this.#device(id).availability = availability;
        },
        { encoding: 'text', onEmpty: ({ topic }) => this.#forget(idOf(topic), 'availability') },
      ),
      await bus.subscribe(
        topics.allDevices('state'),
        checkState,
        (state, { topic }) => {
          const id = idOf(topic);
          if (id) this.#device(id).state = state;
        },
        { onEmpty: ({ topic }) => this.#forget(idOf(topic), 'state') },
      ),
      await bus.subscribe(topics.allDevices('readings'), checkReading, (reading, { topic }) => {
        const id = idOf(topic);
        if (id !== reading.device) {
          return bus.reject(topic, JSON.stringify(reading), `reading.device ${reading.device} is not ${id}`);
        }
        this.remember(reading);
      }),
    );
  }

  async stop(): Promise<void> {
    const subscriptions = this.#subscriptions;
    this.#subscriptions = [];
    await Promise.all(subscriptions.map((subscription) => subscription.unsubscribe().catch(() => undefined)));
  }

  /**
   * Keeps a reading if it is newer than what we have (warm-up rows never override live ones) and
   * not from the future: a device with a wrong clock would otherwise stay "latest" for good.
   */
  remember(reading: Reading): void {
    if (isFromTheFuture(Date.parse(reading.ts), Date.now())) return;
    const device = this.#device(reading.device);
    const previous = reading.phase ? device.phases.get(reading.phase) : device.reading;
    if (previous && Date.parse(previous.ts) >= Date.parse(reading.ts)) return;
    if (reading.phase) device.phases.set(reading.phase, reading);
    else device.reading = reading;
  }

  get size(): number {
    return this.#devices.size;
  }

  /** A device counts as known once anything about it was seen (meta, availability, state, reading). */
  has(id: string): boolean {
    return this.#devices.has(id);
  }

  get(id: string): FleetDevice | undefined {
    return this.#devices.get(id);
  }

  /** Known devices matching a location prefix and a kind, sorted by id. */
  matching(filter: FleetFilter): FleetDevice[] {
    return [...this.#devices.values()]
      .filter((device) => {
        const location = device.meta?.location ?? device.reading?.location;
        if (filter.location !== undefined && !(location && underLocation(location, filter.location)))
          return false;
        if (filter.kind !== undefined && device.meta?.kind !== filter.kind) return false;
        return true;
      })
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  summaries(filter: FleetFilter): DeviceSummary[] {
    return this.matching(filter).map((device) => {
      const meta = device.meta;
      const summary: DeviceSummary = {
        id: device.id,
        availability: device.availability ?? 'unknown',
        state: device.state ?? null,
        reading: device.reading ?? null,
      };
      if (meta) {
        summary.name = meta.name;
        summary.type = meta.type;
        summary.kind = meta.kind;
        summary.location = meta.location;
        summary.poll_interval_ms = meta.poll_interval_ms;
        if (meta.model !== undefined) summary.model = meta.model;
      } else if (device.reading?.location) {
        summary.location = device.reading.location;
      }
      return summary;
    });
  }

  latest(ids: readonly string[]): LatestResult['devices'] {
    return ids.map((id) => {
      const device = this.#devices.get(id);
      return {
        device: id,
        reading: device?.reading ?? null,
        phases: device ? [...device.phases.values()].sort((a, b) => (a.phase! < b.phase! ? -1 : 1)) : [],
      };
    });
  }

  #device(id: string): FleetDevice {
    let device = this.#devices.get(id);
    if (!device) {
      device = { id, phases: new Map() };
      this.#devices.set(id, device);
    }
    return device;
  }

  /** A retained message was cleared; the device is forgotten once nothing is left about it. */
  #forget(id: string | undefined, what: 'meta' | 'availability' | 'state'): void {
    const device = id ? this.#devices.get(id) : undefined;
    if (!device) return;
    delete device[what];
    if (
      !device.meta &&
      !device.availability &&
      !device.state &&
      !device.reading &&
      device.phases.size === 0
    ) {
      this.#devices.delete(device.id);
    }
  }
}

/** `hq/floor-2` covers `hq/floor-2` and `hq/floor-2/…`, not `hq/floor-20`. */
export function underLocation(location: string, prefix: string): boolean {
  const trimmed = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return location === trimmed || location.startsWith(`${trimmed}/`);
}
