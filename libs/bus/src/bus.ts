import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import {
  DeadLetterSchema,
  RequestEnvelopeSchema,
  ResponseEnvelopeSchema,
  Topics,
  WattbusError,
  isErrorCode,
  validator,
  type DeadLetter,
  type RequestEnvelope,
  type ResponseEnvelope,
  type Validator,
} from '@wattbus/contracts';
import { pino } from 'pino';
import { deadLetterRecord } from './dead-letters.js';
import { BusStoppedError, RequestTimeoutError } from './errors.js';
import { topicMatches, unshared } from './match.js';

export interface BusWill {
  topic: string;
  payload: string;
  retain?: boolean;
  /** Publish the will ourselves on a graceful stop (so retained state is right), default true. */
  publishOnStop?: boolean;
}

export interface BusOptions {
  url: string;
  /** Names dead-letter records and log lines. */
  service: string;
  /** Fixed id for persistent sessions; default `<service>-<random>`. Also names the reply topic. */
  clientId?: string;
  baseTopic?: string;
  username?: string;
  password?: string;
  /** `auto` tries MQTT 5 and falls back to 3.1.1 when the broker refuses it (aedes). */
  protocol?: 'auto' | 4 | 5;
  /** false keeps the session (subscriptions and queued QoS 1 messages) while we are away. */
  clean?: boolean;
  will?: BusWill;
  /** Messages larger than this are dead-lettered unparsed. Default 64 KiB. */
  maxPayloadBytes?: number;
  /** Give up on the first connection after this long. Default 30 s. */
  connectTimeoutMs?: number;
  /**
   * How long a message with no matching subscription waits for one before it is acked and
   * dropped. A resumed persistent session gets its queued messages right after CONNACK, before
   * the service's subscribe() calls run; set this (e.g. 5000) with `clean: false`. Default 0.
   * A held message stalls mqtt.js' input (SUBACKs too): call subscribe() for every filter
   * before awaiting any of them. Holding ends once every subscribe() so far has its SUBACK:
   * after that, a message nobody routes (a stale subscription of the session) is acked at once.
   */
  holdUnroutedMs?: number;
  /**
   * Write the PUBACKs of one burst of incoming messages together (one syscall instead of one per
   * message) by corking the socket until the end of the event-loop turn. For high-rate
   * consumers such as the storage hook; it delays acks by less than one loop turn. Default false.
   */
  batchAcks?: boolean;
  /**
   * With batchAcks: runs right before a burst's PUBACKs are released (and before a graceful
   * stop), so a consumer can make the whole burst durable with one write. If it throws, the
   * PUBACKs are withheld: the connection is dropped and the broker re-delivers the burst.
   */
  beforeAcks?: () => void;
  /** Reconnect backoff bounds. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  logger?: Logger;
}

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

export interface RequestOptions {
  timeoutMs?: number;
  /** Cancels the wait (e.g. the HTTP client went away). */
  signal?: AbortSignal;
  /**
   * Correlation id to use instead of a fresh UUID (e.g. the HTTP request id, so logs on both
   * sides share it). Must be a valid topic segment and unique among this bus' pending requests.
   */
  id?: string;
}

export interface ServeContext extends MessageContext {
  envelope: RequestEnvelope;
}

export type RequestHandler<P, R> = (params: P, context: ServeContext) => Promise<R> | R;

export interface Subscription {
  readonly filter: string;
  unsubscribe(): Promise<void>;
}

export interface BusMetrics {
  received: number;
  published: number;
  dead_lettered: number;
  dead_lettered_by_reason: Record<DeadLetter['reason'], number>;
  handler_errors: number;
  requests_sent: number;
  requests_timed_out: number;
  requests_served: number;
  pending_requests: number;
}

interface Route {
  filter: string;
  match: string;
  handle: (payload: Buffer, context: MessageContext) => void | Promise<void>;
  ackAfterHandle: boolean;
}

interface PendingRequest {
  topic: string;
  resolve: (result: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
  cleanup: () => void;
}

const checkEnvelope = validator(RequestEnvelopeSchema);
const checkResponse = validator(ResponseEnvelopeSchema);
const checkDeadLetter = validator(DeadLetterSchema);

/**
 * The one way services talk: validated subscriptions with a dead-letter topic, correlated
 * request/response, and request serving. Built on mqtt.js; MQTT 5 where the broker speaks it.
 */
export class Bus extends EventEmitter {
  readonly topics: Topics;
  readonly service: string;
  readonly clientId: string;
  #client: MqttClient;
  #options: BusOptions;
  #logger: Logger;
  #routes: Route[] = [];
  #routeWaiters = new Set<() => void>();
  /** subscribe() calls waiting for their SUBACK, and whether one ever completed (ends holding). */
  #subscribing = 0;
  #subscribedOnce = false;
  /** The socket corked for the current burst's PUBACKs (batchAcks), until setImmediate. */
  #corkedStream: unknown = undefined;
  #pending = new Map<string, PendingRequest>();
  #repliesSubscribed: Promise<void> | undefined;
  #stopped = false;
  #metrics: BusMetrics = {
    received: 0,
    published: 0,
    dead_lettered: 0,
    dead_lettered_by_reason: { unparsable: 0, schema: 0, oversize: 0, rejected: 0 },
    handler_errors: 0,
    requests_sent: 0,
    requests_timed_out: 0,
    requests_served: 0,
    pending_requests: 0,
  };

  /** Connects (waiting for the broker up to connectTimeoutMs) and returns a ready bus. */
  static async connect(options: BusOptions): Promise<Bus> {
    const logger = options.logger ?? pino({ level: 'silent' });
    const clientId = sanitizeClientId(options.clientId ?? `${options.service}-${randomUUID().slice(0, 8)}`);
    const protocol = options.protocol ?? 'auto';
    let client: MqttClient;
    try {
      client = await openClient(options, clientId, protocol === 4 ? 4 : 5);
    } catch (error) {
      if (protocol === 'auto' && isProtocolRefusal(error)) {
        logger.info({ url: options.url }, 'broker does not speak MQTT 5; using MQTT 3.1.1');
        client = await openClient(options, clientId, 4);
      } else {
        throw error;
      }
    }
    return new Bus(client, options, clientId, logger);
  }

  private constructor(client: MqttClient, options: BusOptions, clientId: string, logger: Logger) {
    super();
    this.#client = client;
    this.#options = options;
    this.#logger = logger;
    this.clientId = clientId;
    this.service = options.service;
    this.topics = new Topics(options.baseTopic);
    this.#installDispatch();
    this.#installBackoff();
    logger.info(
      { url: options.url, client_id: clientId, mqtt: this.protocolVersion === 5 ? '5' : '3.1.1' },
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
      pending_requests: this.#pending.size,
    };
  }

  /** Publishes JSON (objects) or text (strings). QoS 1 resolves once the broker has it. */
  async publish(
    topic: string,
    payload: unknown,
    options: { qos?: 0 | 1; retain?: boolean } = {},
  ): Promise<void> {
    const body = typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload);
    await this.#client.publishAsync(topic, body, { qos: options.qos ?? 1, retain: options.retain ?? false });
    this.#metrics.published++;
  }

  /** Subscribes; every payload is parsed and validated before `handler` sees it, failures are dead-lettered. */
  async subscribe<T>(
    filter: string,
    check: Validator<T>,
    handler: MessageHandler<T>,
    options: SubscribeOptions = {},
  ): Promise<Subscription> {
    const encoding = options.encoding ?? 'json';
    const route: Route = {
      filter,
      match: unshared(filter),
      ackAfterHandle: options.ackAfterHandle ?? false,
      // Synchronous unless the handler returns a promise: a handler that finishes at once gets
      // its PUBACK in the same tick, so mqtt.js can write many PUBACKs in one syscall.
      handle: (payload, context) => {
        if (payload.length === 0) {
          if (options.onEmpty) return options.onEmpty(context);
          this.#deadLetter(context.topic, payload, 'schema', 'empty payload');
          return;
        }
        let value: unknown;
        if (encoding === 'text') {
          value = payload.toString('utf8');
        } else {
          try {
            value = JSON.parse(payload.toString('utf8'));
          } catch (error) {
            this.#deadLetter(context.topic, payload, 'unparsable', `not JSON: ${(error as Error).message}`);
            return;
          }
        }
        if (!check(value)) {
          this.#deadLetter(context.topic, payload, 'schema', check.errorText());
          return;
        }
        return handler(value, context);
      },
    };
    this.#routes.push(route);
    for (const wake of [...this.#routeWaiters]) wake();
    this.#subscribing++;
    try {
      await this.#client.subscribeAsync(filter, { qos: options.qos ?? 1 });
      this.#subscribedOnce = true;
    } finally {
      this.#subscribing--;
    }
    return {
      filter,
      unsubscribe: async () => {
        this.#routes = this.#routes.filter((candidate) => candidate !== route);
        if (!this.#routes.some((candidate) => candidate.filter === filter) && this.#client.connected) {
          await this.#client.unsubscribeAsync(filter);
        }
      },
    };
  }

  /** Sends a request envelope and resolves with the correlated result, or rejects with its error. */
  async request<R = unknown>(
    topic: string,
    params: Record<string, unknown>,
    options: RequestOptions = {},
  ): Promise<R> {
    if (this.#stopped) throw new BusStoppedError();
    const timeoutMs = options.timeoutMs ?? 10_000;
    await this.#ensureRepliesSubscribed();
    if (this.#stopped) throw new BusStoppedError();
    if (options.signal?.aborted) throw new WattbusError('TIMEOUT', `request on ${topic} was cancelled`);
    const id = options.id ?? randomUUID();
    if (this.#pending.has(id))
      throw new WattbusError('INVALID_REQUEST', `request id ${id} is already pending`);
    const replyTo = this.topics.reply(this.clientId, id);
    const envelope: RequestEnvelope = {
      id,
      reply_to: replyTo,
      params,
      deadline: new Date(Date.now() + timeoutMs).toISOString(),
    };
    const result = new Promise<R>((resolve, reject) => {
      const onAbort = () =>
        this.#settle(id, new WattbusError('TIMEOUT', `request on ${topic} was cancelled`));
      const timer = setTimeout(() => {
        this.#metrics.requests_timed_out++;
        this.#settle(id, new RequestTimeoutError(topic, timeoutMs));
      }, timeoutMs);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, {
        topic,
        resolve: resolve as (result: unknown) => void,
        reject,
        timer,
        cleanup: () => options.signal?.removeEventListener('abort', onAbort),
      });
    });
    this.#metrics.requests_sent++;
    const properties =
      this.protocolVersion === 5
        ? {
            responseTopic: replyTo,
            correlationData: Buffer.from(id),
            messageExpiryInterval: Math.max(1, Math.ceil(timeoutMs / 1000)),
          }
        : undefined;
    this.#client.publish(topic, JSON.stringify(envelope), { qos: 1, properties }, (error) => {
      if (!error) return;
      this.#settle(
        id,
        this.#stopped
          ? new BusStoppedError()
          : new WattbusError('INTERNAL', `could not publish request: ${error.message}`),
      );
    });
    return result;
  }

  /** Answers requests on `filter`: params validated, handler errors turned into error envelopes. */
  async serve<P, R>(
    filter: string,
    checkParams: Validator<P>,
    handler: RequestHandler<P, R>,
  ): Promise<Subscription> {
    return this.subscribe(filter, checkEnvelope, async (envelope, context) => {
      const replyTo = this.#replyTopicOf(envelope, context.packet);
      if (!replyTo) {
        this.#deadLetter(
          context.topic,
          context.packet.payload as Buffer,
          'rejected',
          `reply_to ${JSON.stringify(envelope.reply_to)} is not a reply topic under ${this.topics.base}/replies/`,
        );
        return;
      }
      if (envelope.deadline && Date.parse(envelope.deadline) < Date.now()) {
        this.#logger.debug(
          { topic: context.topic, id: envelope.id },
          'request past its deadline; nobody waits for it',
        );
        return;
      }
      const response = await this.#answer(envelope, context, checkParams, handler);
      this.#metrics.requests_served++;
      const correlationData = context.packet.properties?.correlationData;
      const properties = this.protocolVersion === 5 && correlationData ? { correlationData } : undefined;
      this.#client.publish(replyTo, JSON.stringify(response), { qos: 1, properties }, (error) => {
        if (error) this.#logger.warn({ err: error, reply_to: replyTo }, 'could not publish response');
      });
    });
  }

  /** Graceful stop: pending requests rejected, will published by us (not fired), connection closed. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const id of [...this.#pending.keys()]) this.#settle(id, new BusStoppedError());
    const will = this.#options.will;
    if (will && (will.publishOnStop ?? true) && this.#client.connected) {
      await this.publish(will.topic, will.payload, { retain: will.retain ?? false }).catch(() => undefined);
    }
    // Ending flushes corked PUBACKs: what they acknowledge must be durable first.
    if (this.#options.batchAcks && !this.#runBeforeAcks()) {
      await this.#client.endAsync(true);
      return;
    }
    // A normal DISCONNECT tells the broker to discard the will.
    await this.#client.endAsync(false);
  }

  async #answer<P, R>(
    envelope: RequestEnvelope,
    context: MessageContext,
    checkParams: Validator<P>,
    handler: RequestHandler<P, R>,
  ): Promise<ResponseEnvelope> {
    if (!checkParams(envelope.params)) {
      return errorResponse(
        envelope.id,
        new WattbusError('INVALID_PARAMS', `invalid params: ${checkParams.errorText()}`, {
          errors: checkParams.errors().map((e) => ({ path: e.instancePath, message: e.message })),
        }),
      );
    }
    try {
      const result = await handler(envelope.params, { ...context, envelope });
      return { id: envelope.id, ok: true, result: result ?? null };
    } catch (error) {
      if (!(error instanceof WattbusError)) {
        this.#metrics.handler_errors++;
        this.#logger.error({ err: error, topic: context.topic }, 'request handler failed');
      }
      return errorResponse(envelope.id, error);
    }
  }

  #replyTopicOf(envelope: RequestEnvelope, packet: IPublishPacket): string | undefined {
    const candidate = packet.properties?.responseTopic ?? envelope.reply_to;
    return this.topics.isReplyTopic(candidate) ? candidate : undefined;
  }

  #ensureRepliesSubscribed(): Promise<void> {
    this.#repliesSubscribed ??= this.subscribe(
      this.topics.replies(this.clientId),
      checkResponse,
      (response) => {
        const pending = this.#pending.get(response.id);
        if (!pending) return; // late answer after a timeout, or a duplicate
        if (response.ok) this.#settle(response.id, undefined, response.result);
        else {
          const code = isErrorCode(response.error.code) ? response.error.code : 'INTERNAL';
          this.#settle(response.id, new WattbusError(code, response.error.message, response.error.details));
        }
      },
      { qos: 1 },
    ).then(() => undefined);
    return this.#repliesSubscribed;
  }

  #settle(id: string, error: Error | undefined, result?: unknown): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    pending.cleanup();
    if (error) pending.reject(error);
    else pending.resolve(result);
  }

  #deadLetter(topic: string, payload: Buffer, reason: DeadLetter['reason'], message: string): void {
    this.#metrics.dead_lettered++;
    this.#metrics.dead_lettered_by_reason[reason]++;
    this.#logger.warn({ topic, reason, message }, 'message dead-lettered');
    const deadLetterTopic = this.topics.deadLetter(this.service);
    if (topic.startsWith(`${this.topics.base}/deadletter/`)) return; // never loop
    const record = deadLetterRecord(this.service, topic, payload, reason, message);
    if (!checkDeadLetter(record)) return;
    this.#client.publish(deadLetterTopic, JSON.stringify(record), { qos: 1 }, () => undefined);
  }

  /**
   * Reports a message refused after parsing (e.g. a store rejected it), on the same dead-letter
   * topic. `reason` is for messages a service parses itself (the bridge's foreign payloads).
   */
  reject(
    topic: string,
    payload: Buffer | string,
    message: string,
    reason: DeadLetter['reason'] = 'rejected',
  ): void {
    this.#deadLetter(topic, Buffer.isBuffer(payload) ? payload : Buffer.from(payload), reason, message);
  }

  #installDispatch(): void {
    const maxPayloadBytes = this.#options.maxPayloadBytes ?? 64 * 1024;
    const dispatch = (
      routes: Route[],
      payload: Buffer,
      context: MessageContext,
      done: (error?: Error) => void,
    ): void => {
      const topic = context.topic;
      if (payload.length > maxPayloadBytes) {
        this.#deadLetter(
          topic,
          payload,
          'oversize',
          `payload of ${payload.length} bytes exceeds ${maxPayloadBytes}`,
        );
        return done();
      }
      const failed = (error: unknown) => {
        this.#metrics.handler_errors++;
        this.#logger.error({ err: error, topic }, 'message handler failed');
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
    };
    // Replaces mqtt.js' default (which acks at once) so some handlers can finish before the PUBACK.
    this.#client.handleMessage = (packet, done) => {
      this.#metrics.received++;
      if (this.#options.batchAcks) {
        this.#corkUntilNextTurn();
        if (this.#options.beforeAcks) {
          const ack = done;
          // Inside the cork window the PUBACK waits in the socket until beforeAcks has run; a
          // message acked outside it (held, or handled asynchronously) runs beforeAcks first.
          done = (error?: Error) => {
            if (this.#corkedStream === this.#client.stream || this.#runBeforeAcks()) ack(error);
          };
        }
      }
      const topic = packet.topic;
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      const context: MessageContext = { topic, packet };
      const routes = this.#routesFor(topic);
      if (routes.length === 0) {
        const holdMs = this.#options.holdUnroutedMs ?? 0;
        const settingUp = !this.#subscribedOnce || this.#subscribing > 0;
        if (holdMs <= 0 || this.#stopped || !settingUp) return done();
        void this.#awaitRoute(topic, holdMs).then((late) => {
          if (late.length === 0) {
            this.#logger.warn({ topic, hold_ms: holdMs }, 'no subscription for a held message; dropped');
            return done();
          }
          dispatch(late, payload, context, done);
        });
        return;
      }
      dispatch(routes, payload, context, done);
    };
    const early = earlyMessages.get(this.#client) ?? [];
    earlyMessages.delete(this.#client);
    for (const [packet, done] of early) this.#client.handleMessage(packet, done);
  }

  /** Holds our writes (PUBACKs) until setImmediate, so a burst of them leaves in one writev. */
  #corkUntilNextTurn(): void {
    const stream = this.#client.stream as { cork?: () => void; uncork?: () => void } | undefined;
    if (this.#corkedStream === stream || !stream?.cork || !stream.uncork) return;
    this.#corkedStream = stream;
    stream.cork();
    setImmediate(() => {
      if (this.#corkedStream === stream) this.#corkedStream = undefined;
      if (this.#runBeforeAcks()) stream.uncork?.();
    });
  }

  /** false (and the connection dropped, PUBACKs unsent) when beforeAcks failed. */
  #runBeforeAcks(): boolean {
    try {
      this.#options.beforeAcks?.();
      return true;
    } catch (error) {
      this.#logger.error(
        { err: error },
        'could not make received messages durable; dropping the connection so the broker re-delivers them',
      );
      (this.#client.stream as { destroy?: (error?: Error) => void }).destroy?.(error as Error);
      return false;
    }
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

  #installBackoff(): void {
    const minMs = this.#options.reconnectMinMs ?? 500;
    const maxMs = this.#options.reconnectMaxMs ?? 30_000;
    let attempt = 0;
    this.#client.on('connect', () => {
      if (attempt > 0) this.#logger.info({ attempts: attempt }, 'reconnected to broker');
      attempt = 0;
      this.#client.options.reconnectPeriod = minMs;
      this.emit('connect');
    });
    this.#client.on('offline', () => {
      if (attempt === 0 && !this.#stopped) this.#logger.warn('lost the broker; reconnecting');
      this.emit('offline');
    });
    this.#client.on('reconnect', () => {
      attempt++;
      // Exponential backoff with full jitter, so many clients do not reconnect in lockstep.
      const ceiling = Math.min(maxMs, minMs * 2 ** attempt);
      this.#client.options.reconnectPeriod = Math.round(minMs + Math.random() * (ceiling - minMs));
    });
    this.#client.on('error', (error) => {
      this.#logger.debug({ err: error }, 'mqtt client error');
    });
  }
}

function errorResponse(id: string, error: unknown): ResponseEnvelope {
  if (error instanceof WattbusError) {
    return {
      id,
      ok: false,
      error: {
        code: error.code,
        message: error.message,
        ...(error.details === undefined ? {} : { details: error.details }),
      },
    };
  }
  return { id, ok: false, error: { code: 'INTERNAL', message: 'internal error while handling the request' } };
}

function sanitizeClientId(clientId: string): string {
  return clientId.replace(/[+#/\s]/g, '_');
}

function isProtocolRefusal(error: unknown): boolean {
  const code = (error as { code?: number }).code;
  return code === 1 || /unacceptable protocol version/i.test((error as Error).message ?? '');
}

type EarlyMessage = [IPublishPacket, (error?: Error) => void];
const earlyMessages = new WeakMap<MqttClient, EarlyMessage[]>();

/** Opens one mqtt.js client and waits for its first CONNACK (or a refusal, or the connect timeout). */
function openClient(options: BusOptions, clientId: string, protocolVersion: 4 | 5): Promise<MqttClient> {
  const clientOptions: IClientOptions = {
    clientId,
    protocolVersion,
    clean: options.clean ?? true,
    username: options.username,
    password: options.password,
    reconnectPeriod: options.reconnectMinMs ?? 500,
    connectTimeout: 10_000,
    resubscribe: true,
    will: options.will
      ? {
          topic: options.will.topic,
          payload: Buffer.from(options.will.payload),
          qos: 1,
          retain: options.will.retain ?? false,
        }
      : undefined,
    // Tell an MQTT 5 broker to keep a persistent session for a day after we disconnect.
    properties:
      protocolVersion === 5 && options.clean === false ? { sessionExpiryInterval: 86_400 } : undefined,
  };
  let client: MqttClient;
  try {
    client = mqtt.connect(options.url, clientOptions);
  } catch (error) {
    // mqtt.js says only "Missing protocol" or "Unknown protocol": name the URL and what it should be.
    throw new Error(
      `invalid MQTT broker URL '${options.url}': ${(error as Error).message} (expected mqtt://host:port, mqtts://, ws:// or wss://)`,
    );
  }
  // Nagle's algorithm holds small packets (a request, its PUBACK, the response) until the peer's
  // delayed ACK: ~40 ms per hop, ~90 ms per request/response. Send them at once, on every connect.
  client.on('connect', () =>
    (client.stream as { setNoDelay?: (noDelay: boolean) => void }).setNoDelay?.(true),
  );
  // A resumed session's queue can arrive before the Bus exists; hold it (unacked) for #installDispatch.
  const early: EarlyMessage[] = [];
  earlyMessages.set(client, early);
  client.handleMessage = (packet, done) => {
    early.push([packet, done]);
  };
  const timeoutMs = options.connectTimeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    let lastError: Error | undefined;
    const timer = setTimeout(() => {
      cleanup();
      client.end(true);
      reject(
        new Error(
          `could not connect to the MQTT broker at ${options.url} within ${timeoutMs} ms${lastError ? `: ${lastError.message}` : ''}`,
        ),
      );
    }, timeoutMs);
    const onConnect = () => {
      cleanup();
      resolve(client);
    };
    const onError = (error: Error & { code?: unknown }) => {
      lastError = error;
      // A refusal in the CONNACK (bad credentials, protocol) will not go away by retrying.
      if (typeof error.code === 'number') {
        cleanup();
        client.end(true);
        reject(error);
      }
    };
    const cleanup = () => {
      clearTimeout(timer);
      client.off('connect', onConnect);
      client.off('error', onError);
    };
    client.on('connect', onConnect);
    client.on('error', onError);
  });
}
