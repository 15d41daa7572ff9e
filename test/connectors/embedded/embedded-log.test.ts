import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLog } from '../../../connectors/embedded/index.ts';
import { frame, frameCommit } from '../../../connectors/embedded/wal-format.ts';
import { type LogRecord } from '../../../engine/index.ts';
import { encodeBatch } from '../../../spi.ts';

const enc = (s: string) => Buffer.from(s);
const rec = (key: string | null, value: string | null, timestamp = 0): LogRecord => ({
  key: key === null ? null : enc(key),
  value: value === null ? null : enc(value),
  timestamp,
});
const text = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b).toString());

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'tributary-log-'));
}

async function readAll(log: EmbeddedLog, topic: string, partition = 0): Promise<[string | null, string | null, number][]> {
  const out: [string | null, string | null, number][] = [];
  let offset = 0;
  for (;;) {
    const { records, nextOffset, endOffset } = await log.fetch({ topic, partition }, offset, { maxRecords: 3 });
    for (const r of records) out.push([text(r.key), text(r.value), r.offset]);
    if (nextOffset >= endOffset) return out;
    offset = nextOffset;
  }
}

function segments(dir: string): string[] {
  return readdirSync(join(dir, 'wal')).sort();
}

describe('EmbeddedLog', () => {
  test('produces and fetches batches with offsets, and keeps them across a reopen', async () => {
    const dir = tempDir();
    let log = await EmbeddedLog.open({ dir });
    await log.createTopic('t', { partitions: 2, cleanupPolicy: 'delete' });
    assert.deepEqual(await log.produce([{ topic: 't', partition: 0, records: [rec('a', '1'), rec('b', '2')] }]), [0]);
    assert.deepEqual(
      await log.produce([
        { topic: 't', partition: 0, records: [rec('c', '3')] },
        { topic: 't', partition: 1, records: [rec('x', null, 7)] },
      ]),
      [2, 0],
    );
    await log.close();
    log = await EmbeddedLog.open({ dir });
    assert.deepEqual((await log.topics()).get('t'), { partitions: 2, cleanupPolicy: 'delete' });
    assert.deepEqual(await readAll(log, 't', 0), [
      ['a', '1', 0],
      ['b', '2', 1],
      ['c', '3', 2],
    ]);
    const p1 = await log.fetch({ topic: 't', partition: 1 }, 0);
    assert.deepEqual(p1.records.map((r) => [text(r.key), r.value, r.timestamp, r.offset]), [['x', null, 7, 0]]);
    assert.equal((await log.fetch({ topic: 't', partition: 0 }, 1, { maxRecords: 1 })).nextOffset, 2);
    await assert.rejects(log.fetch({ topic: 't', partition: 0 }, 4), { code: 'INVALID_OFFSET' });
    await assert.rejects(log.fetch({ topic: 'nope', partition: 0 }, 0), { code: 'UNKNOWN_TOPIC' });
    await assert.rejects(log.createTopic('t', { partitions: 3, cleanupPolicy: 'delete' }), { code: 'TOPIC_CONFLICT' });
    await log.close();
    rmSync(dir, { recursive: true });
  });

  test('a transaction publishes records and offsets together at commit, and nothing on abort', async () => {
    const dir = tempDir();
    const log = await EmbeddedLog.open({ dir });
    await log.createTopic('out', { partitions: 2, cleanupPolicy: 'delete' });
    const producer = await log.initTransactions('app-0_0');
    const tx = producer.begin();
    tx.produce([{ topic: 'out', partition: 0, records: [rec('k', 'v')] }]);
    tx.produce([{ topic: 'out', partition: 1, records: [rec('k2', 'v2')] }]);
    tx.sendOffsets('app', new Map([['in:0', 42]]));
    assert.equal(log.offsets({ topic: 'out', partition: 0 }).end, 0, 'nothing is visible before commit');
    await tx.commit();
    assert.equal(log.offsets({ topic: 'out', partition: 0 }).end, 1);
    assert.equal(log.offsets({ topic: 'out', partition: 1 }).end, 1);
    assert.deepEqual([...(await log.committedOffsets('app'))], [['in:0', 42]]);

    const aborted = producer.begin();
    aborted.produce([{ topic: 'out', partition: 0, records: [rec('gone', 'x')] }]);
    aborted.sendOffsets('app', new Map([['in:0', 99]]));
    await aborted.abort();
    assert.equal(log.offsets({ topic: 'out', partition: 0 }).end, 1);
    assert.deepEqual([...(await log.committedOffsets('app'))], [['in:0', 42]]);
    assert.throws(() => aborted.produce([]), { code: 'ILLEGAL_STATE' });
    await log.close();
    rmSync(dir, { recursive: true });
  });

  test('a second producer with the same transactional id fences the first', async () => {
    const dir = tempDir();
    let log = await EmbeddedLog.open({ dir });
    await log.createTopic('out', { partitions: 1, cleanupPolicy: 'delete' });
    const zombie = await log.initTransactions('app-0_0');
    const zombieTx = zombie.begin();
    zombieTx.produce([{ topic: 'out', partition: 0, records: [rec('z', 'zombie')] }]);
    const fresh = await log.initTransactions('app-0_0');
    await assert.rejects(zombieTx.commit(), { code: 'PRODUCER_FENCED' });
    const tx = fresh.begin();
    tx.produce([{ topic: 'out', partition: 0, records: [rec('f', 'fresh')] }]);
    await tx.commit();
    await log.close();
    // The fence survives a restart: the old epoch stays fenced.
    log = await EmbeddedLog.open({ dir });
    const again = await log.initTransactions('app-0_0');
    const tx2 = again.begin();
    tx2.produce([{ topic: 'out', partition: 0, records: [rec('g', 'again')] }]);
    await tx2.commit();
    assert.deepEqual(await readAll(log, 'out'), [
      ['f', 'fresh', 0],
      ['g', 'again', 1],
    ]);
    await log.close();
    rmSync(dir, { recursive: true });
  });

  test('a torn last entry is truncated on open and every acknowledged write survives', async () => {
    const dir = tempDir();
    let log = await EmbeddedLog.open({ dir });
    await log.createTopic('t', { partitions: 1, cleanupPolicy: 'delete' });
    await log.produce([{ topic: 't', partition: 0, records: [rec('a', '1')] }]);
    await log.commitOffsets('g', new Map([['t:0', 1]]));
    await log.close();
    const file = join(dir, 'wal', segments(dir)[0]!);
    const size = statSync(file).size;
    // A write cut short: half of an entry header and body.
    appendFileSync(file, Buffer.from([0, 0, 0, 40, 1, 2, 3, 4, 5, 6]));
    log = await EmbeddedLog.open({ dir });
    assert.equal(statSync(file).size, size);
    assert.deepEqual(await readAll(log, 't'), [['a', '1', 0]]);
    assert.deepEqual([...(await log.committedOffsets('g'))], [['t:0', 1]]);
    await log.produce([{ topic: 't', partition: 0, records: [rec('b', '2')] }]);
    await log.close();
    log = await EmbeddedLog.open({ dir });
    assert.deepEqual(await readAll(log, 't'), [
      ['a', '1', 0],
      ['b', '2', 1],
    ]);
    await log.close();
    // A last entry whose bytes are all there but damaged is torn too.
    const bytes = readFileSync(file);
    bytes[bytes.length - 3]! ^= 0xff;
    writeFileSync(file, bytes);
    log = await EmbeddedLog.open({ dir });
    assert.deepEqual(await readAll(log, 't'), [['a', '1', 0]]);
    await log.close();
    rmSync(dir, { recursive: true });
  });

  test('damage before the last entry refuses to open and names the file', async () => {
    const dir = tempDir();
    const log = await EmbeddedLog.open({ dir });
    await log.createTopic('t', { partitions: 1, cleanupPolicy: 'delete' });
    await log.produce([{ topic: 't', partition: 0, records: [rec('a', 'first')] }]);
    await log.produce([{ topic: 't', partition: 0, records: [rec('b', 'second')] }]);
    await log.close();
    const file = join(dir, 'wal', segments(dir)[0]!);
    const bytes = readFileSync(file);
    const at = bytes.indexOf(Buffer.from('first'));
    bytes[at]! ^= 0xff;
    writeFileSync(file, bytes);
    await assert.rejects(EmbeddedLog.open({ dir }), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'CORRUPT_DATA');
      assert.ok(error.message.includes(file), error.message);
      return true;
    });
    rmSync(dir, { recursive: true });
  });

  test('segments roll, retention removes expired segments, and a reopen starts from the checkpoint', async () => {
    const dir = tempDir();
    let now = 1_000_000;
    let log = await EmbeddedLog.open({ dir, segmentBytes: 300, clock: () => now });
    await log.createTopic('events', { partitions: 1, cleanupPolicy: 'delete', retentionMs: 1000 });
    for (let i = 0; i < 20; i++) {
      await log.produce([{ topic: 'events', partition: 0, records: [rec(`k${i}`, 'x'.repeat(40), now - 5000 + i * 500)] }]);
    }
    await log.commitOffsets('g', new Map([['events:0', 20]]));
    const before = segments(dir).length;
    assert.ok(before > 3, `rolled into ${before} segments`);
    const deleted = await log.clean();
    assert.ok(deleted > 0, 'expired segments are deleted');
    const start = log.offsets({ topic: 'events', partition: 0 }).start;
    // Records with timestamps older than now - 1000 are gone: i * 500 - 5000 < -1000 -> i < 8.
    assert.equal(start, 8);
    const kept = await readAll(log, 'events');
    assert.deepEqual(kept.map((r) => r[2]), [8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    await log.close();
    log = await EmbeddedLog.open({ dir, segmentBytes: 300, clock: () => now });
    assert.deepEqual((await readAll(log, 'events')).map((r) => r[2]), kept.map((r) => r[2]));
    assert.equal(log.offsets({ topic: 'events', partition: 0 }).end, 20);
    assert.deepEqual([...(await log.committedOffsets('g'))], [['events:0', 20]]);
    now += 1;
    await log.close();
    rmSync(dir, { recursive: true });
  });

  test('compaction deletes segments whose keys all have later records', async () => {
    const dir = tempDir();
    let log = await EmbeddedLog.open({ dir, segmentBytes: 200 });
    await log.createTopic('changelog', { partitions: 1, cleanupPolicy: 'compact' });
    for (let round = 0; round < 10; round++) {
      await log.produce([{ topic: 'changelog', partition: 0, records: [rec('a', `a${round}`), rec('b', `b${round}`)] }]);
    }
    await log.produce([{ topic: 'changelog', partition: 0, records: [rec('c', 'c0')] }]);
    const deleted = await log.clean();
    assert.ok(deleted > 0);
    const latest = new Map<string, string>();
    for (const [k, v] of await readAll(log, 'changelog')) latest.set(k!, v!);
    assert.deepEqual(Object.fromEntries(latest), { a: 'a9', b: 'b9', c: 'c0' });
    await log.close();
    log = await EmbeddedLog.open({ dir, segmentBytes: 200 });
    const again = new Map<string, string>();
    for (const [k, v] of await readAll(log, 'changelog')) again.set(k!, v!);
    assert.deepEqual(Object.fromEntries(again), { a: 'a9', b: 'b9', c: 'c0' });
    await log.close();
    rmSync(dir, { recursive: true });
  });

  test('dead batches of a compacted topic leave the index even while their segment stays', async () => {
    const dir = tempDir();
    const log = await EmbeddedLog.open({ dir, cleanIntervalMs: 0 });
    await log.createTopic('changelog', { partitions: 1, cleanupPolicy: 'compact' });
    for (let round = 0; round < 10; round++) {
      await log.produce([{ topic: 'changelog', partition: 0, records: [rec('a', `a${round}`), rec('b', `b${round}`)] }]);
    }
    await log.produce([{ topic: 'changelog', partition: 0, records: [rec('c', 'c0')] }]);
    assert.equal(log.stats().indexedBatches, 11);
    assert.equal(await log.clean(), 0, 'one segment, still being written');
    // Readers get the latest record of each key, and the index holds two batches, not eleven.
    assert.equal(log.stats().indexedBatches, 2);
    assert.deepEqual((await readAll(log, 'changelog')).map(([k, v]) => `${k}=${v}`), ['a=a9', 'b=b9', 'c=c0']);
    await log.close();
    rmSync(dir, { recursive: true });
  });

  test('the cleaner copies the live records of mostly dead segments forward, so a topic kept forever does not keep superseded changelog records beside it', async () => {
    // The soak run's case: every segment holds a few events of a topic without retention, and many
    // superseded records of a changelog rewritten on every commit.
    const dir = tempDir();
    const options = { dir, segmentBytes: 4_096, cleanIntervalMs: 0 };
    let log = await EmbeddedLog.open(options);
    await log.createTopic('events', { partitions: 1, cleanupPolicy: 'delete' });
    await log.createTopic('changelog', { partitions: 1, cleanupPolicy: 'compact' });
    const value = (round: number, i: number) => `${round}-${i}-`.padEnd(100, 'x');
    const rounds = 300;
    for (let round = 0; round < rounds; round++) {
      await log.produce([
        { topic: 'events', partition: 0, records: [rec(null, `e${round}`)] },
        { topic: 'changelog', partition: 0, records: Array.from({ length: 10 }, (_, i) => rec(`k${i}`, value(round, i))) },
      ]);
      if (round % 20 === 19) await log.clean();
    }
    await log.clean();
    // ~400 KB were written; what is live is 300 small events and the 10 latest values (~1 KB each way).
    const { bytes, segments: files, indexedBatches } = log.stats();
    assert.ok(bytes < 4 * 4_096, `the log holds ${bytes} bytes in ${files} segments`);
    // The events' batches (one per commit) were merged as they moved: the index keeps fewer.
    assert.ok(indexedBatches < rounds / 4, `${indexedBatches} batches indexed`);
    const check = async () => {
      assert.deepEqual((await readAll(log, 'events')).map(([, v]) => v), Array.from({ length: rounds }, (_, r) => `e${r}`));
      const table = await readAll(log, 'changelog');
      // Each key's latest record, at the offset it was written at.
      assert.deepEqual(
        table.filter(([, , offset]) => offset >= (rounds - 1) * 10),
        Array.from({ length: 10 }, (_, i) => [`k${i}`, value(rounds - 1, i), (rounds - 1) * 10 + i]),
      );
      assert.ok(table.length < 10 * 3, `${table.length} changelog records left`);
      assert.equal(log.offsets({ topic: 'changelog', partition: 0 }).end, rounds * 10);
    };
    await check();
    await log.close();
    log = await EmbeddedLog.open(options);
    await check();
    await log.close();
    rmSync(dir, { recursive: true });
  });

  test("a topic kept forever: the cleaner merges its small batches (one per commit) so that the index does not keep each of them; records and offsets unchanged", async () => {
    const dir = tempDir();
    const options = { dir, segmentBytes: 16_384, cleanIntervalMs: 0 };
    let log = await EmbeddedLog.open(options);
    await log.createTopic('events', { partitions: 2, cleanupPolicy: 'delete' });
    const commits = 400;
    // Records large enough that every segment is mostly live: only the merging moves them.
    const value = (i: number) => `e${i}-`.padEnd(300, '.');
    for (let i = 0; i < commits; i++) await log.produce([{ topic: 'events', partition: i % 2, records: [rec(`k${i}`, value(i), i)] }]);
    assert.equal(log.stats().indexedBatches, commits);
    const written = log.stats().bytes;
    // Each run copies about two segments' worth at most.
    for (let run = 0; run < 10; run++) await log.clean();
    const { indexedBatches, bytes } = log.stats();
    assert.ok(indexedBatches < commits / 5, `${indexedBatches} batches indexed`);
    assert.ok(bytes < 2.5 * written, `${bytes} bytes on disk, ${written} written`);
    const check = async () => {
      for (const partition of [0, 1]) {
        const want = Array.from({ length: commits / 2 }, (_, j) => {
          const i = 2 * j + partition;
          return [`k${i}`, value(i), j] as [string, string, number];
        });
        assert.deepEqual(await readAll(log, 'events', partition), want);
      }
    };
    await check();
    await log.close();
    log = await EmbeddedLog.open(options);
    await check();
    assert.equal(log.stats().indexedBatches, indexedBatches);
    await log.close();
    rmSync(dir, { recursive: true });
  });

  test('a compact,delete topic expires by its newest record and forgets the keys retention expired (its index does not grow with every key it ever had)', async () => {
    // A windowed changelog: every key is written once, then expires with its window.
    const dir = tempDir();
    let now = 0;
    const options = { dir, segmentBytes: 2_000, cleanIntervalMs: 0, clock: () => now };
    let log = await EmbeddedLog.open(options);
    await log.createTopic('windows', { partitions: 1, cleanupPolicy: 'compact,delete', retentionMs: 1_000 });
    for (let round = 0; round < 20; round++) {
      now = round * 500;
      const records = Array.from({ length: 10 }, (_, i) => rec(`w${round}-${i}`, 'n', now));
      await log.produce([{ topic: 'windows', partition: 0, records }]);
      await log.clean();
    }
    // Batches of rounds 17-19 (timestamps >= now - retention) are kept, with their 30 keys.
    assert.equal(log.offsets({ topic: 'windows', partition: 0 }).start, 170);
    assert.equal(log.stats().indexedKeys, 30);
    assert.deepEqual((await readAll(log, 'windows')).length, 30);
    // A backfill: records a year old. A delete topic expires them by the clock (as Kafka does); a
    // compact,delete topic (a window store's changelog) by its newest record, as its store does.
    now = 365 * 86_400_000;
    await log.createTopic('old-events', { partitions: 1, cleanupPolicy: 'delete', retentionMs: 1_000 });
    await log.createTopic('old-windows', { partitions: 1, cleanupPolicy: 'compact,delete', retentionMs: 1_000 });
    for (let round = 0; round < 4; round++) {
      const records = [rec(`k${round}`, 'v', round * 1_000)];
      await log.produce([{ topic: 'old-events', partition: 0, records }, { topic: 'old-windows', partition: 0, records }]);
    }
    await log.clean();
    assert.equal(log.offsets({ topic: 'old-events', partition: 0 }).start, 4);
    assert.equal(log.offsets({ topic: 'old-windows', partition: 0 }).start, 2, 'kept: the records within 1 s of the newest (3000)');
    assert.equal(log.stats().indexedKeys, 30 + 2);
    await log.close();
    // Reopened, the batches replayed from segments still on disk are indexed again until retention
    // expires them again (the start moved by retention is written with the next checkpoint).
    log = await EmbeddedLog.open(options);
    await log.clean();
    assert.equal(log.offsets({ topic: 'windows', partition: 0 }).start, 170);
    assert.equal(log.offsets({ topic: 'old-windows', partition: 0 }).start, 2);
    assert.equal(log.stats().indexedKeys, 30 + 2);
    await log.close();
    rmSync(dir, { recursive: true });
  });
});

test('writes issued in one tick share one group commit and keep their order', async () => {
  const dir = tempDir();
  const log = await EmbeddedLog.open({ dir });
  await log.createTopic('t', { partitions: 1, cleanupPolicy: 'delete' });
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) => log.produce([{ topic: 't', partition: 0, records: [rec(String(i), String(i))] }])),
  );
  assert.deepEqual(results.map((r) => r[0]), Array.from({ length: 50 }, (_, i) => i));
  assert.deepEqual((await readAll(log, 't')).map((r) => r[0]), Array.from({ length: 50 }, (_, i) => String(i)));
  await log.close();
  rmSync(dir, { recursive: true });
});

test('deleteRecords moves the start offset durably; readers from an earlier offset start there', async () => {
  const dir = tempDir();
  let log = await EmbeddedLog.open({ dir, cleanIntervalMs: 0 });
  await log.createTopic('rep', { partitions: 1, cleanupPolicy: 'delete' });
  for (let i = 0; i < 5; i++) await log.produce([{ topic: 'rep', partition: 0, records: [rec(null, String(i))] }]);
  await log.deleteRecords({ topic: 'rep', partition: 0 }, 3);
  const r = await log.fetch({ topic: 'rep', partition: 0 }, 0);
  assert.deepEqual([r.startOffset, r.records.map((x) => x.offset)], [3, [3, 4]]);
  await assert.rejects(log.deleteRecords({ topic: 'rep', partition: 0 }, 9), { code: 'INVALID_OFFSET' });
  await log.close();
  log = await EmbeddedLog.open({ dir, cleanIntervalMs: 0 });
  assert.equal(log.offsets({ topic: 'rep', partition: 0 }).start, 3);
  await log.close();
  rmSync(dir, { recursive: true });
});

test('a torn entry right after a segment roll is not claimed by the checkpoint that starts the segment', async () => {
  // Each transaction is large enough to roll a segment; the roll's checkpoint must describe the log
  // without the entry that follows it, or a torn entry would leave a hole and a lost input offset.
  const dir = tempDir();
  let log = await EmbeddedLog.open({ dir, segmentBytes: 256, cleanIntervalMs: 0 });
  await log.createTopic('out', { partitions: 1, cleanupPolicy: 'delete' });
  const producer = await log.initTransactions('p');
  for (let i = 1; i <= 6; i++) {
    const tx = producer.begin();
    tx.produce([{ topic: 'out', partition: 0, records: [rec(`k${i}`, 'x'.repeat(100))] }]);
    tx.sendOffsets('g', new Map([['in:0', i]]));
    await tx.commit();
  }
  await log.close();
  const newest = join(dir, 'wal', segments(dir).at(-1)!);
  const { truncateSync } = await import('node:fs');
  truncateSync(newest, statSync(newest).size - 10);
  log = await EmbeddedLog.open({ dir, segmentBytes: 256, cleanIntervalMs: 0 });
  const readable = await readAll(log, 'out');
  assert.equal(readable.length, 5);
  assert.equal(log.offsets({ topic: 'out', partition: 0 }).end, 5, 'no hole: the end is the last readable record');
  assert.equal((await log.committedOffsets('g')).get('in:0'), 5, 'the offset of the torn transaction is not committed');
  assert.deepEqual(await log.produce([{ topic: 'out', partition: 0, records: [rec('next', 'v')] }]), [5]);
  await log.close();
  rmSync(dir, { recursive: true });
});

test('offset metadata survives a reopen and a segment roll whose older segments are deleted (it lives on in the checkpoint)', async () => {
  const dir = tempDir();
  const options = { dir, segmentBytes: 300, cleanIntervalMs: 0 };
  let log = await EmbeddedLog.open(options);
  await log.createTopic('in', { partitions: 3, cleanupPolicy: 'delete' });
  const producer = await log.initTransactions('p');
  const tx = producer.begin();
  tx.sendOffsets(
    'g',
    new Map([
      ['in:0', 1],
      ['in:1', 1],
    ]),
    { metadata: new Map([['in:0', 'tx-0'], ['in:1', 'tx-1']]) },
  );
  await tx.commit();
  await log.commitOffsets('g', new Map([['in:2', 2]]), new Map([['in:2', 'plain-2']]));
  // Cleared before the roll: it must stay cleared after it.
  await log.commitOffsets('g', new Map([['in:1', 2]]));
  await log.commitOffsets('other', new Map([['in:0', 7]]), new Map([['in:0', 'other-0']]));
  const expected = { g: { 'in:0': 'tx-0', 'in:2': 'plain-2' }, other: { 'in:0': 'other-0' } };
  const metadataOf = async (l: EmbeddedLog) => ({
    g: Object.fromEntries(await l.committedMetadata('g')),
    other: Object.fromEntries(await l.committedMetadata('other')),
  });
  assert.deepEqual(await metadataOf(log), expected);
  await log.close();
  log = await EmbeddedLog.open(options);
  assert.deepEqual(await metadataOf(log), expected, 'after a reopen');

  // Roll segments with records, drop them all, and delete every segment but the newest.
  const first = segments(dir)[0];
  for (let i = 0; i < 10; i++) await log.produce([{ topic: 'in', partition: 0, records: [rec(`k${i}`, 'x'.repeat(60))] }]);
  await log.deleteRecords({ topic: 'in', partition: 0 }, 10);
  assert.ok((await log.clean()) > 0, 'older segments are deleted');
  assert.notEqual(segments(dir)[0], first, 'the segment with the commits is gone');
  assert.deepEqual(await metadataOf(log), expected, 'after the roll');
  await log.close();
  log = await EmbeddedLog.open(options);
  assert.deepEqual(await metadataOf(log), expected, 'reopened from the checkpoint');
  assert.deepEqual(Object.fromEntries(await log.committedOffsets('g')), { 'in:0': 1, 'in:1': 2, 'in:2': 2 });
  await log.close();
  rmSync(dir, { recursive: true });
});

test('a data directory written before offset metadata (commits and checkpoints without it) still opens, with no metadata', async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'wal'));
  const config = { partitions: 1, cleanupPolicy: 'delete' } as const;
  // What the log wrote before: a checkpoint and commits with offsets only.
  const checkpoint = frame({ kind: 'checkpoint', topics: [{ name: 'in', config, starts: [0], ends: [1] }], producers: { p: 1 }, offsets: { g: [['in:0', 1]] } });
  const blob = encodeBatch('in', 0, [rec('k', 'v')]).blob;
  const commit = frameCommit([{ topic: 'in', partition: 0, baseOffset: 1, count: 1, maxTimestamp: 0 }], [blob], {
    offsets: { g: [['in:0', 2]], h: [['in:0', 5]] },
    producer: { id: 'p', epoch: 1 },
  }).buffer;
  writeFileSync(join(dir, 'wal', '00000000000000000001.seg'), Buffer.concat([checkpoint, commit]));
  let log = await EmbeddedLog.open({ dir, cleanIntervalMs: 0 });
  assert.deepEqual(Object.fromEntries(await log.committedOffsets('g')), { 'in:0': 2 });
  assert.deepEqual(Object.fromEntries(await log.committedOffsets('h')), { 'in:0': 5 });
  assert.deepEqual([...(await log.committedMetadata('g'))], []);
  assert.equal(log.offsets({ topic: 'in', partition: 0 }).end, 2);
  await log.commitOffsets('g', new Map([['in:0', 3]]), new Map([['in:0', 'new']]));
  await log.close();
  log = await EmbeddedLog.open({ dir, cleanIntervalMs: 0 });
  assert.deepEqual(Object.fromEntries(await log.committedMetadata('g')), { 'in:0': 'new' });
  assert.deepEqual(Object.fromEntries(await log.committedOffsets('h')), { 'in:0': 5 });
  await log.close();
  rmSync(dir, { recursive: true });
});
