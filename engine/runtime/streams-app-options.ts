/**
 * What a user configures a StreamsApp with (Kafka Streams' StreamsConfig, as one typed object).
 */
import type { ExceptionHandlerRef } from '../error-handlers.ts';
import type { StreamsError } from '../errors.ts';
import type { Log } from '../log.ts';
import type { HttpRoute, HttpServerOptions } from './http-server.ts';
import type { ErrorPolicy } from './messages.ts';
import type { StreamsApp } from './streams-app.ts';

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
   * Kafka Streams): stop with an error, skip it with a warning, send it to `deadLetterTopic`, or
   * ask a DeserializationExceptionHandler named by `{ module, export }` (every stream thread
   * imports it), which answers resume or fail and may return dead-letter records (KIP-1034).
   */
  readonly deserializationExceptionHandler?: ErrorPolicy | ExceptionHandlerRef;
  /**
   * What to do when a processor throws on a record (default 'log-and-fail'): the same policies,
   * or a ProcessingExceptionHandler named by `{ module, export }` (KIP-1033).
   */
  readonly processingExceptionHandler?: ErrorPolicy | ExceptionHandlerRef;
  /**
   * What to do with an output record a sink cannot produce: its key or value does not serialize,
   * or it is larger than `maxRecordBytes` (default 'log-and-fail'): the same policies (dead-letter
   * sends the input record), or a ProductionExceptionHandler named by `{ module, export }`.
   */
  readonly productionExceptionHandler?: ErrorPolicy | ExceptionHandlerRef;
  /**
   * The largest output record, key, value and headers (default 1 MiB, Kafka's producer
   * max.request.size): a larger one goes to the production exception handler instead of failing
   * the transaction at the broker.
   */
  readonly maxRecordBytes?: number;
  /** Topic for 'dead-letter' (created with one partition if missing); default `<applicationId>-dlq`. */
  readonly deadLetterTopic?: string;
  /**
   * Window and session changelogs are created with `retention.ms` = the store's retention plus
   * this (default one day, Kafka Streams' `windowstore.changelog.additional.retention.ms`), so the
   * changelog keeps what the store keeps and no more. On Kafka the broker compares the records'
   * timestamps with its clock; the embedded log with the newest record of the partition when that
   * is earlier, so a backfill of old events keeps the windows its stores still hold. Only topics
   * this application creates get it (an existing changelog keeps its configuration).
   */
  readonly windowStoreChangelogAdditionalRetentionMs?: number;
  /**
   * Where persistent stores keep their data: one LevelDB database per task under
   * `<stateDir>/<applicationId>/<taskId>`. Default `<os tmpdir>/tributary`, like Kafka Streams'
   * `/tmp/kafka-streams`. `false` keeps every store in memory (restored from its changelog on start).
   */
  readonly stateDir?: string | false;
  /**
   * Values of persistent key-value stores kept in memory for reads, shared by the whole process
   * (default 64 MiB): the role RocksDB's block cache plays under Kafka Streams. Not the record cache.
   */
  readonly readCacheMaxBytes?: number;
  /**
   * The record cache (Kafka Streams' statestore.cache.max.bytes, KIP-63), in bytes for the whole
   * process, split evenly among its stream threads (default 10 MiB). The stores of aggregations keep
   * their writes there between commits: a key updated many times reaches the changelog and the
   * aggregation's output once per commit interval (or when the cache evicts it), with the latest
   * value. 0 turns it off: every update is written and forwarded (emit on every update). Per store:
   * `Materialized` with `caching: false`; Processor API stores: `StoreBuilder.withCachingEnabled()`.
   */
  readonly cacheMaxBytes?: number;
  /**
   * Key-value stores whose key queries (`get`, `queryKey`, `GET /stores/{store}/keys/{key}`) this
   * process answers on its main thread from a snapshot, without waiting for the stream thread
   * that owns the task. Each stream thread publishes the rows its stores changed when a commit
   * starts: a read sees every commit completed before it began (README, "Interactive queries").
   * Range, window and session queries still go to the stream thread. The snapshot keeps every key
   * of these stores (its bytes plus about 80 bytes) and their values within `maxBytes` (default
   * 64 MiB for all of them; a key whose value was evicted is read from the stream thread).
   *
   * @example
   * new StreamsApp(source, { applicationId: 'features', log, querySnapshots: { stores: ['user-features'] } });
   */
  readonly querySnapshots?: QuerySnapshotOptions;
  /** Serve interactive queries, health, metrics and ingest over HTTP. Port 0 picks a free port. */
  readonly http?: HttpOptions;
  /**
   * When several processes share the work (Kafka): how many other processes keep a warm copy of
   * each task's stores (default 0, as in Kafka Streams), so that a task that moves there after a
   * failure replays only the latest changelog records instead of all of them.
   */
  readonly numStandbyReplicas?: number;
  /**
   * KIP-441 warm-up replicas (Kafka Streams' `max.warmup.replicas`, default 2): when the group's
   * balance moves a task with state to a process whose copy of that state is not caught up, the
   * task keeps running where it is and the new process first builds a copy (up to this many tasks
   * at a time); once the copy has reached the end of the changelogs, that process asks for a
   * rebalance and the task moves, restoring only what the copy lacks. 0 moves tasks at once.
   */
  readonly maxWarmupReplicas?: number;
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

/** StreamsApp's `querySnapshots` option. */
export interface QuerySnapshotOptions {
  /** Key-value stores of the topology (not versioned ones) whose key queries are answered from the snapshot. */
  readonly stores: readonly string[];
  /** Bytes of values the snapshot keeps for all its stores (default 64 MiB); keys are always kept. */
  readonly maxBytes?: number;
}

/** StreamsApp's `http` option: how the server listens, and the application's own routes. */
export interface HttpOptions extends HttpServerOptions {
  /** Routes of the application (e.g. feature serving), tried before the built-in ones. */
  readonly routes?: readonly HttpRoute[] | ((app: StreamsApp) => readonly HttpRoute[]);
}
