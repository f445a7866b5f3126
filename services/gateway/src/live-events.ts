import type { ServerResponse } from 'node:http';
import { Type } from '@sinclair/typebox';
import type { Bus, MessageContext, Subscription } from '@wattbus/bus';
import {
  AlertSchema,
  AlertTopics,
  AvailabilitySchema,
  DeviceMetaSchema,
  DeviceStateSchema,
  ReadingSchema,
  validator,
  type LiveEvent,
  type LiveEventType,
  type LiveEventsParams,
} from '@wattbus/contracts';
import type { Logger } from '@wattbus/runtime';
import { HttpProblem } from './problem.js';

const checkAlert = validator(AlertSchema);
// Alert topics share `{base}/alerts/+/+` with the alert hook's request topic: the topic is checked
// first (parseAlert), the payload after, so a request envelope is skipped rather than dead-lettered.
const anything = validator(Type.Unknown());

export interface LiveEventsDeps {
  bus: Bus;
  logger: Logger;
  /** Streams open at once; one more gets 503 OVERLOADED. */
  maxStreams: number;
  /** A comment line this often keeps proxies and idle timeouts from closing a quiet stream. */
  heartbeatMs?: number;
  /** A client that lets this much pile up unread is too slow: its stream is closed. */
  maxBufferedBytes?: number;
}

interface Stream {
  response: ServerResponse;
  events: ReadonlySet<LiveEventType> | null;
  devices: ReadonlySet<string> | null;
  /** False until the headers are out; events wait for it. */
  open: boolean;
}

/**
 * Server-sent events fed by the bus: readings, relay states, availability, device metas and
 * alerts, as they happen, to every open `GET /api/v1/events` stream. The gateway subscribes only
 * while at least one stream is open, so a gateway nobody watches does not decode every reading.
 * Retained messages replayed by a (re)subscription are not events: a client reads the current
 * state from `GET /api/v1/devices` and `GET /api/v1/alerts`, and the stream tells it what changes.
 */
export class LiveEvents {
  #deps: LiveEventsDeps;
  #streams = new Set<Stream>();
  #subscriptions: Subscription[] = [];
  /** Subscribing and unsubscribing run one after another, each towards "subscribed iff streams are open". */
  #reconciled: Promise<void> = Promise.resolve();
  #heartbeat: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(deps: LiveEventsDeps) {
    this.#deps = deps;
  }

  get size(): number {
    return this.#streams.size;
  }

  /** True while the bus subscriptions are in place (some stream is open). */
  get subscribed(): boolean {
    return this.#subscriptions.length > 0;
  }

  /** Resolves once subscribing or unsubscribing in progress has finished (for tests). */
  settled(): Promise<void> {
    return this.#reconciled.catch(() => undefined);
  }

  /**
   * Turns `response` into an event stream once the bus subscriptions are in place (so an event
   * published after the headers arrive is never missed). Throws an HttpProblem before any byte is
   * written when the gateway is stopping or too many streams are open.
   */
  async open(response: ServerResponse, filter: LiveEventsParams = {}): Promise<void> {
    if (this.#stopped) throw new HttpProblem('SHUTTING_DOWN', 'the gateway is shutting down');
    if (this.#streams.size >= this.#deps.maxStreams) {
      throw new HttpProblem(
        'OVERLOADED',
        `${this.#deps.maxStreams} event streams are open, the most this gateway serves; retry shortly`,
      );
    }
    const stream: Stream = {
      response,
      events: filter.events ? new Set(filter.events) : null,
      devices: filter.devices ? new Set(filter.devices) : null,
      open: false,
    };
    this.#streams.add(stream);
    response.once('close', () => this.#close(stream));
    try {
      await this.#reconcile();
    } catch (error) {
      this.#close(stream);
      throw error;
    }
    if (response.destroyed || !this.#streams.has(stream)) return;
    response.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      // nginx and similar proxies buffer responses unless told not to.
      'X-Accel-Buffering': 'no',
    });
    response.write('retry: 3000\n: subscribed\n\n');
    stream.open = true;
  }

  /** Ends every stream and unsubscribes; open() refuses from now on. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const stream of [...this.#streams]) stream.response.end();
    this.#streams.clear();
    await this.#reconcile();
  }

  #close(stream: Stream): void {
    if (!this.#streams.delete(stream)) return;
    if (this.#streams.size === 0) void this.#reconcile().catch(() => undefined);
  }

  #reconcile(): Promise<void> {
    this.#reconciled = this.#reconciled
      .catch(() => undefined)
      .then(async () => {
        const wanted = this.#streams.size > 0;
        if (wanted && this.#subscriptions.length === 0) await this.#subscribe();
        else if (!wanted && this.#subscriptions.length > 0) await this.#unsubscribe();
      });
    return this.#reconciled;
  }

  async #subscribe(): Promise<void> {
    const { bus } = this.#deps;
    const topics = bus.topics;
    const alerts = new AlertTopics(topics.base);
    const device = (context: MessageContext) => topics.parseDeviceTopic(context.topic)?.deviceId;
    // Every subscribe() is called before any is awaited (libs/bus: a SUBACK can wait behind messages).
    const pending = [
      bus.subscribe(topics.allDevices('readings'), validator(ReadingSchema), (reading, context) => {
        if (!context.packet.retain && device(context) === reading.device)
          this.#send({ event: 'reading', data: reading }, reading.device);
      }),
      bus.subscribe(topics.allDevices('state'), validator(DeviceStateSchema), (state, context) => {
        const id = device(context);
        if (id && !context.packet.retain) this.#send({ event: 'state', data: { device: id, state } }, id);
      }),
      bus.subscribe(
        topics.allDevices('availability'),
        validator(AvailabilitySchema),
        (availability, context) => {
          const id = device(context);
          if (id && !context.packet.retain)
            this.#send({ event: 'availability', data: { device: id, availability } }, id);
        },
        { encoding: 'text' },
      ),
      bus.subscribe(
        topics.allDevices('meta'),
        validator(DeviceMetaSchema),
        (meta, context) => {
          if (!context.packet.retain && device(context) === meta.id)
            this.#send({ event: 'meta', data: { device: meta.id, meta } }, meta.id);
        },
        {
          onEmpty: (context) => {
            const id = device(context);
            if (id && !context.packet.retain)
              this.#send({ event: 'meta', data: { device: id, meta: null } }, id);
          },
        },
      ),
      bus.subscribe(
        `${topics.base}/alerts/+/+`,
        anything,
        (payload, context) => {
          const topic = alerts.parseAlert(context.topic);
          if (!topic || context.packet.retain) return;
          if (!checkAlert(payload) || payload.rule !== topic.rule || payload.subject !== topic.subject) {
            this.#deps.logger.debug({ topic: context.topic }, 'skipped an alert outside the contract');
            return;
          }
          this.#send({ event: 'alert', data: { ...topic, alert: payload } }, topic.subject);
        },
        {
          onEmpty: (context) => {
            const topic = alerts.parseAlert(context.topic);
            if (topic && !context.packet.retain)
              this.#send({ event: 'alert', data: { ...topic, alert: null } }, topic.subject);
          },
        },
      ),
    ];
    const results = await Promise.allSettled(pending);
    const subscribed = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) {
      await Promise.allSettled(subscribed.map((subscription) => subscription.unsubscribe()));
      throw failed.reason;
    }
    this.#subscriptions = subscribed;
    this.#heartbeat = setInterval(() => this.#broadcast(': keepalive\n\n'), this.#deps.heartbeatMs ?? 15_000);
    this.#heartbeat.unref();
  }

  async #unsubscribe(): Promise<void> {
    clearInterval(this.#heartbeat);
    const subscriptions = this.#subscriptions.splice(0);
    await Promise.allSettled(subscriptions.map((subscription) => subscription.unsubscribe()));
  }

  /** Writes one event to every open stream that asked for it; the frame is encoded once. */
  #send(event: LiveEvent, device: string): void {
    let frame: string | undefined;
    for (const stream of this.#streams) {
      if (!stream.open) continue;
      if (stream.events && !stream.events.has(event.event)) continue;
      if (stream.devices && !stream.devices.has(device)) continue;
      frame ??= `event: ${event.event}\ndata: ${JSON.stringify(event.data)}\n\n`;
      this.#write(stream, frame);
    }
  }

  #broadcast(text: string): void {
    for (const stream of this.#streams) if (stream.open) this.#write(stream, text);
  }

  #write(stream: Stream, text: string): void {
    const limit = this.#deps.maxBufferedBytes ?? 4 * 1024 * 1024;
    if (stream.response.writableLength > limit) {
      // A client this far behind would only see stale power values; it reconnects and reloads.
      this.#deps.logger.warn(
        { buffered_bytes: stream.response.writableLength },
        'closing a slow event stream',
      );
      stream.response.destroy();
      this.#close(stream);
      return;
    }
    stream.response.write(text);
  }
}
