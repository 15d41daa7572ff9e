import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { MessageChannel, Worker } from 'node:worker_threads';
import { StreamsError, describeCause } from '../errors.ts';
import { partitionKey, type GroupGeneration, type GroupMembership, type Log, type TopicConfig, type TopicPartition } from '../log.ts';
import { assignTasks } from './assignor.ts';
import type { Topology } from '../topology.ts';
import { changelogTopic } from '../topology.ts';
import { loadTopology } from './load-topology.ts';
import { serveLog } from './log-rpc.ts';
import {
  assertNever,
  type ErrorPolicy,
  type FromThread,
  type StoreQuery,
  type TaskMetricsSnapshot,
  type TaskSpec,
  type ThreadConfig,
  type ToThread,
} from './messages.ts';
import { parseKey, type QueryResult } from './queries.ts';
import { partitionForKey } from './partitioner.ts';
import { AppHttpServer, type HttpOptions } from './http-server.ts';

/** Kafka Streams' client states. */
export type StreamsState = 'CREATED' | 'REBALANCING' | 'RUNNING' | 'PENDING_SHUTDOWN' | 'NOT_RUNNING' | 'ERROR';

/**
 * Allowed transitions (as KafkaStreams.State):
 *
 *   CREATED -> REBALANCING -> RUNNING -> PENDING_SHUTDOWN -> NOT_RUNNING
 *        \          \            \-> ERROR -> PENDING_SHUTDOWN
 *         \          \-> PENDING_SHUTDOWN, ERROR
 *          \-> PENDING_SHUTDOWN
 */
const transitions: Record<StreamsState, readonly StreamsState[]> = {
  CREATED: ['REBALANCING', 'PENDING_SHUTDOWN'],
  REBALANCING: ['RUNNING', 'PENDING_SHUTDOWN', 'ERROR'],
  RUNNING: ['REBALANCING', 'PENDING_SHUTDOWN', 'ERROR'],
  PENDING_SHUTDOWN: ['NOT_RUNNING'],
  NOT_RUNNING: [],
  ERROR: ['PENDING_SHUTDOWN'],
};

/**
 * The pseudo-partition the group leader adds to every member's assignment when a member asked the
 * application to shut down (Kafka Streams puts an error code in the assignment's user data, which
 * our Kafka client does not hand back). Never read or fetched: no task has it as an input.
 */
const SHUTDOWN_REQUESTED: TopicPartition = { topic: '__tributary-shutdown-requested', partition: 0 };

/** Where the application's topology is defined: every thread imports this module. */
export interface TopologyModule {
  /** The module's URL or absolute path, e.g. `new URL('./topology.ts', import.meta.url)`. */
  readonly module: string | URL;
  /** The export holding a Topology, or a function returning one (default `topology`). */
  readonly export?: string;
}

/** The answers of an uncaught-exception handler (Kafka Streams' StreamThreadExceptionResponse). */
export type StreamThreadExceptionResponse = 'REPLACE_THREAD' | 'SHUTDOWN_CLIENT' | 'SHUTDOWN_APPLICATION';

export interface StreamsAppOptions {
  readonly applicationId: string;
  readonly log: Log;
  /** Stream threads (worker threads); default: the number of cores. */
  readonly threads?: number;
  /** Default 100 ms with exactly-once, 30 s with at-least-once (Kafka Streams' defaults). */
  readonly commitIntervalMs?: number;
  readonly processingGuarantee?: 'exactly_once_v2' | 'at_least_once';
  /** Records fetched per partition per poll (default 1000). */
  readonly maxPollRecords?: number;
  /** A thread commits early once this many records wait to be written (default 50 000). */
  readonly maxBufferedRecords?: number;
  /** Called when the application fails and shuts down (state ERROR). */
  readonly onError?: (error: StreamsError) => void;
  /**
   * Kafka Streams' StreamsUncaughtExceptionHandler: what to do when a stream thread fails while
   * running (a processor throwing under 'log-and-fail', a full suppression buffer...).
   * 'REPLACE_THREAD' starts a new thread for the same tasks, from their last commit;
   * 'SHUTDOWN_CLIENT' (the default) shuts this process down in ERROR; 'SHUTDOWN_APPLICATION'
   * shuts down every process of the application (on the embedded log, this one). A thread that
   * fails before it has restored its tasks always shuts the process down.
   */
  readonly uncaughtExceptionHandler?: (error: StreamsError) => StreamThreadExceptionResponse;
  /**
   * What to do with a record whose key or value cannot be decoded (default 'log-and-fail', as in
   * Kafka Streams): stop with an error, skip it with a warning, or send it to `deadLetterTopic`.
   */
  readonly deserializationExceptionHandler?: ErrorPolicy;
  /** What to do when a processor throws on a record (default 'log-and-fail'). */
  readonly processingExceptionHandler?: ErrorPolicy;
  /** Topic for 'dead-letter' (created with one partition if missing); default `<applicationId>-dlq`. */
  readonly deadLetterTopic?: string;
  /**
   * Where persistent stores keep their data: one LevelDB database per task under
   * `<stateDir>/<applicationId>/<taskId>`. Default `<os tmpdir>/tributary`, like Kafka Streams'
   * `/tmp/kafka-streams`. `false` keeps every store in memory (restored from its changelog on start).
   */
  readonly stateDir?: string | false;
  /** Cache for persistent key-value stores, shared by the whole process (default 64 MiB). */
  readonly cacheMaxBytes?: number;
  /** Serve interactive queries, health, metrics and ingest over HTTP. Port 0 picks a free port. */
  readonly http?: HttpOptions;
  /**
   * When several processes share the work (Kafka): how many other processes keep a warm copy of
   * each task's stores (default 0, as in Kafka Streams), so that a task that moves there after a
   * failure replays only the latest changelog records instead of all of them.
   */
  readonly numStandbyReplicas?: number;
  /**
   * Static membership (Kafka Streams' `group.instance.id`, KIP-345), on logs with groups: a stable
   * id per process (e.g. its host name). The process keeps its place in the group when it stops,
   * and one that starts again with the same id within `sessionTimeoutMs` gets its tasks back
   * without a rebalance: a rolling restart moves no task. Its HTTP endpoint (`http.port`) should
   * stay the same too, since the other processes route queries by the address they last heard.
   * A process that stops for good is noticed only after the session timeout.
   */
  readonly groupInstanceId?: string;
  /** A process silent this long leaves the group (default 10 s; Kafka's session.timeout.ms). */
  readonly sessionTimeoutMs?: number;
}

/** What each process tells the group when it joins. */
interface MemberMetadata {
  readonly processId: string;
  /** Where its HTTP server answers (`host:port`), for routed queries. */
  readonly endpoint: string | null;
  /** Its uncaught-exception handler answered SHUTDOWN_APPLICATION: every member shuts down. */
  readonly shutdown?: true;
  readonly threads: number;
  /** Tasks it runs, then tasks it has local state for. */
  readonly tasks: readonly string[];
  /**
   * Tasks it runs or is about to (cooperative rebalancing): the leader gives none of them to
   * another member until this one has let it go.
   */
  readonly owned?: readonly string[];
}

interface ThreadHandle {
  readonly worker: Worker;
  /** Its tasks and generation as of the last assignment it applied. */
  config: ThreadConfig;
  readonly stopLog: () => void;
  ready: boolean;
  stopped: Promise<void>;
  /** The application asked it to stop. */
  stopRequested: boolean;
  /** It failed and is gone (a replacement may be on its way): asks to it are not answered. */
  failed: boolean;
}

/**
 * Runs a topology: one task per input partition of each sub-topology, spread over worker threads.
 * The Tributary counterpart of `KafkaStreams`.
 *
 * @example
 * const app = new StreamsApp({ module: new URL('./topology.ts', import.meta.url) }, { applicationId: 'clicks', log });
 * app.onStateChange((next, previous) => console.log(previous, '->', next));
 * await app.start();
 * // ...
 * await app.close();
 */
export class StreamsApp {
  readonly #source: TopologyModule;
  readonly #options: StreamsAppOptions;
  #state: StreamsState = 'CREATED';
  readonly #listeners: ((next: StreamsState, previous: StreamsState) => void)[] = [];
  readonly #threads: ThreadHandle[] = [];
  #topology: Topology | undefined;
  /** Store name -> log partition count, its sub-topology, and the local thread holding each partition's task. */
  readonly #storeOwners = new Map<string, { partitions: number; subtopology: number; threadOf: Map<number, number>; standbyThreadOf: Map<number, number> }>();
  /** What #start planned: every task of the topology and the thread configuration. */
  #plan: { tasks: readonly TaskSpec[]; base: Omit<ThreadConfig, 'threadId' | 'tasks' | 'cacheBytes'> } | undefined;
  #membership: GroupMembership | undefined;
  /** Rebalances, handled one after the other. */
  #rebalancing: Promise<void> = Promise.resolve();
  readonly #restarts = new Map<string, number>();
  #rebalances = 0;

  /**
   * How often the stream threads were started again after a commit the log refused or could not
   * take, by reason (TASK_MIGRATED, LOG_UNAVAILABLE), and how many group rebalances this process
   * went through. While either happens the application is in REBALANCING.
   */
  get restarts(): { readonly byReason: ReadonlyMap<string, number>; readonly rebalances: number } {
    return { byReason: this.#restarts, rebalances: this.#rebalances };
  }

  /** What the running threads were started with (to start them again). */
  #current:
    | { tasks: readonly TaskSpec[]; member: GroupGeneration | undefined; transactionalIdPrefix: string | undefined; standbys: readonly TaskSpec[] }
    | undefined;
  /** Task id -> `host:port` of the other processes that keep a standby copy of it. */
  #remoteStandbys = new Map<string, string[]>();
  /** Task id -> `host:port` of the process that runs it, for tasks of other processes. */
  #remote = new Map<string, string>();
  readonly #pending = new Map<number, (message: FromThread) => void>();
  #nextRequest = 0;
  #failure: StreamsError | undefined;
  /** An uncaught-exception handler answered SHUTDOWN_APPLICATION: told to the group at each join. */
  #shutdownRequested = false;
  #http: AppHttpServer | undefined;
  #httpAddress: { host: string; port: number } | undefined;

  constructor(source: TopologyModule, options: StreamsAppOptions) {
    if (typeof options.applicationId !== 'string' || !/^[A-Za-z0-9._-]+$/.test(options.applicationId)) {
      throw new StreamsError('INVALID_ARGUMENT', `applicationId must be letters, digits, ".", "_" or "-": ${JSON.stringify(options.applicationId)}`);
    }
    if (options.log === undefined) throw new StreamsError('INVALID_ARGUMENT', 'StreamsApp needs a log (an EmbeddedLog, or Kafka)');
    this.#source = source;
    this.#options = options;
  }

  get state(): StreamsState {
    return this.#state;
  }

  get applicationId(): string {
    return this.#options.applicationId;
  }

  onStateChange(listener: (next: StreamsState, previous: StreamsState) => void): void {
    this.#listeners.push(listener);
  }

  #transition(next: StreamsState): void {
    const previous = this.#state;
    if (!transitions[previous].includes(next)) {
      throw new StreamsError('ILLEGAL_STATE', `cannot go from ${previous} to ${next}`);
    }
    this.#state = next;
    for (const listener of this.#listeners) listener(next, previous);
  }

  /**
   * Plans the tasks, creates internal topics, starts the threads; resolves once every task has
   * restored. Rejects with the {@link StreamsError} when the application cannot run or goes to
   * ERROR before RUNNING.
   */
  async start(): Promise<void> {
    this.#transition('REBALANCING');
    try {
      if (this.#options.http !== undefined) {
        const server = new AppHttpServer(this, this.#options.log, this.#options.http);
        const address = await server.listen();
        this.#http = server;
        this.#httpAddress = { host: address.address, port: address.port };
      }
      await this.#start();
      // A thread may fail after it reported ready but before start-up finished (a poison record
      // under log-and-fail): the application is in ERROR, so start() must not resolve.
      if (this.#failure !== undefined) throw this.#failure;
    } catch (error) {
      await this.#fail(error instanceof StreamsError ? error : new StreamsError('PROCESSING_FAILED', describeCause(error), { cause: error }));
      throw this.#failure;
    }
    if (this.#state === 'REBALANCING') this.#transition('RUNNING');
  }

  async #start(): Promise<void> {
    const { applicationId, log } = this.#options;
    const moduleUrl = this.#source.module instanceof URL ? this.#source.module.href : this.#source.module;
    const exportName = this.#source.export ?? 'topology';
    const topology = await loadTopology(moduleUrl, exportName);
    this.#topology = topology;
    const existing = await log.topics();

    // Log names: internal topics carry the application id, like Kafka Streams'.
    const topicNames: Record<string, string> = {};
    for (const t of topology.internalTopics()) if (t.type === 'repartition') topicNames[t.name] = `${applicationId}-${t.name}`;
    const logName = (topic: string) => topicNames[topic] ?? topic;

    const partitions = new Map<string, number>();
    // Internal topics are not taken as they exist: their counts come from the topology, and an
    // existing one that disagrees is refused below (topology drift).
    const repartitionTopics = new Set(Object.values(topicNames));
    for (const [name, config] of existing) if (!repartitionTopics.has(name)) partitions.set(name, config.partitions);
    for (const topic of topology.sourceTopics()) {
      if (topicNames[topic] === undefined && !partitions.has(topic)) {
        throw new StreamsError('UNKNOWN_TOPIC', `source topic "${topic}" does not exist; create it before starting "${applicationId}"`);
      }
    }
    for (const g of topology.globalStores()) {
      if (!partitions.has(g.topic)) throw new StreamsError('UNKNOWN_TOPIC', `global table topic "${g.topic}" does not exist; create it first`);
    }
    // Repartition topics get a fixed count or their writer's; iterate until every count is known.
    const subs = topology.subtopologies();
    const taskCount = new Map<number, number>();
    for (let round = 0; round <= subs.length; round++) {
      for (const sub of subs) {
        const counts = sub.sourceTopics.map((t) => partitions.get(logName(t)));
        if (counts.some((c) => c === undefined)) continue;
        const n = Math.max(...(counts as number[]));
        taskCount.set(sub.id, n);
        for (const sink of sub.sinkTopics) {
          const internal = topology.internalTopics().find((t) => t.name === sink && t.type === 'repartition');
          if (internal !== undefined && !partitions.has(logName(sink))) partitions.set(logName(sink), internal.numPartitions ?? n);
        }
      }
    }
    for (const group of topology.copartitionGroups()) {
      const counts = new Set(group.map((t) => partitions.get(logName(t))));
      if (counts.size > 1) {
        throw new StreamsError(
          'INVALID_TOPOLOGY',
          `topics joined together must have the same number of partitions: ${group.map((t) => `${logName(t)} (${partitions.get(logName(t))})`).join(', ')}`,
        );
      }
    }
    for (const sub of subs) {
      for (const sink of sub.sinkTopics) {
        if (!partitions.has(logName(sink))) throw new StreamsError('UNKNOWN_TOPIC', `output topic "${sink}" does not exist; create it first`);
      }
    }
    // Internal topics.
    const changelogs: Record<string, string> = {};
    const create: [string, TopicConfig][] = [];
    for (const t of topology.internalTopics()) {
      // Kept until consumed (each commit deletes what it consumed), as Kafka Streams does: a time
      // retention (Kafka's default is 7 days of record time) would drop records not yet read.
      if (t.type === 'repartition') create.push([logName(t.name), { partitions: partitions.get(logName(t.name))!, cleanupPolicy: 'delete', retentionMs: -1 }]);
    }
    const taskOfStore = new Map<string, number>();
    for (const sub of subs) {
      for (const store of sub.stores) {
        taskOfStore.set(store, sub.id);
        const builder = topology.storeBuilder(store)!;
        if (!builder.loggingEnabled) continue;
        const name = `${applicationId}-${changelogTopic(store)}`;
        changelogs[store] = name;
        partitions.set(name, taskCount.get(sub.id)!);
        // No time retention is set on window and session changelogs: a log's cleaner compares
        // record time with the wall clock, and would drop the windows of a backfill that the
        // store (expiring by stream time) still holds. Kafka applies its default (7 days).
        create.push([name, { partitions: taskCount.get(sub.id)!, cleanupPolicy: builder.supplier.kind === 'key-value' ? 'compact' : 'compact,delete' }]);
      }
    }
    const policies = [this.#options.deserializationExceptionHandler, this.#options.processingExceptionHandler];
    const deadLetterTopic = policies.includes('dead-letter') ? (this.#options.deadLetterTopic ?? `${applicationId}-dlq`) : undefined;
    if (deadLetterTopic !== undefined && !partitions.has(deadLetterTopic)) {
      create.push([deadLetterTopic, { partitions: 1, cleanupPolicy: 'delete' }]);
      partitions.set(deadLetterTopic, 1);
    }
    for (const [name, config] of create) {
      const found = existing.get(name);
      if (found !== undefined && found.partitions !== config.partitions) {
        // As Kafka Streams: a repartition topic or changelog of another partition count means the
        // topology (or its sources) changed since the application last ran; its keys and state
        // are spread by the old count, so running on would silently mix them.
        throw new StreamsError(
          'TOPIC_CONFLICT',
          `internal topic "${name}" exists with ${found.partitions} partitions but the topology of "${applicationId}" needs ${config.partitions}; ` +
            `reset the application (stop it, delete its internal topics and its state directory) or start it under a new applicationId`,
        );
      }
      await log.createTopic(name, config);
    }

    const tasks: TaskSpec[] = [];
    for (const sub of subs) {
      for (let p = 0; p < taskCount.get(sub.id)!; p++) {
        tasks.push({ id: `${sub.id}_${p}`, subtopology: sub.id, partition: p, inputs: sub.sourceTopics.map((t) => ({ topic: logName(t), partition: p })) });
      }
    }
    for (const [store, subId] of taskOfStore) this.#storeOwners.set(store, { partitions: taskCount.get(subId)!, subtopology: subId, threadOf: new Map(), standbyThreadOf: new Map() });
    const eos = (this.#options.processingGuarantee ?? 'exactly_once_v2') === 'exactly_once_v2';
    const globalTopics: Record<string, number> = {};
    for (const g of topology.globalStores()) globalTopics[g.topic] = partitions.get(g.topic)!;
    const workerLog = log.workerSpec?.();
    this.#plan = {
      tasks,
      base: {
        module: moduleUrl,
        exportName,
        applicationId,
        processingGuarantee: eos ? 'exactly_once_v2' : 'at_least_once',
        commitIntervalMs: this.#options.commitIntervalMs ?? (eos ? 100 : 30_000),
        maxBufferedRecords: this.#options.maxBufferedRecords ?? 50_000,
        pollIntervalMs: 10,
        maxPollRecords: this.#options.maxPollRecords ?? 1000,
        partitions: Object.fromEntries(partitions),
        topicNames,
        changelogs,
        globalTopics,
        stateDir: this.#stateDir(),
        onDeserializationError: this.#options.deserializationExceptionHandler ?? 'log-and-fail',
        onProcessingError: this.#options.processingExceptionHandler ?? 'log-and-fail',
        deadLetterTopic,
        ...(workerLog !== undefined && { workerLog }),
      },
    };
    // On a log shared by several processes (Kafka), the processes of the application form a group
    // and split the tasks, with either guarantee; otherwise this process runs every task.
    if (log.joinGroup !== undefined) await this.#joinGroup(log, tasks);
    else await this.#launch(tasks, undefined);
  }

  #stateDir(): string | undefined {
    return this.#options.stateDir === false ? undefined : (this.#options.stateDir ?? join(tmpdir(), 'tributary'));
  }

  /**
   * A thread gave up its tasks after a commit the log refused or could not take: start the
   * current tasks again (after a second, and after any rebalance already queued), from their last
   * commit. If the log stays unreachable, the new threads fail after `unavailableRetryMs` and the
   * application goes to ERROR.
   */
  #restartAfter(reason: string): void {
    this.#rebalancing = this.#rebalancing
      .then(async () => {
        await new Promise((r) => setTimeout(r, 1000));
        if (this.#state !== 'RUNNING' && this.#state !== 'REBALANCING') return;
        const current = this.#current;
        if (current === undefined) return;
        console.warn(`[tributary] ${this.#options.applicationId}: restarting the stream threads (${reason})`);
        this.#restarts.set(reason, (this.#restarts.get(reason) ?? 0) + 1);
        if (this.#state === 'RUNNING') this.#transition('REBALANCING');
        await this.#stopThreads();
        await this.#launch(current.tasks, current.member, current.transactionalIdPrefix, current.standbys);
        if (this.#state === 'REBALANCING') this.#transition('RUNNING');
      })
      .catch((error: unknown) => void this.#fail(error instanceof StreamsError ? error : new StreamsError('PROCESSING_FAILED', describeCause(error), { cause: error })));
  }

  /** Starts stream threads for `tasks` (round robin) and waits until every task is restored. */
  async #launch(tasks: readonly TaskSpec[], member: GroupGeneration | undefined, transactionalIdPrefix?: string, standbys: readonly TaskSpec[] = []): Promise<void> {
    const plan = this.#plan!;
    this.#current = { tasks, member, transactionalIdPrefix, standbys };
    const threadCount = Math.max(1, Math.min(this.#threadCount(), tasks.length + standbys.length));
    const assigned: TaskSpec[][] = Array.from({ length: threadCount }, () => []);
    tasks.forEach((task, i) => assigned[i % threadCount]!.push(task));
    const standbyOf: TaskSpec[][] = Array.from({ length: threadCount }, () => []);
    // Standbys go to the threads with the fewest tasks first.
    standbys.forEach((task, i) => standbyOf[(tasks.length + i) % threadCount]!.push(task));
    for (const owner of this.#storeOwners.values()) {
      owner.threadOf.clear();
      owner.standbyThreadOf.clear();
      assigned.forEach((list, thread) => list.forEach((t) => t.subtopology === owner.subtopology && owner.threadOf.set(t.partition, thread)));
      standbyOf.forEach((list, thread) => list.forEach((t) => t.subtopology === owner.subtopology && owner.standbyThreadOf.set(t.partition, thread)));
    }
    if (tasks.length + standbys.length === 0) return;
    await Promise.all(
      assigned.map((list, threadId) =>
        this.#spawn({
          ...plan.base,
          threadId,
          tasks: list,
          ...(standbyOf[threadId]!.length > 0 && { standbys: standbyOf[threadId]! }),
          cacheBytes: Math.floor((this.#options.cacheMaxBytes ?? 64 * 1024 * 1024) / threadCount),
          ...(member !== undefined && { member }),
          ...(transactionalIdPrefix !== undefined && { transactionalIdPrefix }),
        }),
      ),
    );
  }

  /**
   * Cooperative rebalancing (KIP-429), for every generation after the first: every thread first
   * lets go of the tasks and standbys this generation does not give it (committed, under the new
   * generation, and closed; a standby promoted to active is let go first, which frees its state
   * directory), then the tasks and standbys gained go to the least loaded threads (new threads
   * while fewer run than configured), which restore them. Tasks that stay never stop, and keep
   * answering queries. Returns whether any active task was let go. A thread whose commit is
   * refused on the way stops and the current tasks are started again (#restartAfter).
   */
  async #reassign(mine: readonly TaskSpec[], standbys: readonly TaskSpec[], member: GroupGeneration, transactionalIdPrefix: string): Promise<boolean> {
    this.#current = { tasks: mine, member, transactionalIdPrefix, standbys };
    const keep = new Set(mine.map((t) => t.id));
    const keepStandby = new Set(standbys.map((t) => t.id));
    const live = () => this.#threads.filter((h) => !h.failed && !h.stopRequested);
    let gaveUp = false;
    const letGo = live().map((h) => {
      const remove = h.config.tasks.filter((t) => !keep.has(t.id)).map((t) => t.id);
      const removeStandbys = (h.config.standbys ?? []).filter((t) => !keepStandby.has(t.id)).map((t) => t.id);
      if (remove.length > 0) gaveUp = true;
      h.config = { ...h.config, tasks: h.config.tasks.filter((t) => keep.has(t.id)), standbys: (h.config.standbys ?? []).filter((t) => keepStandby.has(t.id)), member };
      return this.#assignThread(h, { member, remove, removeStandbys, add: [], addStandbys: [] });
    });
    this.#placeStores();
    if ((await Promise.all(letGo)).includes(false)) return gaveUp;
    const threads = live();
    const running = new Set(threads.flatMap((h) => h.config.tasks.map((t) => t.id)));
    const warm = new Set(threads.flatMap((h) => (h.config.standbys ?? []).map((t) => t.id)));
    const gained = mine.filter((t) => !running.has(t.id));
    const gainedStandbys = standbys.filter((t) => !warm.has(t.id));
    if (gained.length + gainedStandbys.length > 0) {
      // Slots: the running threads, then new ones up to the configured count.
      const wanted = Math.max(1, Math.min(this.#threadCount(), mine.length + standbys.length));
      const slots = threads.map((h) => ({ h: h as ThreadHandle | undefined, load: h.config.tasks.length + (h.config.standbys ?? []).length, add: [] as TaskSpec[], addStandbys: [] as TaskSpec[] }));
      while (slots.length < wanted) slots.push({ h: undefined, load: 0, add: [], addStandbys: [] });
      const least = () => slots.reduce((a, b) => (b.load < a.load ? b : a));
      for (const t of gained) {
        const slot = least();
        slot.add.push(t);
        slot.load++;
      }
      for (const t of gainedStandbys) {
        const slot = least();
        slot.addStandbys.push(t);
        slot.load++;
      }
      let nextId = Math.max(-1, ...this.#threads.map((h) => h.config.threadId)) + 1;
      const base = this.#threads[0]?.config ?? this.#plan!.base;
      await Promise.all(
        slots.map((slot) => {
          if (slot.add.length + slot.addStandbys.length === 0) return undefined;
          if (slot.h !== undefined) {
            const h = slot.h;
            h.config = { ...h.config, tasks: [...h.config.tasks, ...slot.add], standbys: [...(h.config.standbys ?? []), ...slot.addStandbys] };
            return this.#assignThread(h, { member, remove: [], removeStandbys: [], add: slot.add, addStandbys: slot.addStandbys });
          }
          return this.#spawn({
            ...this.#plan!.base,
            threadId: nextId++,
            tasks: slot.add,
            ...(slot.addStandbys.length > 0 && { standbys: slot.addStandbys }),
            cacheBytes: base.cacheBytes ?? Math.floor((this.#options.cacheMaxBytes ?? 64 * 1024 * 1024) / wanted),
            member,
            transactionalIdPrefix,
          });
        }),
      );
    }
    this.#placeStores();
    return gaveUp;
  }

  /** Sends a thread its part of a new assignment; false if it stopped instead of applying it. */
  async #assignThread(h: ThreadHandle, part: Omit<Extract<ToThread, { kind: 'assign' }>, 'kind' | 'id'>): Promise<boolean> {
    const at = this.#threads.indexOf(h);
    const reply = this.#ask<Extract<FromThread, { kind: 'assigned' }>>(at, (id) => ({ kind: 'assign', id, ...part }));
    return Promise.race([reply.then((r) => r.ok), h.stopped.then(() => false)]);
  }

  /** Which thread answers queries for each store partition, from the threads' current tasks. */
  #placeStores(): void {
    for (const owner of this.#storeOwners.values()) {
      owner.threadOf.clear();
      owner.standbyThreadOf.clear();
      this.#threads.forEach((h, thread) => {
        if (h.failed || h.stopRequested) return;
        for (const t of h.config.tasks) if (t.subtopology === owner.subtopology) owner.threadOf.set(t.partition, thread);
        for (const t of h.config.standbys ?? []) if (t.subtopology === owner.subtopology) owner.standbyThreadOf.set(t.partition, thread);
      });
    }
  }

  #threadCount(): number {
    return this.#options.threads ?? availableParallelism();
  }

  /**
   * Joins the application's group (Kafka Streams' rebalance protocol, eagerly): every process
   * sends its endpoint, capacity and the tasks it has state for; the leader assigns tasks with
   * the sticky assignor; at each new generation this process stops its threads (their last
   * transaction is refused by the broker if the generation moved on, and aborted) and starts
   * threads for its new tasks, which restore their stores from local state and changelogs.
   */
  async #joinGroup(log: Log, tasks: readonly TaskSpec[]): Promise<void> {
    const applicationId = this.#options.applicationId;
    const stateDir = this.#stateDir();
    const processId = this.#processId(stateDir);
    const byId = new Map(tasks.map((t) => [t.id, t]));
    // Tasks with stores: balanced among themselves before the stateless ones (see assignTasks).
    const withStores = new Set(this.#topology!.subtopologies().flatMap((sub, i) => (sub.stores.length > 0 ? [i] : [])));
    const stateful = new Set(tasks.filter((t) => withStores.has(t.subtopology)).map((t) => t.id));
    const taskOfPartition = new Map<string, TaskSpec>();
    for (const t of tasks) for (const tp of t.inputs) taskOfPartition.set(partitionKey(tp), t);
    // Tasks the threads run, and those of assignments received and not applied yet: until a
    // thread has let a task go, the group must not give it to another member.
    let running: string[] = [];
    const pending: string[][] = [];
    const owned = () => [...new Set([...running, ...pending.flat()])];
    let firstDone!: () => void;
    let firstFailed!: (e: unknown) => void;
    const first = new Promise<void>((resolve, reject) => {
      firstDone = resolve;
      firstFailed = reject;
    });
    let assignments = 0;
    const decode = (data: Uint8Array): MemberMetadata => {
      try {
        return JSON.parse(Buffer.from(data).toString()) as MemberMetadata;
      } catch {
        return { processId: '', endpoint: null, threads: 1, tasks: [] };
      }
    };
    this.#membership = await log.joinGroup!({
      groupId: applicationId,
      ...(this.#options.groupInstanceId !== undefined && { groupInstanceId: this.#options.groupInstanceId }),
      ...(this.#options.sessionTimeoutMs !== undefined && { sessionTimeoutMs: this.#options.sessionTimeoutMs }),
      topics: [...new Set(tasks.flatMap((t) => t.inputs.map((tp) => tp.topic)))],
      metadata: () => {
        // Tasks this process has now, then those it has local state for (cheaper to take back).
        const now = owned();
        const local = stateDir === undefined ? [] : tasks.filter((t) => !now.includes(t.id) && existsSync(join(stateDir, applicationId, t.id))).map((t) => t.id);
        const metadata: MemberMetadata = {
          processId,
          endpoint: this.#endpoint(),
          threads: this.#threadCount(),
          tasks: [...now, ...local],
          owned: now,
          ...(this.#shutdownRequested && { shutdown: true as const }),
        };
        return Buffer.from(JSON.stringify(metadata));
      },
      assign: (members) => {
        const metadata = new Map(members.map((m) => [m.memberId, decode(m.metadata)]));
        const ownerOf = new Map<string, string>();
        for (const [memberId, md] of metadata) for (const task of md.owned ?? []) ownerOf.set(task, memberId);
        // Stickiness: a task stays with the member that runs it; local state elsewhere counts
        // only for tasks nobody runs.
        const processes = members.map((m) => {
          const md = metadata.get(m.memberId)!;
          return { memberId: m.memberId, threads: md.threads, previousTasks: md.tasks.filter((t) => ownerOf.get(t) === undefined || ownerOf.get(t) === m.memberId) };
        });
        const result = new Map<string, TopicPartition[]>(members.map((m) => [m.memberId, []]));
        // A member asked the application to shut down: nobody gets work, and everybody gets the
        // request in its own assignment (Kafka Streams' assignment error code), which it reads
        // from the SyncGroup answer itself, even if the requester has left the group since.
        if (members.some((m) => decode(m.metadata).shutdown === true)) {
          for (const list of result.values()) list.push(SHUTDOWN_REQUESTED);
          return result;
        }
        // Cooperative rebalancing (KIP-429): a task that moves is given to no one in this
        // generation; its owner commits and closes it, then rejoins, and the next generation
        // gives it to its new member.
        for (const [task, member] of assignTasks([...byId.keys()], processes, { stateful })) {
          const owner = ownerOf.get(task);
          if (owner !== undefined && owner !== member) continue;
          result.get(member)!.push(...byId.get(task)!.inputs);
        }
        return result;
      },
      onAssignment: (assignment) => {
        const requested = assignment.partitions.some((tp) => tp.topic === SHUTDOWN_REQUESTED.topic) || assignment.members.some((m) => decode(m.metadata).shutdown === true);
        if (requested) {
          // The requester is already on its way down.
          if (this.#shutdownRequested) return;
          const requester = assignment.members.find((m) => decode(m.metadata).shutdown === true);
          const who = requester === undefined ? 'another process' : `process ${decode(requester.metadata).processId}`;
          const error = new StreamsError('APPLICATION_SHUTDOWN', `${who} of application "${applicationId}" asked every process to shut down (SHUTDOWN_APPLICATION)`);
          if (assignments === 0) firstFailed(error);
          else void this.#fail(error);
          return;
        }
        const has = new Set(assignment.partitions.map(partitionKey));
        const mine = tasks.filter((t) => t.inputs.every((tp) => has.has(partitionKey(tp))));
        const mineIds = mine.map((t) => t.id);
        pending.push(mineIds);
        // The threads hear of the generation at once: a commit of theirs refused for the old one
        // goes again under it rather than wait for this assignment to be applied, which waits for
        // them (the tasks they still run are withheld from every other member meanwhile).
        const generation = { generationId: assignment.generationId, memberId: assignment.memberId };
        for (const h of this.#threads) if (!h.failed && !h.stopRequested) h.worker.postMessage({ kind: 'generation', member: generation } satisfies ToThread);
        this.#rebalancing = this.#rebalancing.then(async () => {
          if (this.#state === 'PENDING_SHUTDOWN' || this.#state === 'NOT_RUNNING' || this.#state === 'ERROR') return;
          const remote = new Map<string, string>();
          for (const m of assignment.members) {
            const endpoint = decode(m.metadata).endpoint;
            if (m.memberId === assignment.memberId || endpoint === null) continue;
            for (const tp of m.partitions) {
              const t = taskOfPartition.get(partitionKey(tp));
              if (t !== undefined) remote.set(t.id, endpoint);
            }
          }
          // Standby tasks: each task's copies go to the next members after its owner (in member
          // id order), so every member computes the same placement from the same member list.
          const standbys: TaskSpec[] = [];
          const remoteStandbys = new Map<string, string[]>();
          const replicas = Math.min(this.#options.numStandbyReplicas ?? 0, assignment.members.length - 1);
          if (replicas > 0) {
            const ids = assignment.members.map((m) => m.memberId).sort();
            const endpointOf = new Map(assignment.members.map((m) => [m.memberId, decode(m.metadata).endpoint]));
            const ownerOf = new Map<string, string>();
            for (const m of assignment.members) for (const tp of m.partitions) if (taskOfPartition.has(partitionKey(tp))) ownerOf.set(taskOfPartition.get(partitionKey(tp))!.id, m.memberId);
            for (const t of tasks) {
              const owner = ownerOf.get(t.id);
              if (owner === undefined) continue;
              const at = ids.indexOf(owner);
              for (let k = 1; k <= replicas; k++) {
                const host = ids[(at + k) % ids.length]!;
                if (host === assignment.memberId) standbys.push(t);
                else {
                  const endpoint = endpointOf.get(host);
                  if (endpoint !== null && endpoint !== undefined) remoteStandbys.set(t.id, [...(remoteStandbys.get(t.id) ?? []), endpoint]);
                }
              }
            }
          }
          if (this.#state === 'RUNNING') this.#transition('REBALANCING');
          this.#rebalances++;
          this.#remote = remote;
          this.#remoteStandbys = remoteStandbys;
          const member = { generationId: assignment.generationId, memberId: assignment.memberId };
          let gaveUp = false;
          if (assignments === 0) await this.#launch(mine, member, `${applicationId}-${processId}`, standbys);
          else gaveUp = await this.#reassign(mine, standbys, member, `${applicationId}-${processId}`);
          running = mineIds;
          pending.splice(pending.indexOf(mineIds), 1);
          assignments++;
          if (assignments === 1) firstDone();
          else if (this.#state === 'REBALANCING') this.#transition('RUNNING');
          // Tasks let go of go to their new members in the next generation: ask for it.
          if (gaveUp) void this.#membership?.rejoin?.().catch((error: unknown) => console.warn(`[tributary] ${applicationId}: could not rejoin the group after giving tasks up (${describeCause(error)})`));
        }).catch((error: unknown) => {
          const wrapped = error instanceof StreamsError ? error : new StreamsError('PROCESSING_FAILED', describeCause(error), { cause: error });
          if (assignments === 0) firstFailed(wrapped);
          else void this.#fail(wrapped);
        });
      },
      onError: (error) => {
        if (assignments === 0) firstFailed(error);
        else void this.#fail(error);
      },
    });
    await first;
  }

  /**
   * This process's id, kept in the state directory (as Kafka Streams does) so that a restarted
   * process uses the same transactional ids and fences its dead predecessor's open transactions
   * at once, instead of waiting for them to time out.
   */
  #processId(stateDir: string | undefined): string {
    if (stateDir === undefined) return randomUUID();
    const file = join(stateDir, this.#options.applicationId, 'process-id');
    try {
      return readFileSync(file, 'utf8').trim();
    } catch {
      const id = randomUUID();
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, id);
      return id;
    }
  }

  #endpoint(): string | null {
    return this.#httpAddress === undefined ? null : `${this.#httpAddress.host}:${this.#httpAddress.port}`;
  }

  /** Stops every stream thread after a last commit (refused, and so aborted, if the generation moved on). */
  async #stopThreads(): Promise<void> {
    const threads = this.#threads.splice(0);
    for (const t of threads) t.stopRequested = true;
    for (const owner of this.#storeOwners.values()) {
      owner.threadOf.clear();
      owner.standbyThreadOf.clear();
    }
    for (const t of threads) t.worker.postMessage({ kind: 'stop' } satisfies ToThread);
    await Promise.all(
      threads.map(async (t) => {
        const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000).unref());
        if ((await Promise.race([t.stopped.then(() => 'ok' as const), timeout])) === 'timeout') await t.worker.terminate();
        await t.worker.terminate();
        t.stopLog();
      }),
    );
  }

  /** Starts a stream thread; `at` replaces the failed thread at that index (same tasks, same config). */
  #spawn(config: ThreadConfig, at?: number): Promise<void> {
    const channel = new MessageChannel();
    const worker = new Worker(new URL(import.meta.url.endsWith('.ts') ? './stream-thread.ts' : './stream-thread.js', import.meta.url), {
      workerData: { config, logPort: channel.port2 },
      transferList: [channel.port2],
      name: `${config.applicationId}-StreamThread-${config.threadId}`,
    });
    const stopLog = config.workerLog === undefined ? serveLog(this.#options.log, channel.port1) : () => {};
    let resolveReady!: () => void;
    let rejectReady!: (e: unknown) => void;
    const ready = new Promise<void>((resolve, reject) => {
      resolveReady = resolve;
      rejectReady = reject;
    });
    let resolveStopped!: () => void;
    const handle: ThreadHandle = { worker, config, stopLog, ready: false, stopped: new Promise((r) => (resolveStopped = r)), stopRequested: false, failed: false };
    if (at === undefined) this.#threads.push(handle);
    else this.#threads[at] = handle;
    worker.on('message', (message: FromThread) => {
      switch (message.kind) {
        case 'ready':
          handle.ready = true;
          resolveReady();
          return;
        case 'stopped':
          resolveStopped();
          if (message.abandoned !== undefined && !handle.stopRequested) this.#restartAfter(message.abandoned);
          return;
        case 'error': {
          const error = new StreamsError(message.code ?? 'PROCESSING_FAILED', `stream thread ${message.threadId} failed: ${message.message}`);
          // The thread has given up: nothing it buffered since its last commit is written.
          handle.failed = true;
          resolveStopped();
          void worker.terminate();
          if (handle.ready && !handle.stopRequested) return void this.#uncaught(handle, error);
          rejectReady(error);
          void this.#fail(error);
          return;
        }
        case 'metrics':
        case 'query-result':
        case 'assigned':
          this.#pending.get(message.id)?.(message);
          this.#pending.delete(message.id);
          return;
        default:
          assertNever(message);
      }
    });
    worker.on('error', (error) => {
      const wrapped = new StreamsError('PROCESSING_FAILED', `stream thread ${config.threadId} crashed: ${describeCause(error)}`, { cause: error });
      handle.failed = true;
      if (handle.ready && !handle.stopRequested) return void this.#uncaught(handle, wrapped);
      rejectReady(wrapped);
      void this.#fail(wrapped);
    });
    worker.on('exit', () => {
      resolveStopped();
      channel.port1.close();
    });
    return ready;
  }

  /** A running thread failed: the uncaught-exception handler says what happens next. */
  async #uncaught(handle: ThreadHandle, error: StreamsError): Promise<void> {
    let response: StreamThreadExceptionResponse = 'SHUTDOWN_CLIENT';
    try {
      response = this.#options.uncaughtExceptionHandler?.(error) ?? 'SHUTDOWN_CLIENT';
    } catch (thrown) {
      console.warn(`[tributary] ${this.#options.applicationId}: the uncaught-exception handler threw (${describeCause(thrown)}); shutting down`);
    }
    if (response === 'REPLACE_THREAD') return this.#replaceThread(handle, error);
    if (response === 'SHUTDOWN_APPLICATION') return this.#shutdownApplication(error);
    if (response !== 'SHUTDOWN_CLIENT') console.warn(`[tributary] ${this.#options.applicationId}: unknown uncaught-exception response ${JSON.stringify(response)}; shutting down`);
    return this.#fail(error);
  }

  /**
   * REPLACE_THREAD: a new thread with the failed one's tasks and config, after a second (a
   * failure that repeats does not spin). Its tasks restart from their last commit; its
   * transactional producer fences the dead thread's open transaction, so nothing it wrote since
   * that commit is seen. The other threads keep running.
   */
  #replaceThread(handle: ThreadHandle, error: StreamsError): Promise<void> {
    console.warn(`[tributary] ${this.#options.applicationId}: ${error.message} (${error.code}); replacing the thread, its tasks restart from their last commit`);
    this.#rebalancing = this.#rebalancing
      .then(async () => {
        await new Promise((r) => setTimeout(r, 1000));
        const at = this.#threads.indexOf(handle);
        // Meanwhile the threads were stopped or started again (a rebalance, a shutdown): nothing to replace.
        if (at === -1 || (this.#state !== 'RUNNING' && this.#state !== 'REBALANCING')) return;
        await handle.stopped;
        handle.stopLog();
        this.#restarts.set('REPLACE_THREAD', (this.#restarts.get('REPLACE_THREAD') ?? 0) + 1);
        if (this.#state === 'RUNNING') this.#transition('REBALANCING');
        await this.#spawn(handle.config, at);
        if (this.#state === 'REBALANCING') this.#transition('RUNNING');
      })
      .catch((failure: unknown) => void this.#fail(failure instanceof StreamsError ? failure : new StreamsError('PROCESSING_FAILED', describeCause(failure), { cause: failure })));
    return this.#rebalancing;
  }

  /**
   * SHUTDOWN_APPLICATION: every process of the application shuts down. The processes that share
   * the work (Kafka) hear it through the group: this one rejoins with a shutdown request in its
   * metadata, and every member that sees one in an assignment shuts down in ERROR.
   */
  async #shutdownApplication(error: StreamsError): Promise<void> {
    this.#shutdownRequested = true;
    if (this.#membership?.rejoin !== undefined) {
      try {
        await this.#membership.rejoin();
      } catch (rejoinError) {
        console.warn(`[tributary] ${this.#options.applicationId}: could not ask the other processes to shut down (${describeCause(rejoinError)})`);
      }
    }
    return this.#fail(error);
  }

  async #fail(error: StreamsError): Promise<void> {
    if (this.#failure !== undefined || this.#state === 'PENDING_SHUTDOWN' || this.#state === 'NOT_RUNNING') return;
    this.#failure = error;
    this.#transition('ERROR');
    this.#options.onError?.(error);
    await this.#shutdown();
  }

  /** Stops every thread after a last commit. */
  async close(): Promise<void> {
    if (this.#state === 'NOT_RUNNING' || this.#state === 'PENDING_SHUTDOWN') return;
    await this.#shutdown();
  }

  async #shutdown(): Promise<void> {
    this.#transition('PENDING_SHUTDOWN');
    await this.#rebalancing;
    await this.#stopThreads();
    // Leaving after the last commits: the other processes take the tasks over at once.
    await this.#membership?.leave();
    await this.#http?.close();
    this.#transition('NOT_RUNNING');
  }

  /** Where the HTTP server listens, when `http` is configured. */
  get httpAddress(): { host: string; port: number } | undefined {
    return this.#httpAddress;
  }

  #ask<T extends FromThread>(thread: number, message: (id: number) => ToThread): Promise<T> {
    const id = ++this.#nextRequest;
    return new Promise<T>((resolve) => {
      this.#pending.set(id, resolve as (m: FromThread) => void);
      this.#threads[thread]!.worker.postMessage(message(id));
    });
  }

  /** Per-task counters from every thread. */
  async metrics(): Promise<{ tasks: TaskMetricsSnapshot[]; commits: number; commitMs: number; processed: number; processMs: number }> {
    const live = this.#threads.flatMap((t, i) => (t.failed ? [] : [i]));
    const replies = await Promise.all(live.map((i) => this.#ask<Extract<FromThread, { kind: 'metrics' }>>(i, (id) => ({ kind: 'metrics', id }))));
    const sum = (f: (r: (typeof replies)[number]) => number) => replies.reduce((n, r) => n + f(r), 0);
    return {
      tasks: replies.flatMap((r) => r.tasks),
      commits: sum((r) => r.commits),
      commitMs: sum((r) => r.commitMs),
      processed: sum((r) => r.processed),
      processMs: sum((r) => r.processMs),
    };
  }

  /** Stores of the topology, with their partitions and the thread serving each. */
  stores(): { name: string; partitions: number }[] {
    return [...this.#storeOwners].map(([name, o]) => ({ name, partitions: o.partitions }));
  }

  /**
   * Runs an interactive query on the task holding `partition` of `store`: on this process's
   * thread that runs it, or on the process that does (over HTTP, when processes share the work).
   * With `stale`, a standby copy (here or on another process) answers when the active task cannot.
   */
  async query(store: string, partition: number, query: StoreQuery, options: { stale?: boolean } = {}): Promise<QueryResult> {
    const local = await this.queryLocal(store, partition, query);
    if (local.status !== 421 && local.status !== 503) return local;
    const owner = this.#storeOwners.get(store)!;
    const task = `${owner.subtopology}_${partition}`;
    const endpoint = this.#remote.get(task);
    let answer: QueryResult =
      endpoint === undefined ? { status: 503, body: { error: `store "${store}" partition ${partition} has no owner right now (state ${this.#state}); retry` } } : await this.#forward(endpoint, store, partition, query, false);
    if (answer.status !== 503 || options.stale !== true) return answer;
    // The active copy cannot answer: a standby copy may (possibly behind it).
    const here = await this.queryLocal(store, partition, query, true);
    if (here.status === 200 || here.status === 404) return here;
    for (const other of this.#remoteStandbys.get(task) ?? []) {
      answer = await this.#forward(other, store, partition, query, true);
      if (answer.status === 200 || answer.status === 404) return answer;
    }
    return answer;
  }

  async #forward(endpoint: string, store: string, partition: number, query: StoreQuery, stale: boolean): Promise<QueryResult> {
    // The processes of an application share the HTTP token (README, "Security").
    const token = this.#options.http?.token ?? process.env['TRIBUTARY_HTTP_TOKEN'];
    try {
      const res = await fetch(`http://${endpoint}/internal/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token !== undefined && token !== '' && { authorization: `Bearer ${token}` }) },
        body: JSON.stringify({ store, partition, query, stale }),
        signal: AbortSignal.timeout(10_000),
      });
      return { status: res.status === 421 ? 503 : res.status, body: await res.json() };
    } catch (error) {
      return { status: 503, body: { error: `the process at ${endpoint} that runs store "${store}" partition ${partition} did not answer: ${describeCause(error)}` } };
    }
  }

  /**
   * `query` on this process only: 421 (misdirected) when another process runs the partition.
   * With `stale`, a standby copy on this process answers when the active task is elsewhere.
   */
  async queryLocal(store: string, partition: number, query: StoreQuery, stale = false): Promise<QueryResult> {
    const owner = this.#storeOwners.get(store);
    if (owner === undefined) return { status: 404, body: { error: `no store named "${store}"` } };
    if (!Number.isSafeInteger(partition) || partition < 0 || partition >= owner.partitions) {
      return { status: 400, body: { error: `store "${store}" has partitions 0..${owner.partitions - 1}` } };
    }
    if (this.#state !== 'RUNNING' && this.#state !== 'REBALANCING') return { status: 503, body: { error: `store "${store}" is not available (state ${this.#state})` } };
    let thread = owner.threadOf.get(partition);
    const alive = (t: number | undefined) => t !== undefined && this.#threads[t] !== undefined && !this.#threads[t].failed;
    if (!alive(thread) && stale) thread = owner.standbyThreadOf.get(partition);
    if (thread === undefined || !alive(thread)) {
      if (this.#remote.has(`${owner.subtopology}_${partition}`)) return { status: 421, body: { error: `store "${store}" partition ${partition} is on another process` } };
      return { status: 503, body: { error: `store "${store}" partition ${partition} is not available (state ${this.#state}); retry` } };
    }
    const reply = await this.#ask<Extract<FromThread, { kind: 'query-result' }>>(thread, (id) => ({ kind: 'query', id, store, partition, query, ...(stale && { stale }) }));
    return { status: reply.status, body: reply.body };
  }

  /** Where each partition of a store is served: this process, another one, or nobody right now. */
  storeHosts(store: string): { partition: number; host: string | null; local: boolean }[] {
    const owner = this.#storeOwners.get(store);
    if (owner === undefined) return [];
    return Array.from({ length: owner.partitions }, (_, partition) => {
      const local = owner.threadOf.has(partition);
      return { partition, local, host: local ? this.#endpoint() : (this.#remote.get(`${owner.subtopology}_${partition}`) ?? null) };
    });
  }

  /**
   * Runs a key query (`key`, `windows` or `sessions`) wherever the key lives: first on the partition
   * the key hashes to with the store's key serde, then on the others (a key written by another
   * partitioner). The key is given as a string and decoded with the store's key serde.
   */
  async queryKey(store: string, query: StoreQuery & { key: string }, options: { stale?: boolean } = {}): Promise<QueryResult> {
    const owner = this.#storeOwners.get(store);
    const builder = this.#topology?.storeBuilder(store);
    if (owner === undefined || builder === undefined) return { status: 404, body: { error: `no store named "${store}"` } };
    const parsed = parseKey(query.key, builder.keySerde);
    if (!parsed.ok) return { status: 400, body: { error: `key ${JSON.stringify(query.key)} cannot be decoded with the store's key serde` } };
    const first = partitionForKey(builder.keySerde.serialize(parsed.key, store), owner.partitions);
    const order = [first, ...Array.from({ length: owner.partitions }, (_, p) => p).filter((p) => p !== first)];
    let last: QueryResult = { status: 404, body: { error: 'no such key' } };
    for (const p of order) {
      last = await this.query(store, p, query, options);
      const empty = Array.isArray(last.body) && last.body.length === 0;
      if (last.status !== 404 && !empty) return last;
    }
    return last;
  }

  /** The value of `key` in a key-value store, or undefined. Throws when the store cannot answer. */
  async get<V>(store: string, key: string): Promise<V | undefined> {
    const result = await this.queryKey(store, { type: 'key', key });
    if (result.status === 404 && this.#storeOwners.has(store)) return undefined;
    if (result.status !== 200) {
      throw new StreamsError(result.status === 503 ? 'ILLEGAL_STATE' : 'INVALID_ARGUMENT', (result.body as { error?: string }).error ?? `query failed (${result.status})`, {
        canRetry: result.status === 503,
      });
    }
    return (result.body as { value: V }).value;
  }

  /** The topology, once started. */
  get topology(): Topology | undefined {
    return this.#topology;
  }
}
