import { createRequire } from 'node:module';
import type { AedesOptions } from 'aedes';
import type { BrokerConfig } from './config.js';

const require = createRequire(import.meta.url);
/** aedes-persistence-redis ships no types; it takes ioredis options (plus its own). */
type AedesPersistenceRedis = (
  options: RedisConnection & { maxSessionDelivery: number },
) => ClusterPersistence;

interface ClusterPersistence {
  destroy(): Promise<void>;
}

/** ioredis connection options, from a `redis://` or `rediss://` URL. */
interface RedisConnection {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db: number;
  tls?: object;
}

export type ClusterConfig = NonNullable<BrokerConfig['cluster']>;

/**
 * What makes several broker nodes one broker: every node publishes through Redis pub/sub
 * (mqemitter-redis) and keeps retained messages, sessions (subscriptions, queued QoS 1 messages)
 * and wills in Redis (aedes-persistence-redis). A client may connect to any node; a node that
 * stops sending heartbeats has its clients' wills published by the others.
 */
export interface ClusterParts {
  options: Pick<AedesOptions, 'id' | 'mq' | 'persistence' | 'heartbeatInterval'>;
  /** After aedes.close: closes the persistence, then the emitter (their Redis connections). */
  close(): Promise<void>;
}

export async function clusterParts(config: ClusterConfig): Promise<ClusterParts> {
  // Loaded only for a cluster: the Redis clients (both packages with ioredis) are ~2.4 MB of V8
  // heap that a single broker would keep for nothing (docs/benchmarks.md, "Production build and
  // memory").
  const { default: MQEmitterRedis } = await import('mqemitter-redis');
  const aedesPersistenceRedis = require('aedes-persistence-redis') as AedesPersistenceRedis;
  const connection = redisConnection(config.redis_url);
  const mq = MQEmitterRedis({ ...connection, matchEmptyLevels: true }); // [MQTT-4.7.1-3], as aedes' default
  const persistence = aedesPersistenceRedis({
    ...connection,
    maxSessionDelivery: config.max_session_delivery,
  });
  // aedes.close closes the emitter, but the persistence needs it to close itself (it unsubscribes
  // its broadcast of subscriptions), so aedes gets a view whose close() waits for ours.
  const closeLater = new Proxy(mq, {
    get(target, property) {
      if (property === 'close') return (callback: () => void) => callback();
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return {
    options: {
      ...(config.node_id ? { id: config.node_id } : {}),
      mq: closeLater,
      persistence,
      heartbeatInterval: config.heartbeat_interval_ms,
    },
    async close() {
      // Its callback form never calls back when aedes set it up (it waits for a 'ready' event).
      await persistence.destroy().catch(() => undefined);
      await new Promise<void>((resolve) => mq.close(() => resolve()));
    },
  };
}

/** `redis://[user:password@]host[:port][/db]`; `rediss://` for TLS. */
export function redisConnection(url: string): RedisConnection {
  const parsed = new URL(url);
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0;
  return {
    host: parsed.hostname,
    port: parsed.port ? Number(parsed.port) : 6379,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    db,
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}
