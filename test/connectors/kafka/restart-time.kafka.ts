/**
 * Issue 12's scenario on Kafka: time and suppression buffers survive restarts, kill -9 and a task
 * moving between processes. Exactly-once means the outputs are those of one uninterrupted run,
 * whatever happens to the processes between the phases.
 *
 * One input topic (one partition, so one task), tumbling windows of 10 s with 2 s grace, counted
 * per key, and the three ways a windowed count reaches its output topic, side by side in one
 * topology (test/engine/runtime/fixtures/restart-topology.ts, run by fixtures/restart-time-child.ts):
 *
 *   phase 1   a@1s, a@2s
 *   phase 2   b@13s      stream time 13 s: window a@0 = [0, 10 s) closes (10 s <= 13 s - 2 s)
 *   phase 3   a@3s       late: its window a@0 closed in phase 2, so it is dropped
 *             c@14s      window [10 s, 20 s), open to the end, as is b's
 *
 *   suppress(untilWindowCloses())   a@0=2 @2s, when b@13s arrives; nothing else
 *   emitStrategy(onWindowClose())   a@0=2 @2s, when b@13s arrives; nothing else
 *   toStream() (emit on update)     a@0=1 @1s, a@0=2 @2s, b@10s=1 @13s, c@10s=1 @14s
 *
 * Each phase is produced, then the test waits until the application's committed offset of the
 * input reaches its end (the outputs of the phase are committed in the same transactions) before
 * anything is stopped. The variants:
 *
 * - control: one process runs the three phases;
 * - the task moves A -> B -> A: phase 1 on process A, phase 2 on process B (its own, empty state
 *   directory: it restores the stores, the suppression buffer among them, from the changelogs, and
 *   the times from the offset metadata), phase 3 on A again (its local state is stale: it must
 *   catch up from the changelogs); each process stops by a clean close() in one variant, by
 *   SIGKILL in the other (then the group waits the session timeout, 10 s, before moving the task);
 * - one group: A and B run together with one task; the one the task lands on runs phases 1 and 2
 *   and is then killed (SIGKILL; or, in one more variant, closed), and the other runs phase 3.
 *
 * Timestamps: "1 s" is BASE + 1000, with BASE a recent multiple of the window size (windows are
 * aligned to the epoch, so the windows are those of the issue, shifted by BASE); outputs are shown
 * relative to BASE. Not the literal epoch times of the issue: the broker's time retention
 * (log.retention.hours, and the windowed changelogs' retention of window + 1 day) deletes records
 * from 1970 at its next check, which could land mid-test and empty a changelog before a restore.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KafkaLog } from '../../../connectors/kafka/index.ts';
import { CONFIG_ENV, type RestartTopologyConfig, type WindowConfig } from '../../engine/runtime/fixtures/restart-topology.ts';
import { bootstrap, openLog, unique } from './broker.ts';

const CHILD = fileURLToPath(new URL('./fixtures/restart-time-child.ts', import.meta.url));
const WINDOWS: WindowConfig = { type: 'tumbling', sizeMs: 10_000, graceMs: 2_000 };
const BASE = Math.floor((Date.now() - 60_000) / WINDOWS.sizeMs) * WINDOWS.sizeMs;
/** How long any one wait (a start, a phase's commit, an exit) may take: a hang is a failure. */
const STEP_TIMEOUT_MS = 60_000;

interface Rec {
  readonly key: string;
  readonly value: string | null;
  /** Relative to BASE. */
  readonly timestamp: number;
}

const rec = (key: string, seconds: number): Rec => ({ key, value: `${key}${seconds}`, timestamp: seconds * 1000 });
const PHASES: readonly (readonly Rec[])[] = [[rec('a', 1), rec('a', 2)], [rec('b', 13)], [rec('a', 3), rec('c', 14)]];

type Emit = 'suppress' | 'close' | 'update';
const out = (key: string, value: string, timestamp: number): Rec => ({ key, value, timestamp });
const PATHS: readonly { emit: Emit; path: string; expected: readonly Rec[] }[] = [
  { emit: 'suppress', path: 'suppress(Suppressed.untilWindowCloses())', expected: [out('a@0', '2', 2000)] },
  { emit: 'close', path: 'emitStrategy(EmitStrategy.onWindowClose())', expected: [out('a@0', '2', 2000)] },
  {
    emit: 'update',
    path: 'emit on update (toStream())',
    expected: [out('a@0', '1', 1000), out('a@0', '2', 2000), out('b@10000', '1', 13000), out('c@10000', '1', 14000)],
  },
];

interface Names {
  readonly app: string;
  readonly input: string;
  readonly outputs: Readonly<Record<Emit, string>>;
}

function configOf(names: Names): RestartTopologyConfig {
  return {
    inputs: [names.input],
    branches: PATHS.map(({ emit }) => ({ kind: 'windowed', input: names.input, output: names.outputs[emit], windows: WINDOWS, emit, aggregate: 'count' }) as const),
  };
}

interface Status {
  readonly state: string;
  readonly owns: boolean;
  readonly rebalances: number;
}

/** One run of fixtures/restart-time-child.ts. */
class Child {
  readonly #proc: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Set once the test stops it: an exit is then expected. */
  stopping = false;
  readyMs = 0;

  readonly name: string;

  constructor(name: string, names: Names, stateDir: string) {
    this.name = name;
    this.#proc = spawn(process.execPath, [CHILD], {
      env: { ...process.env, KAFKA_BOOTSTRAP: bootstrap.join(','), APP_ID: names.app, STATE_DIR: stateDir, [CONFIG_ENV]: JSON.stringify(configOf(names)) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let pending = '';
    const keep = (chunk: string) => {
      pending += chunk;
      const parts = pending.split('\n');
      pending = parts.pop()!;
      this.lines.push(...parts);
    };
    this.#proc.stdout!.setEncoding('utf8').on('data', keep);
    this.#proc.stderr!.setEncoding('utf8').on('data', keep);
    this.exited = new Promise((resolve) =>
      this.#proc.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      }),
    );
  }

  get status(): Status | undefined {
    const line = this.lines.findLast((l) => l.startsWith('STATUS '));
    return line === undefined ? undefined : (JSON.parse(line.slice('STATUS '.length)) as Status);
  }

  get ready(): boolean {
    return this.lines.includes('READY');
  }

  describe(): string {
    const exit = this.exit === undefined ? 'running' : `exited (code ${this.exit.code}, signal ${this.exit.signal})`;
    return `--- process ${this.name}, ${exit}, last lines:\n${this.lines.slice(-40).join('\n')}`;
  }

  /** A clean close (SIGTERM: close() then exit 0), or SIGKILL. */
  async stop(how: 'close' | 'kill', run: Run): Promise<void> {
    this.stopping = true;
    this.#proc.kill(how === 'close' ? 'SIGTERM' : 'SIGKILL');
    await run.until(async () => this.exit !== undefined, `process ${this.name} to exit after ${how === 'close' ? 'SIGTERM' : 'SIGKILL'}`);
    if (how === 'close') assert.ok(this.exit!.code === 0 && this.lines.includes('CLOSED'), `process ${this.name} closes cleanly\n${this.describe()}`);
    else assert.equal(this.exit!.signal, 'SIGKILL', `process ${this.name} dies by SIGKILL\n${this.describe()}`);
  }

  /** For the test's cleanup. */
  kill(): void {
    this.stopping = true;
    if (this.exit === undefined) this.#proc.kill('SIGKILL');
  }
}

/** One variant's topics, processes and timeline. */
class Run {
  readonly names: Names;
  readonly dir = mkdtempSync(join(tmpdir(), 'tributary-kafka-restart-time-'));
  readonly children: Child[] = [];
  readonly timeline: string[] = [];
  #began = performance.now();
  #produced = 0;

  readonly log: KafkaLog;

  constructor(log: KafkaLog) {
    this.log = log;
    const id = unique('rt');
    this.names = { app: `${id}-app`, input: `${id}-in`, outputs: { suppress: `${id}-suppressed`, close: `${id}-on-close`, update: `${id}-on-update` } };
  }

  note(what: string): void {
    this.timeline.push(`${((performance.now() - this.#began) / 1000).toFixed(1)} s: ${what}`);
  }

  async createTopics(): Promise<void> {
    this.#began = performance.now();
    for (const topic of [this.names.input, ...Object.values(this.names.outputs)]) await this.log.createTopic(topic, { partitions: 1, cleanupPolicy: 'delete' });
  }

  /**
   * Polls `check` every 50 ms until it holds; fails after STEP_TIMEOUT_MS, or at once when a
   * process the test did not stop exits or reports an error. Errors of `check` (a broker call
   * that can be retried) are retried; the last one is reported on timeout.
   */
  async until(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    let lastError: unknown;
    for (;;) {
      for (const c of this.children) {
        if ((c.exit !== undefined && !c.stopping) || c.lines.some((l) => l.startsWith('ERROR '))) {
          throw new Error(`while waiting for ${what}: process ${c.name} failed\n${this.describe()}`);
        }
      }
      try {
        if (await check()) return;
        lastError = undefined;
      } catch (error) {
        lastError = error;
      }
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${STEP_TIMEOUT_MS / 1000} s waiting for ${what}${lastError === undefined ? '' : ` (last error: ${String(lastError)})`}\n${this.describe()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Starts a process of the application on `stateDir` (under this run's directory); resolves once it is READY. */
  async start(name: string, stateDir = name): Promise<Child> {
    const child = new Child(name, this.names, join(this.dir, stateDir));
    this.children.push(child);
    const began = performance.now();
    await this.until(() => child.ready, `process ${name} to start (READY)`);
    child.readyMs = performance.now() - began;
    this.note(`process ${name} READY after ${(child.readyMs / 1000).toFixed(1)} s`);
    return child;
  }

  /** Produces phase `i` (0-based) to the input, then waits until the application has committed the input to its end. */
  async phase(i: number): Promise<void> {
    const records = PHASES[i]!;
    await this.log.produce([
      {
        topic: this.names.input,
        partition: 0,
        records: records.map((r) => ({ key: Buffer.from(r.key), value: r.value === null ? null : Buffer.from(r.value), timestamp: BASE + r.timestamp })),
      },
    ]);
    this.#produced += records.length;
    this.note(`phase ${i + 1} produced (${records.map((r) => `${r.key}@${r.timestamp / 1000}s`).join(', ')})`);
    await this.committed();
    this.note(`phase ${i + 1} committed`);
  }

  /** Waits until the group's committed offset of the input is its end (read with requireStable). */
  async committed(): Promise<void> {
    const key = `${this.names.input}:0`;
    await this.until(async () => (await this.log.committedOffsets(this.names.app)).get(key) === this.#produced, `the application to commit the input up to offset ${this.#produced}`);
  }

  /** The owner of the task among `children`, once exactly one of them runs it and every one is RUNNING. */
  async settledOwner(children: readonly Child[]): Promise<Child> {
    let owner: Child | undefined;
    await this.until(() => {
      const statuses = children.map((c) => c.status);
      if (statuses.some((s) => s?.state !== 'RUNNING')) return false;
      const owners = children.filter((c) => c.status!.owns);
      owner = owners[0];
      return owners.length === 1;
    }, `exactly one of ${children.map((c) => c.name).join(', ')} to run the task, all RUNNING`);
    return owner!;
  }

  /** Every output topic, read committed, with window starts and timestamps relative to BASE. */
  async outputs(): Promise<Record<Emit, Rec[]>> {
    const result = {} as Record<Emit, Rec[]>;
    for (const { emit } of PATHS) {
      const topic = this.names.outputs[emit];
      const records: Rec[] = [];
      for (let offset = 0; ; ) {
        const r = await this.log.fetch({ topic, partition: 0 }, offset, { maxRecords: 1000, readCommitted: true });
        for (const x of r.records) {
          const key = Buffer.from(x.key!).toString('utf8');
          const at = key.lastIndexOf('@');
          records.push({
            key: `${key.slice(0, at)}@${Number(key.slice(at + 1)) - BASE}`,
            value: x.value === null ? null : Buffer.from(x.value).toString('utf8'),
            timestamp: x.timestamp - BASE,
          });
        }
        if (r.nextOffset >= r.endOffset || (r.records.length === 0 && r.nextOffset <= offset)) break;
        offset = r.nextOffset;
      }
      result[emit] = records;
    }
    return result;
  }

  describe(): string {
    return [`application ${this.names.app}, timeline:`, ...this.timeline.map((l) => `  ${l}`), ...this.children.map((c) => c.describe())].join('\n');
  }

  async cleanup(): Promise<void> {
    for (const c of this.children) c.kill();
    await Promise.all(this.children.map((c) => c.exited));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const show = (records: readonly Rec[]) => (records.length === 0 ? '(nothing)' : records.map((r) => `${r.key}=${r.value} @${r.timestamp}`).join(', '));

type Scenario = (run: Run) => Promise<void>;

/** Phase 1 on A, phase 2 on B (another state directory), phase 3 on A again; each stops by `how`. */
const moving =
  (how: 'close' | 'kill'): Scenario =>
  async (run) => {
    const a = await run.start('A');
    await run.phase(0);
    await a.stop(how, run);
    run.note(`A stopped (${how})`);
    const b = await run.start('B');
    await run.phase(1);
    await b.stop(how, run);
    run.note(`B stopped (${how})`);
    // Same state directory as the first A: its stores are as phase 1 left them.
    await run.start('A again', 'A');
    await run.phase(2);
  };

/** A and B in one group; the task's owner runs phases 1 and 2 and is then stopped by `how`; the other runs phase 3. */
const grouped =
  (how: 'close' | 'kill'): Scenario =>
  async (run) => {
    const a = await run.start('A');
    const b = await run.start('B');
    // B's join gives A a second assignment; wait for it so ownership is not read mid-rebalance.
    await run.until(() => (a.status?.rebalances ?? 0) >= 2, 'A to take the assignment that follows B joining');
    const owner = await run.settledOwner([a, b]);
    const other = owner === a ? b : a;
    run.note(`the task is on ${owner.name}`);
    await run.phase(0);
    await run.phase(1);
    assert.equal((await run.settledOwner([a, b])).name, owner.name, `the task stays on ${owner.name} while both run\n${run.describe()}`);
    await owner.stop(how, run);
    run.note(`${owner.name} (the owner) stopped (${how})`);
    await run.phase(2);
    assert.equal((await run.settledOwner([other])).name, other.name);
    run.note(`${other.name} runs the task`);
  };

const VARIANTS: { name: string; scenario: Scenario }[] = [
  {
    name: 'control: one process runs every phase',
    scenario: async (run) => {
      await run.start('A');
      for (let i = 0; i < PHASES.length; i++) await run.phase(i);
    },
  },
  { name: 'the task moves A -> B -> A, clean close() between the phases', scenario: moving('close') },
  { name: 'the task moves A -> B -> A, kill -9 between the phases', scenario: moving('kill') },
  { name: 'A and B in one group, the owner is killed -9 after phase 2, the other runs phase 3', scenario: grouped('kill') },
  { name: 'A and B in one group, the owner closes after phase 2, the other runs phase 3', scenario: grouped('close') },
];

for (const { name, scenario } of VARIANTS) {
  describe(`issue 12 scenario on Kafka, ${name}`, { timeout: 180_000 }, () => {
    const log = openLog(unique('restart-time-test'));
    const run = new Run(log);
    let outputs: Record<Emit, Rec[]> | undefined;
    let failure: unknown;

    before(async () => {
      try {
        await run.createTopics();
        await scenario(run);
        outputs = await run.outputs();
        const metadata = await log.committedMetadata(run.names.app);
        run.note(`committed offset metadata of the input: ${metadata.get(`${run.names.input}:0`)}`);
      } catch (error) {
        failure = error;
      }
      console.log(`${name}:\n${run.timeline.map((l) => `  ${l}`).join('\n')}`);
    });

    after(async () => {
      await run.cleanup();
      await log.close();
    });

    for (const { emit, path, expected } of PATHS) {
      test(`${path} gives ${show(expected)}`, async () => {
        if (failure !== undefined) throw failure;
        const actual = outputs![emit];
        if (JSON.stringify(actual) !== JSON.stringify(expected)) {
          const metadata = await log.committedMetadata(run.names.app).catch((error: unknown) => `(unreadable: ${String(error)})`);
          assert.fail(
            `${path}, ${name}:\n  expected ${show(expected)}\n  actual   ${show(actual)}\n` +
              `committed offset metadata: ${JSON.stringify(metadata instanceof Map ? Object.fromEntries(metadata) : metadata)}\n${run.describe()}`,
          );
        }
      });
    }
  });
}
