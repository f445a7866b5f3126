import { AgentCore, DeviceRequestServer, type AgentCoreOptions } from '@wattbus/agent';
import type { Bus, MessageContext, Subscription } from '@wattbus/bus';
import { plausibilityProblem, type DeadLetter, type Reading } from '@wattbus/contracts';
import { Health, startOrUndo, type ServiceMetrics } from '@wattbus/runtime';
import type { Logger } from 'pino';
import type { BridgeConfig } from './config.js';
import { DeviceLink } from './device-link.js';
import { ForeignBroker } from './foreign.js';
import { MappingError, mapMessage, type MappedMessage } from './mapping.js';
import { bridgeMetrics, type BridgeMetrics } from './metrics.js';
import type { MessageRule } from './profiles.js';
import type { BridgeDevice } from './registry.js';

interface Route {
  link: DeviceLink;
  rule: MessageRule;
}

/**
 * The bridge: an agent for devices that already speak MQTT. It subscribes to each registry
 * device's foreign topics (on the devices' broker), maps every message by the device's profile
 * to readings, relay state and availability on the WattBus topics, and serves set/get by
 * publishing the profile's command and waiting for the device's state. A message that does not
 * map is dead-lettered with the reason and counted; none can stop the bridge.
 */
export class Bridge {
  #config: BridgeConfig;
  #devices: BridgeDevice[];
  #logger: Logger;
  #core: AgentCore | undefined;
  #foreign: ForeignBroker | undefined;
  #links = new Map<string, DeviceLink>();
  #routes = new Map<string, Route[]>();
  #subscriptions: Subscription[] = [];
  #requests: DeviceRequestServer | undefined;
  #connect: AgentCoreOptions['connect'];
  /** Foreign messages are mapped one after the other, so a device's messages apply in arrival order. */
  #queue: Promise<void> = Promise.resolve();
  #deadLettered: BridgeMetrics['dead_lettered'] = {
    unparsable: 0,
    schema: 0,
    oversize: 0,
    implausible: 0,
    rejected: 0,
  };
  #stopping = false;

  constructor(deps: {
    config: BridgeConfig;
    devices: BridgeDevice[];
    logger: Logger;
    /** How to connect to the WattBus broker: the front door's (it names a failure clearly); default Bus.connect. */
    connect?: AgentCoreOptions['connect'];
    /** Messages, readings, commands, devices by availability and the bus go here. */
    metrics?: ServiceMetrics;
  }) {
    this.#config = deps.config;
    this.#devices = deps.devices;
    this.#logger = deps.logger;
    this.#connect = deps.connect;
    if (deps.metrics) bridgeMetrics(deps.metrics, this);
  }

  get bus(): Bus | undefined {
    return this.#core?.bus;
  }

  get links(): ReadonlyMap<string, DeviceLink> {
    return this.#links;
  }

  metrics(): BridgeMetrics {
    const devices: BridgeMetrics['devices'] = {};
    for (const [id, link] of this.#links) {
      devices[id] = { ...link.metrics(), availability: link.availability ?? 'unknown' };
    }
    return { devices, dead_lettered: { ...this.#deadLettered } };
  }

  /** Connects both sides, publishes meta, serves commands, then subscribes; undoes it all on failure. */
  start(): Promise<void> {
    return startOrUndo(
      () => this.#start(),
      () => this.stop(),
    );
  }

  async #start(): Promise<void> {
    const config = this.#config;
    const core = await AgentCore.connect({
      config,
      service: 'bridge',
      logger: this.#logger,
      connect: this.#connect,
      devices: this.#links,
    });
    this.#core = core;
    const publisher = core.publisher;
    const foreign = await ForeignBroker.connect(
      config.foreign_mqtt ?? config.mqtt,
      `${config.id}-foreign`,
      this.#logger,
    );
    this.#foreign = foreign;
    for (const bridged of this.#devices) {
      const link = new DeviceLink({
        bridged,
        bridgeId: config.id,
        publisher,
        send: (topic, payload) => foreign.publish(topic, payload),
        logger: this.#logger,
      });
      this.#links.set(link.id, link);
      for (const { topic, rule } of link.rules) {
        this.#routes.set(topic, [...(this.#routes.get(topic) ?? []), { link, rule }]);
      }
    }
    await core.wills?.add(this.#devices.map((bridged) => bridged.device));
    await core.announce();
    // Without the devices' broker nothing is known about them; its retained availability comes back on reconnect.
    foreign.on('offline', () => {
      if (this.#stopping) return;
      this.#logger.warn("lost the devices' broker; publishing its devices offline");
      this.#enqueue(() => this.#allOffline());
    });
    // The registry's `limits:` go into the meta, so the storage hook checks these readings the same way.
    await Promise.all(
      this.#devices.map(({ device, profile }) =>
        publisher.meta(device, { model: profile.model, limits: device.limits }),
      ),
    );
    this.#requests = new DeviceRequestServer({
      bus: core.bus,
      ids: [...this.#links.keys()],
      owner: "this bridge's registry",
      commandsOf: (id) => this.#links.get(id),
    });
    await this.#requests.start();
    this.#subscriptions = await Promise.all(
      [...this.#routes.keys()].map((topic) =>
        foreign.subscribe(topic, (payload, context) =>
          this.#enqueue(() => this.#onForeign(payload, context)),
        ),
      ),
    );
    // The devices' broker is the bridge's other half: without it, it is not ready.
    const health = new Health();
    const devicesBroker = () => health.set('devices_broker', foreign.connected);
    devicesBroker();
    foreign.on('connect', devicesBroker);
    foreign.on('offline', devicesBroker);
    await core.startHealth(() => this.#healthMetrics(), health);
    this.#logger.info(
      { bridge_id: config.id, devices: this.#links.size, foreign_topics: this.#routes.size },
      'bridge started',
    );
  }

  /** Stops serving and reading, publishes what is gathered and every device offline, closes both connections. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    await this.#core?.retire();
    await this.#requests?.stop();
    await Promise.allSettled(this.#subscriptions.map((subscription) => subscription.unsubscribe()));
    await this.#queue;
    await Promise.allSettled([...this.#links.values()].map((link) => link.stop()));
    if (this.#core?.bus.connected) await this.#allOffline();
    await this.#foreign?.stop();
    await this.#core?.close();
    this.#logger.info({ dead_lettered: this.#deadLettered }, 'bridge stopped');
  }

  #healthMetrics(): Record<string, number> {
    const { devices, dead_lettered } = this.metrics();
    const links = Object.values(devices);
    const sum = (key: 'messages' | 'readings' | 'commands' | 'unconfirmed') =>
      links.reduce((total, link) => total + link[key], 0);
    return {
      devices: links.length,
      devices_online: links.filter((link) => link.availability === 'online').length,
      devices_offline: links.filter((link) => link.availability === 'offline').length,
      messages: sum('messages'),
      readings: sum('readings'),
      commands: sum('commands'),
      unconfirmed: sum('unconfirmed'),
      dead_lettered: Object.values(dead_lettered).reduce((total, count) => total + count, 0),
    };
  }

  #enqueue(work: () => Promise<void>): void {
    this.#queue = this.#queue.then(work).catch((error: unknown) => {
      this.#logger.error({ err: error }, 'foreign message handling failed');
    });
  }

  async #allOffline(): Promise<void> {
    await Promise.allSettled([...this.#links.values()].map((link) => link.setAvailability('offline')));
  }

  async #onForeign(payload: Buffer, context: MessageContext): Promise<void> {
    const routes = this.#routes.get(context.topic) ?? [];
    if (payload.length > this.#config.max_payload_bytes) {
      const message = `payload of ${payload.length} bytes exceeds max_payload_bytes ${this.#config.max_payload_bytes}`;
      return this.#deadLetter(context.topic, payload, routes, 'oversize', message);
    }
    if (payload.length === 0) {
      return this.#deadLetter(
        context.topic,
        payload,
        routes,
        'schema',
        'empty payload (a retained message cleared?)',
      );
    }
    const at = Date.now();
    for (const route of routes) {
      let mapped;
      try {
        mapped = await mapMessage(route.rule, payload, route.link.bindings);
      } catch (error) {
        if (!(error instanceof MappingError)) throw error;
        const { device, profile } = route.link.bridged;
        this.#deadLetter(
          context.topic,
          payload,
          [route],
          error.reason,
          `${device.id} (${profile.name}): ${error.message}`,
        );
        continue;
      }
      const problem = context.packet.retain ? undefined : implausibility(route.link, mapped, at);
      if (problem !== undefined) {
        const { device, profile } = route.link.bridged;
        this.#deadLetter(
          context.topic,
          payload,
          [route],
          'implausible',
          `${device.id} (${profile.name}): ${problem}`,
        );
        continue;
      }
      try {
        await route.link.apply(mapped, { retained: context.packet.retain, at });
      } catch (error) {
        this.#logger.warn(
          { device: route.link.id, topic: context.topic, err: error },
          'could not publish what a message said',
        );
      }
    }
  }

  #deadLetter(
    topic: string,
    payload: Buffer,
    routes: Route[],
    reason: DeadLetter['reason'],
    message: string,
  ): void {
    this.#deadLettered[reason]++;
    for (const route of routes) route.link.deadLettered();
    this.#core?.bus.reject(topic, payload, message, reason);
  }
}

/**
 * Why the values of a live message cannot be true of its device (beyond its registry `limits:`,
 * or the defaults for any device): the collectors' and the storage hook's check
 * (`plausibilityProblem`). A retained message gives no reading, so it is not checked.
 */
function implausibility(link: DeviceLink, mapped: MappedMessage, at: number): string | undefined {
  if (Object.keys(mapped.values).length === 0) return undefined;
  const device = link.bridged.device;
  // Fields of one message; power_w may come in another message of the same reading.
  const values = { ts: new Date(at).toISOString(), device: device.id, ...mapped.values } as Reading;
  return plausibilityProblem(values, device.limits ?? {}, { nowMs: at });
}
