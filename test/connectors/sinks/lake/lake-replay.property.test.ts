/**
 * The lake sink against a model of the runner and of crashes: records of up to three partitions
 * (offsets with gaps, times over a few hours, some late) are fed in random batches; at random
 * points the process "dies" (the instance is dropped without close, its open files left behind,
 * and sometimes the marker put back as it was before the last write, as if the process died
 * between renaming files and replacing the marker, with those files readable (adopted) or
 * damaged (deleted)); the next instance opens, and the model runner
 * replays from the positions it returns. After a last run to the end, the files read back with
 * hyparquet must hold every record exactly once, in the folder of its hour.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { ParquetLakeSink } from '../../../../connectors/sinks/lake/index.ts';
import { folderOf } from '../../../../connectors/sinks/lake/lake-layout.ts';
import type { SinkPartitionBatch, SinkRecord } from '../../../../connectors/sinks/index.ts';
import { BASE, HOUR, dataFiles, reading, readRows, withDir, type Reading } from './lake-support.ts';

interface Step {
  readonly kind: 'write' | 'idle' | 'crash' | 'crash-before-marker' | 'crash-before-marker-damaged';
  readonly size: number;
  readonly advanceMs: number;
}

const scenario = fc.record({
  partitions: fc.array(fc.array(fc.record({ gap: fc.integer({ min: 1, max: 3 }), hour: fc.integer({ min: 0, max: 3 }) }), { minLength: 0, maxLength: 60 }), { minLength: 1, maxLength: 3 }),
  steps: fc.array(
    fc.record({
      kind: fc.constantFrom<Step['kind']>('write', 'write', 'write', 'idle', 'crash', 'crash-before-marker', 'crash-before-marker-damaged'),
      size: fc.integer({ min: 1, max: 25 }),
      advanceMs: fc.integer({ min: 0, max: 40_000 }),
    }),
    { maxLength: 25 },
  ),
  rollRecords: fc.integer({ min: 1, max: 30 }),
  maxOpenFiles: fc.integer({ min: 1, max: 4 }),
});

test('every record lands exactly once, whatever the batches, rolls and crashes', { timeout: 120_000 }, async () => {
  await fc.assert(
    fc.asyncProperty(scenario, async ({ partitions, steps, rollRecords, maxOpenFiles }) => {
      await withDir(async (dir) => {
        // The log: per partition, records with offsets that skip some numbers (read-committed gaps).
        const log = partitions.map((specs, p) => {
          let offset = 0;
          return specs.map(({ gap, hour }) => reading(p, (offset += gap), BASE + hour * HOUR + offset));
        });
        const ends = log.map((records) => (records.at(-1)?.offset ?? 0) + 1);
        const context = { topic: 'readings', partitions: log.map((_, p) => p) };
        let now = 0;
        const make = () => new ParquetLakeSink<string, Reading>({ name: 'model', dir, rollRecords, rollMs: 60_000, maxOpenFiles, now: () => now });
        let sink = make();
        let fetchAt = await sink.open(context);
        let sequence = 0;
        const batchOf = (size: number) => {
          const parts: SinkPartitionBatch<string, Reading>[] = [];
          for (const [p, records] of log.entries()) {
            const from = fetchAt.get(p) ?? 0;
            const taken: SinkRecord<string, Reading>[] = records.filter((r) => r.offset >= from).slice(0, size);
            const nextOffset = taken.length < size ? ends[p]! : taken.at(-1)!.offset + 1;
            if (nextOffset > from) parts.push({ partition: p, fromOffset: from, nextOffset, records: taken });
          }
          return { topic: 'readings', sequence: ++sequence, parts, size: parts.reduce((n, part) => n + part.records.length, 0) };
        };
        const marker = () => join(sink.root, '_tributary_offsets.json');
        let lastMarker: string | undefined;
        for (const step of steps) {
          now += step.advanceMs;
          if (step.kind === 'write') {
            const b = batchOf(step.size);
            const before = readFileSync(marker(), 'utf8');
            await sink.write(b);
            for (const part of b.parts) fetchAt = new Map(fetchAt).set(part.partition, part.nextOffset);
            lastMarker = before;
          } else if (step.kind === 'idle') {
            await sink.flush('idle');
          } else {
            if (step.kind !== 'crash' && lastMarker !== undefined) {
              writeFileSync(marker(), lastMarker);
              // Damaged: the files renamed since cannot be read back (adopted otherwise), so open deletes them.
              const { nextFile } = JSON.parse(lastMarker) as { nextFile: number };
              if (step.kind === 'crash-before-marker-damaged') for (const f of dataFiles(sink.root)) if (Number(/part-(\d+)/.exec(f)![1]) >= nextFile) truncateSync(join(sink.root, f), 10);
            }
            lastMarker = undefined;
            sink = make();
            fetchAt = await sink.open(context);
          }
        }
        // The last run reads to the end and closes cleanly.
        sink = make();
        fetchAt = await sink.open(context);
        while (log.some((_, p) => (fetchAt.get(p) ?? 0) < ends[p]!)) {
          const b = batchOf(17);
          await sink.write(b);
          for (const part of b.parts) fetchAt = new Map(fetchAt).set(part.partition, part.nextOffset);
        }
        const final = await sink.flush('close');
        for (const [p, end] of ends.entries()) if (log[p]!.length > 0) assert.equal(final.get(p), end, `partition ${p} position`);
        await sink.close();

        const rows = await readRows(sink.root);
        const want = log.flat().map((r) => `${r.partition}@${r.offset} ${folderOf(r.timestamp)}`).sort();
        const got = rows.map((r) => `${r.src_partition}@${r.src_offset} ${r.folder}`).sort();
        assert.deepEqual(got, want);
      });
    }),
    { numRuns: Number(process.env.TRIBUTARY_PROPERTY_RUNS ?? 40) },
  );
});
