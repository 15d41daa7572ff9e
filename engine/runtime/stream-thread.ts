/**
 * A stream thread (worker_threads entry point): wires the named parts and runs the loop. It
 * imports the topology module itself (functions never cross postMessage); the TaskManager opens
 * and restores its tasks; then the loop fetches a batch for every input partition in one round
 * trip, processes each task's records synchronously in timestamp order (their outputs and
 * changelog records go to the RecordCollector), and the Committer commits on the interval:
 * outputs, changelog records and input offsets in one transaction (exactly-once) or
 * produce-then-commit-offsets (at-least-once). New assignments are applied between two rounds.
 */
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { StreamsError, describeCause } from '../errors.ts';
import { loadHandler, type DeserializationExceptionHandler, type ProcessingExceptionHandler, type ProductionExceptionHandler } from '../error-handlers.ts';
import { fetchMany, openWorkerLog, partitionKey, type Log, type TopicPartition } from '../log.ts';
import { buildInMemoryStore } from '../state/store-stack.ts';
import { belowCache } from '../state/record-cache.ts';
import { GlobalStateTask, type RawRecord } from '../internals/stream-task.ts';
import type { Topology } from '../topology.ts';
import { LogClient } from './log-rpc.ts';
import { assertNever, type FromThread, type ThreadConfig, type ToThread } from './messages.ts';
import { loadTopology } from './load-topology.ts';
import { runQuery, validateQuery } from './queries.ts';
import { RecordCollector } from './thread/record-collector.ts';
import { Committer } from './thread/committer.ts';
import { TaskManager } from './thread/task-manager.ts';
import type { RunningTask } from './thread/running-task.ts';
import { OutputLatency } from './thread/latency-histogram.ts';
import { PUBLISH_INTERVAL_MS, SnapshotPublisher } from './thread/snapshot-publisher.ts';

const config = workerData.config as ThreadConfig;
// The thread's own connection to the log when the log offers one (Kafka: every stream thread
// owns its clients), else the log served by the thread that opened it.
const log: Log = config.workerLog !== undefined ? await openWorkerLog(config.workerLog) : new LogClient(workerData.logPort as MessagePort);
const port = parentPort!;
const send = (message: FromThread) => port.postMessage(message);
// Point-read snapshots: the rows of the stores the main thread answers key queries from.
const snapshots =
  workerData.snapshotPort !== undefined && (config.snapshotStores?.length ?? 0) > 0
    ? new SnapshotPublisher(workerData.snapshotPort as MessagePort, workerData.snapshotPublished as SharedArrayBuffer, config.snapshotStores!)
    : undefined;

const logName = (topic: string) => config.topicNames[topic] ?? topic;
const reverseNames = new Map(Object.entries(config.topicNames).map(([topology, logTopic]) => [logTopic, topology]));
const topologyTopic = (logTopic: string) => reverseNames.get(logTopic) ?? logTopic;

let topology: Topology;
let manager: TaskManager;
let committer: Committer;
let outputLatency: OutputLatency;
let stopping = false;
let processed = 0;
let processMs = 0;
/** Wall-clock time at the start of the current processing slice (end-to-end latency is measured against it). */
let sliceStart = Date.now();

type Assignment = Extract<ToThread, { kind: 'assign' }>;
/** Assignments to apply, in order, between two rounds of the loop. */
const assignments: Assignment[] = [];

async function main(): Promise<void> {
  topology = await loadTopology(config.module, config.exportName);
  const global = new GlobalStateTask(topology, { applicationId: config.applicationId, createStore: buildInMemoryStore, clock: Date.now });
  const globalPositions = new Map<string, number>();
  for (const [topic, n] of Object.entries(config.globalTopics)) for (let p = 0; p < n; p++) globalPositions.set(`${topic}:${p}`, 0);
  await pollGlobal(global, globalPositions, true);

  const collector = new RecordCollector({ partitions: config.partitions, deadLetterTopic: config.deadLetterTopic });
  // Fence the previous instance of this thread first: its unfinished transaction is aborted, so
  // the committed offsets and changelogs read next are stable and complete.
  const producer = config.processingGuarantee === 'exactly_once_v2' ? await log.initTransactions(`${config.transactionalIdPrefix ?? config.applicationId}-${config.threadId}`) : undefined;
  committer = new Committer({
    log,
    applicationId: config.applicationId,
    threadId: config.threadId,
    collector,
    producer,
    streamOutputs: config.workerLog !== undefined,
    member: config.member,
    internalTopics: new Set(Object.values(config.topicNames)),
    topologyTopic,
    stopping: () => stopping,
    ...(snapshots !== undefined && { started: () => snapshots.publish() }),
  });
  // Exception handlers named by module: imported here, as Kafka Streams instantiates handler classes per thread.
  const handlers = {
    ...(typeof config.onDeserializationError === 'object' && { deserialization: await loadHandler<DeserializationExceptionHandler>(config.onDeserializationError) }),
    ...(typeof config.onProcessingError === 'object' && { processing: await loadHandler<ProcessingExceptionHandler>(config.onProcessingError) }),
    ...(typeof config.onProductionError === 'object' && { production: await loadHandler<ProductionExceptionHandler>(config.onProductionError) }),
  };
  outputLatency = new OutputLatency(Object.keys(config.topicNames));
  manager = new TaskManager({
    config,
    log,
    topology,
    global,
    collector,
    logName,
    topologyTopic,
    handlers,
    caughtUp: (taskId) => send({ kind: 'caught-up', threadId: config.threadId, taskId }),
    // The wall clock of the slice's start, as Kafka Streams reads its cached time (a slice is <= 5 ms).
    outputWritten: (topic, timestamp) => outputLatency.observe(topic, timestamp, sliceStart),
    ...(snapshots !== undefined && { snapshots }),
  });
  await manager.start(config.tasks, config.standbys ?? []);
  port.on('message', onControl);
  send({ kind: 'ready', threadId: config.threadId });

  const tasks = manager.tasks;
  let lastCommit = Date.now();
  let first = 0;
  while (!stopping) {
    const assignment = assignments.shift();
    if (assignment !== undefined) {
      const ok = await manager.apply(assignment, committer);
      send({ kind: 'assigned', id: assignment.id, ok });
      if (!ok) break;
    }
    const fetched = await fetchAll(tasks);
    await pollGlobal(global, globalPositions, false);
    if (fetched > 0) await Promise.all(tasks.map(prefetch));
    // The commit under way failed meanwhile and the tasks' uncommitted writes were dropped: stop
    // before processing on top of them (queries would see a mix of old and new state).
    if (committer.settled && !(await committer.finish())) break;
    // Records are processed in slices of bounded time, so that interactive queries and control
    // messages (answered on this thread's event loop) wait at most about one slice. What a slice
    // leaves is processed by the next one, before anything new is fetched for that partition.
    const started = performance.now();
    const deadline = started + PROCESS_SLICE_MS;
    sliceStart = Date.now();
    for (let i = 0; i < tasks.length; i++) processed += processTask(tasks[(first + i) % tasks.length]!, deadline);
    first = (first + 1) % Math.max(1, tasks.length);
    processMs += performance.now() - started;
    for (const t of tasks) t.task.punctuateWallClock(Date.now());
    // A commit that completed meanwhile is collected first: only then may outputs go into the
    // next transaction.
    if (committer.settled && !(await committer.finish())) break;
    committer.streamOutputs();
    if (Date.now() - lastCommit >= config.commitIntervalMs || collector.count + committer.handedOff >= config.maxBufferedRecords) {
      if (!(await committer.finish())) break;
      committer.start(tasks);
      lastCommit = Date.now();
    } else if (snapshots !== undefined && Date.now() - snapshots.lastPublished >= PUBLISH_INTERVAL_MS) {
      // Long commit intervals (at-least-once): the snapshots still follow the stores closely.
      snapshots.publish();
    }
    await manager.pollStandbys();
    if (tasks.some(hasQueued)) await new Promise(setImmediate);
    else if (fetched === 0) await new Promise((resolve) => setTimeout(resolve, config.pollIntervalMs));
  }
  // The last commit, with local state written (unless the tasks were given up).
  if ((await committer.finish()) && committer.abandoned === undefined) await committer.commitNow(tasks, true);
  await manager.close();
  global.close();
  // Assignments that came too late: the application hears that this thread has stopped.
  for (const a of assignments.splice(0)) send({ kind: 'assigned', id: a.id, ok: false });
  send({ kind: 'stopped', threadId: config.threadId, ...(committer.abandoned !== undefined && { abandoned: committer.abandoned }) });
  await log.close();
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
    const partition = w.tp.partition;
    for (const r of result.records) {
      // A literal, not a spread: one shape for every queued record, and far cheaper per record.
      queue.push(
        r.headers === undefined
          ? { topic, partition, offset: r.offset, key: r.key, value: r.value, timestamp: r.timestamp }
          : { topic, partition, offset: r.offset, key: r.key, value: r.value, timestamp: r.timestamp, headers: r.headers },
      );
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
  try {
    for (;;) {
      if ((count & 63) === 63 && performance.now() >= deadline) break;
      let best = -1;
      for (let i = 0; i < queues.length; i++) {
        const q = queues[i]![1];
        if (heads[i]! < q.length && (best === -1 || q[heads[i]!]!.timestamp < queues[best]![1][heads[best]!]!.timestamp)) best = i;
      }
      if (best === -1) break;
      const [key, q] = queues[best]!;
      t.task.process(q[heads[best]!]!);
      heads[best]!++;
      count++;
      // That partition's queue is used up but the log has more of it: fetch before going on.
      if (waitsForFetch && heads[best] === q.length && (t.lags.get(key) ?? 0) > 0) break;
    }
  } finally {
    // Positions move past the records processed (not one that threw), once per queue.
    queues.forEach(([key, q], i) => {
      const done = heads[i]!;
      if (done === 0) return;
      t.positions.set(key, q[done - 1]!.offset + 1);
      if (done === q.length) q.length = 0;
      else q.splice(0, done);
    });
  }
  return count;
}

/** This worker's own heap (getHeapStatistics in a worker describes the worker's isolate). */
function threadHeap(): { heapUsedBytes: number; heapTotalBytes: number } {
  const heap = getHeapStatistics();
  return { heapUsedBytes: heap.used_heap_size, heapTotalBytes: heap.total_heap_size };
}

function onControl(message: ToThread): void {
  const tasks = manager.tasks;
  switch (message.kind) {
    case 'stop':
      stopping = true;
      return;
    case 'generation':
      committer.hear(message.member);
      return;
    case 'assign':
      committer.hear(message.member);
      assignments.push(message);
      return;
    case 'metrics':
      send({
        kind: 'metrics',
        id: message.id,
        threadId: config.threadId,
        commits: committer.commits,
        commitMs: committer.commitMs,
        processed,
        processMs,
        commitLatency: committer.latency.snapshot(),
        endToEndLatency: outputLatency.snapshot(),
        ...threadHeap(),
        tasks: tasks.map((t) => ({
          taskId: t.spec.id,
          recordsIn: t.task.metrics.recordsIn,
          recordsOut: t.task.metrics.recordsOut,
          dropped: { ...t.task.metrics.dropped },
          lag: t.lag,
          deadLettered: t.deadLettered,
          restored: t.restored,
          streamTime: Number.isFinite(t.task.streamTime) ? t.task.streamTime : null,
          stores: [...t.task.stores.values()].map((store) => {
            const kv = t.prepared.keyValueStores.find((k) => k === belowCache(store));
            const entries = store.kind === 'key-value' ? store.approximateNumEntries() : store.kind === 'window' ? store.all().length : store.all().length;
            return { name: store.name, entries, cacheHits: kv?.hits ?? 0, cacheMisses: kv?.misses ?? 0 };
          }),
        })),
      });
      return;
    case 'query': {
      const t = tasks.find((x) => x.spec.partition === message.partition && x.task.stores.has(message.store));
      const store = t?.task.stores.get(message.store) ?? (message.stale === true ? manager.standbyStore(message.store, message.partition) : undefined);
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
