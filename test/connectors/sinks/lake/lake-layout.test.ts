import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { dataFileName, folderOf, isTemporary, rollDue, sequenceOf, toEvict } from '../../../../connectors/sinks/lake/lake-layout.ts';

test('folderOf: the UTC date and hour of a time', () => {
  assert.equal(folderOf(Date.UTC(2026, 11, 4, 5, 59, 59, 999)), 'date=2026-12-04/hour=05');
  assert.equal(folderOf(Date.UTC(2026, 11, 4, 6)), 'date=2026-12-04/hour=06');
  assert.equal(folderOf(0), 'date=1970-01-01/hour=00');
  assert.equal(folderOf(8.64e15), 'date=275760-09-13/hour=00', 'years past 9999 without ISO\'s +');
  assert.throws(() => folderOf(Number.NaN), RangeError);
  assert.throws(() => folderOf(-1), RangeError);
  assert.throws(() => folderOf(8.64e15 + 1), RangeError);
});

test('folderOf agrees with a model built from calendar arithmetic', () => {
  const pad = (n: number, w: number) => String(n).padStart(w, '0');
  fc.assert(
    fc.property(fc.oneof(fc.integer({ min: 0, max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) }), fc.integer({ min: 0, max: 8.64e15 })), (ms) => {
      const d = new Date(ms);
      const year = d.getUTCFullYear();
      const model = `date=${pad(year, year > 9999 ? 6 : 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}/hour=${pad(d.getUTCHours(), 2)}`;
      assert.equal(folderOf(ms), model);
      // Two times share a folder exactly when they share the hour since the epoch.
      const other = ms + ((ms * 7919) % (2 * 3_600_000)) - 3_600_000;
      if (other >= 0 && other <= 8.64e15) assert.equal(folderOf(ms) === folderOf(other), Math.floor(ms / 3_600_000) === Math.floor(other / 3_600_000));
    }),
  );
});

test('data file names sort by sequence and parse back; temporary names are hidden', () => {
  assert.equal(dataFileName(42), 'part-000000000042.parquet');
  assert.equal(sequenceOf(dataFileName(42)), 42);
  assert.equal(sequenceOf('part-42.parquet'), undefined);
  assert.equal(sequenceOf('.part-000000000042.parquet.tmp'), undefined);
  assert.ok(dataFileName(9) < dataFileName(10));
  assert.ok(isTemporary('.part-1b2c.tmp'));
  assert.ok(isTemporary('._tributary_offsets.json.tmp'));
  assert.ok(!isTemporary('part-000000000001.parquet'));
});

test('rollDue: bytes, then records, then age; never an empty file', () => {
  const limits = { rollBytes: 1000, rollRecords: 10, rollMs: 60_000 };
  assert.equal(rollDue({ rows: 0, bytes: 5000, openedAt: 0 }, limits, 1e9), undefined);
  assert.equal(rollDue({ rows: 1, bytes: 1000, openedAt: 0 }, limits, 0), 'bytes');
  assert.equal(rollDue({ rows: 10, bytes: 999, openedAt: 0 }, limits, 0), 'records');
  assert.equal(rollDue({ rows: 9, bytes: 999, openedAt: 0 }, limits, 59_999), undefined);
  assert.equal(rollDue({ rows: 9, bytes: 999, openedAt: 0 }, limits, 60_000), 'age');
});

test('toEvict: the least recently written beyond the limit', () => {
  const files = [{ id: 'a', lastWriteAt: 30 }, { id: 'b', lastWriteAt: 10 }, { id: 'c', lastWriteAt: 20 }];
  assert.deepEqual(toEvict(files, 3), []);
  assert.deepEqual(toEvict(files, 1).map((f) => f.id), ['b', 'c']);
});
