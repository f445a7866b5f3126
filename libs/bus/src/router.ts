import type { Validator } from '@wattbus/contracts';
import type { IPublishPacket, MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { AckControl } from './ack-control.js';
import { takeEarlyMessages } from './connect.js';
import type { DeadLetters } from './dead-letters.js';
import { topicMatches, unshared } from './match.js';
import type { BusMetrics } from './metrics.js';
import type { BusSettings } from './options.js';
import { refusalOf } from './refusals.js';

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
  match: string;
  handle: (payload: Buffer, context: MessageContext) => void | Promise<void>;
  ackAfterHandle: boolean;
}

type Done = (error?: Error) => void;

export interface TopicRouterDeps {
  client: MqttClient;
  settings: Pick<BusSettings, 'maxPayloadBytes' | 'holdUnroutedMs'>;
  username: string | undefined;
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
  #routeWaiters = new Set<() => void>();
  /** subscribe() calls waiting for their SUBACK, and whether one ever completed (ends holding). */
  #subscribing = 0;
  #subscribedOnce = false;
  #stopped = false;

  constructor(deps: TopicRouterDeps) {
    this.#deps = deps;
  }

  /** Takes over mqtt.js' message handling, starting with the messages held since connect. */
  start(): void {
    const client = this.#deps.client;
    // Replaces mqtt.js' default (which acks at once) so some handlers can finish before the PUBACK.
    client.handleMessage = (packet, done) => this.#receive(packet, done);
    for (const [packet, done] of takeEarlyMessages(client)) client.handleMessage(packet, done);
  }

  /** No more holding: a message nobody routes is acked at once. */
  stop(): void {
    this.#stopped = true;
  }

  /**
   * Subscribes; every payload is parsed and validated before `handler` sees it, failures are
   * dead-lettered. Rejects with BusRefusedError when the broker refuses the filter (ACL).
   */
  async subscribe<T>(
    filter: string,
    check: Validator<T>,
    handler: MessageHandler<T>,
    options: SubscribeOptions = {},
  ): Promise<Subscription> {
    const route: Route = {
      filter,
      match: unshared(filter),
      ackAfterHandle: options.ackAfterHandle ?? false,
      handle: this.#validating(check, handler, options),
    };
    this.#routes.push(route);
    for (const wake of [...this.#routeWaiters]) wake();
    const client = this.#deps.client;
    this.#subscribing++;
    try {
      await client.subscribeAsync(filter, { qos: options.qos ?? 1 });
      this.#subscribedOnce = true;
    } catch (error) {
      this.#routes = this.#routes.filter((candidate) => candidate !== route);
      throw refusalOf('subscribe', filter, error, this.#deps.username);
    } finally {
      this.#subscribing--;
    }
    return {
      filter,
      unsubscribe: async () => {
        this.#routes = this.#routes.filter((candidate) => candidate !== route);
        if (!this.#routes.some((candidate) => candidate.filter === filter) && client.connected) {
          await client.unsubscribeAsync(filter);
        }
      },
    };
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
      if (payload.length === 0) {
        if (options.onEmpty) return options.onEmpty(context);
        deadLetters.send(context.topic, payload, 'schema', 'empty payload');
        return;
      }
      let value: unknown;
      if (encoding === 'text') {
        value = payload.toString('utf8');
      } else {
        try {
          value = JSON.parse(payload.toString('utf8'));
        } catch (error) {
          deadLetters.send(context.topic, payload, 'unparsable', `not JSON: ${(error as Error).message}`);
          return;
        }
      }
      if (!check(value)) {
        deadLetters.send(context.topic, payload, 'schema', check.errorText());
        return;
      }
      return handler(value, context);
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
    void this.#awaitRoute(topic, holdMs).then((late) => {
      if (late.length === 0) {
        this.#deps.logger.warn({ topic, hold_ms: holdMs }, 'no subscription for a held message; dropped');
        return done();
      }
      this.#dispatch(late, payload, context, done);
    });
  }

  #dispatch(routes: Route[], payload: Buffer, context: MessageContext, done: Done): void {
    const { maxPayloadBytes } = this.#deps.settings;
    const topic = context.topic;
    if (payload.length > maxPayloadBytes) {
      const message = `payload of ${payload.length} bytes exceeds ${maxPayloadBytes}`;
      this.#deps.deadLetters.send(topic, payload, 'oversize', message);
      return done();
    }
    const failed = (error: unknown) => {
      this.#deps.metrics.handler_errors++;
      this.#deps.logger.error({ err: error, topic }, 'message handler failed');
    };
    const awaited: Promise<void>[] = [];
    for (const route of routes) {
      let result: void | Promise<void>;
      try {
        result = route.handle(payload, context);
      } catch (error) {
        failed(error);
        continue;
      }
      if (typeof (result as { then?: unknown } | undefined)?.then !== 'function') continue;
      const run = Promise.resolve(result).catch(failed);
      if (route.ackAfterHandle) awaited.push(run);
    }
    if (awaited.length === 0) return done();
    Promise.all(awaited).then(
      () => done(),
      () => done(),
    );
  }

  #routesFor(topic: string): Route[] {
    return this.#routes.filter((route) => topicMatches(route.match, topic));
  }

  /** Resolves with the routes for `topic` once a subscribe() adds one, or [] after `holdMs`. */
  #awaitRoute(topic: string, holdMs: number): Promise<Route[]> {
    return new Promise((resolve) => {
      const finish = (routes: Route[]) => {
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
