import { EventEmitter } from 'node:events';
import type { Bus, MessageContext, Subscription } from '@wattbus/bus';
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
  type Reading,
} from '@wattbus/contracts';
import type { Logger } from 'pino';

/** What a fleet follows: the three retained parts of a device and its live readings. */
export type FleetPart = 'meta' | 'availability' | 'state' | 'readings';

export const FLEET_PARTS: readonly FleetPart[] = ['meta', 'availability', 'state', 'readings'];

/** What the bus says about one device. */
export interface FleetDevice {
  readonly id: string;
  readonly meta?: DeviceMeta;
  readonly availability?: Availability;
  readonly state?: DeviceState;
  /** Latest reading without a phase (a plug, or a 3-phase meter's total). */
  readonly reading?: Reading;
  /** Latest per-phase readings of a 3-phase meter, by phase. */
  readonly phases: ReadonlyMap<string, Reading>;
  /** Clock time the fleet first heard of the device. */
  readonly first_seen_ms: number;
  /**
   * Clock time the last live reading arrived, whether or not it became the latest: silence is
   * judged by arrival, so a device with a wrong clock is judged by what it actually sends.
   */
  readonly reading_received_ms?: number;
}

export interface FleetDeps {
  bus: Bus;
  /** Topics to follow; default all. A hook that only needs meta saves the readings stream. */
  parts?: readonly FleetPart[];
  /** Milliseconds since the epoch, for `first_seen_ms` and `reading_received_ms`. Default Date.now. */
  clock?: () => number;
  /** Devices added and removed are logged at debug level. */
  logger?: Logger;
}

/** Events, each after the view changed (`reading` before: it also fires for readings that are not the latest). */
export interface FleetEvents {
  /** A device was heard of for the first time (or again after it was removed). */
  added: [id: string];
  /** A part of a known device changed (also right after `added`). */
  changed: [id: string, part: FleetPart];
  /** A device is gone: its meta was cleared, or nothing is left about it. */
  removed: [id: string];
  /** A live reading arrived on the device's own topic, whether or not it became the latest. */
  reading: [reading: Reading];
}

type Entry = { -readonly [K in keyof FleetDevice]: FleetDevice[K] } & { phases: Map<string, Reading> };
type RetainedPart = Exclude<FleetPart, 'readings'>;

const checkMeta = validator(DeviceMetaSchema);
const checkAvailability = validator(AvailabilitySchema);
const checkState = validator(DeviceStateSchema);
const checkReading = validator(ReadingSchema);

/**
 * The one view of the fleet, built from `{base}/devices/+/meta|availability|state` (retained) and
 * `…/readings`. The rules, the same for every service:
 * - the topic names the device; a payload naming another (`meta.id`, `reading.device`), or a
 *   topic without a valid id, is dead-lettered (`rejected`) and changes nothing;
 * - a malformed payload is dead-lettered by the bus (`unparsable`, `schema`) and the device
 *   keeps its last good data;
 * - an empty retained payload clears that part; a cleared meta removes the device, and a device
 *   with nothing left is removed too;
 * - a device is known once anything about it was seen;
 * - the latest reading of a device (and phase) is the one with the newest `ts` that is not from
 *   the future (`supersedes`).
 */
export class Fleet extends EventEmitter<FleetEvents> {
  #bus: Bus;
  #parts: readonly FleetPart[];
  #clock: () => number;
  #logger: Logger | undefined;
  #devices = new Map<string, Entry>();
  #subscriptions: Subscription[] = [];
  #retainedHeard = new Set<() => void>();

  constructor(deps: FleetDeps) {
    super();
    this.#bus = deps.bus;
    this.#parts = deps.parts ?? FLEET_PARTS;
    this.#clock = deps.clock ?? Date.now;
    this.#logger = deps.logger;
  }

  async start(): Promise<void> {
    const bus = this.#bus;
    const filter = (part: FleetPart) => bus.topics.allDevices(part);
    const follow: Record<FleetPart, () => Promise<Subscription>> = {
      meta: () =>
        bus.subscribe(filter('meta'), checkMeta, (meta, context) => this.#take(context, 'meta', meta), {
          onEmpty: (context) => this.#clear(context, 'meta'),
        }),
      availability: () =>
        bus.subscribe(
          filter('availability'),
          checkAvailability,
          (availability, context) => this.#take(context, 'availability', availability),
          { encoding: 'text', onEmpty: (context) => this.#clear(context, 'availability') },
        ),
      state: () =>
        bus.subscribe(filter('state'), checkState, (state, context) => this.#take(context, 'state', state), {
          onEmpty: (context) => this.#clear(context, 'state'),
        }),
      readings: () =>
        bus.subscribe(filter('readings'), checkReading, (reading, context) => {
          if (this.#deviceOf(context, 'reading.device', reading.device) === undefined) return;
          this.emit('reading', reading);
          this.#takeReading(reading, true);
        }),
    };
    // Every subscribe() is issued before any SUBACK is awaited (a bus holding early messages
    // stalls until all its routes exist), in a fixed order, so routes added later run after ours.
    this.#subscriptions = await Promise.all(this.#parts.map((part) => follow[part]()));
  }

  async stop(): Promise<void> {
    const subscriptions = this.#subscriptions;
    this.#subscriptions = [];
    await Promise.all(subscriptions.map((subscription) => subscription.unsubscribe().catch(() => undefined)));
  }

  get size(): number {
    return this.#devices.size;
  }

  has(id: string): boolean {
    return this.#devices.has(id);
  }

  get(id: string): FleetDevice | undefined {
    return this.#devices.get(id);
  }

  /** Every known device, sorted by id. */
  devices(): FleetDevice[] {
    return [...this.#devices.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /**
   * Takes a reading from elsewhere (say, the latest stored one, read from InfluxDB at start) by
   * the rule live readings follow: kept if it is the latest of its device (and phase). True if kept.
   */
  remember(reading: Reading): boolean {
    return this.#takeReading(reading, false);
  }

  /**
   * Resolves once the retained messages seem delivered, so a question right after start does
   * not miss a device: when none arrived for `quietMs`, or after `maxMs`. MQTT gives no
   * end-of-retained marker, and brokers such as aedes replay retained messages asynchronously
   * after the SUBACK (a later SUBACK or message can overtake them), so a quiet period is the
   * portable signal.
   */
  async retainedDelivered({ quietMs = 200, maxMs = 3_000 } = {}): Promise<void> {
    await new Promise<void>((resolve) => {
      let quiet: NodeJS.Timeout;
      const done = () => {
        clearTimeout(quiet);
        clearTimeout(limit);
        this.#retainedHeard.delete(restart);
        resolve();
      };
      const restart = () => {
        clearTimeout(quiet);
        quiet = setTimeout(done, quietMs);
      };
      const limit = setTimeout(done, maxMs);
      this.#retainedHeard.add(restart);
      restart();
    });
  }

  #take<P extends RetainedPart>(context: MessageContext, part: P, value: Entry[P]): void {
    if (context.packet.retain) for (const heard of [...this.#retainedHeard]) heard();
    const claimed = part === 'meta' ? (value as DeviceMeta).id : undefined;
    const id = this.#deviceOf(context, 'meta.id', claimed);
    if (id !== undefined) this.#change(id, part, (entry) => (entry[part] = value));
  }

  /** An empty retained payload: that part is gone, and without meta (or anything) the device is. */
  #clear(context: MessageContext, part: RetainedPart): void {
    const id = this.#bus.topics.parseDeviceTopic(context.topic)?.deviceId;
    const entry = id === undefined ? undefined : this.#devices.get(id);
    if (!entry) return;
    delete entry[part];
    const empty =
      !entry.meta && !entry.availability && !entry.state && !entry.reading && entry.phases.size === 0;
    if (part === 'meta' || empty) {
      this.#devices.delete(entry.id);
      this.#logger?.debug({ device: entry.id, cleared: part }, 'device removed from the fleet');
      this.emit('removed', entry.id);
    } else {
      this.emit('changed', entry.id, part);
    }
  }

  /** The device the topic names; undefined (and dead-lettered) if it names none or the payload disagrees. */
  #deviceOf(context: MessageContext, field: string, claimed: string | undefined): string | undefined {
    const id = this.#bus.topics.parseDeviceTopic(context.topic)?.deviceId;
    const payload = () => Buffer.from(context.packet.payload);
    if (id === undefined) {
      this.#bus.reject(context.topic, payload(), `topic ${context.topic} names no valid device id`);
      return undefined;
    }
    if (claimed !== undefined && claimed !== id) {
      this.#bus.reject(
        context.topic,
        payload(),
        `${field} ${claimed} is not ${id}, the device its topic names`,
      );
      return undefined;
    }
    return id;
  }

  #takeReading(reading: Reading, live: boolean): boolean {
    const device = this.#devices.get(reading.device);
    const kept = reading.phase === undefined ? device?.reading : device?.phases.get(reading.phase);
    // The wall clock, not `clock` (that one only dates arrivals): `ts` is a wall-clock time.
    const latest = supersedes(reading, kept, Date.now());
    if (!latest && !live) return false;
    this.#change(reading.device, 'readings', (entry) => {
      if (live) entry.reading_received_ms = this.#clock();
      if (!latest) return;
      if (reading.phase === undefined) entry.reading = reading;
      else entry.phases.set(reading.phase, reading);
    });
    return latest;
  }

  #change(id: string, part: FleetPart, apply: (entry: Entry) => void): void {
    let entry = this.#devices.get(id);
    const added = entry === undefined;
    if (!entry) {
      entry = { id, phases: new Map(), first_seen_ms: this.#clock() };
      this.#devices.set(id, entry);
    }
    apply(entry);
    if (added) {
      this.#logger?.debug({ device: id, from: part }, 'device added to the fleet');
      this.emit('added', id);
    }
    this.emit('changed', id, part);
  }
}

/**
 * The one rule for "latest": a reading replaces the kept one unless it is older (a later
 * arrival with the same `ts` wins; InfluxDB keeps one point per device and time as well) or
 * stamped more than the tolerance ahead of the wall clock: one reading from a device with a wrong
 * clock would otherwise stay "latest" over every correct one that follows.
 */
function supersedes(reading: Reading, kept: Reading | undefined, nowMs: number): boolean {
  const ts = Date.parse(reading.ts);
  if (isFromTheFuture(ts, nowMs)) return false;
  return kept === undefined || ts >= Date.parse(kept.ts);
}
