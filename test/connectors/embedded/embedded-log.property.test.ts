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
