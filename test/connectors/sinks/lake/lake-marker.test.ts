import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoveredFiles, readMarker, writeMarker } from '../../../../connectors/sinks/lake/lake-marker.ts';
import { withDir } from './lake-support.ts';

test('CoveredFiles: a record is covered by a file of its folder whose range of its partition holds its offset', () => {
  const covered = new CoveredFiles([
    { path: 'date=2026-12-04/hour=05/part-000000000001.parquet', ranges: { 0: [10, 20], 1: [5, 6] } },
    { path: 'date=2026-12-04/hour=06/part-000000000002.parquet', ranges: { 0: [21, 30] } },
  ]);
  assert.ok(covered.covers('date=2026-12-04/hour=05', 0, 10));
  assert.ok(covered.covers('date=2026-12-04/hour=05', 0, 20));
  assert.ok(!covered.covers('date=2026-12-04/hour=05', 0, 21), 'past the range');
  assert.ok(!covered.covers('date=2026-12-04/hour=06', 0, 15), 'another folder');
  assert.ok(!covered.covers('date=2026-12-04/hour=05', 2, 10), 'another partition');
  covered.prune(new Map([[0, 21], [1, 7]]));
  assert.deepEqual(covered.list().map((f) => f.path), ['date=2026-12-04/hour=06/part-000000000002.parquet']);
  covered.prune(new Map([[0, 30]]));
  assert.equal(covered.size, 1, 'kept while its last offset is at or past the position');
  covered.prune(new Map([[0, 31]]));
  assert.equal(covered.size, 0);
});

test('the marker round-trips; a damaged one is CORRUPT_DATA', async () => {
  await withDir(async (dir) => {
    assert.equal(await readMarker(dir), undefined);
    const marker = { version: 1 as const, sink: 's', topic: 't', nextFile: 3, positions: { 0: 7 }, files: [{ path: 'date=x/hour=y/part-000000000002.parquet', ranges: { 0: [7, 9] as const } }] };
    await writeMarker(dir, marker);
    assert.deepEqual(await readMarker(dir), marker);
    writeFileSync(join(dir, '_tributary_offsets.json'), '{"version":1,');
    await assert.rejects(readMarker(dir), { code: 'CORRUPT_DATA' });
    writeFileSync(join(dir, '_tributary_offsets.json'), '{"version":2}');
    await assert.rejects(readMarker(dir), { code: 'CORRUPT_DATA' });
  });
});
