import type { Validator } from '@wattbus/contracts';
import type { IDisconnectPacket, IPublishPacket, MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { AckControl } from './ack-control.js';
import { takeEarlyMessages } from './connect.js';
import type { DeadLetters } from './dead-letters.js';
import { BusRefusedError, SharedSubscriptionsUnsupportedError } from './errors.js';
import { compileFilter, shareGroupOf, unshared } from './match.js';
import type { BusMetrics } from './metrics.js';
import type { BusSettings } from './options.js';
import { SHARED_SUBSCRIPTIONS_NOT_SUPPORTED, refusalOf } from './refusals.js';

export interface MessageContext {
  topic: string;
  packet: IPublishPacket;
}

export interface SubscribeOptions {
  qos?: 0 | 1;
  /**
   * Await the handler before the broker gets its PUBACK (at-least-once into the handler's
   * store). mqtt.js handles one packet at a time, so keep such handlers short.
   */
  ackAfterHandle?: boolean;
  /** `text` for plain-text payloads such as availability; default `json`. */
  encoding?: 'json' | 'text';
  /** Empty payloads clear retained messages; they are passed here instead of being dead-lettered. */
  onEmpty?: (context: MessageContext) => void | Promise<void>;
}

export type MessageHandler<T> = (message: T, context: MessageContext) => void | Promise<void>;

export interface Subscription {
  readonly filter: string;
  unsubscribe(): Promise<void>;
}

interface Route {
  filter: string;
  /** The filter's matcher (compiled once): runs for every message. */
  matches: (topic: string) => boolean;
  handle: (payload: Buffer, context: MessageContext) => void | Promise<void>;
  ackAfterHandle: boolean;
}

type Done = (error?: Error) => void;

const NO_ROUTES: readonly Route[] = Object.freeze([]);
/** Topics whose routes are remembered (see TopicRouter#routesByTopic). */
const ROUTES_BY_TOPIC_MAX = 4096;

export interface TopicRouterDeps {
  client: MqttClient;
  settings: Pick<BusSettings, 'maxPayloadBytes' | 'holdUnroutedMs'>;
  username: string | undefined;
  /** For error messages (password hidden). */
  brokerUrl: string;
  logger: Logger;
  metrics: BusMetrics;
  deadLetters: DeadLetters;
  /** Present with `batchAcks`. */
  acks: AckControl | undefined;
}

/**
 * Routes every incoming message to the subscriptions whose filter matches it, after parsing and
 * validating it (failures are dead-lettered), and decides when mqtt.js may send its PUBACK.
 * A message nobody routes yet may be held for a subscribe() still to come (`holdUnroutedMs`).
 */
export class TopicRouter {
  #deps: TopicRouterDeps;
  #routes: Route[] = [];
  /**
   * The routes of each topic seen since the routes last changed: devices publish on the same
   * topics over and over, and matching every filter was ~2 % of the storage hook's profile.
   */
  #routesByTopic = new Map<string, readonly Route[]>();
  #routeWaiters = new Set<() => void>();
  /** subscribe() calls waiting for their SUBACK, and whether one ever completed (ends holding). */
  #subscribing = 0;
  #subscribedOnce = false;
  #stopped = false;
  /** Each subscription's route, for `leave`. */
  #routeOf = new WeakMap<Subscription, Route>();
  /** Handlers still running (returned a promise), and who waits for none to be. */
  #runningCount = 0;
  #idleWaiters: Array<() => void> = [];
  /** The reason code of the broker's last DISCONNECT (MQTT 5), to explain a failed subscribe. */
  #lastDisconnect: number | undefined;
  #onDisconnect = (packet: IDisconnectPacket) => (this.#lastDisconnect = packet.reasonCode);

  constructor(deps: TopicRouterDeps) {
    this.#deps = deps;
  }

  /** Takes over mqtt.js' message handling, starting with the messages held since connect. */
  start(): void {
    const client = this.#deps.client;
    // Replaces mqtt.js' default (which acks at once) so some handlers can finish before the PUBACK.
    client.handleMessage = (packet, done) => this.#receive(packet, done);
    client.on('disconnect', this.#onDisconnect);
    for (const [packet, done] of takeEarlyMessages(client)) client.handleMessage(packet, done);
  }

  /** No more holding: a message nobody routes is acked at once. */
  stop(): void {
    this.#stopped = true;
    this.#deps.client.off('disconnect', this.#onDisconnect);
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
    return this.subscribeRaw(filter, this.#validating(check, handler, options), options);
  }

  /**
   * Subscribes with a handler that takes each payload as it came (empty ones too) and decodes it
   * itself: request intake, which answers even unparsable requests, and replies, whose result a
   * requester may pass on unparsed. Payloads above maxPayloadBytes are still dead-lettered first.
   */
  async subscribeRaw(
    filter: string,
    handler: (payload: Buffer, context: MessageContext) => void | Promise<void>,
    options: Pick<SubscribeOptions, 'qos' | 'ackAfterHandle'> = {},
  ): Promise<Subscription> {
    const route: Route = {
      filter,
      matches: compileFilter(unshared(filter)),
      ackAfterHandle: options.ackAfterHandle ?? false,
      handle: handler,
    };
    this.#setRoutes([...this.#routes, route]);
    for (const wake of [...this.#routeWaiters]) wake();
    const client = this.#deps.client;
    this.#subscribing++;
    this.#lastDisconnect = undefined;
    try {
      await client.subscribeAsync(filter, { qos: options.qos ?? 1 });
      this.#subscribedOnce = true;
    } catch (error) {
      this.#setRoutes(this.#routes.filter((candidate) => candidate !== route));
      if (!this.#routes.some((candidate) => candidate.filter === filter))
        forgetResubscription(client, filter);
      throw this.#subscribeError(filter, refusalOf('subscribe', filter, error, this.#deps.username));
    } finally {
      this.#subscribing--;
    }
    const subscription: Subscription = {
      filter,
      unsubscribe: async () => {
        this.#setRoutes(this.#routes.filter((candidate) => candidate !== route));
        if (!this.#routes.some((candidate) => candidate.filter === filter) && client.connected) {
          await client.unsubscribeAsync(filter);
        }
      },
    };
    this.#routeOf.set(subscription, route);
    return subscription;
  }

  /**
   * UNSUBSCRIBEs but keeps the routes: what the broker dealt us before its UNSUBACK (still in
   * our session's queue) is handled as usual. Returns the function that removes the routes, to
   * call once that queue is known to be empty (see Bus.drain).
   */
  async leave(subscriptions: Subscription[]): Promise<() => void> {
    const routes = new Set(subscriptions.map((subscription) => this.#routeOf.get(subscription)));
    const filters = [...new Set(subscriptions.map((subscription) => subscription.filter))];
    if (filters.length > 0) await this.#deps.client.unsubscribeAsync(filters);
    return () => {
      this.#setRoutes(this.#routes.filter((route) => !routes.has(route)));
    };
  }

  /**
   * A `$share/` filter refused with 158 "Shared Subscriptions not supported", in its SUBACK or
   * in a DISCONNECT (ejabberd; the subscribe then fails as "Connection closed"), says so.
   */
  #subscribeError(filter: string, error: unknown): unknown {
    const group = shareGroupOf(filter);
    if (group === undefined) return error;
    const url = this.#deps.brokerUrl;
    if (error instanceof BusRefusedError && error.code === SHARED_SUBSCRIPTIONS_NOT_SUPPORTED) {
      return new SharedSubscriptionsUnsupportedError(
        group,
        'suback',
        `it refused ${filter} (SUBACK 0x9e)`,
        url,
      );
    }
    if (this.#lastDisconnect === SHARED_SUBSCRIPTIONS_NOT_SUPPORTED) {
      const why = `it disconnected us on subscribing to ${filter} (DISCONNECT 158)`;
      return new SharedSubscriptionsUnsupportedError(group, 'disconnect', why, url);
    }
    return error;
  }

  /** Resolves once no handler is running (every message received so far has been handled). */
  idle(): Promise<void> {
    if (this.#runningCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * A route's handler: parse, validate, call. Synchronous unless the handler returns a promise:
   * a handler that finishes at once gets its PUBACK in the same tick, so mqtt.js can write many
   * PUBACKs in one syscall.
   */
  #validating<T>(
    check: Validator<T>,
    handler: MessageHandler<T>,
    options: SubscribeOptions,
  ): Route['handle'] {
    const encoding = options.encoding ?? 'json';
    const deadLetters = this.#deps.deadLetters;
    return (payload, context) => {
      if (payload.length === 0 && options.onEmpty) return options.onEmpty(context);
      const decoded = decodePayload(payload, context.topic, check, encoding, deadLetters);
      if (decoded) return handler(decoded.value, context);
    };
  }

  #receive(packet: IPublishPacket, done: Done): void {
    const { metrics, acks, settings } = this.#deps;
    metrics.received++;
    if (acks) done = acks.onMessage(done);
    const topic = packet.topic;
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    const context: MessageContext = { topic, packet };
    const routes = this.#routesFor(topic);
    if (routes.length > 0) return this.#dispatch(routes, payload, context, done);
    const holdMs = settings.holdUnroutedMs;
    const settingUp = !this.#subscribedOnce || this.#subscribing > 0;
    if (holdMs <= 0 || this.#stopped || !settingUp) return done();
    this.#hold(holdMs, payload, context, done);
  }

  /**
   * A message nobody routes yet, held for a subscribe() to come. (Its own method: closures in
   * #receive or #dispatch would cost every message an allocation.)
   */
  #hold(holdMs: number, payload: Buffer, context: MessageContext, done: Done): void {
    const topic = context.topic;
    void this.#awaitRoute(topic, holdMs).then((late) => {
      if (late.length === 0) {
        this.#deps.logger.warn({ topic, hold_ms: holdMs }, 'no subscription for a held message; dropped');
        return done();
      }
      this.#dispatch(late, payload, context, done);
    });
  }

  #dispatch(routes: readonly Route[], payload: Buffer, context: MessageContext, done: Done): void {
    const { maxPayloadBytes } = this.#deps.settings;
    if (payload.length > maxPayloadBytes) {
      const message = `payload of ${payload.length} bytes exceeds ${maxPayloadBytes}`;
      this.#deps.deadLetters.send(context.topic, payload, 'oversize', message);
      return done();
    }
    let awaited: Promise<void>[] | undefined;
    for (const route of routes) {
      let result: void | Promise<void>;
      try {
        result = route.handle(payload, context);
      } catch (error) {
        this.#failed(error, context.topic);
        continue;
      }
      if (typeof (result as { then?: unknown } | undefined)?.then !== 'function') continue;
      const run = this.#track(result as Promise<void>, context.topic);
      if (route.ackAfterHandle) (awaited ??= []).push(run);
    }
    if (awaited === undefined) return done();
    Promise.all(awaited).then(
      () => done(),
      () => done(),
    );
  }

  /** A handler's promise, counted until it settles (see idle()); its failure logged. */
  #track(result: Promise<void>, topic: string): Promise<void> {
    this.#runningCount++;
    return Promise.resolve(result)
      .catch((error: unknown) => this.#failed(error, topic))
      .finally(() => this.#handled());
  }

  #failed(error: unknown, topic: string): void {
    this.#deps.metrics.handler_errors++;
    this.#deps.logger.error({ err: error, topic }, 'message handler failed');
  }

  #handled(): void {
    if (--this.#runningCount > 0) return;
    for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  #routesFor(topic: string): readonly Route[] {
    const known = this.#routesByTopic.get(topic);
    if (known !== undefined) return known;
    let found: Route[] | undefined;
    for (const route of this.#routes) if (route.matches(topic)) (found ??= []).push(route);
    // Bounded: a fleet's topics fit; a stream of one-off topics (replies) just starts it over.
    if (this.#routesByTopic.size >= ROUTES_BY_TOPIC_MAX) this.#routesByTopic.clear();
    this.#routesByTopic.set(topic, found ?? NO_ROUTES);
    return found ?? NO_ROUTES;
  }

  #setRoutes(routes: Route[]): void {
    this.#routes = routes;
    this.#routesByTopic.clear();
  }

  /** Resolves with the routes for `topic` once a subscribe() adds one, or [] after `holdMs`. */
  #awaitRoute(topic: string, holdMs: number): Promise<readonly Route[]> {
    return new Promise((resolve) => {
      const finish = (routes: readonly Route[]) => {
        clearTimeout(timer);
        this.#routeWaiters.delete(check);
        resolve(routes);
      };
      const check = () => {
        const routes = this.#routesFor(topic);
        if (routes.length > 0) finish(routes);
      };
      const timer = setTimeout(() => finish([]), holdMs);
      this.#routeWaiters.add(check);
    });
  }
}

/**
 * A payload parsed (`json`) or read (`text`) and checked; undefined when it was dead-lettered
 * instead (empty, not JSON, or outside `check`).
 */
export function decodePayload<T>(
  payload: Buffer,
  topic: string,
  check: Validator<T>,
  encoding: 'json' | 'text',
  deadLetters: DeadLetters,
): { value: T } | undefined {
  if (payload.length === 0) {
    deadLetters.send(topic, payload, 'schema', 'empty payload');
    return undefined;
  }
  let value: unknown;
  if (encoding === 'text') {
    value = payload.toString('utf8');
  } else {
    try {
      value = JSON.parse(payload.toString('utf8'));
    } catch (error) {
      deadLetters.send(topic, payload, 'unparsable', `not JSON: ${(error as Error).message}`);
      return undefined;
    }
  }
  if (!check(value)) {
    deadLetters.send(topic, payload, 'schema', check.errorText());
    return undefined;
  }
  return { value };
}

/**
 * mqtt.js records a filter for resubscription on reconnect when it sends the SUBSCRIBE, and keeps
 * it when the subscribe fails: a filter the broker refused, or disconnected us for (ejabberd on
 * `$share`, reason 158), would be sent again on every reconnect. Its record is private, hence the cast.
 */
function forgetResubscription(client: MqttClient, filter: string): void {
  const record = (client as unknown as { _resubscribeTopics?: Record<string, unknown> })._resubscribeTopics;
  if (record) delete record[filter];
}
