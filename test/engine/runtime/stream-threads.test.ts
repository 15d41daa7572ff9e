import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLog } from '../../../connectors/embedded/index.ts';
import { StreamsApp } from '../../../index.ts';

const module = new URL('./fixtures/word-count.ts', import.meta.url);

test('queries and metrics requests in flight when the application closes are settled, never left pending', async () => {
  // A request posted to a stream thread that stops before reading it used to wait forever
  // (bench/stress-close.ts hung on such a query). Each round closes with a few hundred in flight.
  for (let round = 0; round < 5; round++) {
    const dir = mkdtempSync(join(tmpdir(), 'tributary-threads-'));
    const log = await EmbeddedLog.open({ dir: join(dir, 'log'), fsync: false });
    await log.createTopic('sentences', { partitions: 2, cleanupPolicy: 'delete' });
    await log.createTopic('word-counts', { partitions: 2, cleanupPolicy: 'delete' });
    const app = new StreamsApp({ module }, { applicationId: 'wc-close', log, threads: 2, stateDir: join(dir, 'state'), commitIntervalMs: 10 });
    try {
      await app.start();
      await log.produce([0, 1].map((p) => ({ topic: 'sentences', partition: p, records: Array.from({ length: 500 }, (_, i) => ({ key: Buffer.from(`s${i}`), value: Buffer.from(`w${i % 50} common`), timestamp: 1000 + i })) })));
      const requests: Promise<unknown>[] = [];
      // Refused (the store has no owner while closing) is a fine answer; no answer is not.
      const refusedOk = (p: Promise<unknown>) => p.catch(() => 'refused');
      let asking = true;
      const asker = (async () => {
        while (asking) {
          for (let i = 0; i < 20; i++) requests.push(refusedOk(app.get<number>('counts', `w${i}`)), refusedOk(app.metrics()));
          await new Promise(setImmediate);
        }
      })();
      await new Promise((r) => setTimeout(r, 20 + round * 30));
      await app.close();
      asking = false;
      await asker;
      const settled = await Promise.race([Promise.all(requests).then(() => 'settled'), new Promise((r) => setTimeout(() => r('pending'), 5000))]);
      assert.equal(settled, 'settled', `round ${round}: ${requests.length} requests, some never answered`);
    } finally {
      await app.close();
      await log.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('queries in flight to a stream thread that fails are settled (the thread is replaced, the requests are not forgotten)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-threads-'));
  process.env['BOOM_MARKER'] = join(dir, 'thrown');
  const log = await EmbeddedLog.open({ dir: join(dir, 'log'), fsync: false });
  await log.createTopic('sentences', { partitions: 2, cleanupPolicy: 'delete' });
  await log.createTopic('word-counts', { partitions: 2, cleanupPolicy: 'delete' });
  let replaced = 0;
  const app = new StreamsApp(
    { module: new URL('./fixtures/throw-once.ts', import.meta.url) },
    {
      applicationId: 'wc-fail',
      log,
      threads: 2,
      stateDir: join(dir, 'state'),
      uncaughtExceptionHandler: () => {
        replaced++;
        return 'REPLACE_THREAD';
      },
      onError: () => {},
    },
  );
  const warn = console.warn;
  try {
    console.warn = () => {};
    await app.start();
    const requests: Promise<unknown>[] = [];
    let asking = true;
    const asker = (async () => {
      while (asking) {
        for (let i = 0; i < 20; i++) requests.push(app.get<number>('counts', `w${i}`).catch(() => 'refused'));
        await new Promise(setImmediate);
      }
    })();
    await log.produce([0, 1].map((p) => ({ topic: 'sentences', partition: p, records: [{ key: Buffer.from(`s${p}`), value: Buffer.from(p === 0 ? 'boom w1' : 'w2'), timestamp: 1000 }] })));
    const deadline = Date.now() + 15_000;
    while (replaced === 0 || (await app.get<number>('counts', 'boom').catch(() => undefined)) !== 1) {
      assert.ok(Date.now() < deadline, 'the failed thread was replaced and processed the record again');
      await new Promise((r) => setTimeout(r, 20));
    }
    asking = false;
    await asker;
    const settled = await Promise.race([Promise.all(requests).then(() => 'settled'), new Promise((r) => setTimeout(() => r('pending'), 5000))]);
    assert.equal(settled, 'settled', `${requests.length} requests, some never answered`);
  } finally {
    console.warn = warn;
    await app.close();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
