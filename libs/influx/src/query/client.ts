import { WattbusError } from '@wattbus/contracts';
import { authorizationHeader, type InfluxConnection } from '../connection.js';
import { detectServer, type InfluxServerInfo } from '../server.js';
import { InfluxQL, type BuiltQuery, type ParamMode } from './builder.js';

export interface InfluxSeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

export interface StatementResult {
  series: InfluxSeries[];
}

export interface InfluxQueryClientDeps {
  connection: InfluxConnection;
  /** `auto` (default): bound params where the server has them (1.x, 2.x), inline literals on 3.x. */
  paramMode?: ParamMode | 'auto';
  /** Told after every request whether InfluxDB was reachable (for health checks). */
  onReachable?: (reachable: boolean, error?: WattbusError) => void;
}

export interface RunOptions {
  signal?: AbortSignal;
  /** Default: connection.timeout_ms. */
  timeoutMs?: number;
}

/**
 * Runs built InfluxQL on `/query` (1.x, and the v1-compatible API of 2.x and 3.x). Errors become
 * stable codes: STORE_UNAVAILABLE when the server cannot be reached, times out or fails (5xx,
 * auth), QUERY_FAILED when it refuses the statement. Every call is a fresh HTTP request, so the
 * client recovers by itself when the server is back.
 */
export class InfluxQueryClient {
  #deps: InfluxQueryClientDeps;
  #connection: InfluxConnection;
  #paramMode: ParamMode | 'auto';
  #server: InfluxServerInfo | undefined;

  constructor(deps: InfluxQueryClientDeps) {
    this.#deps = deps;
    this.#connection = deps.connection;
    this.#paramMode = deps.paramMode ?? 'auto';
  }

  get server(): InfluxServerInfo | undefined {
    return this.#server;
  }

  /** Detects the server if it answers; a store that is down now is detected on first use. */
  async start(): Promise<void> {
    await this.#detect().catch(() => undefined);
  }

  /** A builder in the parameter mode the server supports. */
  async builder(): Promise<InfluxQL> {
    return new InfluxQL(await this.paramMode());
  }

  async paramMode(): Promise<ParamMode> {
    if (this.#paramMode !== 'auto') return this.#paramMode;
    const server = this.#server ?? (await this.#detect());
    return server.supportsBoundParams ? 'bound' : 'inline';
  }

  async run(query: InfluxQL | BuiltQuery, options: RunOptions = {}): Promise<StatementResult[]> {
    try {
      const results = await this.#run(query, options);
      this.#deps.onReachable?.(true);
      return results;
    } catch (error) {
      if (error instanceof WattbusError) this.#deps.onReachable?.(error.code !== 'STORE_UNAVAILABLE', error);
      throw error;
    }
  }

  async #run(query: InfluxQL | BuiltQuery, options: RunOptions): Promise<StatementResult[]> {
    const built = query instanceof InfluxQL ? query.build() : query;
    const timeoutMs = options.timeoutMs ?? this.#connection.timeout_ms;
    const form = new URLSearchParams({ db: this.#connection.database, q: built.text, epoch: 'ms' });
    if (Object.keys(built.params).length > 0) form.set('params', JSON.stringify(built.params));
    const signals = [AbortSignal.timeout(timeoutMs)];
    if (options.signal) signals.push(options.signal);
    let response: Response;
    let body: string;
    try {
      response = await fetch(new URL('/query', this.#connection.url), {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          ...authorizationHeader(this.#connection),
        },
        body: form,
        signal: AbortSignal.any(signals),
      });
      body = await response.text();
    } catch (error) {
      throw this.#unavailable(error, timeoutMs);
    }
    if (response.status === 401 || response.status === 403) {
      throw new WattbusError('STORE_UNAVAILABLE', `InfluxDB refused our credentials (${response.status})`);
    }
    if (response.status >= 500) {
      throw new WattbusError('STORE_UNAVAILABLE', `InfluxDB answered ${response.status}: ${firstLine(body)}`);
    }
    let parsed: { results?: Array<{ error?: string; series?: InfluxSeries[] }>; error?: string };
    try {
      parsed = JSON.parse(body) as typeof parsed;
    } catch {
      throw new WattbusError(
        'QUERY_FAILED',
        `InfluxDB answered ${response.status} with no JSON: ${firstLine(body)}`,
      );
    }
    if (!response.ok || parsed.error) {
      throw new WattbusError(
        'QUERY_FAILED',
        `InfluxDB refused the query: ${parsed.error ?? response.status}`,
      );
    }
    const results = parsed.results ?? [];
    const failed = results.find((result) => result.error);
    if (failed) throw new WattbusError('QUERY_FAILED', `InfluxDB refused the query: ${failed.error}`);
    return results.map((result) => ({ series: result.series ?? [] }));
  }

  async #detect(): Promise<InfluxServerInfo> {
    try {
      this.#server = await detectServer(this.#connection);
      return this.#server;
    } catch (error) {
      const unavailable = this.#unavailable(error, this.#connection.timeout_ms);
      this.#deps.onReachable?.(false, unavailable);
      throw unavailable;
    }
  }

  #unavailable(error: unknown, timeoutMs: number): WattbusError {
    const name = (error as Error).name;
    if (name === 'TimeoutError') {
      return new WattbusError(
        'STORE_UNAVAILABLE',
        `InfluxDB at ${this.#connection.url} did not answer within ${timeoutMs} ms`,
      );
    }
    if (name === 'AbortError')
      return new WattbusError('TIMEOUT', 'the query was cancelled (deadline reached)');
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return new WattbusError(
      'STORE_UNAVAILABLE',
      `InfluxDB at ${this.#connection.url} is unreachable: ${cause?.code ?? cause?.message ?? (error as Error).message}`,
    );
  }
}

/** Series rows as objects keyed by column. */
export function seriesRows(series: InfluxSeries): Array<Record<string, unknown>> {
  return series.values.map((values) =>
    Object.fromEntries(series.columns.map((column, i) => [column, values[i]])),
  );
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0]?.slice(0, 200) ?? '';
}
