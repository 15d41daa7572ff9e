/**
 * Crash test of the lake sink on the embedded log: a child process (fixtures/lake-crash-child.ts)
 * moves a topic into the lake with small batches and small files, and is killed with SIGKILL at
 * random moments (seeded), a few before it reports RUNNING (while it opens and cleans up), the
 * rest while it writes. More input is appended between runs, with times over several hours and
 * some late records. A last run reads everything. The files read back with hyparquet must hold
 * every input record exactly once, in its hour's folder, and the marker the end of the log; and
 * the rows a reader sees after each kill never decrease.
 *
 *   TRIBUTARY_CRASH_SEED=<seed> node --test test/connectors/sinks/lake/lake-crash.test.ts   replays the kill delays of a failed run
 */
import { test } from 'node:test';
import { prng, startRun, type Run } from '../../../crash-harness.ts';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { EmbeddedLog } from '../../../../connectors/embedded/index.ts';
import { folderOf } from '../../../../connectors/sinks/lake/lake-layout.ts';
import { BASE, HOUR, allFiles, readRows, withDir } from './lake-support.ts';

const CHILD = fileURLToPath(new URL('./fixtures/lake-crash-child.ts', import.meta.url));
const PARTITIONS = 3;
const KILLS = 6;
const STARTUP_KILLS = 1;
const PER_RUN = 2400;

/** The time of reading `seq`: 400 a simulated hour, and every 50th one two hours late. */
const timeOf = (seq: number) => BASE + Math.floor(seq / 400) * HOUR + (seq % 50 === 49 ? -2 * HOUR : 0) + seq;

async function produce(dir: string, from: number, n: number): Promise<number> {
  const log = await EmbeddedLog.open({ dir: join(dir, 'log'), cleanIntervalMs: 0 });
  if (!(await log.topics()).has('readings')) await log.createTopic('readings', { partitions: PARTITIONS, cleanupPolicy: 'delete' });
  const byPartition = new Map<number, { key: Buffer; value: Buffer; timestamp: number }[]>();
  for (let seq = from; seq < from + n; seq++) {
    const user = `u${seq % 20}`;
    const p = seq % PARTITIONS;
    if (!byPartition.has(p)) byPartition.set(p, []);
    byPartition.get(p)!.push({ key: Buffer.from(user), value: Buffer.from(JSON.stringify({ user, seq })), timestamp: timeOf(seq) });
  }
  await log.produce([...byPartition].map(([partition, records]) => ({ topic: 'readings', partition, records })));
  await log.close();
  return from + n;
}

function runChild(dir: string): Run {
  return startRun(CHILD, [dir, String(PARTITIONS)]);
}

test('killed with SIGKILL again and again, the lake holds every record exactly once', { timeout: 120_000 }, async () => {
  const seed = Number(process.env.TRIBUTARY_CRASH_SEED ?? Date.now() % 1_000_000);
  console.log(`crash seed ${seed} (TRIBUTARY_CRASH_SEED=${seed} to replay)`);
  const random = prng(seed);
  await withDir(async (dir) => {
    const root = join(dir, 'lake', 'crash-lake');
    let total = 0;
    const progress: string[] = [];
    const seen: number[] = [];
    let landed = 0;
    // A run that finishes its input before its kill (a fast, quiet machine) gets twice as much next time.
    let perRun = PER_RUN;
    for (let i = 0; i < KILLS; i++) {
      total = await produce(dir, total, perRun);
      const run = runChild(dir);
      if (i < STARTUP_KILLS) {
        await new Promise((r) => setTimeout(r, 100 + random() * 300));
      } else {
        await Promise.race([run.running, run.done]);
        await new Promise((r) => setTimeout(r, 20 + random() * 250));
      }
      run.kill();
      const code = await run.done;
      if (code !== 0) landed++;
      else perRun = Math.min(perRun * 2, PER_RUN * 16); // it finished first: its kill proved nothing
      const files = allFiles(root);
      seen.push((await readRows(root)).length);
      progress.push(`${(await readRows(root)).length}/${total} rows, ${files.filter((f) => f.endsWith('.tmp')).length} temp files`);
    }
    const last = runChild(dir);
    assert.equal(await last.done, 0, 'the last run reads everything and exits');
    console.log(`after each kill: ${progress.join('; ')}`);
    // Readers see rows only grow: a file renamed before a crash is adopted, never deleted.
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! >= seen[i - 1]!, `rows seen after each kill: ${seen.join(', ')}`);
    assert.ok(landed >= KILLS / 2, `only ${landed} of ${KILLS} kills landed before the run finished; the kill delays are too long for this machine`);
    assert.ok(progress.some((p) => !p.startsWith('0/') && !p.startsWith(`${total}/`)), 'some kills landed while the sink was writing');

    const rows = await readRows(root);
    const got = rows.map((r) => `${(r.value as { seq: number }).seq} ${r.folder}`).sort();
    const want = Array.from({ length: total }, (_, seq) => `${seq} ${folderOf(timeOf(seq))}`).sort();
    assert.equal(rows.length, total, 'nothing lost, nothing duplicated');
    assert.deepEqual(got, want);
    assert.equal(new Set(rows.map((r) => `${r.src_partition}@${r.src_offset}`)).size, total);
    const marker = JSON.parse(readFileSync(join(root, '_tributary_offsets.json'), 'utf8'));
    assert.deepEqual(marker.positions, { 0: total / PARTITIONS, 1: total / PARTITIONS, 2: total / PARTITIONS });
    assert.deepEqual(allFiles(root).filter((f) => !f.endsWith('.parquet')), ['_tributary_offsets.json']);
  });
});
