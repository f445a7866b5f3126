import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Topics, type DeadLetter, type Validator } from '@wattbus/contracts';
import type { MqttClient } from 'mqtt';
import { pino, type Logger } from 'pino';
import { AckControl } from './ack-control.js';
import { endSession, openConnection, sanitizeClientId, type OpenConnection } from './connect.js';
import type { BrokerTarget, ConnectionWatch } from './connection-watch.js';
import { DeadLetters } from './dead-letters.js';
import { newBusMetrics, type BusMetrics } from './metrics.js';
import { PublishLinger } from './linger.js';
import { busSettings, type BusOptions, type BusSettings } from './options.js';
import { Probes } from './probes.js';
import { refusalOf } from './refusals.js';
import { RequestResponse, type RequestHandler, type RequestOptions } from './requests.js';
import { TopicRouter, type MessageHandler, type SubscribeOptions, type Subscription } from './router.js';

/**
 * The one way services talk: validated subscriptions with a dead-letter topic, correlated
 * request/response, and request serving. Built on mqtt.js; MQTT 5 where the broker speaks it.
 * A facade over its parts: connect.ts and connection-watch.ts (the connection), router.ts
 * (subscriptions, validation, dead letters), requests.ts (request/response) and ack-control.ts
 * (batched PUBACKs, opt-in). Emits `connect` and `offline` as the connection comes and goes.
 */
export class Bus extends EventEmitter {
  readonly topics: Topics;
  readonly service: string;
  readonly clientId: string;
  #client: MqttClient;
  #watch: ConnectionWatch;
  #target: BrokerTarget;
  #settings: BusSettings;
  #metrics: BusMetrics = newBusMetrics();
  #deadLetters: DeadLetters;
  #router: TopicRouter;
  #requests: RequestResponse;
  #acks: AckControl | undefined;
  #linger: PublishLinger;
  #probes: Probes;
  #logger: Logger;
  #stopped = false;

  /**
   * Connects (waiting for the broker up to connectTimeoutMs, logging each failed attempt) and
   * returns a ready bus. Rejects with BusConnectError (see its `reason`).
   */
  static async connect(options: BusOptions): Promise<Bus> {
    const settings = busSettings(options);
    const logger = settings.logger ?? pino({ level: 'silent' });
    const clientId = sanitizeClientId(settings.clientId ?? `${settings.service}-${randomUUID().slice(0, 8)}`);
    const connection = await openConnection(settings, clientId, logger);
    return new Bus(connection, settings, clientId, logger);
  }

  private constructor(connection: OpenConnection, settings: BusSettings, clientId: string, logger: Logger) {
    super();
    const { client, watch, target, connack } = connection;
    this.#client = client;
    this.#watch = watch;
    this.#target = target;
    this.#settings = settings;
    this.#logger = logger;
    this.clientId = clientId;
    this.service = settings.service;
    this.topics = new Topics(settings.baseTopic);
    const parts = { client, logger, metrics: this.#metrics, username: target.username };
    this.#deadLetters = new DeadLetters({ ...parts, topics: this.topics, service: this.service });
    this.#acks = settings.batchAcks ? new AckControl(client, settings.beforeAcks, logger) : undefined;
    this.#linger = new PublishLinger(client);
    this.#router = new TopicRouter({
      ...parts,
      brokerUrl: target.url,
      settings,
      deadLetters: this.#deadLetters,
      acks: this.#acks,
    });
    this.#requests = new RequestResponse({
      ...parts,
      topics: this.topics,
      clientId,
      router: this.#router,
      deadLetters: this.#deadLetters,
      requestTimeoutMs: settings.requestTimeoutMs,
      linger: this.#linger,
    });
    this.#probes = new Probes({
      client,
      router: this.#router,
      topics: this.topics,
      clientId,
      target,
      connack,
      timeoutMs: settings.probeTimeoutMs,
    });
    this.#router.start();
    client.on('connect', () => this.emit('connect'));
    client.on('offline', () => this.emit('offline'));
    logger.info(
      { url: target.url, client_id: clientId, mqtt: this.protocolVersion === 5 ? '5' : '3.1.1' },
      'connected to broker',
    );
  }

  get protocolVersion(): 4 | 5 {
    return this.#client.options.protocolVersion === 5 ? 5 : 4;
  }

  get connected(): boolean {
    return this.#client.connected;
  }

  metrics(): BusMetrics {
    return {
      ...this.#metrics,
      dead_lettered_by_reason: { ...this.#metrics.dead_lettered_by_reason },
      pending_requests: this.#requests.pendingCount,
    };
  }

  /**
   * Publishes JSON (objects) or text (strings). QoS 1 resolves once the broker has it; rejects
   * with BusRefusedError when an MQTT 5 broker's ACL refuses it. `lingerMs`: the publish may wait
   * that long to leave in one write with others (see linger.ts); without it, it leaves at once,
   * and so does everything waiting before it.
   */
  async publish(
    topic: string,
    payload: unknown,
    options: { qos?: 0 | 1; retain?: boolean; lingerMs?: number } = {},
  ): Promise<void> {
    const body = typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload);
    if (options.lingerMs) this.#linger.hold(options.lingerMs);
    else this.#linger.flush();
    try {
      await this.#client.publishAsync(topic, body, {
        qos: options.qos ?? 1,
        retain: options.retain ?? false,
      });
    } catch (error) {
      throw refusalOf('publish', topic, error, this.#target.username);
    }
    this.#metrics.published++;
  }

  /**
   * Subscribes; every payload is parsed and validated before `handler` sees it, failures are
   * dead-lettered. Rejects with BusRefusedError when the broker refuses the filter (ACL).
   */
  subscribe<T>(
    filter: string,
    check: Validator<T>,
    handler: MessageHandler<T>,
    options: SubscribeOptions = {},
  ): Promise<Subscription> {
    return this.#router.subscribe(filter, check, handler, options);
  }

  /** Sends a request envelope and resolves with the correlated result, or rejects with its error. */
  request<R = unknown>(
    topic: string,
    params: Record<string, unknown>,
    options: RequestOptions = {},
  ): Promise<R> {
    return this.#requests.request<R>(topic, params, options);
  }

  /** Answers requests on `filter`: params validated, handler errors turned into error envelopes. */
  serve<P, R>(
    filter: string,
    checkParams: Validator<P>,
    handler: RequestHandler<P, R>,
  ): Promise<Subscription> {
    return this.#requests.serve(filter, checkParams, handler);
  }

  /**
   * Reports a message refused after parsing (e.g. a store rejected it), on the same dead-letter
   * topic. `reason` is for messages a service parses itself (the bridge's foreign payloads), and
   * `implausible` for a reading beyond its device's limits or from the future.
   */
  reject(
    topic: string,
    payload: Buffer | string,
    message: string,
    reason: DeadLetter['reason'] = 'rejected',
  ): void {
    this.#deadLetters.send(topic, Buffer.isBuffer(payload) ? payload : Buffer.from(payload), reason, message);
  }

  /**
   * Checks that the broker delivers through share group `group` (once per group: its MQTT 5
   * CONNACK, then a probe through `$share/<group>/` within probeTimeoutMs). Rejects with
   * SharedSubscriptionsUnsupportedError naming what the broker lacks. Subscribe through the
   * group with `shareGroupFilter(group, filter)`.
   */
  verifyShareGroup(group: string): Promise<void> {
    return this.#probes.verifyShareGroup(group);
  }

  /**
   * Leaves `subscriptions` without losing what the broker already dealt us: UNSUBSCRIBE (no new
   * messages), wait for a marker sent behind our session's queue (what was queued has arrived),
   * wait for the handlers to finish. false when the marker did not come back within
   * probeTimeoutMs. Then `stop({ endSession: true })` hands a share group member's share over.
   */
  async drain(subscriptions: Subscription[]): Promise<boolean> {
    // Offline, an UNSUBSCRIBE would wait for the broker to come back: nothing to drain then.
    if (!this.connected) return false;
    const removeRoutes = await within(this.#router.leave(subscriptions), this.#settings.probeTimeoutMs);
    if (!removeRoutes) return false;
    const complete = await this.#probes.marker();
    await this.#router.idle();
    removeRoutes();
    return complete;
  }

  /**
   * Graceful stop: pending requests rejected, will published by us (not fired), connection
   * closed. `endSession` also ends a persistent session (`clean: false`), so the broker stops
   * queueing for it (a share group member leaving for good).
   */
  async stop(options: { endSession?: boolean } = {}): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#linger.flush();
    this.#requests.stop();
    this.#router.stop();
    this.#watch.stop();
    const will = this.#settings.will;
    if (will && (will.publishOnStop ?? true) && this.#client.connected) {
      await this.publish(will.topic, will.payload, { retain: will.retain ?? false }).catch(() => undefined);
    }
    // Ending flushes corked PUBACKs: what they acknowledge must be durable first.
    if (this.#acks && !this.#acks.beforeStop()) {
      await this.#client.endAsync(true);
      return;
    }
    const persistent = !this.#settings.clean;
    if (options.endSession && persistent && this.connected && this.protocolVersion === 5) {
      // MQTT 5 ends the session with the DISCONNECT itself.
      await this.#client.endAsync(false, { properties: { sessionExpiryInterval: 0 } });
      return;
    }
    // A normal DISCONNECT tells the broker to discard the will.
    await this.#client.endAsync(false);
    if (!options.endSession || !persistent) return;
    await endSession(this.#settings, this.clientId).catch((error: unknown) =>
      this.#logger.warn(
        { err: error, client_id: this.clientId },
        'could not end the session; the broker keeps it until it expires',
      ),
    );
  }
}

/** `promise`'s value, or undefined when it takes longer than `timeoutMs` (or rejects). */
async function within<T>(promise: Promise<T>, timeoutMs: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<undefined>(
    (resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs)),
  );
  try {
    return await Promise.race([promise.catch(() => undefined), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
