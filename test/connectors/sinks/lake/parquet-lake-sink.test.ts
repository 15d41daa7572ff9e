import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ParquetLakeSink } from '../../../../connectors/sinks/lake/index.ts';
import { BASE, HOUR, allFiles, batch, dataFiles, reading, readRows, withDir, type Reading } from './lake-support.ts';

const context = { topic: 'readings', partitions: [0, 1, 2] };

test('writes every record once, by date/hour folder, with the default columns; positions follow the renamed files', async () => {
  await withDir(async (dir) => {
    const sink = new ParquetLakeSink<string, Reading>({ name: 'lake', dir, prefix: 'raw/readings' });
    assert.deepEqual(await sink.open(context), new Map([[0, 0], [1, 0], [2, 0]]));
    // Partition 0 spans two hours, partition 1 one; partition 2 has a part without records (a gap).
    const p0 = Array.from({ length: 50 }, (_, i) => reading(0, i, BASE + i * 2 * 60_000));
    const p1 = Array.from({ length: 30 }, (_, i) => reading(1, 100 + i, BASE + i * 60_000));
    const positions = await sink.write(batch(1, { 0: p0, 1: p1, 2: [] }, { 2: 5 }));
    assert.deepEqual(positions, new Map(), 'nothing renamed yet: the marker holds no position');
    assert.deepEqual(dataFiles(sink.root), [], 'readers see nothing before the roll');
    assert.deepEqual(await sink.flush('close'), new Map([[0, 50], [1, 130], [2, 5]]));
    assert.deepEqual(dataFiles(sink.root), ['date=2026-12-04/hour=05/part-000000000001.parquet', 'date=2026-12-04/hour=06/part-000000000002.parquet']);
    assert.deepEqual(allFiles(sink.root).filter((f) => !f.endsWith('.parquet')), ['_tributary.lock', '_tributary_offsets.json'], 'no temporary file left');

    const rows = await readRows(sink.root);
    assert.equal(rows.length, 80);
    const byOrigin = new Map(rows.map((r) => [`${r.src_partition}@${r.src_offset}`, r]));
    for (const record of [...p0, ...p1]) {
      const row = byOrigin.get(`${record.partition}@${record.offset}`);
      assert.ok(row, `${record.partition}@${record.offset}`);
      assert.equal(row.key, record.key);
      assert.deepEqual(row.value, record.value);
      assert.equal((row.timestamp as Date).getTime(), record.timestamp);
      assert.equal(row.folder, `date=2026-12-04/hour=${record.timestamp < BASE + HOUR ? '05' : '06'}`);
    }
    await sink.close();
    assert.ok(!existsSync(join(sink.root, '_tributary.lock')), 'close releases the lock');
  });
});

test('typed columns from a row mapping and a time extractor; records mapped to undefined are left out', async () => {
  await withDir(async (dir) => {
    const columns = { user_id: 'STRING', seq: 'INT64', even: 'BOOLEAN', score: 'DOUBLE', at: 'TIMESTAMP', raw: 'BYTES', doc: 'JSON', small: 'INT32' } as const;
    const sink = new ParquetLakeSink<string, Reading, typeof columns>({
      name: 'typed',
      dir,
      columns,
      row: ({ value }) => (value === null || value.seq % 5 === 4 ? undefined : { user_id: value.user, seq: BigInt(value.seq), even: value.seq % 2 === 0, score: value.seq / 4, at: new Date(BASE + value.seq), raw: new Uint8Array([value.seq % 256]), doc: { s: value.seq }, small: value.seq % 2 === 0 ? null : value.seq }),
      time: ({ value }) => BASE + (value?.seq ?? 0) * HOUR,
    });
    await sink.open(context);
    await sink.write(batch(1, { 0: Array.from({ length: 10 }, (_, i) => reading(0, i, 0)) }));
    await sink.flush('close');
    const rows = await readRows(sink.root);
    assert.deepEqual(rows.map((r) => r.seq), [0n, 1n, 2n, 3n, 5n, 6n, 7n, 8n]);
    for (const r of rows) {
      const seq = Number(r.seq);
      assert.equal(r.folder, `date=2026-12-04/hour=${String(5 + seq).padStart(2, '0')}`);
      assert.equal(r.even, seq % 2 === 0);
      assert.equal(r.score, seq / 4);
      assert.equal((r.at as Date).getTime(), BASE + seq);
      // hyparquet shows an unannotated BYTE_ARRAY as text by default
      assert.deepEqual(typeof r.raw === 'string' ? [...r.raw].map((c) => c.charCodeAt(0)) : [...(r.raw as Uint8Array)], [seq]);
      assert.deepEqual(r.doc, { s: seq });
      assert.equal(r.small, seq % 2 === 0 ? null : seq);
    }
  });
});

test('rolls by records, by bytes and by age; a late record for an older hour gets its own file there', async () => {
  await withDir(async (dir) => {
    let now = 1_000;
    const sink = new ParquetLakeSink<string, Reading>({ name: 'roll', dir, rollRecords: 100, rollMs: 60_000, now: () => now });
    await sink.open(context);
    let offset = 0;
    const next = (n: number, time: number) => Array.from({ length: n }, () => reading(0, offset++, time));
    for (let i = 0; i < 5; i++) await sink.write(batch(i + 1, { 0: next(40, BASE + HOUR) })); // 200 in hour 06: rolls at 120, then 40 held
    assert.equal(dataFiles(sink.root).length, 1, 'one roll at 120 records (checked after each batch)');
    assert.equal(sink.staged().rows, 80);
    await sink.write(batch(6, { 0: next(1, BASE) })); // late: hour 05
    assert.equal(sink.staged().openFiles, 2);
    now += 59_999;
    assert.deepEqual(await sink.flush('idle'), new Map([[0, 120]]), 'not yet due by age');
    now += 1;
    assert.deepEqual(await sink.flush('idle'), new Map([[0, 201]]), 'both due by age');
    assert.deepEqual(dataFiles(sink.root), ['date=2026-12-04/hour=05/part-000000000003.parquet', 'date=2026-12-04/hour=06/part-000000000001.parquet', 'date=2026-12-04/hour=06/part-000000000002.parquet']);
    assert.equal((await readRows(sink.root)).length, 201);
  });
  await withDir(async (dir) => {
    const sink = new ParquetLakeSink<string, Reading>({ name: 'bytes', dir, rollBytes: 4096 });
    await sink.open(context);
    for (let i = 0; i < 10; i++) await sink.write(batch(i + 1, { 0: Array.from({ length: 20 }, (_, j) => reading(0, i * 20 + j, BASE)) }));
    await sink.flush('close');
    const files = dataFiles(sink.root);
    assert.ok(files.length >= 2 && files.length <= 10, `rolled by size: ${files.length} files`);
    assert.equal((await readRows(sink.root)).length, 200);
  });
});

test('at most maxOpenFiles files are open: the least recently written rolls; held rows stay under maxHeldBytes', async () => {
  await withDir(async (dir) => {
    const sink = new ParquetLakeSink<string, Reading>({ name: 'open', dir, maxOpenFiles: 2, maxHeldBytes: 2000, rowGroupRows: 1000 });
    await sink.open(context);
    for (let h = 0; h < 5; h++) {
      await sink.write(batch(h + 1, { 0: Array.from({ length: 30 }, (_, j) => reading(0, h * 30 + j, BASE + h * HOUR)) }));
      assert.ok(sink.staged().openFiles <= 2);
      assert.ok(sink.staged().heldBytes <= 2000, `held ${sink.staged().heldBytes}`);
    }
    assert.equal(dataFiles(sink.root).length, 3);
    await sink.flush('close');
    const rows = await readRows(sink.root);
    assert.equal(rows.length, 150);
    assert.equal(new Set(rows.map((r) => r.src_offset)).size, 150);
  });
});

for (const damaged of [false, true]) {
  test(`a crash between the rename and the marker: open ${damaged ? 'deletes an unreadable orphan' : 'adopts the orphan from its footer'}, and the replay writes each row once`, async () => {
    await withDir(async (dir) => {
      const first = new ParquetLakeSink<string, Reading>({ name: 'crash', dir, rollRecords: 10 });
      await first.open(context);
      await first.write(batch(1, { 0: Array.from({ length: 10 }, (_, i) => reading(0, i, BASE)) }));
      const markerPath = join(first.root, '_tributary_offsets.json');
      const before = readFileSync(markerPath, 'utf8');
      // A record of another hour stays open (holds the position at 10), then one more roll.
      const second = [reading(0, 10, BASE + HOUR), ...Array.from({ length: 10 }, (_, i) => reading(0, 11 + i, BASE))];
      await first.write(batch(2, { 0: second }));
      const [, orphan] = dataFiles(first.root);
      assert.equal(orphan, 'date=2026-12-04/hour=05/part-000000000002.parquet');
      // The process dies after renaming the second file, before its marker: put the marker back as it was.
      writeFileSync(markerPath, before);
      if (damaged) writeFileSync(join(first.root, orphan), readFileSync(join(first.root, orphan)).subarray(0, 100));
      const next = new ParquetLakeSink<string, Reading>({ name: 'crash', dir, rollRecords: 10 });
      assert.equal((await next.open(context)).get(0), 10);
      assert.equal(dataFiles(next.root).length, damaged ? 1 : 2, damaged ? 'the damaged orphan is gone' : 'the orphan is kept: readers never see its rows vanish');
      assert.ok(!allFiles(next.root).some((f) => f.includes('.tmp')), 'the open file of the dead process is gone');
      await next.write(batch(1, { 0: second }));
      await next.flush('close');
      const offsets = (await readRows(next.root)).map((r) => Number(r.src_offset)).sort((a, b) => a - b);
      assert.deepEqual(offsets, Array.from({ length: 21 }, (_, i) => i));
      const names = dataFiles(next.root).map((f) => f.slice(f.lastIndexOf('/') + 1));
      assert.equal(new Set(names).size, names.length, 'no name reused');
    });
  });
}

test('a replay past the position skips the rows of files committed ahead of it', async () => {
  await withDir(async (dir) => {
    const first = new ParquetLakeSink<string, Reading>({ name: 'ahead', dir, rollRecords: 5 });
    await first.open(context);
    // Offset 0 in hour 04 stays open; offsets 1..5 in hour 05 roll: the position stays at 0.
    const records = [reading(0, 0, BASE - HOUR), ...Array.from({ length: 5 }, (_, i) => reading(0, 1 + i, BASE))];
    assert.deepEqual(await first.write(batch(1, { 0: records })), new Map([[0, 0]]));
    assert.equal(dataFiles(first.root).length, 1);
    // Crash: the second instance replays from 0, and must not write 1..5 again.
    const second = new ParquetLakeSink<string, Reading>({ name: 'ahead', dir, rollRecords: 5 });
    assert.equal((await second.open(context)).get(0), 0);
    await second.write(batch(1, { 0: records }));
    assert.deepEqual(await second.flush('close'), new Map([[0, 6]]));
    const offsets = (await readRows(second.root)).map((r) => Number(r.src_offset)).sort((a, b) => a - b);
    assert.deepEqual(offsets, [0, 1, 2, 3, 4, 5]);
    const marker = JSON.parse(readFileSync(join(second.root, '_tributary_offsets.json'), 'utf8'));
    assert.deepEqual(marker.files, [], 'files below the positions are forgotten');
  });
});

test('a retried batch (the write failed after staging) stages nothing twice', async () => {
  await withDir(async (dir) => {
    const sink = new ParquetLakeSink<string, Reading>({ name: 'retry', dir, rollRecords: 3 });
    await sink.open(context);
    const records = Array.from({ length: 4 }, (_, i) => reading(0, i, BASE));
    // Make the folder unwritable by putting a file where the hour folder goes.
    mkdirSync(join(sink.root, 'date=2026-12-04'), { recursive: true });
    writeFileSync(join(sink.root, 'date=2026-12-04', 'hour=05'), 'in the way');
    await assert.rejects(sink.write(batch(1, { 0: records })), (e: { code: string; canRetry: boolean }) => e.code === 'SINK_WRITE_FAILED' && e.canRetry);
    await assert.rejects(sink.write(batch(1, { 0: records })), { code: 'SINK_WRITE_FAILED' });
    (await import('node:fs')).rmSync(join(sink.root, 'date=2026-12-04', 'hour=05'));
    assert.deepEqual(await sink.write(batch(1, { 0: records })), new Map([[0, 4]]));
    assert.deepEqual((await readRows(sink.root)).map((r) => Number(r.src_offset)), [0, 1, 2, 3]);
  });
});

test('options are validated before any I/O, with coded errors', async () => {
  await withDir(async (dir) => {
    const bad = (options: object) => assert.throws(() => new ParquetLakeSink({ name: 'x', dir, ...options } as never), { code: 'INVALID_ARGUMENT' });
    bad({ name: '' });
    bad({ dir: '' });
    bad({ prefix: '_hidden' });
    bad({ prefix: 'a/../b' });
    bad({ columns: { a: 'STRING' } });
    bad({ columns: { a: 'TEXT' }, row: () => ({}) });
    bad({ columns: { date: 'STRING' }, row: () => ({}) });
    bad({ columns: { 'a b': 'STRING' }, row: () => ({}) });
    bad({ rollBytes: 0 });
    bad({ rollMs: 1.5 });
    bad({ codec: 'ZSTD' });
    assert.ok(!existsSync(join(dir, 'x')), 'nothing created');
  });
});

test('a value that does not fit its column, or a bad time, fails for good; foreign folders are refused', async () => {
  await withDir(async (dir) => {
    const columns = { n: 'INT32' } as const;
    const sink = new ParquetLakeSink<string, Reading, typeof columns>({ name: 'strict', dir, columns, row: ({ value }) => ({ n: value!.seq * 1e6 }) });
    await sink.open(context);
    await assert.rejects(sink.write(batch(1, { 0: [reading(0, 0, BASE), reading(0, 5000, BASE)] })), (e: { code: string; canRetry: boolean }) => e.code === 'SINK_WRITE_FAILED' && !e.canRetry);
    const timeless = new ParquetLakeSink<string, Reading>({ name: 'timeless', dir, time: () => Number.NaN });
    await timeless.open(context);
    await assert.rejects(timeless.write(batch(1, { 0: [reading(0, 0, BASE)] })), (e: { canRetry: boolean }) => !e.canRetry);
    // Another sink's folder, and a folder of Parquet files without a marker.
    await assert.rejects(new ParquetLakeSink({ name: 'other', dir, prefix: 'strict' }).open(context), (e: { code: string; canRetry: boolean }) => e.code === 'SINK_WRITE_FAILED' && !e.canRetry);
    mkdirSync(join(dir, 'foreign', 'date=2026-01-01', 'hour=00'), { recursive: true });
    writeFileSync(join(dir, 'foreign', 'date=2026-01-01', 'hour=00', 'part-000000000001.parquet'), '');
    await assert.rejects(new ParquetLakeSink({ name: 'foreign', dir }).open(context), { code: 'SINK_WRITE_FAILED' });
    assert.ok(existsSync(join(dir, 'foreign', 'date=2026-01-01', 'hour=00', 'part-000000000001.parquet')), 'not deleted');
    assert.ok(!existsSync(join(dir, 'foreign', '_tributary.lock')), 'nor locked');
  });
});

test('one live process per lake folder: another one gets SINK_LOCKED (retryable); a dead one\'s lock is taken over', async () => {
  await withDir(async (dir) => {
    const { spawn } = await import('node:child_process');
    const root = join(dir, 'locked');
    mkdirSync(root, { recursive: true });
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
    try {
      writeFileSync(join(root, '_tributary.lock'), String(other.pid));
      await assert.rejects(new ParquetLakeSink({ name: 'locked', dir }).open(context), (e: { code: string; canRetry: boolean }) => e.code === 'SINK_LOCKED' && e.canRetry);
    } finally {
      other.kill('SIGKILL');
      await new Promise((r) => other.on('exit', r));
    }
    const sink = new ParquetLakeSink({ name: 'locked', dir });
    await sink.open(context);
    assert.equal(readFileSync(join(root, '_tributary.lock'), 'utf8'), String(process.pid));
    await sink.close();
  });
});
