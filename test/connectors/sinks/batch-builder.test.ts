import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { StreamsError } from '../../../engine/index.ts';
import { BatchBuilder } from '../../../connectors/sinks/batch-builder.ts';
import type { SinkBatch, SinkRecord } from '../../../connectors/sinks/index.ts';

const rec = (partition: number, offset: number): SinkRecord<string, string> => ({ topic: 't', partition, offset, key: `k${offset}`, value: 'v', timestamp: offset });
const recs = (partition: number, from: number, n: number) => Array.from({ length: n }, (_, i) => rec(partition, from + i));

test('a batch is due by records, by bytes or by time after its first record, whichever comes first', () => {
  const b = new BatchBuilder<string, string>('t', { maxRecords: 5, maxBytes: 100, lingerMs: 50 });
  assert.equal(b.due(0), undefined, 'an empty batch is never due');
  b.add(0, 0, 3, recs(0, 0, 3), 30, 1000);
  assert.equal(b.due(1049), undefined);
  assert.equal(b.deadline, 1050);
  assert.equal(b.due(1050), 'linger');
  b.add(1, 0, 2, recs(1, 0, 2), 20, 1010);
  assert.equal(b.due(1010), 'records');
  assert.equal(b.room, 0);
  assert.throws(() => b.add(1, 2, 3, recs(1, 2, 1), 1, 1011), (e: unknown) => e instanceof StreamsError && e.code === 'ILLEGAL_STATE');
  const batch = b.take(1);
  assert.deepEqual(
    batch.parts.map((p) => [p.partition, p.fromOffset, p.nextOffset, p.records.length]),
    [
      [0, 0, 3, 3],
      [1, 0, 2, 2],
    ],
  );
  assert.equal(batch.size, 5);
  assert.equal(b.isEmpty, true);
  b.add(2, 7, 9, recs(2, 7, 2), 150, 2000);
  assert.equal(b.due(2000), 'bytes');
});

test('a position that moves without records (aborted records, compaction gaps) makes a batch too, so it is committed', () => {
  const b = new BatchBuilder<string, string>('t', { lingerMs: 0 });
  b.add(0, 10, 10, [], 0, 0);
  assert.equal(b.isEmpty, true, 'nothing moved');
  b.add(0, 10, 14, [], 0, 0);
  assert.equal(b.due(0), 'linger');
  assert.deepEqual(b.take(1).parts, [{ partition: 0, fromOffset: 10, nextOffset: 14, records: [] }]);
});

test('a fetch that does not continue its partition is refused', () => {
  const b = new BatchBuilder<string, string>('t');
  b.add(0, 0, 3, recs(0, 0, 3), 3, 0);
  assert.throws(() => b.add(0, 4, 5, recs(0, 4, 1), 1, 0), (e: unknown) => e instanceof StreamsError && e.code === 'ILLEGAL_STATE');
});

test('batch policies are validated', () => {
  for (const policy of [{ maxRecords: 0 }, { maxRecords: 1.5 }, { maxBytes: 0 }, { lingerMs: -1 }]) {
    assert.throws(() => new BatchBuilder('t', policy), (e: unknown) => e instanceof StreamsError && e.code === 'INVALID_ARGUMENT');
  }
});

type Op = { kind: 'fetch'; partition: number; n: number; gap: number } | { kind: 'tick'; ms: number };

test('property: batches hold every record once, in offset order per partition, never more than maxRecords, and are due no later than lingerMs after their first record', () => {
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('fetch' as const), partition: fc.integer({ min: 0, max: 3 }), n: fc.integer({ min: 0, max: 12 }), gap: fc.integer({ min: 0, max: 2 }) }),
    fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 40 }) }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 100 }), fc.array(op, { maxLength: 80 }), (maxRecords, lingerMs, ops) => {
      const b = new BatchBuilder<string, string>('t', { maxRecords, maxBytes: 1e9, lingerMs });
      const next = new Map<number, number>();
      const produced: string[] = [];
      const batches: SinkBatch<string, string>[] = [];
      let now = 0;
      let firstAt: number | undefined;
      const drain = () => {
        // The runner takes a batch as soon as it is due; check it was not due long before.
        while (b.due(now) !== undefined) {
          if (b.due(now) === 'linger') assert.ok(firstAt !== undefined && now - firstAt <= lingerMs + 40);
          batches.push(b.take(batches.length + 1));
          firstAt = undefined;
        }
      };
      for (const o of ops) {
        if (o.kind === 'tick') now += o.ms;
        else {
          const from = next.get(o.partition) ?? 0;
          const n = Math.min(o.n, b.room);
          // Offsets may skip (read-committed gaps): records at from, from+1+gap, ...
          const records = Array.from({ length: n }, (_, i) => rec(o.partition, from + i * (1 + o.gap)));
          const nextOffset = n === 0 ? from + o.gap : records[n - 1]!.offset + 1;
          b.add(o.partition, from, nextOffset, records, n, now);
          if (!b.isEmpty) firstAt ??= now;
          next.set(o.partition, nextOffset);
          for (const r of records) produced.push(`${r.partition}@${r.offset}`);
        }
        drain();
      }
      now = Math.max(now, b.deadline ?? now);
      drain();
      assert.equal(b.isEmpty, true, 'all taken once lingerMs has passed');
      const written: string[] = [];
      const reached = new Map<number, number>();
      for (const batch of batches) {
        assert.ok(batch.size <= maxRecords && batch.size === batch.parts.reduce((s, p) => s + p.records.length, 0));
        for (const part of batch.parts) {
          assert.equal(part.fromOffset, reached.get(part.partition) ?? 0, 'parts of a partition are contiguous across batches');
          let last = part.fromOffset - 1;
          for (const r of part.records) {
            assert.ok(r.offset > last && r.offset < part.nextOffset && r.partition === part.partition);
            last = r.offset;
            written.push(`${r.partition}@${r.offset}`);
          }
          reached.set(part.partition, part.nextOffset);
        }
      }
      assert.deepEqual(written.sort(), produced.sort());
      for (const [p, o] of next) assert.equal(reached.get(p) ?? 0, o);
    }),
    { numRuns: 300 },
  );
});
