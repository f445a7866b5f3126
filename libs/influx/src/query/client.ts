import { WattbusError } from '@wattbus/contracts';
import type { InfluxConnection } from '../connection.js';
import { influxQuery, unavailable, type StatementResult } from '../http.js';
import { detectServer, type InfluxServerInfo } from '../server.js';
import { InfluxQL, type BuiltQuery, type ParamMode } from './builder.js';

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
    const built = query instanceof InfluxQL ? query.build() : query;
    try {
      const results = await influxQuery(this.#connection, built.text, { ...options, params: built.params });
      this.#deps.onReachable?.(true);
      return results;
    } catch (error) {
      if (error instanceof WattbusError) this.#deps.onReachable?.(error.code !== 'STORE_UNAVAILABLE', error);
      throw error;
    }
  }

  async #detect(): Promise<InfluxServerInfo> {
    try {
      this.#server = await detectServer(this.#connection);
      return this.#server;
    } catch (error) {
      const failure = unavailable(this.#connection, error, this.#connection.timeout_ms);
      this.#deps.onReachable?.(false, failure);
      throw failure;
    }
  }
}
