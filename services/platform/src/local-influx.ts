import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort, requireBinary, startWatched, waitUntil, type WatchedProcess } from '@wattbus/testing';

/**
 * An influxd child process with its data under the platform's data dir. The watchdog around it
 * (from libs/testing) kills influxd when this process dies, however it dies.
 */
export class LocalInflux {
  #dir: string;
  #port: number;
  #process: WatchedProcess | undefined;

  constructor(deps: { dataDir: string; port: number }) {
    this.#dir = resolve(deps.dataDir, 'influxdb');
    this.#port = deps.port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  async start(): Promise<void> {
    const binary = requireBinary('influxd', 'influxdb');
    if (await answersPing(this.url)) {
      throw new Error(
        `something already answers on ${this.url}: set INFLUX_URL=${this.url} to use that InfluxDB, ` +
          'or pick another port with --influx-port',
      );
    }
    mkdirSync(this.#dir, { recursive: true });
    const config = join(this.#dir, 'influxdb.conf');
    writeFileSync(config, influxConfig(this.#dir, this.#port, await freePort()));
    const process = startWatched(binary, ['-config', config], join(this.#dir, 'influxd.log'));
    this.#process = process;
    await waitUntil(`influxd on ${this.url}`, () => answersPing(this.url), {
      timeoutMs: 30_000,
      diagnostics: () => process.log(),
    });
  }

  /** Creates the database up front, so the query component's warm-up finds it on a first start. */
  async createDatabase(name: string): Promise<void> {
    const query = `CREATE DATABASE "${name.replace(/["\\]/g, '\\$&')}"`;
    const response = await fetch(`${this.url}/query?q=${encodeURIComponent(query)}`, { method: 'POST' });
    if (!response.ok)
      throw new Error(`influxd refused ${query}: ${response.status} ${await response.text()}`);
  }

  async stop(): Promise<void> {
    await this.#process?.stop();
    this.#process = undefined;
  }
}

async function answersPing(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1000) });
    return response.status === 204;
  } catch {
    return false;
  }
}

function influxConfig(dir: string, httpPort: number, rpcPort: number): string {
  return `reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"
[meta]
  dir = "${dir}/meta"
[data]
  dir = "${dir}/data"
  wal-dir = "${dir}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:${httpPort}"
  log-enabled = false
[logging]
  level = "warn"
`;
}
