import type { LiveEvent } from '@wattbus/contracts';
import type { Api } from './api.js';
import { SseParser } from './sse.js';

export type LiveStatus = 'connecting' | 'live' | 'reconnecting' | 'stopped';

export interface LiveStreamDeps {
  api: Api;
  onEvent: (event: LiveEvent) => void;
  onStatus: (status: LiveStatus) => void;
  /** After a dropped stream came back: events were missed, so pages read the current state again. */
  onReconnect: () => void;
}

/**
 * The dashboard's one connection to `GET /api/v1/events`, read with fetch() so the API key goes
 * in a header (EventSource cannot send one). Reconnects with backoff, 1 s doubling to 30 s.
 */
export class LiveStream {
  #deps: LiveStreamDeps;
  #abort: AbortController | undefined;
  #status: LiveStatus = 'stopped';
  #waiters: (() => void)[] = [];

  constructor(deps: LiveStreamDeps) {
    this.#deps = deps;
  }

  get status(): LiveStatus {
    return this.#status;
  }

  start(): void {
    if (this.#abort) return;
    this.#abort = new AbortController();
    void this.#run(this.#abort.signal);
  }

  stop(): void {
    this.#abort?.abort();
    this.#abort = undefined;
    this.#setStatus('stopped');
  }

  /** Resolves once the stream is subscribed, so state read afterwards misses no event. */
  connected(): Promise<void> {
    if (this.#status === 'live') return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  async #run(signal: AbortSignal): Promise<void> {
    let delayMs = 1000;
    let dropped = false;
    while (!signal.aborted) {
      this.#setStatus(dropped ? 'reconnecting' : 'connecting');
      try {
        const response = await this.#deps.api.stream('/api/v1/events', {}, signal);
        this.#setStatus('live');
        if (dropped) this.#deps.onReconnect();
        delayMs = 1000;
        await this.#read(response);
      } catch (error) {
        if (signal.aborted || (error as { status?: number }).status === 401) return;
      }
      dropped = true;
      if (signal.aborted) return;
      this.#setStatus('reconnecting');
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      delayMs = Math.min(delayMs * 2, 30_000);
    }
  }

  async #read(response: Response): Promise<void> {
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    const parser = new SseParser();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      for (const message of parser.push(value)) {
        let data: unknown;
        try {
          data = JSON.parse(message.data);
        } catch {
          continue;
        }
        this.#deps.onEvent({ event: message.event, data } as LiveEvent);
      }
    }
  }

  #setStatus(status: LiveStatus): void {
    if (status === this.#status) return;
    this.#status = status;
    this.#deps.onStatus(status);
    if (status === 'live') for (const wake of this.#waiters.splice(0)) wake();
  }
}
