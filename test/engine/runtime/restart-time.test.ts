/**
 * Issue 12's scenario: time and suppression buffers survive restarts. Exactly-once means the
 * outputs are those of one uninterrupted run, whatever happens to the process between phases.
 *
 * One input topic (one partition), tumbling windows of 10 s with 2 s grace, counted per key, and
 * the three ways a windowed count reaches its output topic, side by side in one topology
 * (fixtures/restart-topology.ts, run by fixtures/restart-child.ts):
 *
 *   phase 1   a@1s, a@2s
 *   phase 2   b@13s      stream time 13 s: window a@0 = [0, 10 s) closes (10 s <= 13 s - 2 s)
 *   phase 3   a@3s       late: its window a@0 closed in phase 2, so it is dropped
 *             c@14s      window [10 s, 20 s), open to the end (20 s > 14 s - 2 s), as is b's
 *
 * Expected, worked out from README "Semantics" (a window's result carries the latest timestamp
 * of its records; a final result is emitted once, when stream time closes the window):
 *
 *   suppress(untilWindowCloses())   a@0=2 @2000, when b@13s arrives; nothing else
 *   emitStrategy(onWindowClose())   a@0=2 @2000, when b@13s arrives; nothing else
 *   toStream() (emit on update)     a@0=1 @1000, a@0=2 @2000, b@10000=1 @13000, c@10000=1 @14000
 *
 * Each variant restarts between the phases a different way: not at all (the control), by a clean
 * close, by SIGKILL once the phase was consumed, by SIGKILL as soon as the phase is appended (the
 * child kills itself in the tick its produce completes, before its app can fetch the records; the
 * next child consumes them, so every phase, the last too, is appended by one child and processed
 * by the next), and by SIGKILL 10 ms after each append (wherever that lands: while the records
 * are processed, before or after their commit).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  describePlan,
  firstDifference,
  killAll,
  runPhases,
  type InputRecord,
  type OutputRecord,
  type Outputs,
  type RestartPlan,
} from './fixtures/restart-driver.ts';
import type { RestartTopologyConfig, WindowConfig } from './fixtures/restart-topology.ts';

const INPUT = 'events';
const WINDOWS: WindowConfig = { type: 'tumbling', sizeMs: 10_000, graceMs: 2_000 };
const CONFIG: RestartTopologyConfig = {
  inputs: [INPUT],
  branches: [
    { kind: 'windowed', input: INPUT, output: 'counts-suppressed', windows: WINDOWS, emit: 'suppress', aggregate: 'count' },
    { kind: 'windowed', input: INPUT, output: 'counts-on-close', windows: WINDOWS, emit: 'close', aggregate: 'count' },
    { kind: 'windowed', input: INPUT, output: 'counts-on-update', windows: WINDOWS, emit: 'update', aggregate: 'count' },
  ],
};

const rec = (key: string, seconds: number): InputRecord => ({ topic: INPUT, key, value: `${key}${seconds}`, timestamp: seconds * 1000 });
const PHASES: InputRecord[][] = [[rec('a', 1), rec('a', 2)], [rec('b', 13)], [rec('a', 3), rec('c', 14)]];

const out = (key: string, value: string, timestamp: number): OutputRecord => ({ key, value, timestamp });
const EXPECTED: Record<string, { path: string; records: OutputRecord[] }> = {
  'counts-suppressed': { path: 'suppress(Suppressed.untilWindowCloses())', records: [out('a@0', '2', 2000)] },
  'counts-on-close': { path: 'emitStrategy(EmitStrategy.onWindowClose())', records: [out('a@0', '2', 2000)] },
  'counts-on-update': {
    path: 'emit on update (toStream())',
    records: [out('a@0', '1', 1000), out('a@0', '2', 2000), out('b@10000', '1', 13000), out('c@10000', '1', 14000)],
  },
};

const VARIANTS: { name: string; plan: RestartPlan }[] = [
  { name: 'no restart (control)', plan: { kind: 'none' } },
  { name: 'clean close() restarts', plan: { kind: 'close' } },
  { name: 'kill -9 after each phase was consumed', plan: { kind: 'kill' } },
  { name: 'kill -9 as soon as each phase is appended', plan: { kind: 'kill-mid', delayMs: 0 } },
  { name: 'kill -9 10 ms after each phase is appended', plan: { kind: 'kill-mid', delayMs: 10 } },
];

for (const { name, plan } of VARIANTS) {
  describe(`issue 12 scenario, ${name}`, { timeout: 180_000 }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'tributary-restart-time-'));
    let outputs: Outputs | undefined;
    let failure: unknown;

    before(async () => {
      // Restarts between the phases. A kill right after an append leaves that phase to the next
      // child, so there the last phase is killed too: every phase is then processed by its own
      // child. Otherwise no restart after the last phase: its child's outputs are read.
      const plans = PHASES.map((_, i): RestartPlan => (i < PHASES.length - 1 || plan.kind === 'kill-mid' ? plan : { kind: 'none' }));
      try {
        const result = await runPhases(dir, CONFIG, PHASES, plans, { threads: 1, maxPollRecords: 1, commitIntervalMs: 20 });
        outputs = result.outputs;
        console.log(
          `${name}: ${result.startMs.length} child start(s), ${result.startMs.join(', ')} ms to RUNNING; ` +
            `${result.kills} kill(s), ${result.killsWithBacklog} of them with the phase not yet committed`,
        );
      } catch (error) {
        failure = error;
      }
    });

    after(async () => {
      await killAll();
      rmSync(dir, { recursive: true, force: true });
    });

    for (const [topic, { path, records }] of Object.entries(EXPECTED)) {
      test(`${path} gives ${records.map((r) => `${r.key}=${r.value}`).join(', ')}`, () => {
        if (failure !== undefined) throw failure;
        const difference = firstDifference({ [topic]: [records] }, { [topic]: outputs![topic] ?? [] });
        if (difference !== undefined) {
          assert.fail(`${path}, restarts by ${describePlan(plan)} between the phases: first difference at ${difference}`);
        }
      });
    }
  });
}
