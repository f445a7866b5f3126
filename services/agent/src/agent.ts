import { isDeepStrictEqual } from 'node:util';
import type { Bus } from '@wattbus/bus';
import { SharedResources, type Registry, type RegistryDevice } from '@wattbus/devices';
import { startOrUndo, type Logger, type ServiceMetrics } from '@wattbus/runtime';
import { AgentCore, type AgentCoreOptions } from './agent-core.js';
import type { AgentConfig } from './config.js';
import { Controller } from './controller.js';
import { DeviceSession, type AvailabilityChange } from './device-session.js';
import { agentMetrics, type AgentDeviceMetrics } from './metrics.js';
import { PlausibilityGate, deviceLimits } from './plausibility-gate.js';
import { gridOffsetMs, Poller } from './poller.js';

/** Device ids an updateRegistry() started, stopped and restarted, and entries it could not start. */
export interface RegistryChange {
  added: string[];
  removed: string[];
  changed: string[];
  failed: { id: string; error: string }[];
}

/**
 * One agent process: a device session per registry entry (driver + one-at-a-time queue +
 * availability), shared by the collector (a Poller per device) and the controller. Either role
 * can be switched off. start() connects and publishes meta; stop() publishes the devices offline.
 */
export class Agent {
  #config: AgentConfig;
  #registry: Registry;
  #logger: Logger;
  #core: AgentCore | undefined;
  #shared = new SharedResources();
  #sessions = new Map<string, DeviceSession>();
  #pollers = new Map<string, Poller>();
  #controller: Controller | undefined;
  #gate: PlausibilityGate | undefined;
  #connect: AgentCoreOptions['connect'];
  #stopping = false;
  #updating: Promise<unknown> = Promise.resolve();

  constructor(deps: {
    config: AgentConfig;
    registry: Registry;
    logger: Logger;
    /** How to connect to the broker: the front door's (it names a failure clearly); default Bus.connect. */
    connect?: AgentCoreOptions['connect'];
    /** Polls on time and late, readings, devices by availability and the bus go here. */
    metrics?: ServiceMetrics;
  }) {
    this.#config = deps.config;
    this.#registry = deps.registry;
    this.#logger = deps.logger;
    this.#connect = deps.connect;
    if (deps.metrics) agentMetrics(deps.metrics, this);
  }

  get bus(): Bus | undefined {
    return this.#core?.bus;
  }

  get willConnections(): number {
    return this.#core?.wills?.connections ?? 0;
  }

  metrics(): Record<string, AgentDeviceMetrics> {
    const result: Record<string, AgentDeviceMetrics> = {};
    for (const [id, session] of this.#sessions) {
      const { operations, failures } = session.metrics();
      result[id] = {
        availability: session.availability ?? 'unknown',
        operations,
        failures,
        ...this.#pollers.get(id)?.metrics(),
      };
    }
    return result;
  }

  /** Connects, publishes meta and starts the roles; on any failure it undoes what it started and throws. */
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
      service: 'agent',
      logger: this.#logger,
      connect: this.#connect,
      devices: this.#sessions,
    });
    this.#core = core;
    this.#gate = new PlausibilityGate({
      logger: this.#logger,
      futureToleranceMs: config.future_tolerance_ms,
    });
    const sessions = this.#registry.devices.map((device) => this.#session(device, this.#registry));
    await core.announce();
    if (config.controller) {
      this.#controller = new Controller({
        bus: core.bus,
        sessions: this.#sessions,
        publisher: core.publisher,
        logger: this.#logger,
        options: { answerUnknownDevices: config.answer_unknown_devices, timeZone: config.time_zone },
      });
      await this.#controller.start();
    }
    await this.#bringUp(sessions);
    await core.startHealth(() => this.#healthMetrics());
    this.#logger.info(
      {
        agent_id: config.id,
        devices: this.#sessions.size,
        collector: config.collector,
        controller: config.controller,
        device_wills: config.device_wills,
      },
      'agent started',
    );
  }

  /** Stops polling and serving, publishes every device offline (retained), closes devices and the broker connections. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    await this.#updating;
    const core = this.#core;
    await core?.retire();
    await Promise.all([...this.#pollers.values()].map((poller) => poller.stop()));
    await this.#controller?.stop();
    if (core?.bus.connected) {
      await Promise.allSettled(
        [...this.#sessions.values()].map((session) => core.publisher.availability(session.device, 'offline')),
      );
    }
    await Promise.allSettled([...this.#sessions.values()].map((session) => session.driver.close()));
    await this.#shared.closeAll();
    await core?.close();
  }

  #healthMetrics(): Record<string, number> {
    const devices = Object.values(this.metrics());
    return {
      devices: devices.length,
      devices_online: devices.filter((device) => device.availability === 'online').length,
      devices_offline: devices.filter((device) => device.availability === 'offline').length,
      device_failures: devices.reduce((sum, device) => sum + device.failures, 0),
      will_connections: this.willConnections,
    };
  }

  /**
   * Makes the agent serve `registry` without a restart: devices that are new start, devices that
   * are gone stop and their retained meta, state and availability are cleared (so every fleet view
   * forgets them), and a device whose entry changed restarts with it. Updates run one at a time.
   */
  updateRegistry(registry: Registry): Promise<RegistryChange> {
    const update = this.#updating.then(() => this.#update(registry));
    this.#updating = update.catch(() => undefined);
    return update;
  }

  async #update(registry: Registry): Promise<RegistryChange> {
    if (this.#stopping || !this.#core) throw new Error('the agent is not running');
    const next = new Map(registry.devices.map((device) => [device.id, device]));
    const change: RegistryChange = { added: [], removed: [], changed: [], failed: [] };
    for (const [id, session] of this.#sessions) {
      const entry = next.get(id);
      if (!entry) change.removed.push(id);
      else if (!isDeepStrictEqual(entry, session.device)) change.changed.push(id);
    }
    for (const id of next.keys()) if (!this.#sessions.has(id)) change.added.push(id);
    for (const id of change.removed) await this.#takeDown(id, { forget: true });
    for (const id of change.changed) await this.#takeDown(id, { forget: false });
    this.#registry = registry;
    const sessions: DeviceSession[] = [];
    for (const id of [...change.changed, ...change.added]) {
      try {
        sessions.push(this.#session(next.get(id)!, registry));
      } catch (error) {
        // One entry the driver refuses (e.g. a Modbus bus setting that clashes) leaves the rest running.
        change.failed.push({ id, error: (error as Error).message });
        this.#logger.error({ device: id, err: error }, 'device not started');
      }
    }
    await this.#bringUp(sessions);
    this.#logger.info({ ...change, devices: this.#sessions.size }, 'device registry updated');
    return change;
  }

  #session(device: RegistryDevice, registry: Registry): DeviceSession {
    const definition = registry.drivers.get(device.type);
    if (!definition) throw new Error(`no driver for type '${device.type}' (device ${device.id})`);
    const driver = definition.create(device, {
      logger: this.#logger.child({ device: device.id }),
      shared: this.#shared,
    });
    return new DeviceSession({
      device,
      driver,
      onAvailabilityChange: (session, change) => this.#availabilityChanged(session, change),
    });
  }

  /** Will connections, meta, request serving and polling of new sessions, in that order. */
  async #bringUp(sessions: readonly DeviceSession[]): Promise<void> {
    const core = this.#core!;
    for (const session of sessions) this.#sessions.set(session.id, session);
    try {
      await core.wills?.add(sessions.map((session) => session.device));
    } catch (error) {
      for (const session of sessions) {
        this.#sessions.delete(session.id);
        await session.driver.close().catch(() => undefined);
      }
      throw error;
    }
    await Promise.all(
      sessions.map(({ device, driver }) =>
        core.publisher.meta(device, { limits: deviceLimits(device, driver) }),
      ),
    );
    await this.#controller?.serveDevices(sessions.map((session) => session.id));
    if (!this.#config.collector) return;
    // Spread over the interval: 1,000 plugs at 1 s poll one per millisecond, not all at once; one
    // origin for all, however long starting them takes.
    const origin = Date.now();
    sessions.forEach((session, index) => {
      const poller = new Poller({
        session,
        publisher: core.publisher,
        gate: this.#gate!,
        logger: this.#logger,
      });
      this.#pollers.set(session.id, poller);
      poller.start(gridOffsetMs(index, sessions.length, session.device.poll_interval_ms), origin);
    });
  }

  /** Stops one device; `forget` also clears its retained topics (it left the registry). */
  async #takeDown(id: string, options: { forget: boolean }): Promise<void> {
    const session = this.#sessions.get(id);
    if (!session) return;
    await this.#pollers.get(id)?.stop();
    this.#pollers.delete(id);
    await this.#controller?.forgetDevice(id);
    this.#sessions.delete(id);
    const core = this.#core!;
    await core.wills?.remove(id);
    const bus = core.bus;
    if (options.forget) {
      // An empty retained message deletes the retained one: the device leaves every fleet view.
      for (const topic of [bus.topics.meta(id), bus.topics.state(id), bus.topics.availability(id)]) {
        await bus.publish(topic, '', { qos: 1, retain: true }).catch(() => undefined);
      }
    } else {
      await core.publisher.availability(session.device, 'offline').catch(() => undefined);
    }
    await session.driver.close().catch(() => undefined);
    this.#logger.info(
      { device: id },
      options.forget ? 'device removed' : 'device restarting with its new entry',
    );
  }

  #availabilityChanged(session: DeviceSession, change: AvailabilityChange): void {
    // A session taken down may still finish an operation: it speaks for no device any more.
    if (this.#sessions.get(session.id) !== session) return;
    if (change.availability === 'offline') {
      this.#logger.warn(
        {
          device: session.id,
          code: change.error?.code,
          err: change.error?.message,
          failures: session.consecutiveFailures,
        },
        'device offline',
      );
    } else {
      this.#logger.info({ device: session.id }, 'device online');
    }
    if (this.#stopping || !this.#core) return;
    this.#core.publisher.availability(session.device, change.availability).catch((error: unknown) => {
      this.#logger.warn({ device: session.id, err: error }, 'could not publish availability');
    });
  }
}
