import { WriterStoppedError, type InfluxWriter, type RejectedLine } from '@wattbus/influx';
import type { Logger } from '@wattbus/runtime';
import type { WriteAheadLog } from './wal.js';

export interface LogDrainDeps {
  wal: WriteAheadLog;
  writer: InfluxWriter;
  /** Lines InfluxDB refused for what they are (e.g. a field type conflict): dead-letter them. */
  onRejected: (rejected: RejectedLine[]) => void;
  logger: Logger;
}

/**
 * Writes the log out: takes the oldest sealed segment, writes it (the writer retries until
 * InfluxDB takes it), hands refused lines to onRejected, then deletes the segment. One segment
 * at a time, in order, so the log on disk is always exactly what is not yet stored.
 */
export class LogDrain {
  #deps: LogDrainDeps;
  #loop: Promise<void> | undefined;
  #stopping = false;
  #written = 0;
  #rejected = 0;
  #emptyWaiters: Array<() => void> = [];

  constructor(deps: LogDrainDeps) {
    this.#deps = deps;
  }

  start(): void {
    this.#loop = this.#run().catch((error: unknown) => {
      // e.g. the log directory vanished under a late write after stop(); never an unhandled rejection
      this.#deps.logger.error({ err: error }, 'the log drain stopped on an error');
    });
  }

  get written(): number {
    return this.#written;
  }

  get rejected(): number {
    return this.#rejected;
  }

  /** Seals what is pending and resolves once the log is empty, or after timeoutMs (false then). */
  async flush(timeoutMs: number): Promise<boolean> {
    this.#deps.wal.sealActive();
    if (this.#deps.wal.stats().depth_records === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const emptied = new Promise<boolean>((resolve) => this.#emptyWaiters.push(() => resolve(true)));
    const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const result = await Promise.race([emptied, timedOut]);
    clearTimeout(timer);
    return result;
  }

  /**
   * Stops the loop (interrupting retries); unwritten segments stay on disk. A request in flight
   * is given a moment, not its whole timeout: its segment is only deleted after a 204, so leaving
   * it unfinished loses nothing (it is written again on the next start).
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#deps.writer.stop();
    this.#deps.wal.stop();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#loop, new Promise((resolve) => (timer = setTimeout(resolve, 1000)))]);
    clearTimeout(timer);
  }

  async #run(): Promise<void> {
    const { wal, writer, logger } = this.#deps;
    while (!this.#stopping) {
      const segment = await wal.next();
      if (segment === undefined) break;
      // The segment as it is on disk: one request body, not split into lines and joined again.
      const block = wal.readBlock(segment);
      try {
        const outcome = await writer.writeBlock(block);
        this.#written += outcome.written;
        if (outcome.rejected.length > 0) {
          this.#rejected += outcome.rejected.length;
          this.#deps.onRejected(outcome.rejected);
        }
      } catch (error) {
        if (error instanceof WriterStoppedError) break;
        // Not expected (the writer retries everything else); keep the segment and try again later.
        logger.error({ err: error, file: segment.file }, 'writing a log segment failed; it stays on disk');
        await new Promise((resolve) => setTimeout(resolve, 1000));
        continue;
      }
      wal.remove(segment);
      if (wal.stats().depth_records === 0) {
        const waiters = this.#emptyWaiters;
        this.#emptyWaiters = [];
        for (const wake of waiters) wake();
      }
    }
  }
}
