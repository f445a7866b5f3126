import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, portOpen } from './ports.js';
import { requireBinary, startWatched, waitUntil, type WatchedProcess } from './process.js';

/**
 * A real Redis (`redis-server` from Debian's `redis-server` package) on a free loopback port with
 * a throw-away dir and no snapshots, behind the same watchdog as influxd and mosquitto. What the
 * clustered embedded broker (aedes with mqemitter-redis and aedes-persistence-redis) runs on.
 */
export class RedisServer {
  readonly dir: string;
  #binary: string;
  #port = 0;
  #process: WatchedProcess | undefined;

  constructor() {
    this.#binary = requireBinary('redis-server', 'redis-server');
    this.dir = mkdtempSync(join(tmpdir(), 'wattbus-redis-'));
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.#port}`;
  }

  async start(): Promise<this> {
    if (this.#port === 0) {
      this.#port = await freePort();
      writeFileSync(join(this.dir, 'redis.conf'), redisConfig(this.dir, this.#port));
    }
    this.#process = startWatched(this.#binary, [join(this.dir, 'redis.conf')], join(this.dir, 'redis.log'));
    const process = this.#process;
    await waitUntil(`redis-server on ${this.url}`, () => portOpen(this.#port), {
      diagnostics: () => process.log(),
    });
    return this;
  }

  async stop(): Promise<void> {
    await this.#process?.stop();
    this.#process = undefined;
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  log(): string {
    return this.#process?.log() ?? '';
  }
}

export async function startRedis(): Promise<RedisServer> {
  return new RedisServer().start();
}

function redisConfig(dir: string, port: number): string {
  return [
    `port ${port}`,
    'bind 127.0.0.1',
    'protected-mode yes',
    `dir ${dir}`,
    // Throw-away data: no RDB snapshots, no append-only file.
    'save ""',
    'appendonly no',
    'daemonize no',
    'loglevel warning',
    'logfile ""',
  ].join('\n');
}
