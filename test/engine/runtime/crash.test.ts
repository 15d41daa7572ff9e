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
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EmbeddedLog } from '../../../connectors/embedded/index.ts';
import { Serdes, partitionForKey } from '../../../index.ts';
import { partitionKey } from '../../../spi.ts';
import { APPLICATION_ID, COUNTS, GROUPS, INPUT, OUTPUT, USERS, groupOf, userOf, type Total } from './fixtures/crash-topology.ts';

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
 * killed, depending on the machine, and every kill must land with work in flight.
 */
const BACKLOG_TARGET = 30_000;
/** Fresh crash-in records appended before every restart, whatever the backlog. */
const MIN_APPEND = 300;

const str = Serdes.string();
const json = Serdes.json<unknown>();
const num = Serdes.number();

/** mulberry32: a small seeded PRNG, so a failing run's kill delays can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface InputRecord {
  readonly seq: number;
  readonly user: string;
  readonly partition: number;
}

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

interface Child {
  readonly running: Promise<number>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly lines: string[];
  stderr: string;
  runningAt: number | undefined;
  exitedEarly: boolean;
  kill(): void;
}

/** Children not yet exited, killed if the test fails half-way. */
const live = new Set<Child>();

function startChild(dir: string, mode: 'run' | 'final'): Child {
  const started = performance.now();
  const proc = spawn(process.execPath, [CHILD, dir, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  let onRunning!: (ms: number) => void;
  const running = new Promise<number>((resolve) => (onRunning = resolve));
  let killed = false;
  const child: Child = {
    running,
    exited: new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal }))),
    lines: [],
    stderr: '',
    runningAt: undefined,
    exitedEarly: false,
    kill() {
      killed = true;
      proc.kill('SIGKILL');
    },
  };
  let pending = '';
  proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      child.lines.push(line);
      if (line === 'RUNNING') {
        child.runningAt = performance.now() - started;
        onRunning(child.runningAt);
      }
    }
  });
  proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (child.stderr += chunk));
  live.add(child);
  void child.exited.then(() => {
    live.delete(child);
    if (!killed) child.exitedEarly = true;
  });
  return child;
}

/** A delay that does not keep the process alive if the race it is in ends first. */
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

function describeChild(child: Child): string {
  return `stdout: ${JSON.stringify(child.lines.map((l) => l.slice(0, 300)))}\nstderr: ${child.stderr.slice(-4000)}`;
}

test('exactly-once survives SIGKILL at random moments: outputs, changelogs and restored stores equal the reference', { timeout: 240_000 }, async (t) => {
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
        inputs.push(...(await append(log, inputs.length, Math.max(MIN_APPEND, BACKLOG_TARGET - behind), 2, nextUser)));
        await log.close();
      }
      const child = startChild(dir, 'run');
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
    for (const pass of ['final', 'restore-only']) {
      const child = startChild(dir, 'final');
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), 60_000)));
      const ended = await Promise.race([child.exited, timeout]);
      clearTimeout(timer);
      if (ended === 'timeout') {
        child.kill();
        assert.fail(`the ${pass} run did not finish in 60 s (seed ${seed})\n${describeChild(child)}`);
      }
      assert.equal(ended.code, 0, `the ${pass} run exits cleanly (seed ${seed})\n${describeChild(child)}`);
      const line = child.lines.find((l) => l.startsWith('STORES '));
      assert.ok(line !== undefined, `the ${pass} run reports its stores\n${describeChild(child)}`);
      stores.push(JSON.parse(line.slice('STORES '.length)) as Record<string, Record<string, unknown>>);
    }

    // ---------------------------------------------------------------- the reference
    // Group of each record: a function of its seq; per group, the seqs in input order.
    const expectedSeqs = new Map<string, number[]>();
    const partitionOfSeq = new Map<number, number>();
    for (const r of inputs) {
      const g = groupOf(r.seq);
      let list = expectedSeqs.get(g);
      if (list === undefined) expectedSeqs.set(g, (list = []));
      list.push(r.seq);
      partitionOfSeq.set(r.seq, r.partition);
    }
    assert.equal(expectedSeqs.size, GROUPS);

    log = await EmbeddedLog.open({ dir });
    try {
      assert.equal(await backlog(log), 0, 'everything consumed and committed');

      // crash-out: per group, counts 1..n, each update adds its own seq, every input seq exactly once.
      const updates = new Map<string, Total[]>();
      for (const rec of await readAll(log, OUTPUT)) {
        assert.equal(rec.partition, partitionForKey(str.serialize(rec.key, OUTPUT), PARTITIONS), `group ${rec.key} is written to its own partition`);
        let list = updates.get(rec.key);
        if (list === undefined) updates.set(rec.key, (list = []));
        list.push(json.deserialize(rec.value!, OUTPUT) as Total);
      }
      assert.deepEqual([...updates.keys()].sort(), [...expectedSeqs.keys()].sort(), 'every group has output');
      const finals = new Map<string, Total>();
      for (const [g, seqs] of expectedSeqs) {
        const seen = updates.get(g)!;
        const counts = seen.map((u) => u.count);
        const bad = counts.findIndex((c, i) => c !== i + 1);
        if (bad >= 0 || counts.length !== seqs.length) {
          const at = bad >= 0 ? bad : Math.min(counts.length, seqs.length);
          const times = new Map<number, number>();
          for (const u of seen) times.set(u.seq, (times.get(u.seq) ?? 0) + 1);
          const duplicated = [...times].filter(([, n]) => n > 1).map(([q]) => q);
          const missing = seqs.filter((q) => !times.has(q));
          assert.fail(
            `seed ${seed}: group ${g} has ${counts.length} updates for ${seqs.length} inputs; ` +
              `updates around #${at + 1}: ${JSON.stringify(seen.slice(Math.max(0, at - 3), at + 4))}; ` +
              `${duplicated.length} seqs counted twice or more (first: ${duplicated.slice(0, 8).join(', ')}), ` +
              `${missing.length} never counted (first: ${missing.slice(0, 8).join(', ')}) ` +
              `(expected counts 1..${seqs.length}: a repeated seq is a duplicate, a skipped count or seq a loss)`,
          );
        }
        let sum = 0;
        const lastOfPartition = new Map<number, number>();
        seen.forEach((u, i) => {
          sum += u.seq;
          assert.equal(u.sum, sum, `seed ${seed}: group ${g} update ${i + 1} adds seq ${u.seq} to the previous sum`);
          // Records of one input partition reach the group in their input order.
          const p = partitionOfSeq.get(u.seq);
          assert.ok(p !== undefined, `seed ${seed}: group ${g} update ${i + 1} names seq ${u.seq}, which was never produced`);
          assert.ok(u.seq > (lastOfPartition.get(p) ?? -1), `seed ${seed}: group ${g} sees seq ${u.seq} of partition ${p} after seq ${lastOfPartition.get(p)}`);
          lastOfPartition.set(p, u.seq);
        });
        assert.deepEqual(
          seen.map((u) => u.seq).sort((a, b) => a - b),
          seqs,
          `seed ${seed}: group ${g} saw every input seq exactly once`,
        );
        finals.set(g, seen.at(-1)!);
      }

      // crash-counts: the count of the same grouping, 1..n per group.
      const counted = new Map<string, number[]>();
      for (const rec of await readAll(log, COUNTS)) {
        let list = counted.get(rec.key);
        if (list === undefined) counted.set(rec.key, (list = []));
        list.push(num.deserialize(rec.value!, COUNTS));
      }
      for (const [g, seqs] of expectedSeqs) {
        assert.deepEqual(counted.get(g), seqs.map((_, i) => i + 1), `seed ${seed}: crash-counts for ${g} is 1..${seqs.length}`);
      }

      // Changelogs: the latest record per group is the final aggregate.
      const latest = async (topic: string) => {
        const map = new Map<string, unknown>();
        for (const rec of await readAll(log, topic)) map.set(rec.key, rec.value === null ? null : json.deserialize(rec.value, topic));
        return map;
      };
      const totalsChangelog = await latest(`${APPLICATION_ID}-totals-changelog`);
      const countsChangelog = new Map<string, number>();
      for (const rec of await readAll(log, `${APPLICATION_ID}-counts-changelog`)) countsChangelog.set(rec.key, num.deserialize(rec.value!, ''));
      const expectedTotals: Record<string, Total> = {};
      const expectedCounts: Record<string, number> = {};
      for (const [g, seqs] of expectedSeqs) {
        expectedTotals[g] = { count: seqs.length, sum: seqs.reduce((a, b) => a + b, 0), seq: finals.get(g)!.seq };
        expectedCounts[g] = seqs.length;
        assert.deepEqual(totalsChangelog.get(g), expectedTotals[g], `seed ${seed}: totals changelog of ${g}`);
        assert.equal(countsChangelog.get(g), seqs.length, `seed ${seed}: counts changelog of ${g}`);
      }

      // Stores: as the final run left them, and as a fresh run restores them from the changelogs.
      for (const [i, s] of stores.entries()) {
        const pass = i === 0 ? 'final run' : 'restore-only run';
        assert.deepEqual(s['totals'], expectedTotals, `seed ${seed}: totals store after the ${pass}`);
        assert.deepEqual(s['counts'], expectedCounts, `seed ${seed}: counts store after the ${pass}`);
      }
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
    for (const child of live) {
      child.kill();
      await child.exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
