/**
 * The Redis server the sink suite (`npm run test:sinks`, files `*.sinks.ts`) talks to: the one
 * `npm run redis:start` runs (127.0.0.1:REDIS_PORT, default 56379). Every test uses fresh key
 * prefixes and sink names, so runs do not see each other's keys.
 */
import { Redis } from 'ioredis';
import type { RedisConnectionOptions } from '../../../../connectors/sinks/redis/index.ts';
import { RedisSink, type RedisSinkOptions } from '../../../../connectors/sinks/redis/index.ts';
import { DEFAULT_REDIS_PORT } from '../../../../scripts/redis-server.ts';
import type { Reading } from '../readings.ts';

export const connection: RedisConnectionOptions = { host: '127.0.0.1', port: Number(process.env.REDIS_PORT ?? DEFAULT_REDIS_PORT), connectTimeoutMs: 1000, commandTimeoutMs: 2000 };

/** Runs `body` with a client of its own (to look at what the sink wrote). */
export async function withRedis<T>(body: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({ host: connection.host!, port: connection.port!, lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    return await body(redis);
  } finally {
    await redis.quit();
  }
}

/** A cache of readings: key `<prefix>:<user>`, the reading as JSON (or a hash), a TTL, bounded. */
export function readingCache(prefix: string, options: Partial<RedisSinkOptions<string, Reading>> = {}) {
  return new RedisSink<string, Reading>({ name: `${prefix}-cache`, connection, keyPrefix: `${prefix}:`, ttlMs: 60_000, ...options });
}

/** The cached readings under `prefix`, by user. */
export async function cachedReadings(redis: Redis, prefix: string): Promise<Map<string, number>> {
  const keys = (await redis.keys(`${prefix}:u*`)).sort();
  const values = keys.length === 0 ? [] : await redis.mget(...keys);
  return new Map(keys.map((k, i) => [k.slice(prefix.length + 1), (JSON.parse(values[i]!) as Reading).seq]));
}
