import { EventEmitter, once } from 'node:events';

/** Counts API requests in flight with a bound, and lets stop() wait until none is left. */
export class InFlight {
  readonly max: number;
  #count = 0;
  #events = new EventEmitter();

  constructor(max: number) {
    this.max = max;
  }

  get count(): number {
    return this.#count;
  }

  tryEnter(): boolean {
    if (this.#count >= this.max) return false;
    this.#count++;
    return true;
  }

  leave(): void {
    this.#count--;
    if (this.#count === 0) this.#events.emit('idle');
  }

  /** Resolves when nothing is in flight, or rejects after `timeoutMs`. */
  async idle(timeoutMs: number): Promise<void> {
    if (this.#count === 0) return;
    await once(this.#events, 'idle', { signal: AbortSignal.timeout(timeoutMs) });
  }
}
