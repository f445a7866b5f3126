import { randomUUID } from 'node:crypto';
import {
  ResponseEnvelopeSchema,
  WattbusError,
  invalidParams,
  isErrorCode,
  validator,
  type RequestEnvelope,
  type ResponseEnvelope,
  type Topics,
  type Validator,
} from '@wattbus/contracts';
import type { IPublishPacket, MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { DeadLetters } from './dead-letters.js';
import { BusStoppedError, RequestTimeoutError } from './errors.js';
import { JsonText, RESULT_BYTES_WANTED, successWithText, textOfSuccess } from './json-text.js';
import type { PublishLinger } from './linger.js';
import type { BusMetrics } from './metrics.js';
import { refusalOf } from './refusals.js';
import { takeRequest } from './request-intake.js';
import { decodePayload, type MessageContext, type Subscription, type TopicRouter } from './router.js';

export interface RequestOptions {
  /** How long to wait for the response, ms; default BUS_DEFAULTS.requestTimeoutMs. */
  timeoutMs?: number;
  /** Cancels the wait (e.g. the HTTP client went away). */
  signal?: AbortSignal;
  /**
   * Correlation id to use instead of a fresh UUID (e.g. the HTTP request id, so logs on both
   * sides share it). Must be a valid topic segment and unique among this bus' pending requests.
   */
  id?: string;
  /**
   * A result its responder sent as JSON text (`result_bytes` in the envelope, see JsonText)
   * resolves as that JsonText, its bytes unparsed; any other answer as usual.
   */
  raw?: boolean;
}

export interface ServeContext extends MessageContext {
  envelope: RequestEnvelope;
}

/** A handler may return its result as a JsonText: sent as it is, with `result_bytes`. */
export type RequestHandler<P, R> = (params: P, context: ServeContext) => Promise<R> | R;

interface PendingRequest {
  raw: boolean;
  resolve: (result: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
  cleanup: () => void;
}

export interface RequestResponseDeps {
  client: MqttClient;
  topics: Topics;
  clientId: string;
  username: string | undefined;
  router: TopicRouter;
  deadLetters: DeadLetters;
  metrics: BusMetrics;
  logger: Logger;
  requestTimeoutMs: number;
  /** Requests and responses must not wait behind lingering readings: they flush them. */
  linger: PublishLinger;
}

const checkResponse = validator(ResponseEnvelopeSchema);

/**
 * Correlated request/response over the bus: requests carry `id` and `reply_to` in the envelope
 * (and, on MQTT 5, Response Topic and Correlation Data); answers come back on this client's
 * reply topic `<base>/replies/<clientId>/<id>`, subscribed on the first request.
 */
export class RequestResponse {
  #deps: RequestResponseDeps;
  #pending = new Map<string, PendingRequest>();
  #repliesSubscribed: Promise<void> | undefined;
  #stopped = false;

  constructor(deps: RequestResponseDeps) {
    this.#deps = deps;
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Sends a request envelope and resolves with the correlated result, or rejects with its error. */
  async request<R = unknown>(
    topic: string,
    params: Record<string, unknown>,
    options: RequestOptions = {},
  ): Promise<R> {
    if (this.#stopped) throw new BusStoppedError();
    const { client, topics, metrics } = this.#deps;
    const timeoutMs = options.timeoutMs ?? this.#deps.requestTimeoutMs;
    await this.#ensureRepliesSubscribed();
    if (this.#stopped) throw new BusStoppedError();
    if (options.signal?.aborted) throw new WattbusError('TIMEOUT', `request on ${topic} was cancelled`);
    const id = options.id ?? randomUUID();
    if (this.#pending.has(id))
      throw new WattbusError('INVALID_REQUEST', `request id ${id} is already pending`);
    const replyTo = topics.reply(this.#deps.clientId, id);
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
        metrics.requests_timed_out++;
        this.#settle(id, new RequestTimeoutError(topic, timeoutMs));
      }, timeoutMs);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, {
        raw: options.raw ?? false,
        resolve: resolve as (result: unknown) => void,
        reject,
        timer,
        cleanup: () => options.signal?.removeEventListener('abort', onAbort),
      });
    });
    metrics.requests_sent++;
    const properties = this.#isMqtt5()
      ? {
          responseTopic: replyTo,
          correlationData: Buffer.from(id),
          messageExpiryInterval: Math.max(1, Math.ceil(timeoutMs / 1000)),
          ...(options.raw && { userProperties: { [RESULT_BYTES_WANTED.name]: RESULT_BYTES_WANTED.value } }),
        }
      : undefined;
    this.#deps.linger.flush();
    client.publish(topic, JSON.stringify(envelope), { qos: 1, properties }, (error) => {
      if (!error) return;
      const reason = refusalOf('publish', topic, error, this.#deps.username) as Error;
      this.#settle(
        id,
        this.#stopped
          ? new BusStoppedError()
          : new WattbusError('INTERNAL', `could not publish request: ${reason.message}`),
      );
    });
    return result;
  }

  /**
   * Answers requests on `filter`: the envelope and params validated (a malformed request is
   * answered with INVALID_REQUEST where it names a usable reply address, dead-lettered where it
   * does not: see request-intake.ts), handler errors turned into error envelopes.
   */
  serve<P, R>(
    filter: string,
    checkParams: Validator<P>,
    handler: RequestHandler<P, R>,
  ): Promise<Subscription> {
    const { topics, deadLetters, metrics, logger } = this.#deps;
    const onRequest = async (payload: Buffer, context: MessageContext) => {
      const intake = takeRequest(payload, context.packet, topics);
      if (intake.kind === 'dead') {
        deadLetters.send(context.topic, payload, intake.reason, intake.message);
        return;
      }
      if (intake.kind === 'refused') {
        logger.debug({ topic: context.topic, reason: intake.error.message }, 'malformed request answered');
        this.#respond(intake.replyTo, errorResponse(intake.id, intake.error), context.packet);
        return;
      }
      const { envelope, replyTo } = intake;
      if (envelope.deadline && Date.parse(envelope.deadline) < Date.now()) {
        logger.debug(
          { topic: context.topic, id: envelope.id },
          'request past its deadline; nobody waits for it',
        );
        return;
      }
      const response = await this.#answer(envelope, context, checkParams, handler);
      metrics.requests_served++;
      this.#respond(replyTo, response, context.packet);
    };
    // Raw: request-intake parses it, so that even unparsable JSON can be answered.
    return this.#deps.router.subscribeRaw(filter, onRequest);
  }

  #respond(replyTo: string, response: ResponseEnvelope, request: IPublishPacket): void {
    const correlationData = request.properties?.correlationData;
    const properties = this.#isMqtt5() && correlationData ? { correlationData } : undefined;
    const body =
      response.ok && response.result instanceof JsonText
        ? successWithText(response.id, response.result, wantsResultBytes(request))
        : JSON.stringify(response);
    this.#deps.linger.flush();
    this.#deps.client.publish(replyTo, body, { qos: 1, properties }, (error) => {
      if (!error) return;
      const reason = refusalOf('publish', replyTo, error, this.#deps.username);
      this.#deps.logger.warn({ err: reason, reply_to: replyTo }, 'could not publish response');
    });
  }

  /** Rejects every pending request with BusStoppedError; later requests reject at once. */
  stop(): void {
    this.#stopped = true;
    for (const id of [...this.#pending.keys()]) this.#settle(id, new BusStoppedError());
  }

  #isMqtt5(): boolean {
    return this.#deps.client.options.protocolVersion === 5;
  }

  async #answer<P, R>(
    envelope: RequestEnvelope,
    context: MessageContext,
    checkParams: Validator<P>,
    handler: RequestHandler<P, R>,
  ): Promise<ResponseEnvelope> {
    if (!checkParams(envelope.params)) {
      return errorResponse(envelope.id, invalidParams(checkParams));
    }
    try {
      const result = await handler(envelope.params, { ...context, envelope });
      return { id: envelope.id, ok: true, result: result ?? null };
    } catch (error) {
      if (!(error instanceof WattbusError)) {
        this.#deps.metrics.handler_errors++;
        this.#deps.logger.error({ err: error, topic: context.topic }, 'request handler failed');
      }
      return errorResponse(envelope.id, error);
    }
  }

  #ensureRepliesSubscribed(): Promise<void> {
    this.#repliesSubscribed ??= this.#deps.router
      .subscribeRaw(
        this.#deps.topics.replies(this.#deps.clientId),
        (payload, context) => this.#onReply(payload, context.topic),
        { qos: 1 },
      )
      .then(() => undefined);
    return this.#repliesSubscribed;
  }

  /**
   * A reply: for a `raw` request, a result sent as JsonText is passed on as its bytes (the reply
   * topic's last level is the request id, and the envelope must repeat it); every other reply is
   * parsed and checked against ResponseEnvelope (failures dead-lettered).
   */
  #onReply(payload: Buffer, topic: string): void {
    const id = topic.slice(topic.lastIndexOf('/') + 1);
    const text = this.#pending.get(id)?.raw ? textOfSuccess(payload, id) : undefined;
    if (text) return this.#settle(id, undefined, text);
    const decoded = decodePayload(payload, topic, checkResponse, 'json', this.#deps.deadLetters);
    if (!decoded) return;
    const response = decoded.value;
    // A late answer after a timeout, or a second one (hot standby: the first answer wins).
    if (!this.#pending.has(response.id)) {
      this.#deps.metrics.responses_unmatched++;
      return;
    }
    if (response.ok) this.#settle(response.id, undefined, response.result);
    else {
      const code = isErrorCode(response.error.code) ? response.error.code : 'INTERNAL';
      this.#settle(response.id, new WattbusError(code, response.error.message, response.error.details));
    }
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

/** Whether the requester asked for `result_bytes` (RESULT_BYTES_WANTED; MQTT 5 only). */
function wantsResultBytes(request: IPublishPacket): boolean {
  const wanted = request.properties?.userProperties?.[RESULT_BYTES_WANTED.name];
  return Array.isArray(wanted)
    ? wanted.includes(RESULT_BYTES_WANTED.value)
    : wanted === RESULT_BYTES_WANTED.value;
}
