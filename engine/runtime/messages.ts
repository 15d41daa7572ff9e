/** Messages between the StreamsApp (main thread) and its stream threads, checked exhaustively. */
import type { GroupGeneration, TopicPartition, WorkerLogSpec } from '../log.ts';
import type { ErrorCode } from '../errors.ts';

/** One task: a sub-topology for one partition. */
export interface TaskSpec {
  readonly id: string;
  readonly subtopology: number;
  readonly partition: number;
  /** The partitions this task reads, with the log's topic names. */
  readonly inputs: readonly TopicPartition[];
}

export interface ThreadConfig {
  readonly threadId: number;
  /** URL of the module that exports the topology, and the export's name. */
  readonly module: string;
  readonly exportName: string;
  readonly applicationId: string;
  readonly processingGuarantee: 'exactly_once_v2' | 'at_least_once';
  readonly commitIntervalMs: number;
  /** Commit early once this many output and changelog records are buffered (bounds memory). */
  readonly maxBufferedRecords: number;
  readonly pollIntervalMs: number;
  readonly maxPollRecords: number;
  readonly tasks: readonly TaskSpec[];
  /** Standby tasks: warm copies of other processes' tasks (numStandbyReplicas). */
  readonly standbys?: readonly TaskSpec[];
  /** Partition count of every topic the topology may write, with log names. */
  readonly partitions: Readonly<Record<string, number>>;
  /** Topology topic name -> log topic name, for internal topics (prefixed with the application id). */
  readonly topicNames: Readonly<Record<string, string>>;
  /** Store name -> changelog topic (log name), for stores that keep a changelog. */
  readonly changelogs: Readonly<Record<string, string>>;
  /** Global topics to read in full, with their partition counts. */
  readonly globalTopics: Readonly<Record<string, number>>;
  readonly onDeserializationError: ErrorPolicy | HandlerModule;
  readonly onProcessingError: ErrorPolicy | HandlerModule;
  readonly onProductionError: ErrorPolicy | HandlerModule;
  readonly maxRecordBytes: number;
  /** Where 'dead-letter' sends records (log name). */
  readonly deadLetterTopic: string | undefined;
  /** Root of the tasks' local databases; undefined keeps every store in memory. */
  readonly stateDir: string | undefined;
  /** This thread's share of the cache budget for persistent key-value stores. */
  readonly readCacheBytes: number;
  /** This thread's record cache (KIP-63) in bytes: the process's cacheMaxBytes over its threads; 0 is off. */
  readonly recordCacheBytes: number;
  /** Set when the thread opens its own connection to the log (else it uses the served one). */
  readonly workerLog?: WorkerLogSpec;
  /** The process's group generation, sent with committed offsets (set when processes share the work). */
  readonly member?: GroupGeneration;
  /** Transactional ids are `<prefix>-<threadId>` (default prefix: the application id). */
  readonly transactionalIdPrefix?: string;
  /**
   * Key-value stores whose rows the thread publishes to the main thread for point reads (see
   * store-snapshots.ts); the channel and its counter come in the worker's data.
   */
  readonly snapshotStores?: readonly string[];
}

/** An exception handler as the thread imports it: a module URL and its export. */
export interface HandlerModule {
  readonly module: string;
  readonly export: string;
}

/** What happens to a record that cannot be decoded or processed. */
export type ErrorPolicy = 'log-and-fail' | 'log-and-continue' | 'dead-letter';

export interface TaskMetricsSnapshot {
  readonly taskId: string;
  readonly recordsIn: number;
  readonly recordsOut: number;
  readonly dropped: Readonly<Record<string, number>>;
  /** Records left to read per input partition at the last poll. */
  readonly lag: number;
  readonly deadLettered: number;
  /** Changelog records replayed when the task started. */
  readonly restored: number;
  readonly stores: readonly { name: string; entries: number; cacheHits: number; cacheMisses: number }[];
  /** Stream time: the newest record timestamp the task has seen (ms), null before its first record. */
  readonly streamTime: number | null;
}

/**
 * A latency histogram as a thread sends it: `counts[i]` observations at most `bounds[i]` seconds
 * (and above the previous bound), the last count above every bound. Counts from several threads
 * with the same bounds add up.
 */
export interface HistogramSnapshot {
  readonly bounds: readonly number[];
  readonly counts: readonly number[];
  readonly sum: number;
  readonly count: number;
}

export type ToThread =
  | { readonly kind: 'stop' }
  /**
   * A new generation was assigned to this process (sent at once, before the assignment is
   * applied): a commit refused for the old generation may go again under it.
   */
  | { readonly kind: 'generation'; readonly member: GroupGeneration }
  /**
   * A new generation of the group (cooperative rebalancing): the thread commits, then closes the
   * tasks and standbys it loses, opens those it gains, and commits under `member` from now on;
   * the tasks it keeps run on. Answered with `assigned` once the new tasks are restored.
   */
  | {
      readonly kind: 'assign';
      readonly id: number;
      readonly member: GroupGeneration | undefined;
      readonly remove: readonly string[];
      readonly removeStandbys: readonly string[];
      readonly add: readonly TaskSpec[];
      readonly addStandbys: readonly TaskSpec[];
    }
  | { readonly kind: 'metrics'; readonly id: number }
  /** `stale`: a standby copy of the partition may answer (it may lag behind the active task). */
  | { readonly kind: 'query'; readonly id: number; readonly store: string; readonly partition: number; readonly query: StoreQuery; readonly stale?: boolean };

export type StoreQuery =
  | { readonly type: 'key'; readonly key: string }
  /**
   * Rows from `from` to `to`. With `limit`, at most that many, each with its `cursor` (the key's
   * bytes in hex, so cursors sort like keys); `after` resumes past the row with that cursor.
   */
  | { readonly type: 'range'; readonly from?: string; readonly to?: string; readonly after?: string; readonly limit?: number }
  | { readonly type: 'windows'; readonly key: string; readonly from: number; readonly to: number }
  | { readonly type: 'sessions'; readonly key: string };

export type FromThread =
  | { readonly kind: 'ready'; readonly threadId: number }
  /**
   * The thread has stopped. `abandoned`: it stopped on its own after a commit the log refused
   * (TASK_MIGRATED) or could not take (LOG_UNAVAILABLE); its work since the last commit is dropped
   * and its tasks must be started again (or given to whoever owns them now).
   */
  | { readonly kind: 'stopped'; readonly threadId: number; readonly abandoned?: string }
  | { readonly kind: 'error'; readonly threadId: number; readonly code: ErrorCode | undefined; readonly message: string; readonly stack?: string }
  | {
      readonly kind: 'metrics';
      readonly id: number;
      readonly threadId: number;
      readonly tasks: readonly TaskMetricsSnapshot[];
      readonly commits: number;
      readonly commitMs: number;
      readonly processed: number;
      readonly processMs: number;
      /** Commit durations of this thread, since it started. */
      readonly commitLatency: HistogramSnapshot;
      /**
       * Wall-clock time minus record timestamp when a task writes a record to an output topic (before
       * the commit that makes it visible), by topic (topology name).
       */
      readonly endToEndLatency: Readonly<Record<string, HistogramSnapshot>>;
      /** The thread's own V8 heap (a worker has its own isolate; the process's figures show the main thread's). */
      readonly heapUsedBytes: number;
      readonly heapTotalBytes: number;
    }
  | { readonly kind: 'query-result'; readonly id: number; readonly status: number; readonly body: unknown }
  /** A standby task reached the end of its changelogs for the first time. */
  | { readonly kind: 'caught-up'; readonly threadId: number; readonly taskId: string }
  /** An `assign` is done; `ok` false: a commit was refused on the way and the thread has stopped (see `stopped`). */
  | { readonly kind: 'assigned'; readonly id: number; readonly ok: boolean };

/** Rows of one store partition as a stream thread publishes them: key and value bytes as latin1 strings. */
export interface StoreRows {
  readonly store: string;
  readonly partition: number;
  readonly keys: readonly string[];
  /** null: the key was deleted. */
  readonly values: readonly (string | null)[];
  readonly timestamps: readonly number[];
}

/** From a stream thread to the main thread's StoreSnapshots, on the thread's snapshot channel. */
export type SnapshotUpdate =
  /** A task was opened (restored): the full rows of its published stores, replacing what was there. */
  | { readonly kind: 'snapshot-open'; readonly partition: number; readonly stores: readonly StoreRows[] }
  /** Rows changed since the last publication (a commit started, or the publish interval passed). */
  | { readonly kind: 'snapshot-changes'; readonly changes: readonly StoreRows[] }
  /** A task was closed here (it moved, or the thread stops). */
  | { readonly kind: 'snapshot-close'; readonly partition: number; readonly stores: readonly string[] };

export function assertNever(value: never): never {
  throw new Error(`unexpected message: ${JSON.stringify(value)}`);
}
