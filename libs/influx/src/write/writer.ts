import { setTimeout as sleep } from 'node:timers/promises';
import {
  HttpError,
  InfluxDB,
  setLogger,
  type SendOptions,
  type Transport,
} from '@influxdata/influxdb-client';
import { credentialsHint, type InfluxConnection } from '../connection.js';
import { ensureDatabase } from '../database.js';
import { detectServer, writeCredentials, writePath, type InfluxServerInfo } from '../server.js';
import { backoffDelayMs, parseRetryAfterMs } from './backoff.js';

/** What the writer needs from a logger; pino's Logger fits. */
export interface WriterLogger {
  debug(details: object, message: string): void;
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface InfluxWriterOptions {
  connection: InfluxConnection;
  /** Create the database (1.x) or bucket (2.x) when it is missing. Default false. */
  createDatabase?: boolean;
  /** Lines per HTTP request; longer inputs are split. Default 5000. */
  maxBatchLines?: number;
  /** Backoff bounds for retried writes. Defaults 200 ms and 30 s. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Gzip request bodies larger than this; default off (loopback and LAN gain nothing from it). */
  gzipThresholdBytes?: number;
  logger?: WriterLogger;
  /** Told of every write request (for a latency histogram): how long it took and how it ended. */
  onRequest?: (request: WriteRequestTiming) => void;
}

export interface WriteRequestTiming {
  duration_ms: number;
  /** written: accepted; refused: 400-class, handed back; failed: to be retried. */
  outcome: 'written' | 'refused' | 'failed';
  lines: number;
}

export interface RejectedLine {
  line: string;
  /** InfluxDB's own explanation, e.g. `partial write: field type conflict: …`. */
  reason: string;
}

export interface WriteOutcome {
  /** Lines InfluxDB accepted. */
  written: number;
  /** Lines InfluxDB refused for what they are (400-class): they will never succeed, so they are handed back. */
  rejected: RejectedLine[];
}

export interface InfluxWriterMetrics {
  lines_written: number;
  lines_rejected: number;
  requests: number;
  retries: number;
  /** Consecutive failed attempts of the current write; 0 when the last one went through. */
  failing_attempts: number;
  last_error: string | undefined;
  server: string | undefined;
}

/** Thrown by write() when stop() interrupts it; the lines were not (all) written, keep them. */
export class WriterStoppedError extends Error {
  constructor() {
    super('the InfluxDB writer was stopped before the write completed');
    this.name = 'WriterStoppedError';
  }
}

/** InfluxDB refused these lines for what they are: retrying the same bytes cannot succeed. */
const REFUSED_STATUSES = new Set([400, 413, 422]);

const quietLogger: WriterLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** Where and how a batch is POSTed: the client's transport, the server's write path. */
interface WriteTarget {
  transport: Transport;
  path: string;
  options: SendOptions;
}

/**
 * Writes line protocol to InfluxDB 1.x, 2.x or 3.x, one POST per batch through the client's HTTP
 * transport (its WriteApi measured each line's UTF-8 length in JavaScript, ~0.3 µs per reading,
 * for batching we do ourselves), with the durability the client lacks: we retry network errors,
 * 429, 5xx, 401/403 and 404 with backoff until they pass or stop() is called, and split a refused
 * batch (400: partial write, field type conflict, parse error) until the offending lines are
 * isolated and handed back as rejected. A write is idempotent: a point is
 * identified by measurement, tags and time, so sending a line twice stores it once.
 */
export class InfluxWriter {
  #options: InfluxWriterOptions;
  #logger: WriterLogger;
  #target: WriteTarget | undefined;
  #server: InfluxServerInfo | undefined;
  #abort = new AbortController();
  #metrics: InfluxWriterMetrics = {
    lines_written: 0,
    lines_rejected: 0,
    requests: 0,
    retries: 0,
    failing_attempts: 0,
    last_error: undefined,
    server: undefined,
  };

  constructor(options: InfluxWriterOptions) {
    this.#options = options;
    this.#logger = options.logger ?? quietLogger;
  }

  /** Nothing to connect: the server is detected on the first write, so a down InfluxDB does not block start-up. */
  start(): void {
    // The client logs every failure to the console; we log (and retry) them ourselves.
    setLogger({
      error: (message: string) => this.#logger.debug({ source: 'influxdb-client' }, message),
      warn: (message: string) => this.#logger.debug({ source: 'influxdb-client' }, message),
    });
  }

  /** The server found at the first write, or undefined before it. */
  get server(): InfluxServerInfo | undefined {
    return this.#server;
  }

  metrics(): InfluxWriterMetrics {
    return { ...this.#metrics };
  }

  /**
   * Resolves once every line is written or refused. Retries for as long as it takes;
   * rejects only with WriterStoppedError (then nothing is lost: the caller still has the lines).
   */
  async write(lines: readonly string[]): Promise<WriteOutcome> {
    const outcome: WriteOutcome = { written: 0, rejected: [] };
    const max = this.#options.maxBatchLines ?? 5000;
    for (let start = 0; start < lines.length; start += max) {
      await this.#writeOrIsolate(lines.slice(start, start + max), outcome);
    }
    return outcome;
  }

  /**
   * write() for lines already joined, each ending in a newline (a log segment as read from disk):
   * sent as they are when they fit one request, so a batch is not split into lines and joined
   * again; split only when InfluxDB refuses it (to isolate the refused lines) or it is too long.
   */
  async writeBlock(block: string): Promise<WriteOutcome> {
    if (block.length > 0 && !block.endsWith('\n'))
      throw new Error('a block of lines must end with a newline');
    const count = countLines(block);
    if (count === 0) return { written: 0, rejected: [] };
    if (count > (this.#options.maxBatchLines ?? 5000)) return this.write(linesOf(block));
    const outcome: WriteOutcome = { written: 0, rejected: [] };
    const refusal = await this.#sendWithRetry(block, count);
    if (refusal === undefined) {
      outcome.written = count;
      this.#metrics.lines_written += count;
    } else {
      await this.#isolate(linesOf(block), refusal, outcome);
    }
    return outcome;
  }

  /** Interrupts retries at once; a request in flight ends within the connection's timeout_ms. */
  stop(): void {
    this.#abort.abort();
  }

  /** Sends a batch; when refused, halves it until each refused line stands alone (the good halves get stored). */
  async #writeOrIsolate(lines: string[], outcome: WriteOutcome): Promise<void> {
    const refusal = await this.#sendWithRetry(lines.join('\n'), lines.length);
    if (refusal === undefined) {
      outcome.written += lines.length;
      this.#metrics.lines_written += lines.length;
      return;
    }
    await this.#isolate(lines, refusal, outcome);
  }

  /** A refused batch: a single line is rejected with InfluxDB's reason, a longer one halved and sent again. */
  async #isolate(lines: string[], refusal: string, outcome: WriteOutcome): Promise<void> {
    if (lines.length === 1) {
      outcome.rejected.push({ line: lines[0]!, reason: refusal });
      this.#metrics.lines_rejected++;
      return;
    }
    const half = Math.ceil(lines.length / 2);
    await this.#writeOrIsolate(lines.slice(0, half), outcome);
    await this.#writeOrIsolate(lines.slice(half), outcome);
  }

  /** undefined when written; InfluxDB's reason when refused; retries everything else. */
  async #sendWithRetry(body: string, lines: number): Promise<string | undefined> {
    for (let attempt = 1; ; attempt++) {
      if (this.#abort.signal.aborted) throw new WriterStoppedError();
      let started: number | undefined;
      try {
        const target = await this.#prepare();
        this.#metrics.requests++;
        started = performance.now();
        await target.transport.request(target.path, body, target.options);
        this.#timed(started, 'written', lines);
        if (this.#metrics.failing_attempts > 0) {
          this.#logger.info({ attempts: this.#metrics.failing_attempts }, 'InfluxDB writes succeed again');
        }
        this.#metrics.failing_attempts = 0;
        return undefined;
      } catch (error) {
        if (this.#abort.signal.aborted) throw new WriterStoppedError();
        const status = error instanceof HttpError ? error.statusCode : undefined;
        const message = describe(error);
        const refused = status !== undefined && REFUSED_STATUSES.has(status);
        if (started !== undefined) this.#timed(started, refused ? 'refused' : 'failed', lines);
        if (refused) return message;
        this.#metrics.retries++;
        this.#metrics.failing_attempts++;
        this.#metrics.last_error = message;
        const retryAfterMs =
          error instanceof HttpError ? parseRetryAfterMs(error.headers?.['retry-after']) : 0;
        const delayMs = backoffDelayMs(
          attempt,
          { minMs: this.#options.retryMinMs ?? 200, maxMs: this.#options.retryMaxMs ?? 30_000 },
          retryAfterMs,
        );
        this.#report(status, message, attempt, delayMs, lines);
        try {
          await sleep(delayMs, undefined, { signal: this.#abort.signal });
        } catch {
          throw new WriterStoppedError();
        }
      }
    }
  }

  #timed(started: number, outcome: WriteRequestTiming['outcome'], lines: number): void {
    this.#options.onRequest?.({ duration_ms: performance.now() - started, outcome, lines });
  }

  #report(
    status: number | undefined,
    message: string,
    attempt: number,
    delayMs: number,
    lines: number,
  ): void {
    const details = {
      url: this.#options.connection.url,
      database: this.#options.connection.database,
      status,
      error: message,
      attempt,
      retry_in_ms: delayMs,
      lines,
    };
    const connection = this.#options.connection;
    if (status === 401 || status === 403) {
      // Loud on every attempt: nothing is lost, but nothing is stored until someone fixes it.
      this.#logger.error(
        details,
        `InfluxDB refuses our credentials: ${credentialsHint(connection)}; readings are kept and retried`,
      );
    } else if (status === 404) {
      const what =
        this.#server?.generation === 2
          ? `bucket ${JSON.stringify(connection.database)} in organisation ${JSON.stringify(connection.org)}`
          : `database ${JSON.stringify(connection.database)}`;
      this.#logger.error(details, `InfluxDB has no ${what}; readings are kept and retried`);
      if (this.#options.createDatabase) this.#target = undefined; // create it again before the next try
    } else {
      const log = attempt === 1 ? this.#logger.warn : this.#logger.error;
      log.call(this.#logger, details, 'write to InfluxDB failed; retrying');
    }
  }

  /** Detects the server and aims the client's transport at its write endpoint (once, or again after a 404). */
  async #prepare(): Promise<WriteTarget> {
    if (this.#target) return this.#target;
    const connection = this.#options.connection;
    const server = await detectServer(connection);
    this.#server = server;
    this.#metrics.server = `${server.version || 'unknown'} (${server.build || 'unknown build'})`;
    if (this.#options.createDatabase) await this.#createDatabase(server);
    const auth = writeCredentials(connection, server.generation);
    const client = new InfluxDB({ url: connection.url, timeout: connection.timeout_ms, headers: auth });
    // 1.x's /write or the /api/v2/write of 2.x and 3.x.
    const path = writePath(connection, server.generation, connection.database);
    this.#logger.info({ url: connection.url, server: this.#metrics.server, path }, 'writing to InfluxDB');
    this.#target = {
      transport: client.transport,
      path,
      options: {
        method: 'POST',
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        gzipThreshold: this.#options.gzipThresholdBytes ?? Number.POSITIVE_INFINITY,
      },
    };
    return this.#target;
  }

  async #createDatabase(server: InfluxServerInfo): Promise<void> {
    const connection = this.#options.connection;
    try {
      await ensureDatabase(connection, server);
    } catch (error) {
      this.#logger.warn(
        { database: connection.database, error: describe(error) },
        'could not create the database; writes will tell whether it exists',
      );
    }
  }
}

function describe(error: unknown): string {
  if (error instanceof HttpError) {
    const body = typeof error.json?.error === 'string' ? (error.json.error as string) : error.message;
    return `${error.statusCode}: ${body}`;
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const cause = (error as { cause?: { code?: unknown; message?: string } }).cause;
    return [error.message, typeof code === 'string' ? code : undefined, cause?.message]
      .filter(Boolean)
      .join(': ');
  }
  return String(error);
}

/** Newline-terminated lines in `block` (a torn last line without its newline is not one). */
function countLines(block: string): number {
  let count = 0;
  for (let at = block.indexOf('\n'); at >= 0; at = block.indexOf('\n', at + 1)) count++;
  return count;
}

function linesOf(block: string): string[] {
  return block.split('\n').filter((line) => line.length > 0);
}
