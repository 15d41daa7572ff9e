/**
 * `tributary/connectors/sinks/redis`: the hot-cache sink, Redis holding the latest value of each
 * recently active key (TTL refreshed on update, bounded to the most recent `maxKeys`, tombstones
 * delete), with the consumed offsets in the same MULTI/EXEC: exactly once. The only place that
 * imports `ioredis`.
 */
export { RedisSink } from './redis-sink.ts';
export type { RedisSinkOptions, RedisConnectionOptions } from './redis-sink.ts';
