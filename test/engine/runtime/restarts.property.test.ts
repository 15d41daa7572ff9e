/**
 * Property test of issue 12: under exactly-once, restarts do not change the outputs. A random
 * topology (fixtures/restart-topology.ts: tumbling / hopping / sliding / session windows with
 * grace, emitted on update, on window close or through suppress(untilWindowCloses); stream-stream
 * inner / left / outer joins; suppress(untilTimeLimit) on a count; some branches re-keyed
 * through a repartition topic) runs over random input in phases (a few keys, small timestamps,
 * out-of-order and late records, one or two input topics of one partition each). After each
 * phase the run is left alone, closed cleanly, killed with SIGKILL once the phase is consumed, or
 * killed 0-300 ms after the phase is appended (the child kills itself, so delay 0 lands before its
 * app could fetch anything); the next phase goes to a fresh child once it has consumed the rest.
 *
 * The reference is one uninterrupted run of the same topology with the same options over the
 * same phases, appended the same way (append, wait until consumed, next phase). The output topics
 * must be equal as sequences per partition (key, value and timestamp of every record).
 *
 * Every topic has one partition: a repartition topic fed by several tasks has no deterministic
 * order. Two inputs are read by one task, which takes the oldest head first; since each phase is
 * appended at once and consumed before the next, that order does not depend on timing either (the
 * second test checks that two uninterrupted runs agree, so a failure of the first is the engine's).
 *
 * Replay: TRIBUTARY_RESTART_SEED=<seed> (and TRIBUTARY_RESTART_PATH=<path> from fast-check's
 * report, for the shrunk counterexample) node --test test/engine/runtime/restarts.property.test.ts
 * Also: TRIBUTARY_RESTART_RUNS (default 12), TRIBUTARY_RESTART_SHRINK_MS (time spent shrinking a
 * failure, default 60 000; 0 stops at the first failure). Where each kill lands still depends on
 * timing, but a restart that forgets something forgets it at every landing spot.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  describePlan,
  firstDifference,
  killAll,
  runPhases,
  type ChildOptions,
  type InputRecord,
  type RestartPlan,
  type RunResult,
} from './fixtures/restart-driver.ts';
import type { BranchConfig, RestartTopologyConfig, WindowConfig } from './fixtures/restart-topology.ts';

const NUM_RUNS = Number(process.env['TRIBUTARY_RESTART_RUNS'] ?? 12);
const SHRINK_MS = Number(process.env['TRIBUTARY_RESTART_SHRINK_MS'] ?? 60_000);
const SEED = Number(process.env['TRIBUTARY_RESTART_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
const PATH = process.env['TRIBUTARY_RESTART_PATH'];
const TOPICS = ['in-a', 'in-b'] as const;
const KEYS = ['a', 'b', 'c'] as const;

interface Case {
  readonly config: RestartTopologyConfig;
  readonly phases: readonly (readonly InputRecord[])[];
  /** After each phase (the last too: a restart before the outputs are read). */
  readonly plans: readonly RestartPlan[];
  readonly options: ChildOptions;
}

// ------------------------------------------------------------------------------ generators
const grace = fc.integer({ min: 0, max: 4 });
const windowArb: fc.Arbitrary<WindowConfig> = fc.oneof(
  fc.record({ type: fc.constant('tumbling' as const), sizeMs: fc.integer({ min: 3, max: 10 }), graceMs: grace }),
  fc
    .record({ advanceMs: fc.integer({ min: 1, max: 4 }), multiple: fc.integer({ min: 2, max: 3 }), graceMs: grace })
    .map(({ advanceMs, multiple, graceMs }) => ({ type: 'hopping' as const, sizeMs: advanceMs * multiple, advanceMs, graceMs })),
  fc.record({ type: fc.constant('sliding' as const), differenceMs: fc.integer({ min: 2, max: 8 }), graceMs: grace }),
  fc.record({ type: fc.constant('session' as const), gapMs: fc.integer({ min: 1, max: 5 }), graceMs: grace }),
);

/** A branch without its output topic; `input` indexes the input topics. */
type BranchDraft =
  | { kind: 'windowed'; input: number; windows: WindowConfig; emit: 'update' | 'close' | 'suppress'; aggregate: 'count' | 'concat'; rekey: boolean }
  | { kind: 'join'; join: 'inner' | 'left' | 'outer'; beforeMs: number; afterMs: number; graceMs: number }
  | { kind: 'time-limit'; input: number; waitMs: number; rekey: boolean };

const branchArb = (inputs: number): fc.Arbitrary<BranchDraft> => {
  const input = fc.integer({ min: 0, max: inputs - 1 });
  const windowed = fc.record({
    kind: fc.constant('windowed' as const),
    input,
    windows: windowArb,
    emit: fc.constantFrom('update' as const, 'close' as const, 'suppress' as const),
    aggregate: fc.constantFrom('count' as const, 'concat' as const),
    rekey: fc.boolean(),
  });
  const timeLimit = fc.record({ kind: fc.constant('time-limit' as const), input, waitMs: fc.integer({ min: 0, max: 6 }), rekey: fc.boolean() });
  const join = fc.record({
    kind: fc.constant('join' as const),
    join: fc.constantFrom('inner' as const, 'left' as const, 'outer' as const),
    beforeMs: fc.integer({ min: 0, max: 4 }),
    afterMs: fc.integer({ min: 0, max: 4 }),
    graceMs: grace,
  });
  return inputs === 1
    ? fc.oneof({ weight: 4, arbitrary: windowed }, { weight: 1, arbitrary: timeLimit })
    : fc.oneof({ weight: 3, arbitrary: windowed }, { weight: 2, arbitrary: join }, { weight: 1, arbitrary: timeLimit });
};

const planArb: fc.Arbitrary<RestartPlan> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'close' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'kill' as const }) },
  {
    weight: 2,
    arbitrary: fc
      .oneof(fc.constant(0), fc.integer({ min: 1, max: 30 }), fc.integer({ min: 0, max: 300 }))
      .map((delayMs) => ({ kind: 'kill-mid' as const, delayMs })),
  },
);

const stepArb = fc.record({ topic: fc.integer({ min: 0, max: 1 }), key: fc.constantFrom(...KEYS), step: fc.integer({ min: -12, max: 5 }) });

const caseArb = (phaseCount: { min: number; max: number }): fc.Arbitrary<Case> =>
  fc
    .integer({ min: 1, max: 2 })
    .chain((inputs) =>
      fc.record({
        inputs: fc.constant(inputs),
        branches: fc.array(branchArb(inputs), { minLength: 1, maxLength: 3 }),
        phases: fc.array(fc.array(stepArb, { minLength: 1, maxLength: 6 }), { minLength: phaseCount.min, maxLength: phaseCount.max }),
        plans: fc.array(planArb, { minLength: phaseCount.max, maxLength: phaseCount.max }),
        options: fc.record({
          threads: fc.constantFrom(1, 2),
          maxPollRecords: fc.integer({ min: 1, max: 4 }),
          commitIntervalMs: fc.integer({ min: 20, max: 50 }),
        }),
      }),
    )
    .map(({ inputs, branches, phases, plans, options }): Case => {
      const branchConfigs = branches.map((b, i): BranchConfig => {
        const output = `out-${i}`;
        if (b.kind === 'join') return { ...b, left: TOPICS[0], right: TOPICS[1], output };
        return { ...b, input: TOPICS[b.input]!, output };
      });
      // Only topics some branch reads: records of an unread topic would never be consumed.
      const used = TOPICS.filter((t) => branchConfigs.some((b) => (b.kind === 'join' ? b.left === t || b.right === t : b.input === t)));
      const topicOf = (i: number) => used[Math.min(i, inputs - 1) % used.length]!;
      let streamTime = 0;
      let seq = 0;
      const records = phases.map((phase) =>
        phase.map(({ topic, key, step }): InputRecord => {
          const timestamp = Math.max(0, streamTime + step);
          streamTime = Math.max(streamTime, timestamp);
          return { topic: topicOf(topic), key, value: `${key}${seq++}`, timestamp };
        }),
      );
      return { config: { inputs: used, branches: branchConfigs }, phases: records, plans: plans.slice(0, phases.length), options };
    });

// ------------------------------------------------------------------------------ running
function describeCase(c: Case): string {
  const phases = c.phases
    .map((phase, i) => `  phase ${i + 1}: ${phase.map((r) => `${r.topic}:${r.key}=${r.value}@${r.timestamp}`).join(' ')}  then ${describePlan(c.plans[i] ?? { kind: 'none' })}`)
    .join('\n');
  return `config: ${JSON.stringify(c.config)}\nchild options: ${JSON.stringify(c.options)}\n${phases}`;
}

/** Runs the case with its restart plans, and the uninterrupted reference, side by side. */
async function runBoth(c: Case, plans: readonly RestartPlan[]): Promise<{ reference: RunResult; subject: RunResult }> {
  const refDir = mkdtempSync(join(tmpdir(), 'tributary-restart-ref-'));
  const subDir = mkdtempSync(join(tmpdir(), 'tributary-restart-sub-'));
  try {
    const [reference, subject] = await Promise.allSettled([
      runPhases(refDir, c.config, c.phases, [], c.options),
      runPhases(subDir, c.config, c.phases, plans, c.options),
    ]);
    if (reference.status === 'rejected') throw new Error(`the uninterrupted reference run failed: ${errorText(reference.reason)}`);
    if (subject.status === 'rejected') throw new Error(`the run with restarts failed: ${errorText(subject.reason)}`);
    return { reference: reference.value, subject: subject.value };
  } finally {
    rmSync(refDir, { recursive: true, force: true });
    rmSync(subDir, { recursive: true, force: true });
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

function banner(name: string): string {
  return `${name}: seed ${SEED} (replay with TRIBUTARY_RESTART_SEED=${SEED}${PATH === undefined ? '' : ` TRIBUTARY_RESTART_PATH=${PATH}`}), ${NUM_RUNS} runs`;
}

test('outputs with restarts (clean close, kill -9 after or during a phase) equal one uninterrupted run', { timeout: 600_000 }, async (t) => {
  t.diagnostic(banner('restart property'));
  console.log(banner('restart property'));
  const stats = { runs: 0, restarts: 0, kills: 0, killsWithBacklog: 0, starts: [] as number[] };
  let firstFailureAt: number | undefined;
  const began = performance.now();
  // A timed-out test leaves fast-check running: make it stop starting children.
  let stopped = false;
  t.signal.addEventListener('abort', () => {
    stopped = true;
    void killAll();
  });
  try {
    await fc.assert(
      fc.asyncProperty(caseArb({ min: 4, max: 6 }), async (c) => {
        // Past the shrinking budget every candidate passes at once, so fast-check ends its
        // shrinking and reports the smallest failure found so far.
        if (stopped || (firstFailureAt !== undefined && performance.now() - firstFailureAt > SHRINK_MS)) return;
        let message: string | undefined;
        try {
          const { reference, subject } = await runBoth(c, c.plans);
          stats.runs++;
          stats.restarts += subject.startMs.length - 1;
          stats.kills += subject.kills;
          stats.killsWithBacklog += subject.killsWithBacklog;
          stats.starts.push(...subject.startMs, ...reference.startMs);
          const difference = firstDifference(reference.outputs, subject.outputs);
          if (difference !== undefined) {
            message =
              `seed ${SEED}: the outputs with restarts differ from the uninterrupted run's\n` +
              `first difference (expected = uninterrupted run): ${difference}\n${describeCase(c)}`;
          }
        } catch (error) {
          message = `seed ${SEED}: a run failed: ${errorText(error)}\n${describeCase(c)}`;
        }
        if (message !== undefined) {
          // The first failure as found (fast-check reports the shrunk one at the end).
          if (firstFailureAt === undefined) console.log(`restart property, first failure:\n${message}\n`);
          firstFailureAt ??= performance.now();
          assert.fail(message);
        }
      }),
      {
        numRuns: NUM_RUNS,
        seed: SEED,
        ...(PATH !== undefined && { path: PATH }),
        endOnFailure: SHRINK_MS <= 0,
      },
    );
  } finally {
    await killAll();
    const starts = [...stats.starts].sort((a, b) => a - b);
    const summary =
      `restart property, seed ${SEED}: ${stats.runs} runs compared, ${stats.restarts} restarts, ${stats.kills} SIGKILLs ` +
      `(${stats.killsWithBacklog} with records left uncommitted), child start median ${starts[starts.length >> 1] ?? 0} ms, ` +
      `${Math.round(performance.now() - began)} ms`;
    t.diagnostic(summary);
    console.log(summary);
  }
});

test('the harness is deterministic: two uninterrupted runs of a random topology agree', { timeout: 300_000 }, async (t) => {
  const runs = Math.max(1, Math.ceil(NUM_RUNS / 4));
  let stopped = false;
  t.signal.addEventListener('abort', () => {
    stopped = true;
    void killAll();
  });
  t.diagnostic(banner('determinism check').replace(`${NUM_RUNS} runs`, `${runs} runs`));
  try {
    await fc.assert(
      fc.asyncProperty(caseArb({ min: 3, max: 5 }), async (c) => {
        if (stopped) return;
        const { reference, subject } = await runBoth(c, []);
        const difference = firstDifference(reference.outputs, subject.outputs);
        if (difference !== undefined) {
          assert.fail(`seed ${SEED}: two uninterrupted runs differ (the harness or the topology is not deterministic)\nfirst difference: ${difference}\n${describeCase(c)}`);
        }
      }),
      { numRuns: runs, seed: SEED, endOnFailure: true },
    );
  } finally {
    await killAll();
  }
});
