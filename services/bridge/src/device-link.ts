import type { DevicePublisher } from '@wattbus/agent';
import { WattbusError, type Availability, type DeviceState } from '@wattbus/contracts';
import type { ReadingValues } from '@wattbus/devices';
import type { Logger } from 'pino';
import type { MappedMessage } from './mapping.js';
import { fillTopic, type CommandRule, type MessageRule } from './profiles.js';
import type { BridgeDevice } from './registry.js';

/** Sends one command payload to the device's broker (text, or JSON for anything else). */
export type SendCommand = (topic: string, payload: unknown) => Promise<void>;

export interface LinkMetrics {
  messages: number;
  readings: number;
  dead_lettered: number;
  commands: number;
  unconfirmed: number;
}

interface Burst {
  values: Partial<ReadingValues>;
  /** When its first message arrived: the reading's ts. */
  at: number;
}

/**
 * One foreign device as the bridge holds it: what its messages last said (relay state,
 * availability), fields of a reading still being gathered, and its commands, run one at a time.
 * Readings, state and availability go out through the agent's DevicePublisher, so they are
 * checked against the same contract schemas as a polled device's.
 */
export class DeviceLink {
  readonly bridged: BridgeDevice;
  /** Where each of its foreign topics is read: concrete topic → rule. */
  readonly rules: { topic: string; rule: MessageRule }[];
  readonly bindings: Record<string, unknown>;
  #publisher: DevicePublisher;
  #send: SendCommand;
  #logger: Logger;
  #availability: Availability | undefined;
  #state: DeviceState | undefined;
  #stateWaiters = new Set<(on: boolean) => void>();
  #burst: Burst | undefined;
  /** Fields of a burst without power_w; they join the next reading if it comes within one report interval. */
  #carried: Burst | undefined;
  #timer: NodeJS.Timeout | undefined;
  #publishing = new Set<Promise<void>>();
  #commands: Promise<unknown> = Promise.resolve();
  #metrics: LinkMetrics = { messages: 0, readings: 0, dead_lettered: 0, commands: 0, unconfirmed: 0 };

  constructor(deps: {
    bridged: BridgeDevice;
    bridgeId: string;
    publisher: DevicePublisher;
    send: SendCommand;
    logger: Logger;
  }) {
    this.bridged = deps.bridged;
    this.#publisher = deps.publisher;
    this.#send = deps.send;
    this.#logger = deps.logger;
    const { profile, placeholders } = deps.bridged;
    this.rules = profile.messages.map((rule) => ({ topic: fillTopic(rule.topic, placeholders), rule }));
    this.bindings = { ...placeholders, bridge: deps.bridgeId };
  }

  get id(): string {
    return this.bridged.device.id;
  }

  get device(): BridgeDevice['device'] {
    return this.bridged.device;
  }

  get availability(): Availability | undefined {
    return this.#availability;
  }

  get state(): DeviceState | undefined {
    return this.#state;
  }

  metrics(): LinkMetrics {
    return { ...this.#metrics };
  }

  deadLettered(): void {
    this.#metrics.messages++;
    this.#metrics.dead_lettered++;
  }

  /**
   * Applies what one message said: availability, then state, then reading fields. A retained
   * message (delivered because we subscribed, not because the device spoke) updates state and
   * availability but gives no reading: its values are of an unknown past moment.
   */
  async apply(mapped: MappedMessage, options: { retained: boolean; at: number }): Promise<void> {
    this.#metrics.messages++;
    if (mapped.availability) await this.setAvailability(mapped.availability);
    if (mapped.on !== undefined) await this.#applyState(mapped.on);
    if (!options.retained && Object.keys(mapped.values).length > 0)
      await this.#gather(mapped.values, options.at);
  }

  /** Publishes a change of availability (retained); unchanged availability is not republished. */
  async setAvailability(availability: Availability): Promise<void> {
    if (availability === this.#availability) return;
    this.#availability = availability;
    this.#logger.info({ device: this.id, availability }, `device ${availability}`);
    await this.#publisher.availability(this.bridged.device, availability);
  }

  /** Publishes a changed relay state (retained), then tells waiting commands what the device said. */
  async #applyState(on: boolean): Promise<void> {
    try {
      if (this.#state?.on !== on) this.#state = await this.#publisher.state(this.bridged.device, on);
    } finally {
      for (const waiter of [...this.#stateWaiters]) waiter(on);
    }
  }

  /** Collects fields until `coalesce_ms` after the first, or until a field repeats; then one reading. */
  async #gather(values: Partial<ReadingValues>, at: number): Promise<void> {
    const burst = this.#burst;
    if (burst && Object.keys(values).some((field) => field in burst.values)) await this.flush();
    this.#burst ??= { values: {}, at };
    Object.assign(this.#burst.values, values);
    const coalesceMs = this.bridged.profile.coalesce_ms;
    if (coalesceMs === 0) return this.flush();
    this.#timer ??= setTimeout(() => {
      this.flush().catch((error: unknown) =>
        this.#logger.warn({ device: this.id, err: error }, 'could not publish a reading'),
      );
    }, coalesceMs);
  }

  /** Publishes the reading being gathered (now, e.g. on stop); a burst without power_w is carried. */
  async flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const burst = this.#burst;
    this.#burst = undefined;
    if (!burst) return;
    if (burst.values.power_w === undefined) {
      this.#carried = { values: { ...this.#carried?.values, ...burst.values }, at: burst.at };
      return;
    }
    const carried = this.#carried;
    this.#carried = undefined;
    const fresh = carried && burst.at - carried.at <= this.bridged.device.poll_interval_ms;
    const values = { ...(fresh ? carried.values : {}), ...burst.values } as ReadingValues;
    const readings = this.#publisher.readingsOf(this.bridged.device, [values], new Date(burst.at));
    // Not awaited: the next message need not wait for this PUBACK (mqtt.js keeps the order); stop() awaits it.
    const published = this.#publisher.readings(readings).then(
      () => void this.#metrics.readings++,
      (error: unknown) => this.#logger.warn({ device: this.id, err: error }, 'could not publish a reading'),
    );
    this.#publishing.add(published);
    void published.finally(() => this.#publishing.delete(published));
  }

  /** Switches: the command, then the first state message that agrees, within the device's timeout. */
  set(on: boolean, deadline: number | undefined): Promise<DeviceState> {
    return this.#oneAtATime(async () => {
      const rule = this.#command('set');
      const timeoutMs = this.#timeoutMs(deadline);
      let last: boolean | undefined;
      const confirmed = this.#nextState((seen) => ((last = seen), seen === on), timeoutMs);
      await this.#sendCommand(rule, { on });
      if (await confirmed) {
        this.#logger.info({ device: this.id, on }, 'switched');
        return this.#current(on);
      }
      this.#metrics.unconfirmed++;
      if (last === undefined) throw this.#unreachable(timeoutMs);
      throw new WattbusError(
        'DEVICE_STATE_MISMATCH',
        `${this.id} did not switch ${on ? 'on' : 'off'}: it reports ${last ? 'on' : 'off'}`,
        { state: this.#state },
      );
    });
  }

  /** The relay state: asked from the device when its profile can (`get`), else the last one it reported. */
  get(deadline: number | undefined): Promise<DeviceState> {
    return this.#oneAtATime(async () => {
      this.#assertReachable();
      const rule = this.bridged.profile.get;
      if (!rule) {
        if (this.#state) return this.#state;
        throw new WattbusError('DEVICE_UNREACHABLE', `${this.id} has not reported its relay state yet`);
      }
      const timeoutMs = this.#timeoutMs(deadline);
      let seen = false;
      const answered = this.#nextState((on) => ((seen = on), true), timeoutMs);
      await this.#sendCommand(rule, {});
      if (await answered) return this.#current(seen);
      this.#metrics.unconfirmed++;
      throw this.#unreachable(timeoutMs);
    });
  }

  /** Publishes what is gathered; a command still waiting ends by its own timeout. */
  async stop(): Promise<void> {
    await this.flush().catch(() => undefined);
    await Promise.all(this.#publishing);
  }

  /** The state last published, or (when publishing it failed) what the device just said. */
  #current(on: boolean): DeviceState {
    return this.#state?.on === on ? this.#state : { on, ts: new Date().toISOString() };
  }

  #command(kind: 'set' | 'get'): CommandRule {
    this.#assertReachable();
    const rule = this.bridged.profile[kind];
    if (!rule) {
      throw new WattbusError(
        'DEVICE_ERROR',
        `${this.id}: profile '${this.bridged.profile.name}' has no ${kind} command`,
      );
    }
    return rule;
  }

  #assertReachable(): void {
    if (this.#availability === 'offline') {
      throw new WattbusError('DEVICE_UNREACHABLE', `${this.id} is offline (its availability topic says so)`);
    }
  }

  #timeoutMs(deadline: number | undefined): number {
    const timeoutMs = this.bridged.device.timeout_ms;
    return deadline === undefined ? timeoutMs : Math.max(0, Math.min(timeoutMs, deadline - Date.now()));
  }

  #unreachable(timeoutMs: number): WattbusError {
    const { profile, connection } = this.bridged;
    return new WattbusError(
      'DEVICE_UNREACHABLE',
      `no state from ${this.id} (${profile.name} '${connection.id}') within ${timeoutMs} ms of the command`,
    );
  }

  async #sendCommand(rule: CommandRule, extra: Record<string, unknown>): Promise<void> {
    this.#metrics.commands++;
    let payload: unknown;
    try {
      payload = await rule.payload.evaluate(undefined, { ...this.bindings, ...extra });
    } catch (error) {
      throw new WattbusError(
        'INTERNAL',
        `${this.id}: command payload (${rule.payload.source}): ${(error as Error).message}`,
      );
    }
    if (payload === undefined) {
      throw new WattbusError('INTERNAL', `${this.id}: command payload (${rule.payload.source}) gave nothing`);
    }
    try {
      await this.#send(fillTopic(rule.topic, this.bridged.placeholders), payload);
    } catch (error) {
      throw new WattbusError(
        'DEVICE_UNREACHABLE',
        `${this.id}: cannot reach the device's broker: ${(error as Error).message}`,
      );
    }
  }

  /** Resolves true once a state message passes `accept`, false after `timeoutMs`. */
  #nextState(accept: (on: boolean) => boolean, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const finish = (result: boolean) => {
        clearTimeout(timer);
        this.#stateWaiters.delete(waiter);
        resolve(result);
      };
      const waiter = (on: boolean) => {
        if (accept(on)) finish(true);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      this.#stateWaiters.add(waiter);
    });
  }

  #oneAtATime<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#commands.then(work);
    this.#commands = result.catch(() => undefined);
    return result;
  }
}
