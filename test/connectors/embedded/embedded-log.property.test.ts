import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { EmbeddedLog } from '../../../connectors/embedded/index.ts';

/**
 * The embedded log against a model: per partition, the list of committed values; per group, the
 * committed offsets. Random programs produce, run transactions that commit or abort, commit
 * offsets, reopen the log, and crash (abandon the instance and leave a torn write at the tail).
 * After every step, what a reader sees must equal the model: committed transactions whole,
 * aborted ones absent, nothing lost by a crash.
 */
type Op =
  | { kind: 'produce'; partition: number; values: string[] }
  | { kind: 'tx'; parts: { partition: number; values: string[] }[]; offset: number; commit: boolean }
  | { kind: 'offsets'; offset: number }
  | { kind: 'reopen' }
  | { kind: 'crash'; garbage: number[] };

const PARTITIONS = 3;
const value = fc.string({ minLength: 0, maxLength: 12 });
const partition = fc.integer({ min: 0, max: PARTITIONS - 1 });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('produce' as const), partition, values: fc.array(value, { minLength: 1, maxLength: 5 }) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('tx' as const),
      parts: fc.array(fc.record({ partition, values: fc.array(value, { minLength: 1, maxLength: 4 }) }), { minLength: 1, maxLength: 3 }),
      offset: fc.nat(1000),
      commit: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('offsets' as const), offset: fc.nat(1000) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('crash' as const), garbage: fc.array(fc.nat(255), { maxLength: 30 }) }) },
);

test('the embedded log matches a model of committed data through commits, aborts, reopens and crashes', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), fc.integer({ min: 150, max: 2000 }), async (ops, segmentBytes) => {
      const dir = mkdtempSync(join(tmpdir(), 'tributary-log-prop-'));
      const model: string[][] = Array.from({ length: PARTITIONS }, () => []);
      let modelOffset: number | undefined;
      let log = await EmbeddedLog.open({ dir, segmentBytes });
      try {
        await log.createTopic('t', { partitions: PARTITIONS, cleanupPolicy: 'delete' });
        let producer = await log.initTransactions('p');
        for (const o of ops) {
          switch (o.kind) {
            case 'produce':
              await log.produce([{ topic: 't', partition: o.partition, records: o.values.map((v) => ({ key: null, value: Buffer.from(v), timestamp: 0 })) }]);
              model[o.partition]!.push(...o.values);
              break;
            case 'tx': {
              const tx = producer.begin();
              for (const part of o.parts) {
                tx.produce([{ topic: 't', partition: part.partition, records: part.values.map((v) => ({ key: null, value: Buffer.from(v), timestamp: 0 })) }]);
              }
              tx.sendOffsets('g', new Map([['in:0', o.offset]]));
              if (o.commit) {
                await tx.commit();
                for (const part of o.parts) model[part.partition]!.push(...part.values);
                modelOffset = o.offset;
              } else {
                await tx.abort();
              }
              break;
            }
            case 'offsets':
              await log.commitOffsets('g', new Map([['in:0', o.offset]]));
              modelOffset = o.offset;
              break;
            case 'reopen':
              await log.close();
              log = await EmbeddedLog.open({ dir, segmentBytes });
              producer = await log.initTransactions('p');
              break;
            case 'crash': {
              // Everything acknowledged is on disk; the instance dies, a write is left half done.
              const wal = join(dir, 'wal');
              const last = readdirSync(wal).sort().at(-1)!;
              appendFileSync(join(wal, last), Buffer.from([0, 0, 1, 0, ...o.garbage]));
              log = await EmbeddedLog.open({ dir, segmentBytes });
              producer = await log.initTransactions('p');
              break;
            }
          }
          for (let p = 0; p < PARTITIONS; p++) {
            const seen: string[] = [];
            let offset = 0;
            for (;;) {
              const r = await log.fetch({ topic: 't', partition: p }, offset, { maxRecords: 7 });
              for (const rec of r.records) seen.push(Buffer.from(rec.value!).toString());
              if (r.nextOffset >= r.endOffset) break;
              offset = r.nextOffset;
            }
            assert.deepEqual(seen, model[p], `partition ${p} after ${o.kind}`);
          }
          assert.equal((await log.committedOffsets('g')).get('in:0'), modelOffset);
        }
      } finally {
        await log.close().catch(() => {});
        rmSync(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: 60 },
  );
});

/**
 * Compaction against a model: a compacted topic (keys a-h, some tombstones) and a delete topic
 * share the log's segments, and the cleaner copies the live batches of mostly dead segments
 * forward. After every step (produce, clean, reopen, crash) a reader of the compacted topic gets,
 * in offset order, only records that were written at the offsets it reads them at, and the latest
 * record of every key (Kafka's guarantee for compacted topics); the delete topic loses nothing.
 */
type CompactionOp =
  | { kind: 'produce'; partition: number; keyed: { key: string; tombstone: boolean }[]; plain: number; cleaning: boolean }
  | { kind: 'clean' }
  | { kind: 'reopen' }
  | { kind: 'crash' };

const compactionOp: fc.Arbitrary<CompactionOp> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('produce' as const),
      partition: fc.integer({ min: 0, max: 1 }),
      // Two hot keys and six cold ones: batches of cold keys stay live among dead ones.
      keyed: fc.array(
        fc.record({
          key: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('a', 'b') }, { weight: 1, arbitrary: fc.constantFrom('c', 'd', 'e', 'f', 'g', 'h') }),
          tombstone: fc.nat(9).map((n) => n === 0),
        }),
        { maxLength: 6 },
      ),
      plain: fc.nat(2),
      // The cleaner runs while this batch is written.
      cleaning: fc.boolean(),
    }),
  },
  { weight: 3, arbitrary: fc.constant({ kind: 'clean' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'crash' as const }) },
);

test('compaction keeps the latest record of every key at its offset, through cleans, reopens and crashes', async (t) => {
  t.mock.method(console, 'warn', () => {});
  await fc.assert(
    fc.asyncProperty(fc.array(compactionOp, { minLength: 1, maxLength: 40 }), fc.integer({ min: 200, max: 1500 }), async (ops, segmentBytes) => {
      const dir = mkdtempSync(join(tmpdir(), 'tributary-log-compact-prop-'));
      // Per partition of the compacted topic: what was written at each offset ([key, value]).
      const written: [string, string | null][][] = [[], []];
      const events: string[] = [];
      let n = 0;
      const options = { dir, segmentBytes, cleanIntervalMs: 0 };
      let log = await EmbeddedLog.open(options);
      try {
        await log.createTopic('table', { partitions: 2, cleanupPolicy: 'compact' });
        await log.createTopic('events', { partitions: 1, cleanupPolicy: 'delete' });
        for (const o of ops) {
          switch (o.kind) {
            case 'produce': {
              const keyed = o.keyed.map(({ key, tombstone }) => [key, tombstone ? null : `${key}${n++}`] as [string, string | null]);
              const plain = Array.from({ length: o.plain }, () => `e${n++}`);
              const batches = [];
              if (keyed.length > 0) {
                batches.push({ topic: 'table', partition: o.partition, records: keyed.map(([k, v]) => ({ key: Buffer.from(k), value: v === null ? null : Buffer.from(v), timestamp: 0 })) });
              }
              if (plain.length > 0) batches.push({ topic: 'events', partition: 0, records: plain.map((v) => ({ key: null, value: Buffer.from(v), timestamp: 0 })) });
              if (batches.length === 0) break;
              // A clean started first computes its moves before this batch is applied, and writes them after it.
              await Promise.all([o.cleaning ? log.clean() : undefined, log.produce(batches)]);
              written[o.partition]!.push(...keyed);
              events.push(...plain);
              break;
            }
            case 'clean':
              await log.clean();
              break;
            case 'reopen':
              await log.close();
              log = await EmbeddedLog.open(options);
              break;
            case 'crash': {
              const wal = join(dir, 'wal');
              const last = readdirSync(wal).sort().at(-1)!;
              appendFileSync(join(wal, last), Buffer.from([0, 0, 1, 0, 7, 7]));
              log = await EmbeddedLog.open(options);
              break;
            }
          }
          for (let p = 0; p < 2; p++) {
            const model = written[p]!;
            const latest = new Map<string, number>();
            model.forEach(([k], offset) => latest.set(k, offset));
            const seen: number[] = [];
            let offset = 0;
            for (;;) {
              const r = await log.fetch({ topic: 'table', partition: p }, offset, { maxRecords: 3 });
              for (const rec of r.records) {
                const want = model[rec.offset];
                assert.ok(want !== undefined, `partition ${p}: offset ${rec.offset} was never written`);
                assert.deepEqual([Buffer.from(rec.key!).toString(), rec.value === null ? null : Buffer.from(rec.value).toString()], want, `partition ${p}, offset ${rec.offset}`);
                assert.ok(seen.length === 0 || rec.offset > seen.at(-1)!, 'offsets increase');
                seen.push(rec.offset);
              }
              if (r.nextOffset >= r.endOffset) break;
              offset = r.nextOffset;
            }
            for (const [k, at] of latest) assert.ok(seen.includes(at), `partition ${p}: the latest record of ${k} (offset ${at}) after ${o.kind}`);
            assert.equal(log.offsets({ topic: 'table', partition: p }).end, model.length);
          }
          const all: string[] = [];
          let offset = 0;
          for (;;) {
            const r = await log.fetch({ topic: 'events', partition: 0 }, offset, { maxRecords: 5 });
            all.push(...r.records.map((rec) => Buffer.from(rec.value!).toString()));
            if (r.nextOffset >= r.endOffset) break;
            offset = r.nextOffset;
          }
          assert.deepEqual(all, events, `events after ${o.kind}`);
        }
      } finally {
        await log.close().catch(() => {});
        rmSync(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: 80 },
  );
});
