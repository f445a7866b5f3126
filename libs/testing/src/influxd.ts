import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { requireBinary, startWatched, waitUntil, type WatchedProcess } from './process.js';

export interface InfluxServerOptions {
  /** Where data, config and log live; default a throw-away temp dir. */
  dir?: string;
  /** HTTP port; default a free one. */
  port?: number;
}

/**
 * A real InfluxDB 1.x (`influxd` from Debian's `influxdb` package) on loopback, by default on free
 * ports with a throw-away data dir. stop()/start() keep port and data, so tests can take it down
 * mid-stream. The embedded platform runs its local influxd through this class too.
 */
export class InfluxServer {
  readonly dir: string;
  #binary: string;
  #httpPort: number;
  #configured = false;
  #process: WatchedProcess | undefined;

  constructor(options: InfluxServerOptions = {}) {
    this.#binary = requireBinary('influxd', 'influxdb');
    this.#httpPort = options.port ?? 0;
    if (options.dir) mkdirSync(options.dir, { recursive: true });
    this.dir = options.dir ?? mkdtempSync(join(tmpdir(), 'wattbus-influxd-'));
  }

  get url(): string {
    return `http://127.0.0.1:${this.#httpPort}`;
  }

  get port(): number {
    return this.#httpPort;
  }

  async start(): Promise<this> {
    if (!this.#configured) {
      if (this.#httpPort === 0) this.#httpPort = await freePort();
      const rpcPort = await freePort();
      writeFileSync(join(this.dir, 'influxdb.conf'), influxConfig(this.dir, this.#httpPort, rpcPort));
      this.#configured = true;
    }
    this.#process = startWatched(
      this.#binary,
      ['-config', join(this.dir, 'influxdb.conf')],
      join(this.dir, 'influxd.log'),
    );
    const process = this.#process;
    await waitUntil(
      `influxd on ${this.url}`,
      async () => {
        if (process.pid === undefined) return false;
        const response = await fetch(`${this.url}/ping`);
        return response.status === 204;
      },
      { diagnostics: () => process.log() },
    );
    return this;
  }

  async stop(): Promise<void> {
    await this.#process?.stop();
    this.#process = undefined;
  }

  /** Runs InfluxQL and returns the parsed JSON answer (throws on an HTTP error or a statement error). */
  async query(database: string, influxql: string): Promise<InfluxQueryResult> {
    const url = `${this.url}/query?db=${encodeURIComponent(database)}&epoch=ms&q=${encodeURIComponent(influxql)}`;
    const response = await fetch(url, { method: 'POST' });
    const body = (await response.json()) as InfluxQueryResult;
    if (!response.ok) throw new Error(`influxd answered ${response.status}: ${JSON.stringify(body)}`);
    const failed = body.results?.find((result) => result.error);
    if (failed) throw new Error(`InfluxQL error: ${failed.error}`);
    return body;
  }

  /** Stores line-protocol `lines` (ms timestamps) in `database`; throws unless influxd answers 204. */
  write(database: string, lines: readonly string[]): Promise<void> {
    return writeLineProtocol(this.url, database, lines);
  }

  /**
   * Test databases have plain names, so the statement needs no escaping: quoting InfluxQL names
   * is libs/influx's job (`quote`, `ensureDatabase`), which itself is tested with this harness.
   */
  async createDatabase(database: string): Promise<void> {
    if (!/^[A-Za-z0-9_]+$/.test(database))
      throw new Error(`test database ${JSON.stringify(database)}: use letters, digits and _ only`);
    await this.query(database, `CREATE DATABASE "${database}"`);
  }

  /** Stops the server and deletes its data. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  log(): string {
    return this.#process?.log() ?? '';
  }
}

export interface InfluxQueryResult {
  results?: Array<{
    statement_id?: number;
    error?: string;
    series?: Array<{ name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }>;
  }>;
  error?: string;
}

export async function startInflux(): Promise<InfluxServer> {
  return new InfluxServer().start();
}

function influxConfig(dir: string, httpPort: number, rpcPort: number): string {
  return `reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"
[meta]
  dir = "${dir}/meta"
  logging-enabled = false
[data]
  dir = "${dir}/data"
  wal-dir = "${dir}/wal"
  query-log-enabled = false
  cache-snapshot-write-cold-duration = "10s"
[coordinator]
  log-queries-after = "0s"
[retention]
  enabled = false
[shard-precreation]
  enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:${httpPort}"
  log-enabled = false
  max-body-size = 0
[logging]
  level = "warn"
[continuous_queries]
  enabled = false
`;
}

/** Stores line-protocol `lines` (ms timestamps) in `database` of the InfluxDB at `url`; throws unless it answers 204. */
export async function writeLineProtocol(
  url: string,
  database: string,
  lines: readonly string[],
): Promise<void> {
  const response = await fetch(`${url}/write?db=${encodeURIComponent(database)}&precision=ms`, {
    method: 'POST',
    body: lines.join('\n'),
  });
  if (response.status !== 204)
    throw new Error(`influxd refused the write: ${response.status} ${await response.text()}`);
}
