/**
 * The crash harness both crash tests share (the embedded log's, test/engine/runtime/crash.test.ts,
 * and Kafka's, test/connectors/kafka/crash.kafka.ts): a seeded PRNG for the kill moments, child
 * processes that run the crash topology and are killed with SIGKILL, and the reference check of
 * what the runs left behind. Each test keeps only what differs: how it opens its log, names its
 * topics, measures the backlog and schedules kills. The feature crash tests (crash-features.test.ts,
 * crash-features.kafka.ts) share the child helpers and runKillLoop below, with their own reference
 * (test/crash-features-reference.ts).
 *
 * The reference (the crash topology, test/engine/runtime/fixtures/crash-topology.ts): every input
 * record has a seq and goes to group groupOf(seq); per group, the output topic carries the
 * aggregate's updates with counts exactly 1..n (a repeated seq is a duplicate, a skipped count or
 * seq a loss), each adding its own seq to the sum, the records of one input partition in input
 * order; the counts topic carries 1..n; the changelogs' latest records and the stores (as the
 * final run left them, and as a run that only restores rebuilt them) hold the final aggregates.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Serdes, partitionForKey } from '../index.ts';
import { GROUPS, groupOf, type Total } from './engine/runtime/fixtures/crash-topology.ts';

const str = Serdes.string();
const json = Serdes.json<unknown>();
const num = Serdes.number();

/** mulberry32: a small seeded PRNG, so a failing run's kill delays can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An input record as the test wrote it. */
export interface InputRecord {
  readonly seq: number;
  readonly user: string;
  readonly partition: number;
}

/** A child process running the crash topology; it prints RUNNING, COMMITS <n>, DONE, STORES <json>. */
export interface Child {
  readonly running: Promise<number>;
  /** Resolves at the run's first committed transaction (children that print COMMITS lines). */
  readonly committed: Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly lines: string[];
  stderr: string;
  runningAt: number | undefined;
  exitedEarly: boolean;
  kill(): void;
}

/** Children not yet exited, killed if a test fails half-way (killAll). */
const live = new Set<Child>();

/** Starts `script` with `args` (and `env` on top of this process's environment). */
export function startChild(script: string, args: readonly string[], env: Readonly<Record<string, string>> = {}): Child {
  const started = performance.now();
  const proc = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let onRunning!: (ms: number) => void;
  const running = new Promise<number>((resolve) => (onRunning = resolve));
  let onCommitted!: () => void;
  const committed = new Promise<void>((resolve) => (onCommitted = resolve));
  let killed = false;
  const child: Child = {
    running,
    committed,
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
      if (line.startsWith('COMMITS ')) onCommitted();
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

/** A child as the sink crash tests use it: its exit code, RUNNING, and SIGKILL. */
export interface Run {
  readonly done: Promise<number | null>;
  readonly running: Promise<void>;
  kill(): void;
}

export function startRun(script: string, args: readonly string[]): Run {
  const child = startChild(script, args);
  return { done: child.exited.then((e) => e.code), running: child.running.then(() => undefined), kill: () => child.kill() };
}

/** Kills every child still running and waits for them. */
export async function killAll(): Promise<void> {
  for (const child of live) {
    child.kill();
    await child.exited;
  }
}

/** A delay that does not keep the process alive if the race it is in ends first. */
export const sleep = (ms: number): Promise<void> => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

export function describeChild(child: Child): string {
  return `stdout: ${JSON.stringify(child.lines.map((l) => l.slice(0, 300)))}\nstderr: ${child.stderr.slice(-4000)}`;
}

/**
 * Runs `mode` ('final': consume everything, print the stores, exit) and returns the stores it
 * reported; fails the test if it does not finish within `timeoutMs` or exits uncleanly.
 */
export async function finalRun(start: () => Child, pass: string, seed: number, timeoutMs: number): Promise<Record<string, Record<string, unknown>>> {
  const child = start();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  const ended = await Promise.race([child.exited, timeout]);
  clearTimeout(timer);
  if (ended === 'timeout') {
    child.kill();
    assert.fail(`the ${pass} run did not finish in ${timeoutMs / 1000} s (seed ${seed})\n${describeChild(child)}`);
  }
  assert.equal(ended.code, 0, `the ${pass} run exits cleanly (seed ${seed})\n${describeChild(child)}`);
  const line = child.lines.find((l) => l.startsWith('STORES '));
  assert.ok(line !== undefined, `the ${pass} run reports its stores\n${describeChild(child)}`);
  return JSON.parse(line.slice('STORES '.length)) as Record<string, Record<string, unknown>>;
}

/** A record read back (read-committed), its key decoded. */
export interface ReadRecord {
  readonly partition: number;
  readonly key: string;
  readonly value: Uint8Array | null;
}

export interface ReferenceCheck {
  readonly seed: number;
  readonly inputs: readonly InputRecord[];
  /** Partitions of the output topic (a group's updates must all be in its key's partition). */
  readonly partitions: number;
  /** Every record of a topic, partition by partition, in offset order. */
  readonly readAll: (topic: string) => Promise<ReadRecord[]>;
  readonly topics: { readonly output: string; readonly counts: string; readonly totalsChangelog: string; readonly countsChangelog: string };
  /** The stores as the final run left them, then as a restore-only run rebuilt them. */
  readonly stores: readonly Record<string, Record<string, unknown>>[];
  /**
   * The app ran with the record cache: a group's outputs are some of its updates (the latest at
   * each flush), so they must only move forward and end on the reference, not show every count.
   */
  readonly cached?: boolean;
}

/**
 * A group's outputs under the record cache: counts strictly growing (a count seen twice or going
 * back is an update committed twice), the last one the group's every input, its sum theirs; the
 * seq each update adds is the group's, and those of one input partition come in input order.
 */
function checkCachedUpdates(seed: number, g: string, seen: readonly Total[], seqs: readonly number[], partitionOfSeq: ReadonlyMap<number, number>): void {
  const counts = seen.map((u) => u.count);
  const back = counts.findIndex((c, i) => i > 0 && c <= counts[i - 1]!);
  assert.equal(back, -1, `seed ${seed}: group ${g}'s counts go back or repeat at #${back + 1}: ${JSON.stringify(seen.slice(Math.max(0, back - 3), back + 3))}`);
  const last = seen.at(-1)!;
  assert.equal(last.count, seqs.length, `seed ${seed}: group ${g} ends counting all ${seqs.length} inputs`);
  assert.equal(last.sum, seqs.reduce((a, b) => a + b, 0), `seed ${seed}: group ${g} ends with the sum of its inputs`);
  const mine = new Set(seqs);
  const lastOfPartition = new Map<number, number>();
  for (const u of seen) {
    assert.ok(mine.has(u.seq), `seed ${seed}: group ${g} names seq ${u.seq}, not one of its inputs`);
    const p = partitionOfSeq.get(u.seq)!;
    assert.ok(u.seq > (lastOfPartition.get(p) ?? -1), `seed ${seed}: group ${g} sees seq ${u.seq} of partition ${p} after seq ${lastOfPartition.get(p)}`);
    lastOfPartition.set(p, u.seq);
  }
}

/** Checks the outputs, changelogs and stores against the reference computed from the inputs. */
export async function checkAgainstReference({ seed, inputs, partitions, readAll, topics, stores, cached = false }: ReferenceCheck): Promise<void> {
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

  // Output: per group, counts 1..n, each update adds its own seq, every input seq exactly once.
  const updates = new Map<string, Total[]>();
  for (const rec of await readAll(topics.output)) {
    assert.equal(rec.partition, partitionForKey(str.serialize(rec.key, topics.output), partitions), `group ${rec.key} is written to its own partition`);
    let list = updates.get(rec.key);
    if (list === undefined) updates.set(rec.key, (list = []));
    list.push(json.deserialize(rec.value!, topics.output) as Total);
  }
  assert.deepEqual([...updates.keys()].sort(), [...expectedSeqs.keys()].sort(), 'every group has output');
  if (cached) {
    const emitted = [...updates.values()].reduce((n, list) => n + list.length, 0);
    assert.ok(emitted < inputs.length, `seed ${seed}: the record cache merged updates (${emitted} outputs for ${inputs.length} inputs)`);
  }
  const finals = new Map<string, Total>();
  for (const [g, seqs] of expectedSeqs) {
    const seen = updates.get(g)!;
    if (cached) {
      checkCachedUpdates(seed, g, seen, seqs, partitionOfSeq);
      finals.set(g, seen.at(-1)!);
      continue;
    }
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

  // Counts: the count of the same grouping, 1..n per group.
  const counted = new Map<string, number[]>();
  for (const rec of await readAll(topics.counts)) {
    let list = counted.get(rec.key);
    if (list === undefined) counted.set(rec.key, (list = []));
    list.push(num.deserialize(rec.value!, topics.counts));
  }
  for (const [g, seqs] of expectedSeqs) {
    const counts = counted.get(g)!;
    if (cached) {
      assert.ok(counts.every((c, i) => i === 0 || c > counts[i - 1]!), `seed ${seed}: ${topics.counts} for ${g} only grows: ${JSON.stringify(counts)}`);
      assert.equal(counts.at(-1), seqs.length, `seed ${seed}: ${topics.counts} for ${g} ends at ${seqs.length}`);
    } else assert.deepEqual(counts, seqs.map((_, i) => i + 1), `seed ${seed}: ${topics.counts} for ${g} is 1..${seqs.length}`);
  }

  // Changelogs: the latest record per group is the final aggregate.
  const totalsChangelog = new Map<string, unknown>();
  for (const rec of await readAll(topics.totalsChangelog)) totalsChangelog.set(rec.key, rec.value === null ? null : json.deserialize(rec.value, ''));
  const countsChangelog = new Map<string, number>();
  for (const rec of await readAll(topics.countsChangelog)) countsChangelog.set(rec.key, num.deserialize(rec.value!, ''));
  const expectedTotals: Record<string, Total> = {};
  const expectedCounts: Record<string, number> = {};
  for (const [g, seqs] of expectedSeqs) {
    expectedTotals[g] = { count: seqs.length, sum: seqs.reduce((a, b) => a + b, 0), seq: finals.get(g)!.seq };
    expectedCounts[g] = seqs.length;
    assert.deepEqual(totalsChangelog.get(g), expectedTotals[g], `seed ${seed}: totals changelog of ${g}`);
    assert.equal(countsChangelog.get(g), seqs.length, `seed ${seed}: counts changelog of ${g}`);
  }

  // Stores: as the final run left them (after all the crashes), and as restored from the changelogs alone.
  for (const [i, s] of stores.entries()) {
    const pass = i === 0 ? 'final run' : 'restore-only run';
    assert.deepEqual(s['totals'], expectedTotals, `seed ${seed}: totals store after the ${pass}`);
    assert.deepEqual(s['counts'], expectedCounts, `seed ${seed}: counts store after the ${pass}`);
  }
}

/** What runKillLoop did: kills before and after RUNNING, and one line per run. */
export interface KillLoopStats {
  runningKills: number;
  startupKills: number;
  killsAfterCommits: number;
  killsAfterDone: number;
  readonly runs: string[];
}

export interface KillLoop {
  readonly seed: number;
  readonly random: () => number;
  /** Kills after the child reported RUNNING, and kills aimed before it (spread over the loop, never the first run). */
  readonly runningKills: number;
  readonly startupKills: number;
  readonly start: () => Child;
  /** Before every run but the first (tops up the input); returns a note for the previous run's line. */
  readonly beforeRestart: (run: number) => Promise<string>;
  /** Kill delay after RUNNING (or after the first commit): killMinMs plus up to killSpreadMs. */
  readonly killMinMs: number;
  readonly killSpreadMs: number;
  /** Time kills from the run's first commit on all runs but every fourth (those from RUNNING). */
  readonly fromFirstCommit: boolean;
}

/**
 * The kill loop of a crash test: starts the child, kills it with SIGKILL after a seeded random
 * delay (from RUNNING or from its first commit, or before RUNNING within the first run's startup
 * span), and repeats until enough kills landed. A child that exits on its own fails the test.
 */
export async function runKillLoop(o: KillLoop): Promise<KillLoopStats> {
  const stats: KillLoopStats = { runningKills: 0, startupKills: 0, killsAfterCommits: 0, killsAfterDone: 0, runs: [] };
  const total = o.runningKills + o.startupKills;
  const startupRuns = new Set(Array.from({ length: o.startupKills }, (_, i) => Math.floor(((i + 0.5) * total) / o.startupKills)));
  startupRuns.delete(0);
  let startupMs = 0;
  for (let run = 0; stats.runningKills + stats.startupKills < total; run++) {
    if (run > 0) stats.runs[run - 1] += `; ${await o.beforeRestart(run)}`;
    const child = o.start();
    let delay: number;
    const fromCommit = o.fromFirstCommit && run % 4 !== 1;
    if (startupRuns.has(run) && stats.startupKills < o.startupKills) {
      delay = startupMs * (0.1 + 0.85 * o.random());
      await Promise.race([sleep(delay), child.exited]);
    } else {
      await Promise.race([child.running, child.exited]);
      if (fromCommit) await Promise.race([child.committed, child.exited, sleep(60_000)]);
      delay = o.killMinMs + o.killSpreadMs * o.random();
      await Promise.race([sleep(delay), child.exited]);
    }
    if (child.exitedEarly) assert.fail(`run ${run}: the child exited on its own (seed ${o.seed})\n${describeChild(child)}`);
    const commits = Number(child.lines.findLast((l) => l.startsWith('COMMITS '))?.slice('COMMITS '.length) ?? 0);
    let line: string;
    if (child.runningAt === undefined) {
      stats.startupKills++;
      line = `run ${run}: killed ${Math.round(delay)} ms after start, before RUNNING`;
    } else {
      stats.runningKills++;
      if (commits > 0) stats.killsAfterCommits++;
      line = `run ${run}: RUNNING after ${Math.round(child.runningAt)} ms, killed ${Math.round(delay)} ms after ${fromCommit ? 'its first commit' : 'RUNNING'}, after ${commits} commits`;
    }
    if (child.lines.includes('DONE')) stats.killsAfterDone++;
    if (run === 0) startupMs = child.runningAt ?? 1000;
    child.kill();
    const { signal } = await child.exited;
    assert.equal(signal, 'SIGKILL', `run ${run} ended by our SIGKILL (seed ${o.seed})\n${describeChild(child)}`);
    stats.runs.push(line);
  }
  return stats;
}
