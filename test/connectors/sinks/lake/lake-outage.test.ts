/**
 * The lake's file system fails under a running SinkRunner (the hour folder cannot be created: a
 * file stands where it goes), then recovers: the runner pauses and retries without fetching
 * more, and once the folder can be made it catches up; every record lands once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EmbeddedLog } from '../../../../connectors/embedded/index.ts';
import { SinkRunner } from '../../../../connectors/sinks/index.ts';
import { ParquetLakeSink } from '../../../../connectors/sinks/lake/index.ts';
import { Serdes } from '../../../../engine/index.ts';
import { BASE, readRows, withDir, type Reading } from './lake-support.ts';

test('a failing file system pauses the runner; when it recovers the lake catches up, each record once', { timeout: 30_000 }, async () => {
  await withDir(async (dir) => {
    const log = await EmbeddedLog.open({ dir: join(dir, 'log'), cleanIntervalMs: 0 });
    await log.createTopic('readings', { partitions: 1, cleanupPolicy: 'delete' });
    const produce = (from: number, n: number) =>
      log.produce([{ topic: 'readings', partition: 0, records: Array.from({ length: n }, (_, i) => ({ key: Buffer.from('u'), value: Buffer.from(JSON.stringify({ user: 'u', seq: from + i })), timestamp: BASE + from + i })) }]);
    const sink = new ParquetLakeSink<string, Reading>({ name: 'outage', dir: join(dir, 'lake'), rollRecords: 50 });
    const runner = new SinkRunner({ log, topic: 'readings', sink, keySerde: Serdes.string(), valueSerde: Serdes.json<Reading>(), batch: { maxRecords: 50, lingerMs: 1 }, pollIntervalMs: 5, retry: { initialMs: 10, maxMs: 50 }, breaker: { failureThreshold: 3, open: { initialMs: 50, maxMs: 100 } } });
    try {
      await runner.start();
      const blocker = join(sink.root, 'date=2026-12-04', 'hour=05');
      mkdirSync(join(sink.root, 'date=2026-12-04'), { recursive: true });
      writeFileSync(blocker, 'in the way');
      await produce(0, 500);
      const deadline = Date.now() + 10_000;
      while (runner.status().counters.writeFailures < 3 && Date.now() < deadline) await sleep(10);
      const status = runner.status();
      assert.ok(status.counters.writeFailures >= 3, 'the writes fail');
      assert.ok(status.state === 'PAUSED' || status.breaker !== 'closed', `paused: ${status.state}, breaker ${status.breaker}`);
      assert.equal(status.lastError?.code, 'SINK_WRITE_FAILED');
      assert.ok(status.inFlight <= 50, 'fetches nothing more while the target fails');
      rmSync(blocker);
      await produce(500, 500);
      await runner.waitFor(new Map([[0, 1000]]), 20_000);
      assert.equal(runner.state, 'RUNNING');
    } finally {
      await runner.close();
      await log.close();
    }
    const seqs = (await readRows(sink.root)).map((r) => (r.value as Reading).seq).sort((a, b) => a - b);
    assert.deepEqual(seqs, Array.from({ length: 1000 }, (_, i) => i));
  });
});
