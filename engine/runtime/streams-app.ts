/**
 * StreamsApp: the Tributary counterpart of `KafkaStreams`, the client a user starts and closes.
 * It wires the named parts: the plan (plan.ts: topics, tasks, thread configuration), the stream
 * threads (stream-threads.ts), the group of the application's processes on a log with groups
 * (app-group.ts), routed interactive queries (query-router.ts) and the HTTP server
 * (http-server.ts). What it keeps itself: the client's state machine, what a thread failure
 * means (the uncaught-exception handler), and the order of rebalances and restarts.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { StreamsError, describeCause } from '../errors.ts';
import type { Topology } from '../topology.ts';
import { Registry } from 'prom-client';
import { AppGroup, type GroupUpdate } from './app-group.ts';
import { appCounters, registerAppMetrics } from './app-metrics.ts';
import { AppHttpServer } from './http-server.ts';
import { loadTopology } from './load-topology.ts';
import type { FromThread, StoreQuery, TaskSpec } from './messages.ts';
import { planApplication } from './plan.ts';
import type { QueryResult } from './queries.ts';
import type { AppCounters, QueryableApp } from './queryable-app.ts';
import { QueryRouter, type RemoteTasks } from './query-router.ts';
import { StoreSnapshots } from './store-snapshots.ts';
import { StreamThreads, type ThreadHandle } from './stream-threads.ts';
import type { QuerySnapshotOptions, StreamsAppOptions, StreamThreadExceptionResponse, TopologyModule } from './streams-app-options.ts';

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

/** What the running threads were started with (to start them again). */
interface CurrentTasks {
  readonly tasks: readonly TaskSpec[];
  readonly standbys: readonly TaskSpec[];
  readonly member: GroupUpdate['member'] | undefined;
  readonly transactionalIdPrefix: string | undefined;
}

const noRemoteTasks: RemoteTasks = { active: new Map(), standbys: new Map() };

/** Kafka Streams' default statestore.cache.max.bytes: the record cache of the whole process. */
const DEFAULT_CACHE_MAX_BYTES = 10 * 1024 * 1024;

function asStreamsError(error: unknown): StreamsError {
  return error instanceof StreamsError ? error : new StreamsError('PROCESSING_FAILED', describeCause(error), { cause: error });
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
export class StreamsApp implements QueryableApp {
  readonly #source: TopologyModule;
  readonly #options: StreamsAppOptions;
  #state: StreamsState = 'CREATED';
  readonly #listeners: ((next: StreamsState, previous: StreamsState) => void)[] = [];
  #topology: Topology | undefined;
  #threads: StreamThreads | undefined;
  #router: QueryRouter | undefined;
  #group: AppGroup | undefined;
  /** Rebalances, restarts and thread replacements, handled one after the other. */
  #rebalancing: Promise<void> = Promise.resolve();
  readonly #restarts = new Map<string, number>();
  #rebalances = 0;
  #current: CurrentTasks | undefined;
  /** Where the other processes' tasks and standby copies are (routed queries). */
  #remote: RemoteTasks = noRemoteTasks;
  #failure: StreamsError | undefined;
  /** The shutdown after a failure, under way or done. */
  #failing: Promise<void> | undefined;
  /** An uncaught-exception handler answered SHUTDOWN_APPLICATION: told to the group at each join. */
  #shutdownRequested = false;
  #http: AppHttpServer | undefined;
  readonly #registry = new Registry();
  #httpAddress: { host: string; port: number } | undefined;

  /**
   * How often the stream threads were started again after a commit the log refused or could not
   * take, by reason (TASK_MIGRATED, LOG_UNAVAILABLE), and how many group rebalances this process
   * went through. While either happens the application is in REBALANCING.
   */
  get restarts(): { readonly byReason: ReadonlyMap<string, number>; readonly rebalances: number } {
    return { byReason: this.#restarts, rebalances: this.#rebalances };
  }

  constructor(source: TopologyModule, options: StreamsAppOptions) {
    if (typeof options.applicationId !== 'string' || !/^[A-Za-z0-9._-]+$/.test(options.applicationId)) {
      throw new StreamsError('INVALID_ARGUMENT', `applicationId must be letters, digits, ".", "_" or "-": ${JSON.stringify(options.applicationId)}`);
    }
    if (options.log === undefined) throw new StreamsError('INVALID_ARGUMENT', 'StreamsApp needs a log (an EmbeddedLog, or Kafka)');
    for (const name of ['cacheMaxBytes', 'readCacheMaxBytes'] as const) {
      const bytes = options[name];
      if (bytes !== undefined && (!Number.isSafeInteger(bytes) || bytes < 0)) {
        throw new StreamsError('INVALID_ARGUMENT', `${name} must be an integer number of bytes >= 0, got ${JSON.stringify(bytes)}`);
      }
    }
    const snapshotBytes = options.querySnapshots?.maxBytes;
    if (snapshotBytes !== undefined && !(Number.isSafeInteger(snapshotBytes) && snapshotBytes >= 0)) {
      throw new StreamsError('INVALID_ARGUMENT', `querySnapshots.maxBytes must be a non-negative integer: ${String(snapshotBytes)}`);
    }
    this.#source = source;
    this.#options = options;
    registerAppMetrics(this.#registry, this);
  }

  /**
   * The prom-client Registry that `GET /metrics` serves: the application's metrics (collected from
   * the stream threads at each scrape) and the HTTP server's. Register more metrics on it to serve
   * them on the same endpoint, such as a sink runner's (one scrape target per process), or serve
   * it yourself when the application has no `http` option.
   *
   * @example
   * import { registerSinkMetrics } from 'tributary/connectors/sinks';
   * registerSinkMetrics(app.metricsRegistry, [warehouse]); // tributary_sink_* on the app's /metrics
   */
  get metricsRegistry(): Registry {
    return this.#registry;
  }

  get state(): StreamsState {
    return this.#state;
  }

  get applicationId(): string {
    return this.#options.applicationId;
  }

  /** The topology, once started. */
  get topology(): Topology | undefined {
    return this.#topology;
  }

  /** Where the HTTP server listens, when `http` is configured. */
  get httpAddress(): { host: string; port: number } | undefined {
    return this.#httpAddress;
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
      const http = this.#options.http;
      if (http !== undefined) {
        const routes = typeof http.routes === 'function' ? http.routes(this) : (http.routes ?? []);
        const server = new AppHttpServer(this, this.#options.log, http, this.#registry, routes);
        const address = await server.listen();
        this.#http = server;
        this.#httpAddress = { host: address.address, port: address.port };
      }
      await this.#start();
      // A thread may fail after it reported ready but before start-up finished (a poison record
      // under log-and-fail): the application is in ERROR, so start() must not resolve.
      if (this.#failure !== undefined) throw this.#failure;
    } catch (error) {
      await this.#fail(asStreamsError(error));
      throw this.#failure;
    }
    if (this.#state === 'REBALANCING') this.#transition('RUNNING');
  }

  async #start(): Promise<void> {
    const options = this.#options;
    const { applicationId, log } = options;
    const module = this.#source.module instanceof URL ? this.#source.module.href : this.#source.module;
    const exportName = this.#source.export ?? 'topology';
    const topology = await loadTopology(module, exportName);
    this.#topology = topology;
    const plan = planApplication(topology, await log.topics(), options);
    for (const [name, config] of plan.create) await log.createTopic(name, config);
    const stateDir = this.#stateDir();
    const workerLog = log.workerSpec?.();
    const threadCount = options.threads ?? availableParallelism();
    const cacheMaxBytes = options.cacheMaxBytes ?? DEFAULT_CACHE_MAX_BYTES;
    const snapshots = querySnapshots(topology, options.querySnapshots);
    const threads = new StreamThreads(
      log,
      {
        ...plan.thread,
        module,
        exportName,
        stateDir,
        recordCacheBytes: Math.floor(cacheMaxBytes / Math.max(1, threadCount)),
        ...(workerLog !== undefined && { workerLog }),
        ...(snapshots !== undefined && { snapshotStores: [...snapshots.stores] }),
      },
      { threads: threadCount, readCacheMaxBytes: options.readCacheMaxBytes ?? 64 * 1024 * 1024, ...(snapshots !== undefined && { snapshots }) },
      {
        abandoned: (reason) => this.#restartAfter(reason),
        uncaught: (handle, error) => void this.#uncaught(handle, error),
        failed: (error) => void this.#fail(error),
        caughtUp: (taskId) => this.#group?.caughtUp(taskId),
      },
    );
    this.#threads = threads;
    this.#router = new QueryRouter({
      topology,
      stores: plan.stores,
      threads,
      state: () => this.#state,
      remote: () => this.#remote,
      endpoint: () => this.#endpoint(),
      // The processes of an application share the HTTP token (README, "Security").
      token: options.http?.token ?? process.env['TRIBUTARY_HTTP_TOKEN'],
      ...(snapshots !== undefined && { snapshots }),
    });
    // On a log shared by several processes (Kafka), the processes of the application form a group
    // and split the tasks, with either guarantee; otherwise this process runs every task.
    if (log.joinGroup === undefined) {
      this.#current = { tasks: plan.tasks, standbys: [], member: undefined, transactionalIdPrefix: undefined };
      return threads.launch(plan.tasks, [], undefined, undefined);
    }
    const processId = this.#processId(stateDir);
    this.#group = new AppGroup({
      log,
      applicationId,
      processId,
      tasks: plan.tasks,
      stateful: plan.stateful,
      stateDir,
      threads: threadCount,
      numStandbyReplicas: options.numStandbyReplicas ?? 0,
      maxWarmupReplicas: options.maxWarmupReplicas ?? 2,
      ...(options.groupInstanceId !== undefined && { groupInstanceId: options.groupInstanceId }),
      ...(options.sessionTimeoutMs !== undefined && { sessionTimeoutMs: options.sessionTimeoutMs }),
      endpoint: () => this.#endpoint(),
      shutdownRequested: () => this.#shutdownRequested,
      announce: (member) => threads.announce(member),
      apply: (update) => this.#serially(() => this.#apply(update, `${applicationId}-${processId}`)),
      failed: (error) => void this.#fail(error),
    });
    await this.#group.join();
  }

  /** Runs `step` after every rebalance, restart or replacement queued before it. */
  #serially<T>(step: () => Promise<T>): Promise<T> {
    const run = this.#rebalancing.then(step);
    this.#rebalancing = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  /**
   * A group assignment: the first starts the threads; the next ones move only the tasks that
   * change hands (StreamThreads.reassign). Resolves with whether any active task was let go.
   */
  async #apply(update: GroupUpdate, transactionalIdPrefix: string): Promise<boolean> {
    if (this.#state === 'PENDING_SHUTDOWN' || this.#state === 'NOT_RUNNING' || this.#state === 'ERROR') return false;
    const first = this.#current === undefined;
    if (this.#state === 'RUNNING') this.#transition('REBALANCING');
    this.#rebalances++;
    this.#remote = update.remote;
    this.#current = { tasks: update.tasks, standbys: update.standbys, member: update.member, transactionalIdPrefix };
    if (first) {
      await this.#threads!.launch(update.tasks, update.standbys, update.member, transactionalIdPrefix);
      return false;
    }
    const gaveUp = await this.#threads!.reassign(update.tasks, update.standbys, update.member, transactionalIdPrefix);
    if (this.#state === 'REBALANCING') this.#transition('RUNNING');
    return gaveUp;
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
    this.#serially(async () => {
      await new Promise((r) => setTimeout(r, 1000));
      if (this.#state !== 'RUNNING' && this.#state !== 'REBALANCING') return;
      const current = this.#current;
      if (current === undefined) return;
      console.warn(`[tributary] ${this.#options.applicationId}: restarting the stream threads (${reason})`);
      this.#restarts.set(reason, (this.#restarts.get(reason) ?? 0) + 1);
      if (this.#state === 'RUNNING') this.#transition('REBALANCING');
      await this.#threads!.stopAll();
      await this.#threads!.launch(current.tasks, current.standbys, current.member, current.transactionalIdPrefix);
      if (this.#state === 'REBALANCING') this.#transition('RUNNING');
    }).catch((error: unknown) => void this.#fail(asStreamsError(error)));
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
    return this.#serially(async () => {
      await new Promise((r) => setTimeout(r, 1000));
      const threads = this.#threads!;
      // Meanwhile the threads were stopped or started again (a rebalance, a shutdown): nothing to replace.
      if (!threads.includes(handle) || (this.#state !== 'RUNNING' && this.#state !== 'REBALANCING')) return;
      this.#restarts.set('REPLACE_THREAD', (this.#restarts.get('REPLACE_THREAD') ?? 0) + 1);
      if (this.#state === 'RUNNING') this.#transition('REBALANCING');
      await threads.replace(handle);
      if (this.#state === 'REBALANCING') this.#transition('RUNNING');
    }).catch((failure: unknown) => void this.#fail(asStreamsError(failure)));
  }

  /**
   * SHUTDOWN_APPLICATION: every process of the application shuts down. The processes that share
   * the work (Kafka) hear it through the group: this one rejoins with a shutdown request in its
   * metadata, and every member that sees one in an assignment shuts down in ERROR.
   */
  async #shutdownApplication(error: StreamsError): Promise<void> {
    this.#shutdownRequested = true;
    try {
      await this.#group?.rejoin();
    } catch (rejoinError) {
      console.warn(`[tributary] ${this.#options.applicationId}: could not ask the other processes to shut down (${describeCause(rejoinError)})`);
    }
    return this.#fail(error);
  }

  /** Goes to ERROR and shuts down; a second failure waits for the first one's shutdown. */
  #fail(error: StreamsError): Promise<void> {
    if (this.#failure !== undefined) return this.#failing ?? Promise.resolve();
    if (this.#state === 'PENDING_SHUTDOWN' || this.#state === 'NOT_RUNNING') return Promise.resolve();
    this.#failure = error;
    this.#transition('ERROR');
    this.#options.onError?.(error);
    this.#failing = this.#shutdown();
    return this.#failing;
  }

  /** Stops every thread after a last commit. */
  async close(): Promise<void> {
    if (this.#state === 'NOT_RUNNING' || this.#state === 'PENDING_SHUTDOWN') return;
    await this.#shutdown();
  }

  async #shutdown(): Promise<void> {
    this.#transition('PENDING_SHUTDOWN');
    await this.#rebalancing;
    await this.#threads?.stopAll();
    // Leaving after the last commits: the other processes take the tasks over at once.
    await this.#group?.leave();
    await this.#http?.close();
    this.#transition('NOT_RUNNING');
  }

  /** Counters and latency histograms from every thread, per task and per thread. */
  async metrics(): Promise<AppCounters> {
    return appCounters((await this.#threads?.askAll<Extract<FromThread, { kind: 'metrics' }>>((id) => ({ kind: 'metrics', id }))) ?? []);
  }

  /** Stores of the topology, with their partitions (none before start). */
  stores(): { name: string; partitions: number }[] {
    return this.#router?.stores() ?? [];
  }

  /**
   * Runs an interactive query on the task holding `partition` of `store`: on this process's
   * thread that runs it, or on the process that does (over HTTP, when processes share the work).
   * With `stale`, a standby copy (here or on another process) answers when the active task cannot.
   */
  async query(store: string, partition: number, query: StoreQuery, options: { stale?: boolean } = {}): Promise<QueryResult> {
    return this.#router?.query(store, partition, query, options) ?? noStore(store);
  }

  /**
   * `query` on this process only: 421 (misdirected) when another process runs the partition.
   * With `stale`, a standby copy on this process answers when the active task is elsewhere.
   */
  async queryLocal(store: string, partition: number, query: StoreQuery, stale = false): Promise<QueryResult> {
    return this.#router?.queryLocal(store, partition, query, stale) ?? noStore(store);
  }

  /** Where each partition of a store is served: this process, another one, or nobody right now. */
  storeHosts(store: string): { partition: number; host: string | null; local: boolean }[] {
    return this.#router?.storeHosts(store) ?? [];
  }

  /**
   * Runs a key query (`key`, `windows` or `sessions`) wherever the key lives: first on the partition
   * the key hashes to with the store's key serde, then on the others (a key written by another
   * partitioner). The key is given as a string and decoded with the store's key serde.
   */
  async queryKey(store: string, query: StoreQuery & { key: string }, options: { stale?: boolean } = {}): Promise<QueryResult> {
    return this.#router?.queryKey(store, query, options) ?? noStore(store);
  }

  /** The value of `key` in a key-value store, or undefined. Throws when the store cannot answer. */
  async get<V>(store: string, key: string): Promise<V | undefined> {
    if (this.#router === undefined) throw new StreamsError('INVALID_ARGUMENT', noStore(store).body.error);
    return this.#router.get<V>(store, key);
  }
}

/** The point-read snapshots the option asks for, checked against the topology's stores. */
function querySnapshots(topology: Topology, options: QuerySnapshotOptions | undefined): StoreSnapshots | undefined {
  if (options === undefined || options.stores.length === 0) return undefined;
  for (const name of options.stores) {
    const builder = topology.storeBuilder(name);
    if (builder === undefined) throw new StreamsError('INVALID_ARGUMENT', `querySnapshots names a store the topology does not have: "${name}"`);
    if (builder.supplier.kind !== 'key-value' || builder.versioned !== undefined) {
      throw new StreamsError('INVALID_ARGUMENT', `querySnapshots: store "${name}" is a ${builder.versioned !== undefined ? 'versioned' : builder.supplier.kind} store; only key-value stores are published for point reads`);
    }
  }
  return new StoreSnapshots(options.stores, options.maxBytes ?? 64 * 1024 * 1024);
}

function noStore(store: string): { status: number; body: { error: string } } {
  return { status: 404, body: { error: `no store named "${store}"` } };
}
