import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLog } from '../../../connectors/embedded/index.ts';
import { Serdes, StreamsApp, StreamsError, partitionForKey } from '../../../index.ts';
import { until } from './fixtures/waiting.ts';

const module = new URL('./fixtures/blocking-count.ts', import.meta.url);
const str = Serdes.string();
const num = Serdes.number();

async function produce(log: EmbeddedLog, sentences: string[], partition = 0): Promise<void> {
  await log.produce([{ topic: 'sentences', partition, records: sentences.map((s, i) => ({ key: Buffer.from(`k${i}`), value: Buffer.from(s), timestamp: 1000 + i })) }]);
}

/** The latest count per word in the output topic: what is committed (the log reads committed records only). */
async function committedCounts(log: EmbeddedLog): Promise<Map<string, number>> {
  const latest = new Map<string, number>();
  for (let p = 0; p < 2; p++) {
    for (let offset = 0; ; ) {
      const r = await log.fetch({ topic: 'word-counts', partition: p }, offset);
      for (const rec of r.records) latest.set(str.deserialize(rec.key!, ''), num.deserialize(rec.value!, ''));
      if (r.nextOffset >= r.endOffset) break;
      offset = r.nextOffset;
    }
  }
  return latest;
}

const countOf = async (app: StreamsApp, word: string) => {
  const r = await app.query('counts', partitionForKey(str.serialize(word, ''), 2), { type: 'key', key: word });
  return r.status === 404 ? 0 : (r.body as { value: number }).value;
};

async function withApp(run: (log: EmbeddedLog, dir: string, start: (threads?: number) => Promise<StreamsApp>) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-snapshots-'));
  const log = await EmbeddedLog.open({ dir: join(dir, 'log') });
  const apps: StreamsApp[] = [];
  process.env['BLOCKING_COUNT_DIR'] = dir;
  try {
    await log.createTopic('sentences', { partitions: 2, cleanupPolicy: 'delete' });
    await log.createTopic('word-counts', { partitions: 2, cleanupPolicy: 'delete' });
    await run(log, dir, async (threads = 2) => {
      const app = new StreamsApp({ module }, { applicationId: 'snap', log, threads, stateDir: join(dir, 'state'), querySnapshots: { stores: ['counts'] } });
      apps.push(app);
      await app.start();
      return app;
    });
  } finally {
    writeFileSync(join(dir, 'release'), '');
    for (const a of apps) await a.close();
    await log.close();
    delete process.env['BLOCKING_COUNT_DIR'];
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a key read after a commit sees the committed value (the output of that commit is visible first)', async () => {
  await withApp(async (log, _dir, start) => {
    const app = await start();
    for (let round = 1; round <= 5; round++) {
      await produce(log, ['cat dog', 'cat'], round % 2);
      // The count reached the output topic: its transaction committed, with the store's changes.
      await until(async () => (await committedCounts(log)).get('cat') === 2 * round, `round ${round} committed`);
      const committed = await committedCounts(log);
      assert.ok((await countOf(app, 'cat')) >= committed.get('cat')!, 'the read sees at least the commit');
      assert.equal(await countOf(app, 'dog'), committed.get('dog'));
    }
    assert.equal((await app.query('counts', 0, { type: 'key', key: 'never-seen' })).status, 404);
  });
});

test('key reads are answered while the stream thread is stuck in a batch; other queries wait for it', async () => {
  await withApp(async (log, dir, start) => {
    // One thread runs every task: while it is stuck, no thread could answer.
    const app = await start(1);
    await produce(log, ['cat cat dog']);
    await until(async () => (await committedCounts(log)).get('cat') === 2, 'first commit');
    await produce(log, ['cat block']);
    await until(() => existsSync(join(dir, 'blocked')), 'the thread to block');
    // The thread is stuck until `release` exists: these answers cannot come from it.
    assert.equal(await countOf(app, 'cat'), 2);
    assert.equal(await countOf(app, 'dog'), 1);
    assert.equal((await app.queryKey('counts', { type: 'key', key: 'nope' })).status, 404, 'a missing key, looked for on every partition');
    assert.equal(await app.get<number>('counts', 'dog'), 1);
    // A range query still goes to the stream thread: it is answered only after the batch.
    let rangeDone = false;
    const range = app.query('counts', partitionForKey(str.serialize('cat', ''), 2), { type: 'range' }).then((r) => {
      rangeDone = true;
      return r;
    });
    await countOf(app, 'cat');
    assert.equal(rangeDone, false, 'the range query waits for the stuck thread');
    writeFileSync(join(dir, 'release'), '');
    assert.equal((await range).status, 200);
    await until(async () => (await countOf(app, 'cat')) === 3, 'the released batch to be committed and published');
    assert.equal(await countOf(app, 'block'), 1);
  });
});

test('after a restart (restored from local state) and in memory (restored from the changelog), the snapshot holds the restored rows', async () => {
  await withApp(async (log, _dir, start) => {
    let app = await start();
    await produce(log, ['the cat', 'the dog']);
    await until(async () => (await countOf(app, 'the')) === 2, 'first counts');
    await app.close();
    await produce(log, ['the end'], 1);
    app = await start(1);
    await until(async () => (await countOf(app, 'end')) === 1, 'counts after restart');
    assert.equal(await countOf(app, 'the'), 3, 'restored count plus one');
    assert.equal(await countOf(app, 'cat'), 1);
    await app.close();
    const inMemory = new StreamsApp({ module }, { applicationId: 'snap', log, threads: 2, stateDir: false, querySnapshots: { stores: ['counts'] } });
    try {
      await inMemory.start();
      assert.equal(await countOf(inMemory, 'the'), 3);
      assert.equal(await countOf(inMemory, 'dog'), 1);
    } finally {
      await inMemory.close();
    }
  });
});

test('querySnapshots names key-value stores of the topology', async () => {
  await withApp(async (log) => {
    const app = new StreamsApp({ module }, { applicationId: 'snap-bad', log, querySnapshots: { stores: ['nope'] } });
    await assert.rejects(app.start(), (e: unknown) => e instanceof StreamsError && e.code === 'INVALID_ARGUMENT');
    assert.throws(() => new StreamsApp({ module }, { applicationId: 'snap-bad', log, querySnapshots: { stores: ['counts'], maxBytes: -1 } }), (e: unknown) => e instanceof StreamsError && e.code === 'INVALID_ARGUMENT');
  });
});
