/**
 * The PostgreSQL sink against the real server (`npm run test:sinks` starts it): rows and offsets
 * land together, a new runner resumes from the offsets table (not from the log's copy), tombstones
 * delete, and two runners of one sink at once (a zombie) write every record once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connection, endOffsets, produceReadings, query, unique, withEmbeddedLog } from './server.ts';
import { allSink, latestSink, readingRunner } from './fixtures/reading-sinks.ts';

const PARTITIONS = 3;

async function countAll(prefix: string) {
  const [all] = await query<{ n: string; distinct: string }>(`SELECT count(*) AS n, count(DISTINCT (src_partition, src_offset)) AS distinct FROM ${prefix}_all`);
  return { all: Number(all!.n), distinct: Number(all!.distinct) };
}

async function latestOf(prefix: string) {
  const latest = await query<{ user_id: string; seq: string }>(`SELECT user_id, seq FROM ${prefix}_latest ORDER BY user_id`);
  return new Map(latest.map((r) => [r.user_id, Number(r.seq)]));
}

const counts = async (prefix: string) => ({ ...(await countAll(prefix)), latest: await latestOf(prefix) });

/** The latest seq per user after readings 0..n-1 of `users` users. */
const expectedLatest = (n: number, users = 20) => new Map(Array.from({ length: Math.min(n, users) }, (_, u) => [`u${u}`, n - 1 - ((n - 1 - u) % users)]));

test('rows and offsets land in one transaction; a new runner resumes from the offsets table, not from the log', async () => {
  await withEmbeddedLog(async (log, track) => {
    const prefix = unique('land');
    await log.createTopic('readings', { partitions: PARTITIONS, cleanupPolicy: 'delete' });
    let next = await produceReadings(log, 'readings', PARTITIONS, 0, 500);
    const latest = track(readingRunner(log, 'readings', latestSink(connection, prefix)));
    const all = track(readingRunner(log, 'readings', allSink(connection, prefix)));
    await Promise.all([latest.start(), all.start()]);
    assert.equal(latest.status().guarantee, 'exactly-once');
    let ends = await endOffsets(log, 'readings', PARTITIONS);
    await Promise.all([latest.waitFor(ends), all.waitFor(ends)]);
    await Promise.all([latest.close(), all.close()]);

    let c = await counts(prefix);
    assert.equal(c.all, 500);
    assert.equal(c.distinct, 500);
    assert.deepEqual(c.latest, expectedLatest(500));
    const offsets = await query<{ sink: string; partition: number; next_offset: string }>(
      'SELECT sink, partition, next_offset FROM tributary_sink_offsets WHERE sink IN ($1, $2) ORDER BY sink, partition',
      [`${prefix}-all`, `${prefix}-latest`],
    );
    assert.deepEqual(
      offsets.map((o) => `${o.sink}:${o.partition}:${o.next_offset}`),
      [...[`${prefix}-all`, `${prefix}-latest`].flatMap((s) => [...ends].map(([p, e]) => `${s}:${p}:${e}`))],
    );
    const [row] = await query<{ payload: unknown; updated_at: Date }>(`SELECT payload, updated_at FROM ${prefix}_latest WHERE user_id = 'u7'`);
    assert.deepEqual(row!.payload, { user: 'u7', seq: 487 });
    assert.equal(row!.updated_at.getTime(), 1_700_000_000_000 + 487);

    // The log's copy of the positions is rewound; the runners still resume from the table.
    for (const sink of [`${prefix}-all`, `${prefix}-latest`]) await log.commitOffsets(`sink-${sink}`, new Map([...ends].map(([p]) => [`readings:${p}`, 0])));
    next = await produceReadings(log, 'readings', PARTITIONS, next, 70);
    const latest2 = track(readingRunner(log, 'readings', latestSink(connection, prefix)));
    const all2 = track(readingRunner(log, 'readings', allSink(connection, prefix)));
    await Promise.all([latest2.start(), all2.start()]);
    ends = await endOffsets(log, 'readings', PARTITIONS);
    await Promise.all([latest2.waitFor(ends), all2.waitFor(ends)]);
    assert.equal(all2.status().counters.recordsWritten, 70, 'only the new records were read');
    await Promise.all([latest2.close(), all2.close()]);
    c = await counts(prefix);
    assert.equal(c.all, next);
    assert.equal(c.distinct, next);
    assert.deepEqual(c.latest, expectedLatest(next));
  });
});

test('a tombstone deletes the row of its key', async () => {
  await withEmbeddedLog(async (log, track) => {
    const prefix = unique('tomb');
    await log.createTopic('readings', { partitions: 1, cleanupPolicy: 'compact' });
    await produceReadings(log, 'readings', 1, 0, 6, 3);
    await log.produce([{ topic: 'readings', partition: 0, records: [{ key: Buffer.from('u1'), value: null, timestamp: 1 }] }]);
    const runner = track(readingRunner(log, 'readings', latestSink(connection, prefix)));
    await runner.start();
    await runner.waitFor(new Map([[0, 7]]));
    await runner.close();
    assert.deepEqual(await latestOf(prefix), new Map([['u0', 3], ['u2', 5]]));
  });
});

test('two runners of one sink at once (a zombie and its replacement) write every record once: the offsets row lock orders them', async () => {
  await withEmbeddedLog(async (log, track) => {
    const prefix = unique('zombie');
    await log.createTopic('readings', { partitions: PARTITIONS, cleanupPolicy: 'delete' });
    await produceReadings(log, 'readings', PARTITIONS, 0, 3000);
    const a = track(readingRunner(log, 'readings', allSink(connection, prefix), { batch: { maxRecords: 50, lingerMs: 1 } }));
    const b = track(readingRunner(log, 'readings', allSink(connection, prefix), { batch: { maxRecords: 70, lingerMs: 1 } }));
    await a.start();
    await b.start();
    const ends = await endOffsets(log, 'readings', PARTITIONS);
    await Promise.all([a.waitFor(ends), b.waitFor(ends)]);
    await Promise.all([a.close(), b.close()]);
    const c = await countAll(prefix);
    assert.equal(c.all, 3000);
    assert.equal(c.distinct, 3000);
  });
});

test('a row the table refuses (a value out of range) stops the runner in FAILED with SINK_WRITE_FAILED; nothing of the batch lands', async () => {
  await withEmbeddedLog(async (log, track) => {
    const prefix = unique('bad');
    await log.createTopic('readings', { partitions: 1, cleanupPolicy: 'delete' });
    await query(`CREATE TABLE ${prefix}_all (src_partition integer, src_offset bigint, user_id text, seq smallint)`);
    await produceReadings(log, 'readings', 1, 0, 5);
    await produceReadings(log, 'readings', 1, 40_000, 1); // too large for smallint
    const runner = track(readingRunner(log, 'readings', allSink(connection, prefix), { batch: { maxRecords: 100, lingerMs: 50 } }));
    await runner.start();
    await assert.rejects(runner.waitFor(new Map([[0, 6]]), 10_000), /FAILED/);
    const s = runner.status();
    assert.equal(s.state, 'FAILED');
    assert.equal(s.lastError?.code, 'SINK_WRITE_FAILED');
    assert.match(s.lastError!.message, /22003/);
    await runner.close();
    assert.equal((await countAll(prefix)).all, 0);
  });
});
