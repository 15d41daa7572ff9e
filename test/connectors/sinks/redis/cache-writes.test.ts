/**
 * The Redis sink without a server: options checked before any I/O, records mapped to cache
 * operations (JSON or hash fields, tombstones delete), coalesced per key past the stored offsets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StreamsError } from '../../../../engine/index.ts';
import type { SinkBatch, SinkRecord } from '../../../../connectors/sinks/index.ts';
import { RedisSink } from '../../../../connectors/sinks/redis/index.ts';
import { coalesceCacheOps, planCacheOps, type CacheMapping } from '../../../../connectors/sinks/redis/cache-writes.ts';

const code = (c: string) => (e: unknown) => e instanceof StreamsError && e.code === c;

type Profile = { name: string; score: number; tags?: string[] } | null;
const record = (partition: number, offset: number, key: string | null, value: Profile): SinkRecord<string, Profile> => ({ topic: 't', partition, offset, key, value, timestamp: offset });
const batchOf = (...records: SinkRecord<string, Profile>[]): SinkBatch<string, Profile> => {
  const parts = [...new Set(records.map((r) => r.partition))].map((partition) => {
    const own = records.filter((r) => r.partition === partition);
    return { partition, fromOffset: own[0]!.offset, nextOffset: own.at(-1)!.offset + 1, records: own };
  });
  return { topic: 't', sequence: 1, size: records.length, parts };
};
const mapping = (format: 'json' | 'hash'): CacheMapping<string, Profile> => ({
  name: 'm',
  keyPrefix: 'profile:',
  format,
  key: (r) => r.key!,
  value: (r) => r.value,
});

test('options are checked before any I/O', () => {
  const base = { name: 'c', connection: {}, ttlMs: 1000 };
  new RedisSink(base);
  assert.throws(() => new RedisSink({ ...base, name: '' }), code('INVALID_ARGUMENT'));
  assert.throws(() => new RedisSink({ ...base, ttlMs: 0 }), code('INVALID_ARGUMENT'));
  assert.throws(() => new RedisSink({ ...base, ttlMs: undefined as unknown as number }), code('INVALID_ARGUMENT'));
  assert.throws(() => new RedisSink({ ...base, maxKeys: 1.5 }), code('INVALID_ARGUMENT'));
  assert.throws(() => new RedisSink({ ...base, format: 'xml' as 'json' }), code('INVALID_ARGUMENT'));
  assert.throws(() => new RedisSink({ ...base, namespace: '' }), code('INVALID_ARGUMENT'));
  assert.throws(() => new RedisSink({ ...base, connection: undefined as unknown as object }), code('INVALID_ARGUMENT'));
  const sink = new RedisSink(base);
  assert.equal(sink.guarantee, 'exactly-once');
  assert.equal(sink.positions, 'target');
});

test('records become JSON strings or hash fields under the prefixed key; tombstones delete; value() may skip', () => {
  const batch = batchOf(record(0, 0, 'u1', { name: 'Ada', score: 3, tags: ['a'] }), record(0, 1, 'u2', null));
  assert.deepEqual(planCacheOps(mapping('json'), batch), [
    { partition: 0, offset: 0, op: { kind: 'set', key: 'profile:u1', value: { format: 'json', text: '{"name":"Ada","score":3,"tags":["a"]}' } } },
    { partition: 0, offset: 1, op: { kind: 'delete', key: 'profile:u2' } },
  ]);
  assert.deepEqual(planCacheOps(mapping('hash'), batch)[0]!.op, { kind: 'set', key: 'profile:u1', value: { format: 'hash', fields: { name: 'Ada', score: '3', tags: '["a"]' } } });
  assert.deepEqual(planCacheOps({ ...mapping('json'), value: () => undefined }, batch).map((p) => p.op.kind), ['delete']);
});

test('a mapping that fails or a hash value that is not an object stops with SINK_WRITE_FAILED, not retried', () => {
  const nonRetryable = (e: unknown) => code('SINK_WRITE_FAILED')(e) && !(e as StreamsError).canRetry && /t-0@0/.test((e as Error).message);
  assert.throws(() => planCacheOps({ ...mapping('json'), key: () => '' }, batchOf(record(0, 0, 'u1', { name: 'a', score: 1 }))), nonRetryable);
  assert.throws(() => planCacheOps({ ...mapping('hash'), value: () => [1, 2] }, batchOf(record(0, 0, 'u1', { name: 'a', score: 1 }))), nonRetryable);
  assert.throws(() => planCacheOps({ ...mapping('json'), value: () => { throw new Error('boom'); } }, batchOf(record(0, 0, 'u1', { name: 'a', score: 1 }))), nonRetryable);
});

test('operations are coalesced per key (the last wins, deletes included), skipping what the target already has', () => {
  const planned = planCacheOps(
    mapping('json'),
    batchOf(
      record(0, 5, 'u1', { name: 'a', score: 1 }),
      record(0, 6, 'u2', { name: 'b', score: 1 }),
      record(0, 7, 'u1', { name: 'a', score: 2 }),
      record(1, 3, 'u3', { name: 'c', score: 1 }),
      record(1, 4, 'u3', null),
    ),
  );
  assert.deepEqual(
    coalesceCacheOps(planned, new Map()).map((op) => `${op.kind} ${op.key}${op.kind === 'set' && op.value.format === 'json' ? ` ${op.value.text}` : ''}`),
    ['set profile:u2 {"name":"b","score":1}', 'set profile:u1 {"name":"a","score":2}', 'delete profile:u3'],
  );
  // Partition 0 stored up to 7 (a retried batch): only offset 7 of it is left; partition 1 untouched.
  assert.deepEqual(
    coalesceCacheOps(planned, new Map([[0, 7]])).map((op) => `${op.kind} ${op.key}`),
    ['set profile:u1', 'delete profile:u3'],
  );
});
