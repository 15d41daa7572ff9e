/**
 * Crash test of the PostgreSQL sink: a child process (fixtures/sink-crash-child.ts) runs two sinks
 * over the same topic, an upsert table and an append table without any key, with batches of 100,
 * and is killed with SIGKILL at random moments (seeded), mostly while transactions are in flight,
 * a few before it reports RUNNING (while it connects and reads its offsets). More input is
 * appended between runs. A last run reads everything. Then the append table must hold exactly one
 * row per record (count and distinct (partition, offset) both equal the input), the upsert table
 * the latest reading per user, and the offsets table the end of the log.
 *
 *   TRIBUTARY_CRASH_SEED=<seed> npm run test:sinks   replays the kill delays of a failed run
 */
import { test } from 'node:test';
import { prng, startRun, type Run } from '../../../crash-harness.ts';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EmbeddedLog } from '../../../../connectors/embedded/index.ts';
import { postgresLayout } from '../../../../scripts/postgres-server.ts';
import { endOffsets, produceReadings, query, unique, withEmbeddedLog } from './server.ts';

const CHILD = fileURLToPath(new URL('./fixtures/sink-crash-child.ts', import.meta.url));
const PARTITIONS = 3;
const KILLS = 8;
const STARTUP_KILLS = 2;
const PER_RUN = 3000;

function runChild(dir: string, prefix: string): Run {
  return startRun(CHILD, [dir, prefix, String(PARTITIONS)]);
}

/** Transactions the server saw die with their client (in the log of the server `npm run postgres:start` runs), or undefined without that log. */
function abortedTransactions(): number | undefined {
  const file = postgresLayout().logFile;
  return existsSync(file) ? readFileSync(file, 'utf8').split('unexpected EOF on client connection with an open transaction').length - 1 : undefined;
}

const rowCount = async (prefix: string) => Number((await query<{ n: string }>(`SELECT count(*) AS n FROM ${prefix}_all`).catch(() => [{ n: '0' }]))[0]!.n);

test('killed with SIGKILL mid-batch again and again, the sink writes every record exactly once', { timeout: 240_000 }, async () => {
  const seed = Number(process.env.TRIBUTARY_CRASH_SEED ?? Date.now() % 1_000_000);
  console.log(`crash seed ${seed} (TRIBUTARY_CRASH_SEED=${seed} to replay)`);
  const random = prng(seed);
  await withEmbeddedLog(async (first, _track, dir) => {
    const prefix = unique('crash');
    await first.createTopic('readings', { partitions: PARTITIONS, cleanupPolicy: 'delete' });
    await first.close();
    let total = 0;
    const abortedBefore = abortedTransactions();
    const progress: number[] = [];
    let finishedEarly = 0;
    // A run that finishes its input before its kill (a fast, quiet machine) gets twice as much next time.
    let perRun = PER_RUN;
    const totals: number[] = [];
    for (let i = 0; i < KILLS; i++) {
      // The child owns the log while it runs: append the next input before it starts.
      const log = await EmbeddedLog.open({ dir: join(dir, 'log'), cleanIntervalMs: 0 });
      total = await produceReadings(log, 'readings', PARTITIONS, total, perRun);
      totals.push(total);
      await log.close();
      const run = runChild(dir, prefix);
      if (i < STARTUP_KILLS) {
        await new Promise((r) => setTimeout(r, 150 + random() * 400));
      } else {
        await Promise.race([run.running, run.done]);
        await new Promise((r) => setTimeout(r, 30 + random() * 500));
      }
      run.kill();
      const code = await run.done;
      progress.push(await rowCount(prefix));
      // A fast machine may finish a run's share before its kill lands: that run proves nothing
      // about crashes, but is not wrong. Most kills must land (checked below and here).
      if (code === 0) {
        finishedEarly++;
        perRun = Math.min(perRun * 2, PER_RUN * 16);
      }
    }
    assert.ok(finishedEarly <= KILLS / 2, `${finishedEarly} of ${KILLS} runs finished before their kill; the kill delays are too long for this machine`);
    const last = runChild(dir, prefix);
    assert.equal(await last.done, 0, 'the last run reads everything and exits');
    console.log(`rows after each kill: ${progress.join(', ')} of ${total}`);
    assert.ok(progress.some((n, i) => n > 0 && n < totals[i]!), 'some kills landed while the sink was writing');
    const abortedAfter = abortedTransactions();
    if (abortedBefore !== undefined && abortedAfter !== undefined) {
      console.log(`transactions killed in flight (server log): ${abortedAfter - abortedBefore}`);
      assert.ok(abortedAfter > abortedBefore, 'some kills landed inside a transaction');
    }

    const [all] = await query<{ n: string; distinct: string }>(`SELECT count(*) AS n, count(DISTINCT (src_partition, src_offset)) AS distinct FROM ${prefix}_all`);
    assert.equal(Number(all!.n), total, 'nothing lost, nothing duplicated');
    assert.equal(Number(all!.distinct), total);
    const latest = await query<{ user_id: string; seq: string }>(`SELECT user_id, seq FROM ${prefix}_latest`);
    assert.equal(latest.length, 20);
    for (const r of latest) assert.equal(Number(r.seq), total - 1 - ((total - 1 - Number(r.user_id.slice(1))) % 20), r.user_id);
    const log = await EmbeddedLog.open({ dir: join(dir, 'log'), cleanIntervalMs: 0 });
    const ends = await endOffsets(log, 'readings', PARTITIONS);
    await log.close();
    const offsets = await query<{ sink: string; partition: number; next_offset: string }>('SELECT sink, partition, next_offset FROM tributary_sink_offsets WHERE sink LIKE $1', [`${prefix}-%`]);
    assert.equal(offsets.length, 2 * PARTITIONS);
    for (const o of offsets) assert.equal(Number(o.next_offset), ends.get(o.partition), `${o.sink} partition ${o.partition}`);
    console.log(`exact: ${all!.n} rows (${all!.distinct} distinct offsets) in ${prefix}_all for ${total} records, ${latest.length} users at their latest in ${prefix}_latest, offsets at the end of the log`);
  });
});
