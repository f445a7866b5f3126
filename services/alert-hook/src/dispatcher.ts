import { EventEmitter } from 'node:events';
import type { Alert } from '@wattbus/contracts';
import type { Logger } from 'pino';
import type { Outbox, OutboxEntry } from './outbox.js';
import { DeliveryError, type Sink } from './sinks.js';

export interface DispatcherDeps {
  outbox: Outbox;
  sinks: Sink[];
  retry: { min_ms: number; max_ms: number };
  logger: Logger;
}

export interface DispatcherMetrics {
  delivered: number;
  retried: number;
  dropped: number;
  pending: number;
}

/** The idempotency key of a transition: `{alert id}.{state}`. */
export function transitionKey(alert: Alert): string {
  return `${alert.id}.${alert.state}`;
}

/**
 * Delivers outbox entries, one FIFO queue per sink (so a resolved never overtakes its raised),
 * retrying with exponential backoff and full jitter until the sink accepts. A sink that is down
 * holds up only its own queue.
 */
export class Dispatcher extends EventEmitter<{
  delivered: [OutboxEntry];
  dropped: [OutboxEntry, Error];
  failed: [OutboxEntry, Error];
}> {
  #deps: DispatcherDeps;
  #queues = new Map<string, { sink: Sink; entries: OutboxEntry[]; wake: () => void; healthy: boolean }>();
  #loops: Promise<void>[] = [];
  #abort = new AbortController();
  #metrics = { delivered: 0, retried: 0, dropped: 0 };

  constructor(deps: DispatcherDeps) {
    super();
    this.#deps = deps;
  }

  start(): void {
    const known = new Set(this.#deps.sinks.map((sink) => sink.name));
    for (const sink of this.#deps.outbox.sinks()) {
      if (known.has(sink)) continue;
      // A webhook removed from the config: nobody will deliver these any more.
      const orphans = this.#deps.outbox.pending(sink);
      this.#deps.logger.warn(
        { sink, dropped: orphans.length },
        'outbox entries for a sink no longer configured; dropped',
      );
      void this.#deps.outbox.done(orphans.map((entry) => entry.id));
    }
    for (const sink of this.#deps.sinks) {
      const queue = {
        sink,
        entries: this.#deps.outbox.pending(sink.name),
        wake: () => undefined,
        healthy: true,
      };
      this.#queues.set(sink.name, queue);
      this.#loops.push(this.#run(queue));
    }
  }

  /** Records the transitions for every sink that wants them (durably, one fsync), then wakes their queues. */
  async enqueue(alerts: Alert[]): Promise<void> {
    const entries: OutboxEntry[] = [];
    for (const alert of alerts) {
      const key = transitionKey(alert);
      for (const { sink } of this.#queues.values()) {
        if (sink.accepts(alert)) entries.push({ id: `${sink.name}:${key}`, sink: sink.name, key, alert });
      }
    }
    await this.#deps.outbox.add(entries);
    for (const entry of entries) {
      const queue = this.#queues.get(entry.sink)!;
      queue.entries.push(entry);
      queue.wake();
    }
  }

  /** false while the sink's last attempt failed (e.g. InfluxDB unreachable). */
  healthy(sink: string): boolean {
    return this.#queues.get(sink)?.healthy ?? true;
  }

  metrics(): DispatcherMetrics {
    return { ...this.#metrics, pending: this.#deps.outbox.size };
  }

  /** Stops retrying; undelivered entries stay in the outbox for the next start. */
  async stop(): Promise<void> {
    this.#abort.abort();
    for (const queue of this.#queues.values()) queue.wake();
    await Promise.all(this.#loops);
    this.#loops = [];
    this.#queues.clear();
  }

  async #run(queue: {
    sink: Sink;
    entries: OutboxEntry[];
    wake: () => void;
    healthy: boolean;
  }): Promise<void> {
    const signal = this.#abort.signal;
    const { logger, retry } = this.#deps;
    let attempt = 0;
    while (!signal.aborted) {
      const batch = queue.entries.slice(0, queue.sink.batch);
      const entry = batch[0];
      if (!entry) {
        await new Promise<void>((resolve) => (queue.wake = resolve));
        continue;
      }
      try {
        await queue.sink.deliver(batch, signal);
        queue.entries.splice(0, batch.length);
        queue.healthy = true;
        this.#metrics.delivered += batch.length;
        if (attempt > 0)
          logger.info({ sink: queue.sink.name, key: entry.key, attempts: attempt + 1 }, 'delivered');
        attempt = 0;
        await this.#deps.outbox.done(batch.map((delivered) => delivered.id));
        for (const delivered of batch) this.emit('delivered', delivered);
      } catch (error) {
        if (signal.aborted) break;
        if (error instanceof DeliveryError && error.permanent) {
          logger.error(
            { sink: queue.sink.name, key: entry.key, entries: batch.length, err: error.message },
            'notification refused; dropped',
          );
          queue.entries.splice(0, batch.length);
          this.#metrics.dropped += batch.length;
          attempt = 0;
          await this.#deps.outbox.done(batch.map((dropped) => dropped.id));
          for (const dropped of batch) this.emit('dropped', dropped, error);
          continue;
        }
        queue.healthy = false;
        this.emit('failed', entry, error as Error);
        attempt++;
        this.#metrics.retried++;
        const ceiling = Math.min(retry.max_ms, retry.min_ms * 2 ** (attempt - 1));
        const delayMs = Math.round(retry.min_ms / 2 + Math.random() * (ceiling - retry.min_ms / 2));
        logger.warn(
          {
            sink: queue.sink.name,
            key: entry.key,
            attempt,
            retry_in_ms: delayMs,
            err: (error as Error).message,
          },
          'notification failed; retrying',
        );
        await sleep(delayMs, signal, (wake) => (queue.wake = wake));
      }
    }
  }
}

/** Waits `ms`, or less when the dispatcher stops. */
function sleep(ms: number, signal: AbortSignal, setWake: (wake: () => void) => void): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
    // A new entry does not cut the backoff short: the queue is FIFO and its head is still failing.
    setWake(() => undefined);
  });
}
