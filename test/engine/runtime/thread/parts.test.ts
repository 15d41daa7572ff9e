/**
 * The named parts of a stream thread (issue 15), without a thread: a TaskManager and a Committer
 * over an embedded log that a wrapper can make refuse commits. A count per key over `events`
 * (two partitions, one task each), its store `counts` persistent and changelogged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Serdes, StreamsBuilder, StreamsError, type KeyValueStore } from '../../../../index.ts';
import { EmbeddedLog } from '../../../../connectors/embedded/index.ts';
import { GlobalStateTask } from '../../../../engine/internals/stream-task.ts';
import { createInMemoryStore } from '../../../../engine/state/in-memory.ts';
import type { Log, LogTransaction } from '../../../../engine/log.ts';
import type { TaskSpec } from '../../../../engine/runtime/messages.ts';
import { RecordCollector } from '../../../../engine/runtime/thread/record-collector.ts';
import { Committer } from '../../../../engine/runtime/thread/committer.ts';
import { TaskManager } from '../../../../engine/runtime/thread/task-manager.ts';
import type { RunningTask } from '../../../../engine/runtime/thread/running-task.ts';

const APP = 'parts-app';
const CHANGELOG = `${APP}-counts-changelog`;
const str = Serdes.string();
const num = Serdes.number();

function topology() {
  const builder = new StreamsBuilder();
  builder.stream('events', { key: str, value: str }).groupByKey().count({ materialized: 'counts' }).toStream().to('out', { value: num });
  return builder.build();
}

const spec = (partition: number): TaskSpec => ({ id: `0_${partition}`, subtopology: 0, partition, inputs: [{ topic: 'events', partition }] });

/** The embedded log; `refuse.next` makes the next transaction's commit fail as a rebalance would. */
function refusing(inner: EmbeddedLog): { log: Log; refuse: { next: boolean } } {
  const refuse = { next: false };
  const log = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'initTransactions') {
        return async (id: string) => {
          const producer = await target.initTransactions(id);
          return {
            transactionalId: producer.transactionalId,
            begin: (): LogTransaction => {
              const tx = producer.begin();
              return {
                produce: (batches) => tx.produce(batches),
                sendOffsets: (group, offsets, options) => tx.sendOffsets(group, offsets, options),
                abort: () => tx.abort(),
                commit: async () => {
                  if (!refuse.next) return tx.commit();
                  refuse.next = false;
                  await tx.abort();
                  throw new StreamsError('TASK_MIGRATED', 'a rebalance moved the tasks on', { canRetry: true });
                },
              };
            },
          };
        };
      }
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  }) as unknown as Log;
  return { log, refuse };
}

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-parts-'));
  const embedded = await EmbeddedLog.open({ dir: join(dir, 'log') });
  await embedded.createTopic('events', { partitions: 2, cleanupPolicy: 'delete' });
  await embedded.createTopic('out', { partitions: 2, cleanupPolicy: 'delete' });
  await embedded.createTopic(CHANGELOG, { partitions: 2, cleanupPolicy: 'compact' });
  const { log, refuse } = refusing(embedded);
  const cleanup = async () => {
    await embedded.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { dir, embedded, log, refuse, cleanup };
}

/** A TaskManager and a Committer as a thread wires them, with state in `stateDir`. */
async function parts(log: Log, stateDir: string | undefined, threadId = 0) {
  const t = topology();
  const global = new GlobalStateTask(t, { applicationId: APP, createStore: createInMemoryStore, clock: Date.now });
  const collector = new RecordCollector({ partitions: { out: 2, [CHANGELOG]: 2 }, deadLetterTopic: undefined });
  const producer = await log.initTransactions(`${APP}-${threadId}`);
  const committer = new Committer({
    log,
    applicationId: APP,
    threadId,
    collector,
    producer,
    streamOutputs: false,
    member: undefined,
    internalTopics: new Set(),
    topologyTopic: (x) => x,
    stopping: () => false,
  });
  const config = { applicationId: APP, changelogs: { counts: CHANGELOG }, partitions: { out: 2, [CHANGELOG]: 2 }, stateDir, readCacheBytes: 1 << 20, recordCacheBytes: 0, onDeserializationError: 'log-and-fail' as const, onProcessingError: 'log-and-fail' as const, onProductionError: 'log-and-fail' as const, maxRecordBytes: 1 << 20 };
  const manager = new TaskManager({ config, log, topology: t, global, collector, logName: (x) => x, topologyTopic: (x) => x });
  return { manager, committer };
}

/** Feeds records to a task as the loop would (after a fetch), moving its input position. */
function feed(t: RunningTask, keys: string[], from: number) {
  keys.forEach((key, i) => {
    t.task.process({ topic: 'events', partition: t.spec.partition, offset: from + i, key: str.serialize(key, 'events'), value: str.serialize('x', 'events'), timestamp: 1000 + from + i });
    t.positions.set(`events:${t.spec.partition}`, from + i + 1);
  });
}

const count = (t: RunningTask, key: string) => (t.task.stores.get('counts') as KeyValueStore<string, number>).get(key);

test('Committer: a commit refused mid-way (TASK_MIGRATED) reports false, drops the sealed local writes and commits nothing', async () => {
  const { dir, log, refuse, embedded, cleanup } = await setup();
  try {
    const { manager, committer } = await parts(log, join(dir, 'state'));
    await manager.start([spec(0)], []);
    const [t] = manager.tasks;
    feed(t!, ['a', 'b', 'a'], 0);
    refuse.next = true;
    committer.start(manager.tasks, true);
    assert.equal(await committer.finish(), false);
    assert.equal(committer.abandoned, 'TASK_MIGRATED');
    assert.equal(t!.prepared.db!.pendingWrites, 0, 'what the refused commit sealed is not written');
    assert.equal((await embedded.committedOffsets(APP)).size, 0, 'no offsets committed');
    assert.equal(embedded.offsets({ topic: 'out', partition: 0 }).end, 0, 'no outputs visible');
    await manager.close();
  } finally {
    await cleanup();
  }
});

test('TaskManager: a task opens from its local state and replays only the changelog after its saved position', async () => {
  const { dir, log, embedded, cleanup } = await setup();
  try {
    // Process A counts a, a, b with local state, commits (state written at the changelog's end), stops.
    const a = await parts(log, join(dir, 'a'));
    await a.manager.start([spec(0)], []);
    feed(a.manager.tasks[0]!, ['a', 'a', 'b'], 0);
    assert.equal(await a.committer.commitNow(a.manager.tasks, true), true);
    const saved = embedded.offsets({ topic: CHANGELOG, partition: 0 }).end;
    await a.manager.close();
    // Process B (state in memory) takes the task on from A's commit, counts a, c, commits, stops.
    const b = await parts(log, undefined, 1);
    await b.manager.start([spec(0)], []);
    assert.equal(b.manager.tasks[0]!.restored, saved, 'without local state, the whole changelog');
    assert.equal(b.manager.tasks[0]!.positions.get('events:0'), 3, 'input position from the last commit');
    feed(b.manager.tasks[0]!, ['a', 'c'], 3);
    assert.equal(await b.committer.commitNow(b.manager.tasks, true), true);
    await b.manager.close();
    const end = embedded.offsets({ topic: CHANGELOG, partition: 0 }).end;
    // A again: its local state stops at `saved`; only what B added is replayed.
    const again = await parts(log, join(dir, 'a'));
    await again.manager.start([spec(0)], []);
    const t = again.manager.tasks[0]!;
    assert.equal(t.restored, end - saved);
    assert.deepEqual([count(t, 'a'), count(t, 'b'), count(t, 'c')], [3, 1, 1]);
    await again.manager.close();
  } finally {
    await cleanup();
  }
});

test('TaskManager: an assignment adds and revokes single tasks; the task that stays is the same running task', async () => {
  const { dir, log, embedded, cleanup } = await setup();
  try {
    const { manager, committer } = await parts(log, join(dir, 'state'));
    await manager.start([spec(0)], []);
    const kept = manager.tasks[0]!;
    feed(kept, ['a'], 0);
    assert.equal(await manager.apply({ member: undefined, add: [spec(1)], remove: [], addStandbys: [], removeStandbys: [] }, committer), true);
    assert.deepEqual(manager.tasks.map((t) => t.spec.id), ['0_0', '0_1']);
    assert.equal(manager.task('0_0'), kept, 'not reopened');
    feed(manager.task('0_1')!, ['z', 'z'], 0);
    feed(kept, ['a'], 1);
    // Revoking 0_1 commits first: its progress is in the group's offsets and its changelog.
    assert.equal(await manager.apply({ member: undefined, add: [], remove: ['0_1'], addStandbys: [], removeStandbys: [] }, committer), true);
    assert.deepEqual(manager.tasks.map((t) => t.spec.id), ['0_0']);
    assert.equal(manager.task('0_0'), kept);
    assert.equal(count(kept, 'a'), 2);
    const committed = await embedded.committedOffsets(APP);
    assert.equal(committed.get('events:1'), 2);
    assert.equal(committed.get('events:0'), 2);
    await manager.close();
  } finally {
    await cleanup();
  }
});

test('TaskManager: a standby promoted to active starts from its warm copy', async () => {
  const { dir, log, embedded, cleanup } = await setup();
  try {
    // The owner elsewhere counts and commits; this manager keeps a standby of 0_0.
    const owner = await parts(log, undefined, 1);
    await owner.manager.start([spec(0)], []);
    feed(owner.manager.tasks[0]!, ['a', 'b', 'a'], 0);
    assert.equal(await owner.committer.commitNow(owner.manager.tasks, true), true);
    const here = await parts(log, join(dir, 'standby'));
    await here.manager.start([], [spec(0)]);
    assert.equal(here.manager.standbyStore('counts', 0) !== undefined, true);
    for (let i = 0; i < 20 && (here.manager.standbyStore('counts', 0) as KeyValueStore<string, number>).get('a') !== 2; i++) {
      await new Promise((r) => setTimeout(r, 120));
      await here.manager.pollStandbys();
    }
    assert.equal((here.manager.standbyStore('counts', 0) as KeyValueStore<string, number>).get('a'), 2, 'the standby caught up');
    await owner.manager.close();
    // The task moves here: the standby is let go (its state written), the active task opens on it.
    assert.equal(await here.manager.apply({ member: undefined, add: [spec(0)], remove: [], addStandbys: [], removeStandbys: ['0_0'] }, here.committer), true);
    const t = here.manager.task('0_0')!;
    assert.equal(t.restored, 0, 'nothing to replay: the warm copy is up to date');
    assert.equal(embedded.offsets({ topic: CHANGELOG, partition: 0 }).end > 0, true);
    assert.deepEqual([count(t, 'a'), count(t, 'b')], [2, 1]);
    assert.equal(here.manager.standbyStore('counts', 0), undefined);
    await here.manager.close();
  } finally {
    await cleanup();
  }
});
