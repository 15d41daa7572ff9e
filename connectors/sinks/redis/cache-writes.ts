/**
 * What the Redis sink writes for a batch, as pure functions (unit-tested without a server): each
 * record mapped to a cache operation (a value to set under its key, or a delete for a tombstone),
 * then the operations past the stored offsets coalesced per key, the last one winning (the cache
 * holds the latest state; setting a key twice in one transaction is wasted work). Also the Lua
 * script that keeps the cache bounded to the active set.
 */
import { StreamsError } from '../../../engine/index.ts';
import type { SinkBatch, SinkPositions, SinkRecord } from '../sink.ts';

/** A value as stored: a string (the JSON format) or the fields of a hash. */
export type CacheValue = { readonly format: 'json'; readonly text: string } | { readonly format: 'hash'; readonly fields: Readonly<Record<string, string>> };

/** What one record does to the cache. */
export type CacheOp = { readonly kind: 'set'; readonly key: string; readonly value: CacheValue } | { readonly kind: 'delete'; readonly key: string };

/** A record's operation and where it came from (to skip what the target already has). */
export interface PlannedOp {
  readonly partition: number;
  readonly offset: number;
  readonly op: CacheOp;
}

/** How records become cache entries (from RedisSinkOptions). */
export interface CacheMapping<K, V> {
  readonly name: string;
  readonly keyPrefix: string;
  readonly format: 'json' | 'hash';
  key(record: SinkRecord<K, V>): string;
  value(record: SinkRecord<K, V>): unknown;
}

/** A hash field as Redis stores it: strings as they are, numbers and booleans as text, the rest as JSON. */
function fieldText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return JSON.stringify(value);
}

function encode<K, V>(mapping: CacheMapping<K, V>, value: unknown, origin: string): CacheValue {
  if (mapping.format === 'json') return { format: 'json', text: JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new StreamsError('SINK_WRITE_FAILED', `sink ${mapping.name}: format 'hash' needs value() to return an object of fields, got ${Array.isArray(value) ? 'an array' : typeof value} for ${origin}`, { canRetry: false });
  }
  const fields: Record<string, string> = {};
  for (const [field, v] of Object.entries(value)) {
    const text = fieldText(v);
    if (text !== undefined) fields[field] = text;
  }
  return { format: 'hash', fields };
}

/** Maps every record of `batch` (mapping errors are bugs: they do not retry). Records `value()` skips (undefined) leave nothing. */
export function planCacheOps<K, V>(mapping: CacheMapping<K, V>, batch: SinkBatch<K, V>): PlannedOp[] {
  const planned: PlannedOp[] = [];
  for (const part of batch.parts) {
    for (const record of part.records) {
      const origin = `${record.topic}-${record.partition}@${record.offset}`;
      let op: CacheOp | undefined;
      try {
        const key = mapping.key(record);
        if (typeof key !== 'string' || key === '') throw new Error(`key() returned ${JSON.stringify(key)}, not a non-empty string`);
        if (record.value === null) {
          op = { kind: 'delete', key: mapping.keyPrefix + key };
        } else {
          const value = mapping.value(record);
          if (value !== undefined) op = { kind: 'set', key: mapping.keyPrefix + key, value: encode(mapping, value, origin) };
        }
      } catch (cause) {
        if (cause instanceof StreamsError) throw cause;
        throw new StreamsError('SINK_WRITE_FAILED', `sink ${mapping.name}: mapping ${origin} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause, canRetry: false });
      }
      if (op !== undefined) planned.push({ partition: part.partition, offset: record.offset, op });
    }
  }
  return planned;
}

/** The operations at or past `stored` (next offsets per partition), the last one per key, in the order of those last writes. */
export function coalesceCacheOps(planned: readonly PlannedOp[], stored: SinkPositions): CacheOp[] {
  const last = new Map<string, CacheOp>();
  for (const { partition, offset, op } of planned) {
    if (offset < (stored.get(partition) ?? 0)) continue;
    last.delete(op.key);
    last.set(op.key, op);
  }
  return [...last.values()];
}

/**
 * Keeps the index of active keys (a sorted set: key -> time of its last write, in µs) bounded, in
 * the sink's transaction: drops the entries older than the TTL (their values have expired), then,
 * past `maxKeys`, deletes the least recently written keys and their entries; refreshes the index's
 * own TTL (an abandoned cache disappears whole). Returns how many keys it evicted.
 *
 * KEYS[1] the index; ARGV[1] maxKeys, ARGV[2] the oldest score to keep (µs), ARGV[3] the TTL in ms.
 * The evicted keys are not declared in KEYS: one Redis (or a primary and its replicas), not Cluster.
 */
export const trimIndexScript = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[1])
local evicted = 0
if over > 0 then
  local keys = redis.call('ZRANGE', KEYS[1], 0, over - 1)
  for i = 1, #keys do redis.call('UNLINK', keys[i]) end
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over - 1)
  evicted = #keys
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return evicted
`;
