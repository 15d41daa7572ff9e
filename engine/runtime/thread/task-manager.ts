/**
 * The TaskManager of a stream thread (Kafka Streams' name): opens its tasks (stores from local
 * state, then the changelog tail; input positions and restored times from the group's last
 * commit), keeps its standby copies up to date, applies new assignments (commit and close the
 * tasks lost, open those gained; the others run on) and closes everything at the end.
 */
import { StreamsError } from '../../errors.ts';
import { fetchMany, partitionKey, type Log, type TopicPartition } from '../../log.ts';
import type { AnyStore, StoreBuilder } from '../../state/store.ts';
import type { RestorableStore, StoreContext } from '../../state/in-memory.ts';
import { StreamTask, type GlobalStateTask, type OutputRecord, type RawRecord } from '../../internals/stream-task.ts';
import { decodeCheckpoint, type PartitionCheckpoint } from '../../internals/committed-time.ts';
import type { Topology } from '../../topology.ts';
import type { ErrorPolicy, HandlerModule, TaskSpec, ThreadConfig, ToThread } from '../messages.ts';
import { applyHandler, type DeserializationExceptionHandler, type ProcessingExceptionHandler, type ProducedRecord, type ProductionExceptionHandler } from '../../error-handlers.ts';
import { prepareStores, type PreparedStores } from '../task-state.ts';
import type { Committer } from './committer.ts';
import type { RecordCollector } from './record-collector.ts';
import type { RunningTask, StandbyTask } from './running-task.ts';
import { ThreadCache, belowCache } from '../../state/record-cache.ts';
import type { SnapshotPublisher } from './snapshot-publisher.ts';

export type Assignment = Omit<Extract<ToThread, { kind: 'assign' }>, 'kind' | 'id'>;

const STANDBY_POLL_MS = 100;
const STANDBY_FLUSH_INTERVAL_MS = 1000;

export interface TaskManagerOptions {
  readonly config: Pick<ThreadConfig, 'applicationId' | 'changelogs' | 'partitions' | 'stateDir' | 'readCacheBytes' | 'recordCacheBytes' | 'onDeserializationError' | 'onProcessingError' | 'onProductionError' | 'maxRecordBytes'>;
  readonly log: Log;
  readonly topology: Topology;
  readonly global: GlobalStateTask;
  readonly collector: RecordCollector;
  /** Log name of a topology topic (internal topics carry the application id). */
  logName(topic: string): string;
  /** Topology name of a log topic. */
  topologyTopic(logTopic: string): string;
  /** The exception handlers the thread imported, when the config names handlers rather than policies. */
  readonly handlers?: { readonly deserialization?: DeserializationExceptionHandler; readonly processing?: ProcessingExceptionHandler; readonly production?: ProductionExceptionHandler };
  /** A standby has reached the end of its changelogs for the first time (KIP-441: it is caught up). */
  caughtUp?(taskId: string): void;
  /** A task wrote a record to `topic` (topology name): the thread measures end-to-end latency here. */
  outputWritten?(topic: string, timestamp: number): void;
  /** Publishes the rows of the stores read from the main thread (point-read snapshots). */
  readonly snapshots?: SnapshotPublisher;
}

export class TaskManager {
  readonly #o: TaskManagerOptions;
  /** Active tasks, in the order they are processed. */
  readonly tasks: RunningTask[] = [];
  readonly #byId = new Map<string, RunningTask>();
  readonly standbys: StandbyTask[] = [];
  /** `${store}:${partition}` -> the standby copy of that store partition, for stale queries. */
  readonly #standbyStores = new Map<string, AnyStore>();
  #lastStandbyPoll = 0;
  #lastStandbyFlush = Date.now();

  /** The record cache (KIP-63) the caching stores of this thread's tasks share. */
  readonly #recordCache: ThreadCache;

  constructor(options: TaskManagerOptions) {
    this.#o = options;
    this.#recordCache = new ThreadCache(options.config.recordCacheBytes);
  }

  task(id: string): RunningTask | undefined {
    return this.#byId.get(id);
  }

  /** The standby copy of a store partition, if this thread keeps one. */
  standbyStore(store: string, partition: number): AnyStore | undefined {
    return this.#standbyStores.get(`${store}:${partition}`);
  }

  /** Opens the thread's first tasks and standbys. */
  async start(tasks: readonly TaskSpec[], standbys: readonly TaskSpec[]): Promise<void> {
    await this.#add(tasks, standbys);
  }

  /**
   * A new generation: the tasks lost are committed (under the new generation: no one else has
   * them in it) and closed with their local state written, the standbys lost are flushed and
   * closed (which frees the state directory of a standby promoted to active), then the tasks and
   * standbys gained are opened. The tasks kept never stop. False if a commit was refused on the
   * way: the thread must give its tasks up.
   */
  async apply(a: Assignment, committer: Committer): Promise<boolean> {
    committer.use(a.member);
    const removed = this.tasks.filter((t) => a.remove.includes(t.spec.id));
    if (removed.length > 0) {
      if (!(await committer.commitNow(this.tasks, true))) return false;
      for (const t of removed) {
        this.tasks.splice(this.tasks.indexOf(t), 1);
        this.#byId.delete(t.spec.id);
        committer.forget(t);
        this.#o.snapshots?.close(t.spec.partition, [...t.task.stores.keys()]);
        t.task.close();
        await t.prepared.db?.close();
      }
    }
    const dropped = this.standbys.filter((sb) => a.removeStandbys.includes(sb.spec.id));
    if (dropped.length > 0) {
      await this.#updateStandbys(dropped, true);
      for (const sb of dropped) {
        this.standbys.splice(this.standbys.indexOf(sb), 1);
        for (const { store } of sb.stores) this.#standbyStores.delete(`${store.name}:${sb.spec.partition}`);
        await sb.prepared.db?.close();
      }
    }
    await this.#add(a.add, a.addStandbys);
    return true;
  }

  /** Brings the standby copies up to the changelogs' ends, every STANDBY_POLL_MS. */
  async pollStandbys(): Promise<void> {
    if (this.standbys.length === 0 || Date.now() - this.#lastStandbyPoll < STANDBY_POLL_MS) return;
    this.#lastStandbyPoll = Date.now();
    await this.#updateStandbys(this.standbys, false);
  }

  /** Closes every task (after the thread's last commit) and standby. */
  async close(): Promise<void> {
    for (const t of this.tasks.splice(0)) {
      this.#o.snapshots?.close(t.spec.partition, [...t.task.stores.keys()]);
      t.task.close();
      await t.prepared.db?.close();
    }
    this.#byId.clear();
    if (this.standbys.length > 0) await this.#updateStandbys(this.standbys, true);
    for (const sb of this.standbys.splice(0)) await sb.prepared.db?.close();
  }

  async #add(tasks: readonly TaskSpec[], standbys: readonly TaskSpec[]): Promise<void> {
    const all = [...this.tasks.map((t) => t.spec), ...tasks, ...this.standbys.map((sb) => sb.spec), ...standbys];
    for (const t of await this.#open(tasks, all)) {
      this.tasks.push(t);
      this.#byId.set(t.spec.id, t);
    }
    for (const spec of standbys) {
      const sb = await this.#openStandby(spec, all);
      this.standbys.push(sb);
      for (const { store } of sb.stores) this.#standbyStores.set(`${store.name}:${sb.spec.partition}`, store);
    }
  }

  /** Each persistent key-value store's share of the thread's cache, among the stores of `all` tasks. */
  #cacheShare(all: readonly TaskSpec[]): number {
    const { topology } = this.#o;
    const stores = all.reduce((n, spec) => n + topology.subtopologies()[spec.subtopology]!.stores.filter((s) => topology.storeBuilder(s)!.supplier.kind === 'key-value').length, 0);
    return Math.floor(this.#o.config.readCacheBytes / Math.max(1, stores));
  }

  /**
   * Opens tasks: their stores from local state, then each changelog replayed from where that
   * state stops; their input positions and restored times from the group's last commit (read now,
   * so a task taken over from another process starts from that process's final commit).
   */
  async #open(specs: readonly TaskSpec[], all: readonly TaskSpec[]): Promise<RunningTask[]> {
    if (specs.length === 0) return [];
    const { config, log, topology, collector } = this.#o;
    const committed = await log.committedOffsets(config.applicationId);
    // What each task committed of time with its offsets (partition times, operators' times, punctuation schedules).
    const committedMetadata = await log.committedMetadata(config.applicationId);
    // Where every changelog partition of these tasks ends, in one round trip.
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
        cacheBytesPerStore: this.#cacheShare(all),
        warn: (message) => console.warn(`[tributary] task ${spec.id}: ${message}`),
      });
      const restoredFrom = new Map<string, PartitionCheckpoint>();
      for (const tp of spec.inputs) {
        const metadata = committedMetadata.get(partitionKey(tp));
        if (metadata !== undefined) restoredFrom.set(this.#o.topologyTopic(tp.topic), decodeCheckpoint(metadata, `${tp.topic}-${tp.partition}`));
      }
      const task = new StreamTask(topology, subtopology, spec.partition, {
        applicationId: config.applicationId,
        restoredFrom,
        collector: {
          send: (record: OutputRecord) => {
            // The output record is a LogRecord already (its topic and partition fields are not read).
            collector.send(this.#o.logName(record.topic), record.partition, record);
            this.#o.outputWritten?.(record.topic, record.timestamp);
          },
          partitionsFor: (topic) => config.partitions[this.#o.logName(topic)] ?? 1,
        },
        createStore: (builder: StoreBuilder, ctx: StoreContext) => {
          const changelog = config.changelogs[builder.name];
          const logged = changelog === undefined ? undefined : (key: Uint8Array, value: Uint8Array | null, timestamp: number) => collector.send(changelog, spec.partition, { key, value, timestamp });
          const snapshots = this.#o.snapshots;
          // A published store's changes also go to its snapshot (as they would to its changelog).
          const published =
            snapshots?.publishes(builder.name) !== true
              ? logged
              : (key: Uint8Array, value: Uint8Array | null, timestamp: number) => {
                  snapshots.changed(builder.name, spec.partition, key, value, timestamp);
                  logged?.(key, value, timestamp);
                };
          return prepared.createStore(builder, () => ctx.recordTimestamp(), published);
        },
        globalStores: this.#o.global.stores,
        clock: Date.now,
        onDeserializationError: (error, raw) => this.#badRecord(this.#o.handlers?.deserialization ?? config.onDeserializationError, error, raw, spec.id),
        onProcessingError: (error, raw, node) => this.#badRecord(this.#o.handlers?.processing ?? config.onProcessingError, error, raw, spec.id, node),
        onProductionError: (error, raw, node, output) => this.#badRecord(this.#o.handlers?.production ?? config.onProductionError, error, raw, spec.id, node, output),
        maxRecordBytes: config.maxRecordBytes,
        recordCache: this.#recordCache,
      });
      // Replay each changelog from where the store's data stops (0 for in-memory stores).
      const positions = new Map<string, number>();
      let restored = 0;
      for (const [name, from] of prepared.restoreFrom) {
        const topic = config.changelogs[name]!;
        const store = belowCache(task.stores.get(name)!) as AnyStore & RestorableStore;
        const { reached, records } = await this.#restore(prepared, store, { topic, partition: spec.partition }, from);
        restored += records;
        positions.set(topic, reached);
      }
      await prepared.db?.commit(positions);
      task.initialize();
      this.#o.snapshots?.open(spec.partition, [...task.stores.values()].map((store) => ({ store, builder: topology.storeBuilder(store.name)! })));
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

  /**
   * Applies an error policy to a bad record: fail the task, or skip the record (and, with
   * 'dead-letter', send it to the dead-letter topic in the same transaction as the offsets that
   * move past it).
   */
  #badRecord(
    policy: ErrorPolicy | HandlerModule | DeserializationExceptionHandler | ProcessingExceptionHandler | ProductionExceptionHandler,
    error: StreamsError,
    raw: RawRecord,
    taskId: string,
    node?: string,
    output?: ProducedRecord,
  ): 'continue' | 'fail' {
    if (typeof policy === 'function') {
      // Written with the offsets that move past the record: once, under exactly-once.
      return applyHandler(policy, error, raw, taskId, node, (r) => {
        this.#o.collector.send(r.topic, undefined, { key: r.key, value: r.value, timestamp: r.timestamp, ...(r.headers !== undefined && { headers: r.headers }) });
        const t = this.#byId.get(taskId);
        if (t !== undefined) t.deadLettered++;
      }, output);
    }
    if (typeof policy === 'object') throw new StreamsError('ILLEGAL_STATE', `exception handler ${policy.module}#${policy.export} was not loaded`);
    if (policy === 'log-and-fail') return 'fail';
    console.warn(`[tributary] task ${taskId}: skipping record ${raw.topic}-${raw.partition}@${raw.offset}: ${error.message}`);
    if (policy === 'dead-letter') {
      this.#o.collector.deadLetter(raw, error, { topic: this.#o.logName(raw.topic), taskId });
      const t = this.#byId.get(taskId);
      if (t !== undefined) t.deadLettered++;
    }
    return 'continue';
  }

  /**
   * Replays a store's changelog partition from `from`; returns the offset it reached and the records
   * it replayed (fewer than the offsets when compaction left gaps).
   */
  async #restore(prepared: PreparedStores, store: AnyStore & RestorableStore, tp: TopicPartition, from: number): Promise<{ reached: number; records: number }> {
    let offset = from;
    let replayed = 0;
    for (;;) {
      const { records, nextOffset, endOffset } = await this.#o.log.fetch(tp, offset, { maxRecords: 10_000 });
      for (const r of records) prepared.restore(store, r.key!, r.value, r.timestamp);
      replayed += records.length;
      offset = nextOffset;
      // Long replays reach the disk in steps, so memory stays bounded and progress is kept.
      if (prepared.db !== undefined && prepared.db.pendingWrites >= 50_000) await prepared.db.commit(new Map([[tp.topic, offset]]));
      if (nextOffset >= endOffset) return { reached: offset, records: replayed };
    }
  }

  async #openStandby(spec: TaskSpec, all: readonly TaskSpec[]): Promise<StandbyTask> {
    const { config, log, topology } = this.#o;
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
      cacheBytesPerStore: this.#cacheShare(all),
      warn: (message) => console.warn(`[tributary] standby task ${spec.id}: ${message}`),
    });
    const stores = logged.map((name) => {
      const store = prepared.createStore(topology.storeBuilder(name)!, () => 0) as AnyStore & RestorableStore;
      return { store, topic: config.changelogs[name]!, position: prepared.restoreFrom.get(name) ?? 0 };
    });
    return { spec, prepared, stores, caughtUp: false };
  }

  /** Applies what the changelogs of standby tasks gained; their local state reaches the disk about once a second. */
  async #updateStandbys(standbys: readonly StandbyTask[], flush: boolean): Promise<void> {
    const parts = standbys.flatMap((sb) => sb.stores.map((entry) => ({ sb, entry })));
    const results = await fetchMany(this.#o.log, parts.map(({ sb, entry }) => ({ tp: { topic: entry.topic, partition: sb.spec.partition }, offset: entry.position, options: { maxRecords: 10_000 } })));
    const behind = new Set<StandbyTask>();
    parts.forEach(({ sb, entry }, i) => {
      const r = results[i]!;
      for (const rec of r.records) sb.prepared.restore(entry.store, rec.key!, rec.value, rec.timestamp);
      entry.position = r.nextOffset;
      if (r.nextOffset < r.endOffset) behind.add(sb);
    });
    for (const sb of standbys) {
      if (sb.caughtUp || behind.has(sb)) continue;
      sb.caughtUp = true;
      this.#o.caughtUp?.(sb.spec.id);
    }
    if (flush || Date.now() - this.#lastStandbyFlush >= STANDBY_FLUSH_INTERVAL_MS) {
      this.#lastStandbyFlush = Date.now();
      await Promise.all(standbys.map((sb) => (sb.prepared.db !== undefined && sb.prepared.db.pendingWrites > 0 ? sb.prepared.db.commit(new Map(sb.stores.map((e) => [e.topic, e.position]))) : undefined)));
    }
  }
}
