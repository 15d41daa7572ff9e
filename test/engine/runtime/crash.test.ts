/**
 * Crash test of the runtime (exactly-once on the embedded log): a child process runs the crash
 * topology (fixtures/crash-topology.ts: re-key through a repartition topic, then an aggregate and
 * a count, both with changelogs) under load, and is killed with SIGKILL at random moments, some
 * of them before it reports RUNNING (while it opens the log, starts its threads and restores its
 * stores). More input is appended between runs so each run has work in flight when it dies. A
 * last run consumes everything; then the output topics, the changelogs and the stores (as the
 * final run restored them) must equal a reference computed here from the input: for every group,
 * the updates carry counts exactly 1..n, no duplicate and no gap.
 *
 * The kill moments come from a seeded PRNG; the seed is printed. To replay a failure:
 *   TRIBUTARY_CRASH_SEED=<seed> node --test test/engine/runtime/crash.test.ts
 * (the seed fixes the kill delays and the user of each input record; how much input is appended
 * and where in the child's work each kill lands still depend on timing).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EmbeddedLog } from '../../../connectors/embedded/index.ts';
import { Serdes, partitionForKey } from '../../../index.ts';
import { partitionKey } from '../../../spi.ts';
import { APPLICATION_ID, COUNTS, INPUT, OUTPUT, USERS, userOf } from './fixtures/crash-topology.ts';
import { checkAgainstReference, describeChild, finalRun, killAll, prng, sleep, startChild, type InputRecord } from '../../crash-harness.ts';

const CHILD = fileURLToPath(new URL('./fixtures/crash-child.ts', import.meta.url));
const PARTITIONS = 4;
/** Kills after the child reported RUNNING. */
const RUNNING_KILLS = 20;
/** Kills aimed before RUNNING (log open, thread start, store restore). */
const STARTUP_KILLS = 4;
const PRELOAD = 10_000;
const PRELOAD_BATCHES = 4;
/**
 * Before each restart the input is topped up so that at least this many records wait at some
 * stage (crash-in or the repartition topic): a run consumes a few thousand records before it is
 * killed, depending on the machine, and every kill must land with work in flight. With the record
 * cache a run gets through its backlog faster (a hot key's updates are written once per commit),
 * so it gets twice as much: at 30k, 11-16 of its 24 kills had work in flight, against a bar of 12.
 */
const BACKLOG_TARGET = 30_000;
const CACHED_BACKLOG_TARGET = 60_000;
/** Fresh crash-in records appended before every restart, whatever the backlog. */
const MIN_APPEND = 300;

const str = Serdes.string();
const json = Serdes.json<unknown>();

/** Appends `count` records with the next seqs, in `batches` produce calls; returns what it wrote. */
async function append(log: EmbeddedLog, firstSeq: number, count: number, batches: number, userOfSeq: () => string): Promise<InputRecord[]> {
  const written: InputRecord[] = [];
  const per = Math.ceil(count / batches);
  for (let start = firstSeq; start < firstSeq + count; start += per) {
    const byPartition = new Map<number, { key: Uint8Array; value: Uint8Array; timestamp: number }[]>();
    for (let seq = start; seq < Math.min(firstSeq + count, start + per); seq++) {
      const user = userOfSeq();
      const key = str.serialize(user, INPUT);
      const partition = partitionForKey(key, PARTITIONS);
      let list = byPartition.get(partition);
      if (list === undefined) byPartition.set(partition, (list = []));
      list.push({ key, value: json.serialize({ seq }, INPUT), timestamp: 1_000_000 + seq });
      written.push({ seq, user, partition });
    }
    await log.produce([...byPartition].map(([partition, records]) => ({ topic: INPUT, partition, records })));
  }
  return written;
}

/** Every record of every partition of a topic, partition by partition, in offset order. */
async function readAll(log: EmbeddedLog, topic: string): Promise<{ partition: number; offset: number; key: string; value: Uint8Array | null }[]> {
  const partitions = (await log.topics()).get(topic)?.partitions;
  assert.ok(partitions !== undefined, `topic ${topic} exists`);
  const out: { partition: number; offset: number; key: string; value: Uint8Array | null }[] = [];
  for (let partition = 0; partition < partitions; partition++) {
    let offset = 0;
    for (;;) {
      const r = await log.fetch({ topic, partition }, offset, { maxRecords: 10_000 });
      for (const rec of r.records) out.push({ partition, offset: rec.offset, key: str.deserialize(rec.key!, topic), value: rec.value });
      if (r.nextOffset >= r.endOffset) break;
      offset = r.nextOffset;
    }
  }
  return out;
}

/** Records of crash-in and of the repartition topic not yet committed by the application. */
async function backlog(log: EmbeddedLog): Promise<number> {
  const committed = await log.committedOffsets(APPLICATION_ID);
  let behind = 0;
  for (const [topic, config] of await log.topics()) {
    if (topic !== INPUT && !(topic.startsWith(`${APPLICATION_ID}-`) && topic.endsWith('-repartition'))) continue;
    for (let partition = 0; partition < config.partitions; partition++) {
      const tp = { topic, partition };
      behind += log.offsets(tp).end - (committed.get(partitionKey(tp)) ?? 0);
    }
  }
  return behind;
}

const startRun = (dir: string, mode: 'run' | 'final', cache: boolean) => startChild(CHILD, cache ? [dir, mode, 'cache'] : [dir, mode]);

for (const cache of [false, true]) {
  const what = cache
    ? 'with the record cache, exactly-once survives SIGKILL at random moments: every update in order, none repeated, each group ending on its reference; changelogs and restored stores equal the reference'
    : 'exactly-once survives SIGKILL at random moments: outputs, changelogs and restored stores equal the reference';
  test(what, { timeout: 360_000 }, (t) => crashTest(t, cache));
}

async function crashTest(t: TestContext, cache: boolean): Promise<void> {
  const seed = Number(process.env['TRIBUTARY_CRASH_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
  // Two streams: the kill delays, and the users of the input records (seq i always gets the i-th draw).
  const random = prng(seed);
  const userRandom = prng(seed ^ 0x5bd1e995);
  const nextUser = () => userOf(Math.floor(userRandom() * USERS));
  const banner = `crash test seed ${seed} (replay with TRIBUTARY_CRASH_SEED=${seed})`;
  t.diagnostic(banner);
  console.log(banner);
  const dir = mkdtempSync(join(tmpdir(), 'tributary-crash-'));
  const began = performance.now();
  const inputs: InputRecord[] = [];
  const stats = { runningKills: 0, startupKills: 0, killsWithBacklog: 0, killsAfterDone: 0, backlogs: [] as number[] };
  try {
    let log = await EmbeddedLog.open({ dir });
    await log.createTopic(INPUT, { partitions: PARTITIONS, cleanupPolicy: 'delete' });
    await log.createTopic(OUTPUT, { partitions: PARTITIONS, cleanupPolicy: 'delete' });
    await log.createTopic(COUNTS, { partitions: PARTITIONS, cleanupPolicy: 'delete' });
    inputs.push(...(await append(log, 0, PRELOAD, PRELOAD_BATCHES, nextUser)));
    await log.close();

    // Which runs are killed before RUNNING: spread over the loop, never the first (it measures startup).
    const total = RUNNING_KILLS + STARTUP_KILLS;
    const startupRuns = new Set(Array.from({ length: STARTUP_KILLS }, (_, i) => Math.floor(((i + 0.5) * total) / STARTUP_KILLS)));
    startupRuns.delete(0);
    let startupMs = 0;
    for (let run = 0; stats.runningKills + stats.startupKills < total; run++) {
      if (run > 0) {
        log = await EmbeddedLog.open({ dir });
        const behind = await backlog(log);
        stats.backlogs.push(behind);
        if (behind > 0) stats.killsWithBacklog++;
        inputs.push(...(await append(log, inputs.length, Math.max(MIN_APPEND, (cache ? CACHED_BACKLOG_TARGET : BACKLOG_TARGET) - behind), 2, nextUser)));
        await log.close();
      }
      const child = startRun(dir, 'run', cache);
      const aimAtStartup = startupRuns.has(run) && stats.startupKills < STARTUP_KILLS;
      if (aimAtStartup) {
        // Before RUNNING: somewhere in the first startup's span (restores only get longer).
        await Promise.race([sleep(startupMs * (0.1 + 0.85 * random())), child.exited]);
      } else {
        await Promise.race([child.running, child.exited]);
        await Promise.race([sleep(50 + 350 * random()), child.exited]);
      }
      if (child.exitedEarly) assert.fail(`run ${run}: the child exited on its own (seed ${seed})\n${describeChild(child)}`);
      if (child.runningAt === undefined) stats.startupKills++;
      else stats.runningKills++;
      if (child.lines.includes('DONE')) stats.killsAfterDone++;
      if (run === 0) startupMs = child.runningAt ?? 1000;
      child.kill();
      const { signal } = await child.exited;
      assert.equal(signal, 'SIGKILL', `run ${run} ended by our SIGKILL (seed ${seed})\n${describeChild(child)}`);
    }
    log = await EmbeddedLog.open({ dir });
    const behind = await backlog(log);
    stats.backlogs.push(behind);
    if (behind > 0) stats.killsWithBacklog++;
    await log.close();

    // The last run consumes everything, then reports its stores; a second one only restores.
    const stores: Record<string, Record<string, unknown>>[] = [];
    for (const pass of ['final', 'restore-only']) stores.push(await finalRun(() => startRun(dir, 'final', cache), pass, seed, 60_000));

    log = await EmbeddedLog.open({ dir });
    try {
      assert.equal(await backlog(log), 0, 'everything consumed and committed');
      await checkAgainstReference({
        seed,
        inputs,
        partitions: PARTITIONS,
        readAll: (topic) => readAll(log, topic),
        topics: { output: OUTPUT, counts: COUNTS, totalsChangelog: `${APPLICATION_ID}-totals-changelog`, countsChangelog: `${APPLICATION_ID}-counts-changelog` },
        stores,
        cached: cache,
      });
    } finally {
      await log.close();
    }

    const summary =
      `seed ${seed}: ${stats.runningKills + stats.startupKills} SIGKILLs (${stats.runningKills} after RUNNING, ${stats.startupKills} before), ` +
      `${stats.killsWithBacklog} with input still uncommitted, ${stats.killsAfterDone} after the child had caught up; ` +
      `${inputs.length} input records; ${readdirSync(join(dir, 'wal')).length} WAL segments; backlog after each kill ${JSON.stringify(stats.backlogs)}; ${Math.round(performance.now() - began)} ms`;
    t.diagnostic(summary);
    console.log(summary);
    assert.ok(stats.runningKills >= RUNNING_KILLS, 'enough kills after RUNNING');
    assert.ok(stats.startupKills >= 1, `at least one kill before RUNNING (seed ${seed})`);
    // Most kills must land while there was work in flight, or the test would prove little.
    assert.ok(stats.killsWithBacklog >= total / 2, `most kills happen under load (seed ${seed}): ${stats.killsWithBacklog} of ${total}`);
  } finally {
    await killAll();
    rmSync(dir, { recursive: true, force: true });
  }
}
