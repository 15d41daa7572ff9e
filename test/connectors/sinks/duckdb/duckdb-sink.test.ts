/**
 * The DuckDB sink on a real database file (no server: part of `npm test`): rows and offsets land
 * together, a new runner resumes from the offsets table (not from the log's copy), tombstones
 * delete, typed columns (timestamps, JSON, lists) round-trip, a batch retried after its commit
 * landed writes nothing twice, two runners of one sink at once write every record once, and a row
 * the table refuses stops the runner without writing any of its batch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { StreamsError } from '../../../../engine/index.ts';
import { DuckDbSink } from '../../../../connectors/sinks/duckdb/index.ts';
import type { SinkBatch } from '../../../../connectors/sinks/index.ts';
import { applyDuckDbSql } from '../../../../connectors/sinks/duckdb/sql.ts';
import type { Row } from '../../../../connectors/sinks/duckdb/index.ts';
import { endOffsets, expectedLatest, produceReadings, readingRunner, unique, withEmbeddedLog, type Reading } from '../readings.ts';
import { allSink, latestSink, readDuckDb } from './fixtures/reading-sinks.ts';

const PARTITIONS = 3;
const code = (c: string) => (e: unknown) => e instanceof StreamsError && e.code === c;

async function counts(path: string, prefix: string) {
  const [all] = await readDuckDb<{ n: bigint; distinct: bigint }>(path, `SELECT count(*) AS n, count(DISTINCT (src_partition, src_offset)) AS distinct FROM ${prefix}_all`);
  const latest = await readDuckDb<{ user_id: string; seq: bigint }>(path, `SELECT user_id, seq FROM ${prefix}_latest ORDER BY user_id`);
  return { all: Number(all!.n), distinct: Number(all!.distinct), latest: new Map(latest.map((r) => [r.user_id, Number(r.seq)])) };
}

test('options are checked before any I/O', () => {
  const base = { name: 's', path: 'x.duckdb', table: 't', columns: { a: 'text' }, key: ['a'], row: () => ({}) };
  assert.throws(() => new DuckDbSink({ ...base, path: '' }), code('INVALID_ARGUMENT'));
  assert.throws(() => new DuckDbSink({ ...base, name: '' }), code('INVALID_ARGUMENT'));
  assert.throws(() => new DuckDbSink({ ...base, columns: { a: 'text; drop table t' } }), code('INVALID_ARGUMENT'));
  assert.throws(() => new DuckDbSink({ ...base, key: [] }), code('INVALID_ARGUMENT'));
  assert.throws(() => new DuckDbSink({ ...base, mode: 'append', key: [], deleteKey: () => ({}) }), code('INVALID_ARGUMENT'));
});

test('a batch travels as one JSON parameter cast to the row type: dates as ISO text, bigints as text, JSON and lists as JSON', () => {
  const spec = { table: 't', columns: { k: 'text', at: 'timestamptz', n: 'bigint', doc: 'json', v: 'double[]' }, key: ['k'], mode: 'upsert' as const };
  const statements = applyDuckDbSql(spec, [
    { kind: 'delete', key: { k: 'z' } },
    { kind: 'upsert', row: { k: 'a', at: new Date(0), n: 2n ** 60n, doc: { x: [1] }, v: [1.5, 2] } },
    { kind: 'upsert', row: { k: 'b', n: 1 } },
  ]);
  assert.deepEqual(statements, [
    {
      text: 'DELETE FROM "t" USING (SELECT unnest(CAST(CAST($1 AS JSON) AS STRUCT("k" text)[]), recursive := true)) AS d WHERE "t"."k" = d."k"',
      values: ['[{"k":"z"}]'],
    },
    {
      text:
        'INSERT INTO "t" ("k", "at", "n", "doc", "v") SELECT unnest(CAST(CAST($1 AS JSON) AS STRUCT("k" text, "at" timestamptz, "n" bigint, "doc" json, "v" double[])[]), recursive := true) ' +
        'ON CONFLICT ("k") DO UPDATE SET "at" = EXCLUDED."at", "n" = EXCLUDED."n", "doc" = EXCLUDED."doc", "v" = EXCLUDED."v"',
      values: ['[{"k":"a","at":"1970-01-01T00:00:00.000Z","n":"1152921504606846976","doc":{"x":[1]},"v":[1.5,2]}]'],
    },
    {
      // A row leaving columns out is a statement of its own, so that they take their defaults.
      text: 'INSERT INTO "t" ("k", "n") SELECT unnest(CAST(CAST($1 AS JSON) AS STRUCT("k" text, "n" bigint)[]), recursive := true) ON CONFLICT ("k") DO UPDATE SET "n" = EXCLUDED."n"',
      values: ['[{"k":"b","n":1}]'],
    },
  ]);
  assert.throws(() => applyDuckDbSql(spec, [{ kind: 'upsert', row: { k: 'a', nope: 1 } }]), code('SINK_WRITE_FAILED'));
});

test('typed columns round-trip: timestamps, bigints, JSON documents, lists, defaults', async () => {
  await withEmbeddedLog(async (_log, _track, dir) => {
    const sink = new DuckDbSink<string, unknown>({
      name: 'typed',
      path: join(dir, 'warehouse.duckdb'),
      table: 'typed',
      columns: { k: 'text', at: 'timestamptz', n: 'bigint', doc: 'json', v: 'double[]', tags: 'varchar[]', flag: 'boolean' },
      key: ['k'],
      row: (r) => r.value as Row,
    });
    await sink.open({ topic: 'x', partitions: [0] });
    const rows = [
      { k: 'a', at: new Date(1_700_000_000_123), n: 2n ** 60n, doc: { x: [1, 'y'] }, v: [1.5, 2], tags: ['a, b', 'c"d'], flag: true },
      { k: 'b', n: 7 },
    ];
    const records = rows.map((value, offset) => ({ topic: 'x', partition: 0, offset, key: value.k, value, timestamp: 0 }));
    await sink.write({ topic: 'x', sequence: 1, size: 2, parts: [{ partition: 0, fromOffset: 0, nextOffset: 2, records }] });
    const got = await sink.query<Record<string, unknown>>(`SELECT k, epoch_ms("at") AS at_ms, n, CAST(doc AS text) AS doc, v, tags, flag FROM typed ORDER BY k`);
    assert.deepEqual(
      got.map((r) => ({ ...r, v: r.v === null ? null : String(r.v), tags: r.tags === null ? null : String(r.tags) })),
      [
        { k: 'a', at_ms: 1_700_000_000_123n, n: 2n ** 60n, doc: '{"x":[1,"y"]}', v: '[1.5, 2]', tags: `['a, b', 'c"d']`, flag: true },
        { k: 'b', at_ms: null, n: 7n, doc: null, v: null, tags: null, flag: null },
      ],
    );
    await sink.close();
  });
});

test('rows and offsets land in one transaction; a new runner resumes from the offsets table, not from the log', async () => {
  await withEmbeddedLog(async (log, track, dir) => {
    const path = join(dir, 'warehouse.duckdb');
    const prefix = unique('land');
    await log.createTopic('readings', { partitions: PARTITIONS, cleanupPolicy: 'delete' });
    let next = await produceReadings(log, 'readings', PARTITIONS, 0, 500);
    const latest = track(readingRunner(log, 'readings', latestSink(path, prefix)));
    const all = track(readingRunner(log, 'readings', allSink(path, prefix)));
    await Promise.all([latest.start(), all.start()]);
    assert.equal(latest.status().guarantee, 'exactly-once');
    let ends = await endOffsets(log, 'readings', PARTITIONS);
    await Promise.all([latest.waitFor(ends), all.waitFor(ends)]);
    await Promise.all([latest.close(), all.close()]);

    let c = await counts(path, prefix);
    assert.equal(c.all, 500);
    assert.equal(c.distinct, 500);
    assert.deepEqual(c.latest, expectedLatest(500));
    const offsets = await readDuckDb<{ sink: string; partition: number; next_offset: bigint }>(path, 'SELECT sink, partition, next_offset FROM tributary_sink_offsets ORDER BY sink, partition');
    assert.deepEqual(
      offsets.map((o) => `${o.sink}:${o.partition}:${o.next_offset}`),
      [`${prefix}-all`, `${prefix}-latest`].flatMap((s) => [...ends].map(([p, e]) => `${s}:${p}:${e}`)),
    );
    const [row] = await readDuckDb<{ payload: string; updated_at: { micros: bigint } }>(path, `SELECT payload, updated_at FROM ${prefix}_latest WHERE user_id = 'u7'`);
    assert.deepEqual(JSON.parse(row!.payload), { user: 'u7', seq: 487 });
    assert.equal(Number(row!.updated_at.micros / 1000n), 1_700_000_000_000 + 487);

    // The log's copy of the positions is rewound; the runners still resume from the table.
    for (const sink of [`${prefix}-all`, `${prefix}-latest`]) await log.commitOffsets(`sink-${sink}`, new Map([...ends].map(([p]) => [`readings:${p}`, 0])));
    next = await produceReadings(log, 'readings', PARTITIONS, next, 70);
    const latest2 = track(readingRunner(log, 'readings', latestSink(path, prefix)));
    const all2 = track(readingRunner(log, 'readings', allSink(path, prefix)));
    await Promise.all([latest2.start(), all2.start()]);
    ends = await endOffsets(log, 'readings', PARTITIONS);
    await Promise.all([latest2.waitFor(ends), all2.waitFor(ends)]);
    assert.equal(all2.status().counters.recordsWritten, 70, 'only the new records were read');
    await Promise.all([latest2.close(), all2.close()]);
    c = await counts(path, prefix);
    assert.equal(c.all, next);
    assert.equal(c.distinct, next);
    assert.deepEqual(c.latest, expectedLatest(next));
  });
});

test('a tombstone deletes the row of its key; the key can come back', async () => {
  await withEmbeddedLog(async (log, track, dir) => {
    const path = join(dir, 'warehouse.duckdb');
    const prefix = unique('tomb');
    await log.createTopic('readings', { partitions: 1, cleanupPolicy: 'compact' });
    await produceReadings(log, 'readings', 1, 0, 6, 3);
    await log.produce([{ topic: 'readings', partition: 0, records: [{ key: Buffer.from('u1'), value: null, timestamp: 1 }, { key: Buffer.from('u2'), value: null, timestamp: 1 }] }]);
    const runner = track(readingRunner(log, 'readings', latestSink(path, prefix), { batch: { maxRecords: 5, lingerMs: 1 } }));
    await runner.start();
    await runner.waitFor(new Map([[0, 8]]));
    // u2 again, in a later batch than its delete.
    await log.produce([{ topic: 'readings', partition: 0, records: [{ key: Buffer.from('u2'), value: Buffer.from(JSON.stringify({ user: 'u2', seq: 9 } satisfies Reading)), timestamp: 2 }] }]);
    await runner.waitFor(new Map([[0, 9]]));
    await runner.close();
    const rows = await readDuckDb<{ user_id: string; seq: bigint }>(path, `SELECT user_id, seq FROM ${prefix}_latest ORDER BY user_id`);
    assert.deepEqual(rows.map((r) => `${r.user_id}:${r.seq}`), ['u0:3', 'u2:9']);
  });
});

test('a batch written again (its commit landed, its answer was lost) writes nothing twice', async () => {
  await withEmbeddedLog(async (_log, _track, dir) => {
    const path = join(dir, 'warehouse.duckdb');
    const prefix = unique('retry');
    const sink = allSink(path, prefix);
    await sink.open({ topic: 'readings', partitions: [0] });
    const records = Array.from({ length: 10 }, (_, i) => ({ topic: 'readings', partition: 0, offset: i, key: 'u0', value: { user: 'u0', seq: i }, timestamp: i }));
    const batch: SinkBatch<string, Reading> = { topic: 'readings', sequence: 1, size: 10, parts: [{ partition: 0, fromOffset: 0, nextOffset: 10, records }] };
    await sink.write(batch);
    await sink.write(batch);
    await sink.write({ ...batch, sequence: 2, size: 15, parts: [{ partition: 0, fromOffset: 0, nextOffset: 15, records: [...records, ...records.slice(0, 5).map((r) => ({ ...r, offset: r.offset + 10 }))] }] });
    assert.deepEqual(await sink.storedPositions(), new Map([[0, 15]]));
    const [row] = await sink.query<{ n: bigint }>(`SELECT count(*) AS n FROM ${prefix}_all`);
    assert.equal(row!.n, 15n);
    await sink.close();
  });
});

test('two runners of one sink at once (a zombie and its replacement) write every record once: conflicts are retried, then skipped', async () => {
  await withEmbeddedLog(async (log, track, dir) => {
    const path = join(dir, 'warehouse.duckdb');
    const prefix = unique('zombie');
    await log.createTopic('readings', { partitions: PARTITIONS, cleanupPolicy: 'delete' });
    await produceReadings(log, 'readings', PARTITIONS, 0, 3000);
    const a = track(readingRunner(log, 'readings', allSink(path, prefix), { batch: { maxRecords: 50, lingerMs: 1 } }));
    const b = track(readingRunner(log, 'readings', allSink(path, prefix), { batch: { maxRecords: 70, lingerMs: 1 } }));
    await a.start();
    await b.start();
    const ends = await endOffsets(log, 'readings', PARTITIONS);
    await Promise.all([a.waitFor(ends), b.waitFor(ends)]);
    console.log(`zombie: ${a.status().counters.writeFailures + b.status().counters.writeFailures} conflicting writes retried`);
    await Promise.all([a.close(), b.close()]);
    const [c] = await readDuckDb<{ n: bigint; distinct: bigint }>(path, `SELECT count(*) AS n, count(DISTINCT (src_partition, src_offset)) AS distinct FROM ${prefix}_all`);
    assert.equal(c!.n, 3000n);
    assert.equal(c!.distinct, 3000n);
  });
});

test('a row the table refuses (a value out of range) stops the runner in FAILED with SINK_WRITE_FAILED; nothing of the batch lands', async () => {
  await withEmbeddedLog(async (log, track, dir) => {
    const path = join(dir, 'warehouse.duckdb');
    const prefix = unique('bad');
    await log.createTopic('readings', { partitions: 1, cleanupPolicy: 'delete' });
    await readDuckDb(path, `CREATE TABLE ${prefix}_all (src_partition integer, src_offset bigint, user_id text, seq smallint)`);
    await produceReadings(log, 'readings', 1, 0, 5);
    await produceReadings(log, 'readings', 1, 40_000, 1); // too large for smallint
    const runner = track(readingRunner(log, 'readings', allSink(path, prefix), { batch: { maxRecords: 100, lingerMs: 50 } }));
    await runner.start();
    await assert.rejects(runner.waitFor(new Map([[0, 6]]), 10_000), /FAILED/);
    const s = runner.status();
    assert.equal(s.state, 'FAILED');
    assert.equal(s.lastError?.code, 'SINK_WRITE_FAILED');
    assert.match(s.lastError!.message, /Conversion Error/);
    await runner.close();
    const [c] = await readDuckDb<{ n: bigint }>(path, `SELECT count(*) AS n FROM ${prefix}_all`);
    assert.equal(c!.n, 0n);
  });
});
