/**
 * Crash test of the DuckDB sink: a child process (fixtures/sink-crash-child.ts) runs two sinks
 * over the same topic into one database file, an upsert table and an append table without any
 * key, with batches of 100, and is killed with SIGKILL at random moments (seeded), mostly while
 * transactions are in flight, a few before it reports RUNNING (while it opens the file and reads
 * its offsets). More input is appended between runs. A last run reads everything. Then the append
 * table must hold exactly one row per record (count and distinct (partition, offset) both equal
 * the input), the upsert table the latest reading per user, and the offsets table the end of the
 * log. DuckDB replays its write-ahead log at each open: a killed transaction leaves nothing.
 *
 *   TRIBUTARY_CRASH_SEED=<seed> node --test test/connectors/sinks/duckdb/duckdb-crash.test.ts   replays the kill delays of a failed run
 */
import { test } from 'node:test';
import { prng, startRun, type Run } from '../../../crash-harness.ts';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EmbeddedLog } from '../../../../connectors/embedded/index.ts';
import { endOffsets, produceReadings, unique, withEmbeddedLog } from '../readings.ts';
import { readDuckDb } from './fixtures/reading-sinks.ts';

const CHILD = fileURLToPath(new URL('./fixtures/sink-crash-child.ts', import.meta.url));
const PARTITIONS = 3;
const KILLS = 8;
const STARTUP_KILLS = 2;
const PER_RUN = 2000;

function runChild(dir: string, prefix: string, path: string): Run {
  return startRun(CHILD, [dir, prefix, String(PARTITIONS), path]);
}

const rowCount = async (path: string, prefix: string) =>
  existsSync(path) ? Number((await readDuckDb<{ n: bigint }>(path, `SELECT count(*) AS n FROM ${prefix}_all`).catch(() => [{ n: 0n }]))[0]!.n) : 0;

test('killed with SIGKILL mid-batch again and again, the DuckDB sink writes every record exactly once', { timeout: 120_000 }, async () => {
  const seed = Number(process.env.TRIBUTARY_CRASH_SEED ?? Date.now() % 1_000_000);
  console.log(`crash seed ${seed} (TRIBUTARY_CRASH_SEED=${seed} to replay)`);
  const random = prng(seed);
  await withEmbeddedLog(async (first, _track, dir) => {
    const prefix = unique('crash');
    const path = join(dir, 'warehouse.duckdb');
    await first.createTopic('readings', { partitions: PARTITIONS, cleanupPolicy: 'delete' });
    await first.close();
    let total = 0;
    const progress: number[] = [];
    let finishedEarly = 0;
    // A run that finishes its input before its kill (a fast, quiet machine) gets twice as much next time.
    let perRun = PER_RUN;
    const totals: number[] = [];
    for (let i = 0; i < KILLS; i++) {
      // The child owns the log and the database file while it runs: append the next input before it starts.
      const log = await EmbeddedLog.open({ dir: join(dir, 'log'), cleanIntervalMs: 0 });
      total = await produceReadings(log, 'readings', PARTITIONS, total, perRun);
      totals.push(total);
      await log.close();
      const run = runChild(dir, prefix, path);
      if (i < STARTUP_KILLS) {
        await new Promise((r) => setTimeout(r, 100 + random() * 300));
      } else {
        await Promise.race([run.running, run.done]);
        await new Promise((r) => setTimeout(r, 20 + random() * 300));
      }
      run.kill();
      const code = await run.done;
      progress.push(await rowCount(path, prefix));
      // A fast machine may finish a run's share before its kill lands: not wrong, but no crash.
      if (code === 0) {
        finishedEarly++;
        perRun = Math.min(perRun * 2, PER_RUN * 16);
      }
    }
    assert.ok(finishedEarly <= KILLS / 2, `${finishedEarly} of ${KILLS} runs finished before their kill; the kill delays are too long for this machine`);
    const last = runChild(dir, prefix, path);
    assert.equal(await last.done, 0, 'the last run reads everything and exits');
    console.log(`rows after each kill: ${progress.join(', ')} of ${total}`);
    assert.ok(progress.some((n, i) => n > 0 && n < totals[i]!), 'some kills landed while the sink was writing');

    const [all] = await readDuckDb<{ n: bigint; distinct: bigint }>(path, `SELECT count(*) AS n, count(DISTINCT (src_partition, src_offset)) AS distinct FROM ${prefix}_all`);
    assert.equal(Number(all!.n), total, 'nothing lost, nothing duplicated');
    assert.equal(Number(all!.distinct), total);
    const latest = await readDuckDb<{ user_id: string; seq: bigint }>(path, `SELECT user_id, seq FROM ${prefix}_latest`);
    assert.equal(latest.length, 20);
    for (const r of latest) assert.equal(Number(r.seq), total - 1 - ((total - 1 - Number(r.user_id.slice(1))) % 20), r.user_id);
    const log = await EmbeddedLog.open({ dir: join(dir, 'log'), cleanIntervalMs: 0 });
    const ends = await endOffsets(log, 'readings', PARTITIONS);
    await log.close();
    const offsets = await readDuckDb<{ sink: string; partition: number; next_offset: bigint }>(path, 'SELECT sink, partition, next_offset FROM tributary_sink_offsets');
    assert.equal(offsets.length, 2 * PARTITIONS);
    for (const o of offsets) assert.equal(Number(o.next_offset), ends.get(o.partition), `${o.sink} partition ${o.partition}`);
    console.log(`exact: ${total} rows in ${prefix}_all, ${latest.length} users in ${prefix}_latest, offsets at the end of the log`);
  });
});
