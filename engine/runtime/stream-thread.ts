/**
 * A stream thread (worker_threads entry point). It imports the topology module itself (functions
 * never cross postMessage), builds its tasks, restores their stores from the changelogs, then
 * loops: fetch a batch for every input partition in one round trip, process each task's records
 * synchronously in timestamp order, and commit on the interval: outputs, changelog records and
 * input offsets in one transaction (exactly-once) or produce-then-commit-offsets (at-least-once).
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { StreamsError, describeCause } from '../errors.ts';
import { fetchMany, openWorkerLog, partitionKey, type GroupGeneration, type Log, type LogRecord, type LogTransaction, type PartitionBatch, type TopicPartition, type TransactionalProducer } from '../log.ts';
import type { AnyStore, StoreBuilder } from '../state/store.ts';
import { createInMemoryStore, type RestorableStore, type StoreContext } from '../state/in-memory.ts';
import { prepareStores, type PreparedStores } from './task-state.ts';
import { GlobalStateTask, StreamTask, type OutputRecord, type RawRecord } from '../internals/stream-task.ts';
import { decodeCheckpoint, type PartitionCheckpoint } from '../internals/committed-time.ts';
import type { Topology } from '../topology.ts';
import { LogClient } from './log-rpc.ts';
import { partitionForKey } from './partitioner.ts';
import { assertNever, type ErrorPolicy, type FromThread, type TaskSpec, type ThreadConfig, type ToThread } from './messages.ts';
import { loadTopology } from './load-topology.ts';
import { runQuery, validateQuery } from './queries.ts';

interface RunningTask {
  readonly spec: TaskSpec;
  deadLettered: number;
  /** Changelog records replayed when the task started. */
  readonly restored: number;
  readonly prepared: PreparedStores;
  /** Changelog topics of this task's stores (its partition is the task's). */
  readonly changelogs: readonly string[];
  readonly task: StreamTask;
  /** Next offset to read per input partition. */
  readonly positions: Map<string, number>;
  /** Records fetched and not yet processed, per input partition. */
  readonly queues: Map<string, RawRecord[]>;
  /** Records after the last fetched one, per input partition, as of its last fetch. */
  readonly lags: Map<string, number>;
  /** Keys of the records fetched since the last prefetch. */
  freshKeys: Uint8Array[];
  lag: number;
}

const config = workerData.config as ThreadConfig;
// The thread's own connection to the log when the log offers one (Kafka: every stream thread
// owns its clients), else the log served by the thread that opened it.
const log: Log = config.workerLog !== undefined ? await openWorkerLog(config.workerLog) : new LogClient(workerData.logPort as MessagePort);
const port = parentPort!;
const send = (message: FromThread) => port.postMessage(message);

const EMPTY = new Uint8Array(0);

class Outputs {
  /** Per topic, per partition: the records to write at the next commit. */
  readonly #byTopic = new Map<string, LogRecord[][]>();
  count = 0;

  add(topic: string, partition: number | undefined, record: LogRecord): void {
    let partitions = this.#byTopic.get(topic);
    if (partitions === undefined) {
      const n = config.partitions[topic];
      if (n === undefined) {
        throw new StreamsError('UNKNOWN_TOPIC', `the topology writes to topic "${topic}", which does not exist; create it first`);
      }
      this.#byTopic.set(topic, (partitions = Array.from({ length: n }, () => [])));
    }
    const n = partitions.length;
    // A record without a key goes by its value's hash (by neither, to partition 0): a round-robin
    // counter would restart with the thread, and a restart would move records to other partitions.
    const p = partition ?? partitionForKey(record.key ?? record.value ?? EMPTY, n);
    partitions[p]!.push(record);
    this.count++;
  }

  take(): PartitionBatch[] {
    const batches: PartitionBatch[] = [];
    for (const [topic, partitions] of this.#byTopic) {
      partitions.forEach((records, partition) => {
        if (records.length > 0) batches.push({ topic, partition, records: records.splice(0) });
      });
    }
    this.count = 0;
    return batches;
  }
}

const outputs = new Outputs();
const logName = (topic: string) => config.topicNames[topic] ?? topic;
let stopping = false;
let commits = 0;
let commitMs = 0;
let processed = 0;
let processMs = 0;

let topology: Topology;
let global: GlobalStateTask;

async function main(): Promise<void> {
  topology = await loadTopology(config.module, config.exportName);
  global = new GlobalStateTask(topology, { applicationId: config.applicationId, createStore: createInMemoryStore, clock: Date.now });
  const globalPositions = new Map<string, number>();
  for (const [topic, n] of Object.entries(config.globalTopics)) for (let p = 0; p < n; p++) globalPositions.set(`${topic}:${p}`, 0);
  await pollGlobal(global, globalPositions, true);

  const tasks: RunningTask[] = [];
  // Fence the previous instance of this thread first: its unfinished transaction is aborted, so
  // the committed offsets and changelogs read next are stable and complete.
  const producer = config.processingGuarantee === 'exactly_once_v2' ? await log.initTransactions(`${config.transactionalIdPrefix ?? config.applicationId}-${config.threadId}`) : undefined;
  tasks.push(...(await openTasks(config.tasks, config.tasks)));

  const standbys: StandbyTask[] = [];
  for (const spec of config.standbys ?? []) standbys.push(await openStandby(spec, topology, [...config.tasks, ...(config.standbys ?? [])]));
  for (const sb of standbys) for (const { store } of sb.stores) standbyStores.set(`${store.name}:${sb.spec.partition}`, store);
  tasksById = new Map(tasks.map((t) => [t.spec.id, t]));
  port.on('message', (message: ToThread) => onControl(message, tasks));
  send({ kind: 'ready', threadId: config.threadId });

  let lastCommit = Date.now();
  let first = 0;
  while (!stopping) {
    const assignment = assignments.shift();
    if (assignment !== undefined && !(await applyAssignment(assignment, tasks, standbys, producer))) {
      send({ kind: 'assigned', id: assignment.id, ok: false });
      break;
    }
    const fetched = await fetchAll(tasks);
    await pollGlobal(global, globalPositions, false);
    if (fetched > 0) await Promise.all(tasks.map(prefetch));
    // The commit under way failed meanwhile and the tasks' uncommitted writes were dropped: stop
    // before processing on top of them (queries would see a mix of old and new state).
    if (migrated) break;
    // Records are processed in slices of bounded time, so that interactive queries and control
    // messages (answered on this thread's event loop) wait at most about one slice. What a slice
    // leaves is processed by the next one, before anything new is fetched for that partition.
    const started = performance.now();
    const deadline = started + PROCESS_SLICE_MS;
    for (let i = 0; i < tasks.length; i++) processed += processTask(tasks[(first + i) % tasks.length]!, deadline);
    first = (first + 1) % Math.max(1, tasks.length);
    processMs += performance.now() - started;
    for (const t of tasks) t.task.punctuateWallClock(Date.now());
    // A commit that completed meanwhile is collected first: only then may outputs go into the
    // next transaction.
    if (committing?.settled === true && !(await finishCommit())) break;
    if (producer !== undefined && streamsOutputs && committing === undefined && outputs.count >= STREAM_OUTPUTS_AT) {
      // Into the open transaction now: the log sends them while this thread processes on.
      openTransaction ??= producer.begin();
      handedOff += outputs.count;
      openTransaction.produce(outputs.take());
    }
    if (Date.now() - lastCommit >= config.commitIntervalMs || outputs.count + handedOff >= config.maxBufferedRecords) {
      if (committing !== undefined && !(await finishCommit())) break;
      committing = startCommit(tasks, producer);
      lastCommit = Date.now();
    }
    if (standbys.length > 0 && Date.now() - lastStandbyPoll >= STANDBY_POLL_MS) {
      lastStandbyPoll = Date.now();
      await updateStandbys(standbys, false);
    }
    if (tasks.some(hasQueued)) await new Promise(setImmediate);
    else if (fetched === 0) await new Promise((resolve) => setTimeout(resolve, config.pollIntervalMs));
  }
  if (committing !== undefined) await finishCommit();
  if (!migrated) {
    committing = startCommit(tasks, producer, true);
    await finishCommit();
  }
  for (const t of tasks) {
    t.task.close();
    await t.prepared.db?.close();
  }
  if (standbys.length > 0) await updateStandbys(standbys, true);
  for (const sb of standbys) await sb.prepared.db?.close();
  global.close();
  // Assignments that came too late: the application hears that this thread has stopped.
  for (const a of assignments.splice(0)) send({ kind: 'assigned', id: a.id, ok: false });
  send({ kind: 'stopped', threadId: config.threadId, ...(abandoned !== undefined && { abandoned }) });
  await log.close();
}

/**
 * Opens tasks: their stores from local state, then each changelog replayed from where that state
 * stops; their input positions and restored times from the group's last commit (read now, so a
 * task taken over from another process starts from that process's final commit). `all`: every
 * task the thread will run, which share the cache budget.
 */
async function openTasks(specs: readonly TaskSpec[], all: readonly TaskSpec[]): Promise<RunningTask[]> {
  if (specs.length === 0) return [];
  const committed = await log.committedOffsets(config.applicationId);
  // What each task committed of time with its offsets (partition times, operators' times, punctuation schedules).
  const committedMetadata = await log.committedMetadata(config.applicationId);
  // Where every changelog partition of this thread ends, in one round trip.
  const changelogParts = specs.flatMap((spec) =>
    topology.subtopologies()[spec.subtopology]!.stores.flatMap((store) => {
      const topic = config.changelogs[store];
      return topic === undefined ? [] : [{ taskId: spec.id, topic, partition: spec.partition }];
    }),
  );
  const ends = await fetchMany(log, changelogParts.map((c) => ({ tp: { topic: c.topic, partition: c.partition }, offset: 0, options: { maxRecords: 0 } })));
  const endOf = new Map(changelogParts.map((c, i) => [`${c.taskId}/${c.topic}`, ends[i]!.endOffset]));

  const opened: RunningTask[] = [];
  for (const spec of specs) {
    const subtopology = topology.subtopologies()[spec.subtopology]!;
    const prepared = await prepareStores({
      stateDir: config.stateDir,
      applicationId: config.applicationId,
      taskId: spec.id,
      topology,
      storeNames: subtopology.stores,
      changelogs: config.changelogs,
      changelogEnds: new Map(subtopology.stores.flatMap((s) => (config.changelogs[s] === undefined ? [] : [[config.changelogs[s]!, endOf.get(`${spec.id}/${config.changelogs[s]}`) ?? 0]]))),
      cacheBytesPerStore: cacheShare(all),
      warn: (message) => console.warn(`[tributary] task ${spec.id}: ${message}`),
    });
    const restoredFrom = new Map<string, PartitionCheckpoint>();
    for (const tp of spec.inputs) {
      const metadata = committedMetadata.get(partitionKey(tp));
      if (metadata !== undefined) restoredFrom.set(topologyTopic(tp.topic), decodeCheckpoint(metadata, `${tp.topic}-${tp.partition}`));
    }
    const task = new StreamTask(topology, subtopology, spec.partition, {
      applicationId: config.applicationId,
      restoredFrom,
      collector: {
        send: (record: OutputRecord) => outputs.add(logName(record.topic), record.partition, toLogRecord(record)),
        partitionsFor: (topic) => config.partitions[logName(topic)] ?? 1,
      },
      createStore: (builder: StoreBuilder, ctx: StoreContext) => {
        const changelog = config.changelogs[builder.name];
        return prepared.createStore(
          builder,
          changelog === undefined
            ? ctx
            : {
                recordTimestamp: () => ctx.recordTimestamp(),
                logChange: (key, value, timestamp) => outputs.add(changelog, spec.partition, { key, value, timestamp }),
              },
        );
      },
      globalStores: global.stores,
      clock: Date.now,
      onDeserializationError: (error, raw) => handleError(config.onDeserializationError, error, raw, spec.id),
      onProcessingError: (error, raw) => handleError(config.onProcessingError, error, raw, spec.id),
    });
    // Replay each changelog from where the store's data stops (0 for in-memory stores).
    const positions = new Map<string, number>();
    let restored = 0;
    for (const [name, from] of prepared.restoreFrom) {
      const topic = config.changelogs[name]!;
      const store = task.stores.get(name) as AnyStore & RestorableStore;
      const reached = await restore(prepared, store, { topic, partition: spec.partition }, from);
      restored += reached - from;
      positions.set(topic, reached);
    }
    await prepared.db?.commit(positions);
    task.initialize();
    const inputs = new Map<string, number>();
    for (const tp of spec.inputs) inputs.set(partitionKey(tp), committed.get(partitionKey(tp)) ?? 0);
    opened.push({
      spec,
      task,
      positions: inputs,
      queues: new Map(spec.inputs.map((tp) => [partitionKey(tp), []])),
      lags: new Map(),
      freshKeys: [],
      lag: 0,
      deadLettered: 0,
      restored,
      prepared,
      changelogs: subtopology.stores.flatMap((s) => (config.changelogs[s] === undefined ? [] : [config.changelogs[s]!])),
    });
  }

  return opened;
}

/** Each persistent key-value store's share of the thread's cache, among the stores of `all` tasks. */
function cacheShare(all: readonly TaskSpec[]): number {
  const stores = all.reduce((n, spec) => n + topology.subtopologies()[spec.subtopology]!.stores.filter((s) => topology.storeBuilder(s)!.supplier.kind === 'key-value').length, 0);
  return Math.floor(config.cacheBytes / Math.max(1, stores));
}

let tasksById = new Map<string, RunningTask>();

type Assignment = Extract<ToThread, { kind: 'assign' }>;

/** Assignments to apply, in order, at the top of the loop. */
const assignments: Assignment[] = [];
/** The group generation this thread commits under. */
let member = config.member;
/** The newest generation heard of (set as soon as an assignment arrives, before it is applied). */
let newestMember = config.member;

/**
 * A commit refused because the generation moved on waits for this process to hear of the next
 * one (its tasks not given up are still its own, and the leader gives no one a task its owner
 * still holds), then goes again under it. Gives up if none comes within a rebalance's time.
 */
async function renewMember(stale: GroupGeneration): Promise<GroupGeneration | undefined> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && !stopping) {
    const next = newestMember;
    if (next !== undefined && next.memberId === stale.memberId && next.generationId > stale.generationId) {
      console.warn(`[tributary] stream thread ${config.threadId}: a commit of generation ${stale.generationId} goes again under generation ${next.generationId}`);
      return next;
    }
    if (next !== undefined && next.memberId !== stale.memberId) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return undefined;
}

/**
 * A new generation (cooperative rebalancing): the tasks this thread loses are committed (under
 * the new generation: no one else has them in it) and closed, with their local state written;
 * then the tasks it gains are opened and restored from the group's last commit, which their
 * previous owner made before it let them go. The tasks it keeps never stop. False if a commit was
 * refused on the way (the thread stops; see startCommit).
 */
async function applyAssignment(a: Assignment, tasks: RunningTask[], standbys: StandbyTask[], producer: TransactionalProducer | undefined): Promise<boolean> {
  member = a.member;
  const removed = tasks.filter((t) => a.remove.includes(t.spec.id));
  if (removed.length > 0) {
    if (committing !== undefined && !(await finishCommit())) return false;
    committing = startCommit(tasks, producer, true);
    if (!(await finishCommit())) return false;
    for (const t of removed) {
      tasks.splice(tasks.indexOf(t), 1);
      tasksById.delete(t.spec.id);
      for (const tp of t.spec.inputs) {
        committedPositions.delete(partitionKey(tp));
        committedMetadataOf.delete(partitionKey(tp));
      }
      t.task.close();
      await t.prepared.db?.close();
    }
  }
  const droppedStandbys = standbys.filter((sb) => a.removeStandbys.includes(sb.spec.id));
  if (droppedStandbys.length > 0) {
    await updateStandbys(droppedStandbys, true);
    for (const sb of droppedStandbys) {
      standbys.splice(standbys.indexOf(sb), 1);
      for (const { store } of sb.stores) standbyStores.delete(`${store.name}:${sb.spec.partition}`);
      await sb.prepared.db?.close();
    }
  }
  const all = [...tasks.map((t) => t.spec), ...a.add, ...standbys.map((sb) => sb.spec), ...a.addStandbys];
  for (const t of await openTasks(a.add, all)) {
    tasks.push(t);
    tasksById.set(t.spec.id, t);
  }
  for (const spec of a.addStandbys) {
    const sb = await openStandby(spec, topology, all);
    standbys.push(sb);
    for (const { store } of sb.stores) standbyStores.set(`${store.name}:${sb.spec.partition}`, store);
  }
  send({ kind: 'assigned', id: a.id, ok: true });
  return true;
}

/**
 * A standby task (numStandbyReplicas): a warm copy of another process's task, kept by reading
 * its changelogs into the same local stores an active task would use. When the task moves here,
 * it starts from this copy and replays only the records after it.
 */
interface StandbyTask {
  readonly spec: TaskSpec;
  readonly prepared: PreparedStores;
  /** Store name -> the store and its changelog, with the next changelog offset to apply. */
  readonly stores: { readonly store: AnyStore & RestorableStore; readonly topic: string; position: number }[];
}

/** `${store}:${partition}` -> the standby copy of that store partition, for stale queries. */
const standbyStores = new Map<string, AnyStore>();

const STANDBY_POLL_MS = 100;
let lastStandbyPoll = 0;
let lastStandbyFlush = Date.now();

async function openStandby(spec: TaskSpec, topology: Topology, all: readonly TaskSpec[]): Promise<StandbyTask> {
  const subtopology = topology.subtopologies()[spec.subtopology]!;
  const logged = subtopology.stores.filter((s) => config.changelogs[s] !== undefined);
  const ends = await fetchMany(log, logged.map((s) => ({ tp: { topic: config.changelogs[s]!, partition: spec.partition }, offset: 0, options: { maxRecords: 0 } })));
  const prepared = await prepareStores({
    stateDir: config.stateDir,
    applicationId: config.applicationId,
    taskId: spec.id,
    topology,
    storeNames: logged,
    changelogs: config.changelogs,
    changelogEnds: new Map(logged.map((s, i) => [config.changelogs[s]!, ends[i]!.endOffset])),
    cacheBytesPerStore: cacheShare(all),
    warn: (message) => console.warn(`[tributary] standby task ${spec.id}: ${message}`),
  });
  const stores = logged.map((name) => {
    const store = prepared.createStore(topology.storeBuilder(name)!, { recordTimestamp: () => 0 }) as AnyStore & RestorableStore;
    return { store, topic: config.changelogs[name]!, position: prepared.restoreFrom.get(name) ?? 0 };
  });
  return { spec, prepared, stores };
}

/** Applies what the changelogs of the standby tasks gained; their local state reaches the disk about once a second. */
async function updateStandbys(standbys: readonly StandbyTask[], flush: boolean): Promise<void> {
  const parts = standbys.flatMap((sb) => sb.stores.map((entry) => ({ sb, entry })));
  const results = await fetchMany(log, parts.map(({ sb, entry }) => ({ tp: { topic: entry.topic, partition: sb.spec.partition }, offset: entry.position, options: { maxRecords: 10_000 } })));
  parts.forEach(({ sb, entry }, i) => {
    const r = results[i]!;
    for (const rec of r.records) sb.prepared.restore(entry.store, rec.key!, rec.value, rec.timestamp);
    entry.position = r.nextOffset;
  });
  if (flush || Date.now() - lastStandbyFlush >= STATE_FLUSH_INTERVAL_MS) {
    lastStandbyFlush = Date.now();
    await Promise.all(standbys.map((sb) => (sb.prepared.db !== undefined && sb.prepared.db.pendingWrites > 0 ? sb.prepared.db.commit(new Map(sb.stores.map((e) => [e.topic, e.position]))) : undefined)));
  }
}

/** Set once a commit was refused (a rebalance gave the tasks away) or the log could not take it. */
let migrated = false;
let abandoned: string | undefined;

/**
 * The commit under way, if any. A commit takes what it commits synchronously when it starts
 * (outputs, input offsets, the stores' writes since the last one), so the thread processes on
 * while the log completes it; outputs wait in `outputs` until it has, and the next commit starts
 * only after it.
 */
let committing: { readonly done: Promise<boolean>; settled: boolean } | undefined;

/**
 * Starts a commit. Its outcome is false when a rebalance has moved on (TASK_MIGRATED): then the
 * transaction is aborted, the thread stops processing and closes its tasks without writing their
 * local state (what they did since the last commit is redone by whoever owns them now), and the
 * application starts threads for its new tasks.
 */
function startCommit(tasks: RunningTask[], producer: TransactionalProducer | undefined, force = false): NonNullable<typeof committing> {
  const started = { settled: false } as { done: Promise<boolean>; settled: boolean };
  started.done = commit(tasks, producer, force).then(
    () => true,
    (error: unknown) => {
      // With exactly-once the transaction is aborted (or fenced) and the stores' writes since the
      // last commit are dropped with this thread, so starting the tasks again redoes exactly that.
      if (producer === undefined || !(error instanceof StreamsError) || (error.code !== 'TASK_MIGRATED' && error.code !== 'LOG_UNAVAILABLE')) throw error;
      console.warn(`[tributary] stream thread ${config.threadId}: ${error.message}; its tasks start again from their last commit`);
      migrated = true;
      abandoned = error.code;
      stopping = true;
      for (const t of tasks) t.prepared.db?.discardPending();
      return false;
    },
  );
  started.done.then(
    () => (started.settled = true),
    () => (started.settled = true),
  );
  return started;
}

/** Waits for the commit under way; false if the tasks migrated (see startCommit). */
async function finishCommit(): Promise<boolean> {
  const current = committing!;
  committing = undefined;
  return current.done;
}

/**
 * Applies an error policy to a bad record. A dead-lettered record keeps its key and value bytes;
 * headers say where it came from and why. It is written in the same transaction as the offsets
 * that move past it, so it is dead-lettered exactly once.
 */
function handleError(policy: ErrorPolicy, error: StreamsError, raw: RawRecord, taskId: string): 'continue' | 'fail' {
  if (policy === 'log-and-fail') return 'fail';
  console.warn(`[tributary] task ${taskId}: skipping record ${raw.topic}-${raw.partition}@${raw.offset}: ${error.message}`);
  if (policy === 'dead-letter') {
    outputs.add(config.deadLetterTopic!, undefined, {
      key: raw.key,
      value: raw.value,
      timestamp: raw.timestamp,
      headers: {
        ...raw.headers,
        'tributary.error.code': error.code,
        'tributary.error.message': error.message,
        'tributary.source.topic': logName(raw.topic),
        'tributary.source.partition': String(raw.partition),
        'tributary.source.offset': String(raw.offset),
        'tributary.task': taskId,
      },
    });
    const t = tasksById.get(taskId);
    if (t !== undefined) t.deadLettered++;
  }
  return 'continue';
}

function toLogRecord(record: OutputRecord): LogRecord {
  return record.headers === undefined
    ? { key: record.key, value: record.value, timestamp: record.timestamp }
    : { key: record.key, value: record.value, timestamp: record.timestamp, headers: record.headers };
}

/** Replays a store's changelog partition from `from`; returns the offset it reached. */
async function restore(prepared: PreparedStores, store: AnyStore & RestorableStore, tp: TopicPartition, from: number): Promise<number> {
  let offset = from;
  for (;;) {
    const { records, nextOffset, endOffset } = await log.fetch(tp, offset, { maxRecords: 10_000 });
    for (const r of records) prepared.restore(store, r.key!, r.value, r.timestamp);
    offset = nextOffset;
    // Long replays reach the disk in steps, so memory stays bounded and progress is kept.
    if (prepared.db !== undefined && prepared.db.pendingWrites >= 50_000) await prepared.db.commit(new Map([[tp.topic, offset]]));
    if (nextOffset >= endOffset) return offset;
  }
}

async function pollGlobal(global: GlobalStateTask, positions: Map<string, number>, toEnd: boolean): Promise<void> {
  if (positions.size === 0) return;
  for (;;) {
    const entries = [...positions];
    const results = await fetchMany(log, 
      entries.map(([key, offset]) => {
        const at = key.lastIndexOf(':');
        return { tp: { topic: key.slice(0, at), partition: Number(key.slice(at + 1)) }, offset, options: { maxRecords: 10_000 } };
      }),
    );
    let behind = false;
    results.forEach((result, i) => {
      const [key] = entries[i]!;
      const at = key.lastIndexOf(':');
      const topic = key.slice(0, at);
      const partition = Number(key.slice(at + 1));
      for (const r of result.records) global.process({ ...r, topic, partition });
      positions.set(key, result.nextOffset);
      if (result.nextOffset < result.endOffset) behind = true;
    });
    if (!toEnd || !behind) return;
  }
}

async function fetchAll(tasks: RunningTask[]): Promise<number> {
  const wanted: { task: RunningTask; key: string; tp: TopicPartition; offset: number }[] = [];
  for (const t of tasks) {
    for (const tp of t.spec.inputs) {
      const key = partitionKey(tp);
      if (t.queues.get(key)!.length === 0) wanted.push({ task: t, key, tp, offset: t.positions.get(key)! });
    }
  }
  if (wanted.length === 0) return 0;
  const results = await fetchMany(log, wanted.map((w) => ({ tp: w.tp, offset: w.offset, options: { maxRecords: config.maxPollRecords } })));
  let total = 0;
  results.forEach((result, i) => {
    const w = wanted[i]!;
    const queue = w.task.queues.get(w.key)!;
    const topic = topologyTopic(w.tp.topic);
    for (const r of result.records) {
      queue.push({ ...r, topic, partition: w.tp.partition });
      if (r.key !== null) w.task.freshKeys.push(r.key);
    }
    total += result.records.length;
    w.task.lags.set(w.key, result.endOffset - result.nextOffset);
  });
  for (const t of tasks) {
    // Records fetched but still queued are not processed yet: they count as lag too.
    let lag = 0;
    for (const [key, q] of t.queues) lag += (t.lags.get(key) ?? 0) + q.length;
    t.lag = lag;
  }
  return total;
}

const reverseNames = new Map(Object.entries(config.topicNames).map(([topology, logTopic]) => [logTopic, topology]));
function topologyTopic(logTopic: string): string {
  return reverseNames.get(logTopic) ?? logTopic;
}

/** Loads the values of the keys just fetched into the persistent key-value stores, one multi-get each. */
async function prefetch(t: RunningTask): Promise<void> {
  const keys = t.freshKeys;
  if (keys.length === 0) return;
  t.freshKeys = [];
  if (t.prepared.keyValueStores.length === 0) return;
  await Promise.all(t.prepared.keyValueStores.map((s) => s.prefetch(keys)));
}

/** Longest synchronous stretch of record processing before the thread yields to its event loop. */
const PROCESS_SLICE_MS = 5;

function hasQueued(t: RunningTask): boolean {
  for (const q of t.queues.values()) if (q.length > 0) return true;
  return false;
}

/**
 * Processes the queued records of a task until `deadline` (checked every few records), always
 * taking the partition whose head is oldest; returns how many. The rest stays queued.
 *
 * A task with several input partitions (joins, merges, co-partitioned topics) stops as soon as
 * one of them has no queued record but is known to have more in the log (lag at its last fetch):
 * its next record may be older than every queued one, so it is fetched first. This is Kafka
 * Streams' behaviour with max.task.idle.ms = 0 (KIP-695): a table's records are applied before
 * later stream records that join with them, whatever order the fetches returned them in.
 */
function processTask(t: RunningTask, deadline: number): number {
  let count = 0;
  const all = [...t.queues.entries()];
  const waitsForFetch = all.length > 1;
  const laggingEmpty = ([key, q]: [string, RawRecord[]]) => q.length === 0 && (t.lags.get(key) ?? 0) > 0;
  if (waitsForFetch && all.some(laggingEmpty)) return 0;
  const queues = all.filter(([, q]) => q.length > 0);
  const heads = queues.map(() => 0);
  for (;;) {
    if ((count & 63) === 63 && performance.now() >= deadline) break;
    let best = -1;
    for (let i = 0; i < queues.length; i++) {
      const q = queues[i]![1];
      if (heads[i]! < q.length && (best === -1 || q[heads[i]!]!.timestamp < queues[best]![1][heads[best]!]!.timestamp)) best = i;
    }
    if (best === -1) break;
    const [key, q] = queues[best]!;
    const record = q[heads[best]!++]!;
    t.task.process(record);
    t.positions.set(key, record.offset + 1);
    count++;
    // That partition's queue is used up but the log has more of it: fetch before going on.
    if (waitsForFetch && heads[best] === q.length && (t.lags.get(key) ?? 0) > 0) break;
  }
  queues.forEach(([, q], i) => {
    if (heads[i] === q.length) q.length = 0;
    else q.splice(0, heads[i]);
  });
  return count;
}

/**
 * Exactly-once on a log this thread has its own connection to (Kafka): outputs and changelog
 * records go into the open transaction in batches of STREAM_OUTPUTS_AT as they accumulate, so the
 * producer sends them while the thread goes on processing (as Kafka Streams' producer does), and
 * a commit only adds the rest, the offsets, and ends the transaction. What was handed over counts
 * against maxBufferedRecords until the commit. The embedded log writes a transaction as one entry
 * at commit, so there outputs simply wait in `outputs`.
 */
const STREAM_OUTPUTS_AT = 1000;
const streamsOutputs = config.workerLog !== undefined;
let openTransaction: LogTransaction | undefined;
let handedOff = 0;

/** Input offsets and their metadata as of the last commit, to skip commits with nothing new. */
const committedPositions = new Map<string, number>();
const committedMetadataOf = new Map<string, string>();
let lastPurge = 0;

const STATE_FLUSH_INTERVAL_MS = 1000;
const MAX_PENDING_STATE_WRITES = 100_000;
let lastStateFlush = Date.now();

/**
 * Commits what the tasks did so far. Everything it commits is taken before its first await:
 * outputs, input offsets, and (sealed) the stores' writes, which reach the disk only once the
 * transaction is committed.
 */
async function commit(tasks: RunningTask[], producer: TransactionalProducer | undefined, force = false): Promise<void> {
  const offsets = new Map<string, number>();
  // Each partition's offset goes with its task's checkpoint (times that must survive a restart).
  const metadata = new Map<string, string>();
  for (const t of tasks) {
    t.task.flush();
    for (const [tp, offset] of t.positions) offsets.set(tp, offset);
    for (const tp of t.spec.inputs) metadata.set(partitionKey(tp), t.task.checkpoint(topologyTopic(tp.topic)));
  }
  const moved = [...offsets].some(([tp, offset]) => committedPositions.get(tp) !== offset || committedMetadataOf.get(tp) !== metadata.get(tp));
  const pendingState = force && tasks.some((t) => (t.prepared.db?.pendingWrites ?? 0) > 0);
  if (outputs.count === 0 && openTransaction === undefined && !moved && !pendingState) return;
  const started = performance.now();
  const batches = outputs.take();
  // Local state is flushed at most about once a second (and at shutdown): a key updated many
  // times in between is written once. What is not flushed yet is replayed from the changelog.
  const flushState = force || Date.now() - lastStateFlush >= STATE_FLUSH_INTERVAL_MS;
  const dirty = tasks.filter(
    (t) => t.prepared.db !== undefined && t.prepared.db.pendingWrites > 0 && (flushState || t.prepared.db.pendingWrites >= MAX_PENDING_STATE_WRITES),
  );
  if (flushState) lastStateFlush = Date.now();
  for (const t of dirty) t.prepared.db!.seal();
  if (producer !== undefined) {
    const tx = openTransaction ?? producer.begin();
    openTransaction = undefined;
    handedOff = 0;
    tx.produce(batches);
    tx.sendOffsets(config.applicationId, offsets, { ...(member !== undefined && { member, renewMember }), metadata });
    await tx.commit();
  } else {
    if (batches.length > 0) await log.produce(batches);
    await log.commitOffsets(config.applicationId, offsets, metadata, { ...(member !== undefined && { member, renewMember }) });
  }
  // Only now, with the changelog committed, do the sealed writes reach the disk, with the
  // changelog offsets they reflect (no later records are in the changelog yet: the next
  // transaction starts after this commit). A crash in between leaves the disk behind the
  // changelog, and the restart replays the difference.
  if (dirty.length > 0) {
    const parts = dirty.flatMap((t) => t.changelogs.map((topic) => ({ t, topic })));
    const ends = await fetchMany(log, parts.map(({ t, topic }) => ({ tp: { topic, partition: t.spec.partition }, offset: 0, options: { maxRecords: 0 } })));
    const positions = new Map<RunningTask, Map<string, number>>(dirty.map((t) => [t, new Map()]));
    parts.forEach(({ t, topic }, i) => positions.get(t)!.set(topic, ends[i]!.endOffset));
    await Promise.all(dirty.map((t) => t.prepared.db!.writeSealed(positions.get(t)!)));
  }
  for (const [tp, offset] of offsets) committedPositions.set(tp, offset);
  for (const [tp, value] of metadata) committedMetadataOf.set(tp, value);
  commits++;
  commitMs += performance.now() - started;
  // Consumed repartition records are deleted, as Kafka Streams does, so internal topics stay small.
  // Best effort: the commit is done, and a purge that fails is made good by the next one.
  if (Date.now() - lastPurge >= 1000) {
    lastPurge = Date.now();
    const internal = new Set(Object.values(config.topicNames));
    await Promise.all(
      [...offsets]
        .map(([key, offset]) => ({ at: key.lastIndexOf(':'), key, offset }))
        .filter(({ key, at }) => internal.has(key.slice(0, at)))
        .map(({ key, at, offset }) =>
          log.deleteRecords({ topic: key.slice(0, at), partition: Number(key.slice(at + 1)) }, offset).catch((error: unknown) => {
            console.warn(`[tributary] stream thread ${config.threadId}: could not delete consumed records of ${key}: ${describeCause(error)}`);
          }),
        ),
    );
  }
}

function onControl(message: ToThread, tasks: RunningTask[]): void {
  switch (message.kind) {
    case 'stop':
      stopping = true;
      return;
    case 'assign':
      newestMember = message.member;
      assignments.push(message);
      return;
    case 'metrics':
      send({
        kind: 'metrics',
        id: message.id,
        commits,
        commitMs,
        processed,
        processMs,
        tasks: tasks.map((t) => ({
          taskId: t.spec.id,
          recordsIn: t.task.metrics.recordsIn,
          recordsOut: t.task.metrics.recordsOut,
          dropped: { ...t.task.metrics.dropped },
          lag: t.lag,
          deadLettered: t.deadLettered,
          restored: t.restored,
          stores: [...t.task.stores.values()].map((store) => {
            const kv = t.prepared.keyValueStores.find((k) => k === store);
            const entries = store.kind === 'key-value' ? store.approximateNumEntries() : store.kind === 'window' ? store.all().length : store.all().length;
            return { name: store.name, entries, cacheHits: kv?.hits ?? 0, cacheMisses: kv?.misses ?? 0 };
          }),
        })),
      });
      return;
    case 'query': {
      const t = tasks.find((x) => x.spec.partition === message.partition && x.task.stores.has(message.store));
      const store = t?.task.stores.get(message.store) ?? (message.stale === true ? standbyStores.get(`${message.store}:${message.partition}`) : undefined);
      // A query never affects processing: whatever it throws (a key its serde refuses, a query
      // of another shape) answers that request only.
      let result: { status: number; body: unknown };
      try {
        const checked = validateQuery(message.query);
        result = !checked.ok
          ? { status: 400, body: { error: checked.error, code: 'INVALID_ARGUMENT' } }
          : store === undefined
            ? { status: 404, body: { error: `store "${message.store}" partition ${message.partition} is not here` } }
            : runQuery(store, topology.storeBuilder(message.store)!.keySerde, checked.query);
      } catch (error) {
        result = { status: 400, body: { error: `query of store "${message.store}" failed: ${describeCause(error)}`, code: error instanceof StreamsError ? error.code : 'INVALID_ARGUMENT' } };
      }
      send({ kind: 'query-result', id: message.id, ...result });
      return;
    }
    default:
      assertNever(message);
  }
}

main().catch((error: unknown) => {
  send({
    kind: 'error',
    threadId: config.threadId,
    code: error instanceof StreamsError ? error.code : undefined,
    message: describeCause(error),
    ...(error instanceof Error && error.stack !== undefined && { stack: error.stack }),
  });
});
