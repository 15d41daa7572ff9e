import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLog } from '../../../connectors/embedded/index.ts';
import { Serdes, StreamsApp, type StreamsState } from '../../../index.ts';

const module = new URL('./fixtures/word-count.ts', import.meta.url);
const str = Serdes.string();
const num = Serdes.number();

async function produce(log: EmbeddedLog, sentences: string[]): Promise<void> {
  await log.produce(
    sentences.map((s, i) => ({ topic: 'sentences', partition: i % 2, records: [{ key: Buffer.from(`k${i}`), value: Buffer.from(s), timestamp: 1000 + i }] })),
  );
}

/** The latest count per word in the output topic (read-committed, all partitions). */
async function latestCounts(log: EmbeddedLog): Promise<Map<string, number>> {
  const latest = new Map<string, number>();
  for (let p = 0; p < 2; p++) {
    let offset = 0;
    for (;;) {
      const r = await log.fetch({ topic: 'word-counts', partition: p }, offset);
      for (const rec of r.records) latest.set(str.deserialize(rec.key!, ''), num.deserialize(rec.value!, ''));
      if (r.nextOffset >= r.endOffset) break;
      offset = r.nextOffset;
    }
  }
  return latest;
}

async function until(check: () => Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('StreamsApp runs word count in worker threads on the embedded log, serves queries, and resumes after a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-app-'));
  const log = await EmbeddedLog.open({ dir });
  const apps: StreamsApp[] = [];
  try {
    await log.createTopic('sentences', { partitions: 2, cleanupPolicy: 'delete' });
    await log.createTopic('word-counts', { partitions: 2, cleanupPolicy: 'delete' });
    await produce(log, ['the cat', 'the dog', 'a cat']);

    const states: StreamsState[] = [];
    let app = new StreamsApp({ module }, { applicationId: 'wc', log, cacheMaxBytes: 0, threads: 2, stateDir: join(dir, 'state') });
    apps.push(app);
    app.onStateChange((next) => states.push(next));
    await app.start();
    assert.equal(app.state, 'RUNNING');
    const expected = { the: 2, cat: 2, dog: 1, a: 1 };
    await until(async () => JSON.stringify(Object.fromEntries([...(await latestCounts(log))].sort())) === JSON.stringify(Object.fromEntries(Object.entries(expected).sort())), 'first counts');
    assert.deepEqual(Object.fromEntries(await latestCounts(log)), expected);

    // Interactive query: the partition of a key is the default partitioner's choice.
    const { partitionForKey } = await import('../../../index.ts');
    const partition = partitionForKey(str.serialize('cat', ''), 2);
    assert.deepEqual((await app.query('counts', partition, { type: 'key', key: 'cat' })).body, { key: 'cat', value: 2, timestamp: 1002 });
    assert.equal((await app.query('counts', partition, { type: 'key', key: 'nope' })).status, 404);
    assert.equal((await app.query('nope', 0, { type: 'key', key: 'x' })).status, 404);
    const metrics = await app.metrics();
    assert.equal(metrics.tasks.length, 4, 'two sub-topologies x two partitions');
    assert.equal(metrics.tasks.filter((t) => t.taskId.startsWith('0_')).reduce((n, t) => n + t.recordsIn, 0), 3);

    await app.close();
    assert.deepEqual(states, ['REBALANCING', 'RUNNING', 'PENDING_SHUTDOWN', 'NOT_RUNNING']);

    // A new instance resumes from the committed offsets and restores the counts from the changelog.
    await produce(log, ['the end']);
    app = new StreamsApp({ module }, { applicationId: 'wc', log, cacheMaxBytes: 0, threads: 1, stateDir: join(dir, 'state') });
    apps.push(app);
    await app.start();
    // The counts were on disk with the changelog position they reflect: nothing is replayed.
    assert.deepEqual((await app.metrics()).tasks.map((t) => t.restored), [0, 0, 0, 0]);
    await until(async () => (await latestCounts(log)).get('end') === 1, 'counts after restart');
    const counts = await latestCounts(log);
    assert.equal(counts.get('the'), 3, 'restored count plus one, not a recount');
    assert.equal(counts.get('cat'), 2);
    await app.close();

    // In memory only (stateDir: false), a start replays the whole changelog.
    app = new StreamsApp({ module }, { applicationId: 'wc', log, cacheMaxBytes: 0, threads: 1, stateDir: false });
    apps.push(app);
    await app.start();
    const replayed = (await app.metrics()).tasks.reduce((n, t) => n + t.restored, 0);
    // One changelog record per count update: the(3) + cat(2) + dog + a + end = 8.
    assert.equal(replayed, 8);
    await app.close();
  } finally {
    for (const a of apps) await a.close();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('StreamsApp refuses to start without its source topic, with a clear error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-app-'));
  const log = await EmbeddedLog.open({ dir });
  try {
    const app = new StreamsApp({ module }, { applicationId: 'wc', log, cacheMaxBytes: 0, threads: 1, stateDir: join(dir, 'state') });
    await assert.rejects(app.start(), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'UNKNOWN_TOPIC');
      assert.match(error.message, /sentences/);
      return true;
    });
    assert.equal(app.state, 'NOT_RUNNING');
  } finally {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('StreamsApp refuses to start when an internal topic exists with another partition count (topology drift)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-app-'));
  const log = await EmbeddedLog.open({ dir });
  const drifting = new URL('./fixtures/repartitioned.ts', import.meta.url);
  try {
    await log.createTopic('sentences', { partitions: 2, cleanupPolicy: 'delete' });
    await log.createTopic('word-counts', { partitions: 2, cleanupPolicy: 'delete' });
    const first = new StreamsApp({ module: drifting, export: 'twoPartitions' }, { applicationId: 'drift', log, cacheMaxBytes: 0, threads: 1, stateDir: join(dir, 'state') });
    await first.start();
    await first.close();
    assert.equal((await log.topics()).get('drift-by-word-repartition')?.partitions, 2);

    const second = new StreamsApp({ module: drifting, export: 'sixPartitions' }, { applicationId: 'drift', log, cacheMaxBytes: 0, threads: 1, stateDir: join(dir, 'state') });
    await assert.rejects(second.start(), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'TOPIC_CONFLICT');
      assert.match(error.message, /drift-by-word-repartition/);
      assert.match(error.message, /reset the application/);
      return true;
    });
    assert.equal(second.state, 'NOT_RUNNING');
    assert.equal((await log.topics()).get('drift-by-word-repartition')?.partitions, 2);
  } finally {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a store restored from a changelog the log cleaner compacted (holes, merged batches) holds the counts of an uninterrupted run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-app-'));
  // Small segments, so that the changelog's superseded records fill segments the cleaner rewrites.
  const log = await EmbeddedLog.open({ dir, segmentBytes: 8_192, cleanIntervalMs: 0 });
  const apps: StreamsApp[] = [];
  try {
    await log.createTopic('sentences', { partitions: 2, cleanupPolicy: 'delete' });
    await log.createTopic('word-counts', { partitions: 2, cleanupPolicy: 'delete' });
    const model = new Map<string, number>();
    const sentences: string[] = [];
    for (let i = 0; i < 600; i++) {
      const words = [`w${i % 7}`, `w${(i * 3) % 11}`];
      for (const w of words) model.set(w, (model.get(w) ?? 0) + 1);
      sentences.push(words.join(' '));
    }
    let app = new StreamsApp({ module }, { applicationId: 'wc', log, cacheMaxBytes: 0, threads: 1, stateDir: false, commitIntervalMs: 20 });
    apps.push(app);
    await app.start();
    for (let i = 0; i < sentences.length; i += 20) await produce(log, sentences.slice(i, i + 20));
    const settled = async () => [...model].every(([w, n]) => latest.get(w) === n);
    let latest = new Map<string, number>();
    await until(async () => ((latest = await latestCounts(log)), settled()), 'the counts');
    await app.close();
    const updates = 2 * sentences.length;
    let deleted = 0;
    for (let run = 0; run < 5; run++) deleted += await log.clean();
    assert.ok(deleted > 0, 'the cleaner deleted segments');
    const changelog = async () => {
      let n = 0;
      for (let p = 0; p < 2; p++) {
        let offset = 0;
        for (;;) {
          const r = await log.fetch({ topic: 'wc-counts-changelog', partition: p }, offset);
          n += r.records.length;
          if (r.nextOffset >= r.endOffset) break;
          offset = r.nextOffset;
        }
      }
      return n;
    };
    const left = await changelog();
    assert.ok(left < updates / 4, `${left} of ${updates} changelog records left`);
    // In memory only: the new instance restores every count from what the cleaner left.
    app = new StreamsApp({ module }, { applicationId: 'wc', log, cacheMaxBytes: 0, threads: 1, stateDir: false });
    apps.push(app);
    await app.start();
    assert.equal((await app.metrics()).tasks.reduce((n, t) => n + t.restored, 0), left);
    await produce(log, sentences.slice(0, 1));
    for (const w of sentences[0]!.split(' ')) model.set(w, model.get(w)! + 1);
    await until(async () => ((latest = await latestCounts(log)), settled()), 'the counts after a restore');
    await app.close();
  } finally {
    for (const a of apps) await a.close();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
