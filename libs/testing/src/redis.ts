import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalServer } from './local-server.js';

/**
 * A real Redis (`redis-server` from Debian's `redis-server` package) on a free loopback port with
 * a throw-away dir and no snapshots, behind the same watchdog as influxd and mosquitto. What the
 * clustered embedded broker (aedes with mqemitter-redis and aedes-persistence-redis) runs on.
 */
export class RedisServer extends LocalServer {
  constructor() {
    super('redis-server', 'redis-server', 'wattbus-redis-');
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  protected configure(port: number): string[] {
    const file = join(this.dir, 'redis.conf');
    writeFileSync(file, redisConfig(this.dir, port));
    return [file];
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
