/**
 * The log SPI: what the runtime needs from a log. The embedded log (connectors/embedded) and
 * Kafka (connectors/kafka) implement it; the engine never knows which one runs.
 *
 * Everything here moves batches: fetch returns many records, produce takes many, a transaction
 * commits outputs to many partitions together with the consumer offsets that produced them.
 */
import { StreamsError } from './errors.ts';
import type { Headers } from './record.ts';
import type { EncodedBatch } from './log-codec.ts';

export interface LogRecord {
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly timestamp: number;
  readonly headers?: Headers;
}

export interface FetchedRecord extends LogRecord {
  readonly offset: number;
}

export type CleanupPolicy = 'delete' | 'compact' | 'compact,delete';

export interface TopicConfig {
  readonly partitions: number;
  readonly cleanupPolicy: CleanupPolicy;
  /** For `delete` policies: records older than this (by timestamp) may be removed; -1 keeps them (Kafka's convention). */
  readonly retentionMs?: number;
  /** For `delete` policies: a partition may be trimmed to about this many bytes. */
  readonly retentionBytes?: number;
}

export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

/** Records for one partition, as produced. */
export interface PartitionBatch extends TopicPartition {
  readonly records: readonly LogRecord[];
}

export interface FetchOptions {
  /** At most this many records (default 1000). */
  readonly maxRecords?: number;
  /** Only records of committed transactions (default true). */
  readonly readCommitted?: boolean;
}

export interface FetchResult {
  readonly records: readonly FetchedRecord[];
  /** Where the next fetch starts. */
  readonly nextOffset: number;
  /** The offset after the last record (committed, under read-committed). */
  readonly endOffset: number;
  /** The first offset still in the log (earlier ones were removed by retention or compaction). */
  readonly startOffset: number;
}

/** Offsets committed by a consumer group: the next offset to read, per partition. */
export type GroupOffsets = ReadonlyMap<string, number>;

/**
 * Metadata committed with consumer offsets, per partition (Kafka's `OffsetAndMetadata.metadata`):
 * a string that becomes visible, or is lost, together with its partition's offset. Committing an
 * offset without metadata clears the partition's metadata. The runtime keeps there what a task
 * must know of time to resume exactly (as Kafka Streams keeps partition time there).
 */
export type GroupMetadata = ReadonlyMap<string, string>;

/** What `sendOffsets` commits besides the offsets. */
export interface SendOffsetsOptions {
  /**
   * With a member, the log refuses the commit (TASK_MIGRATED) once that member's generation is
   * over: a process that lost its tasks in a rebalance cannot commit for them (KIP-447).
   */
  readonly member?: GroupGeneration;
  /** See MemberCommitOptions.renewMember. */
  readonly renewMember?: MemberCommitOptions['renewMember'];
  /** Metadata per partition (keys as in `offsets`), committed with the offsets. */
  readonly metadata?: GroupMetadata;
}

/** A member's commit outside a transaction (`commitOffsets`). */
export interface MemberCommitOptions {
  /** With a member, the log refuses the commit (TASK_MIGRATED) once that member's generation is over. */
  readonly member?: GroupGeneration;
  /**
   * Cooperative rebalancing: a member keeps the tasks it is not told to give up across
   * generations, and the group's leader gives nobody a task its owner still holds. So a commit
   * refused only because the member's generation moved on (same member id) may go again under the
   * next one. Called with the refused generation; returns the member's next generation, or
   * undefined to give up (TASK_MIGRATED). Logs whose clients cannot call back (served to threads)
   * ignore it.
   */
  readonly renewMember?: (stale: GroupGeneration) => Promise<GroupGeneration | undefined>;
}

/** `${topic}:${partition}`, the key of GroupOffsets and other per-partition maps. */
export function partitionKey(tp: TopicPartition): string {
  return `${tp.topic}:${tp.partition}`;
}

/**
 * An open transaction of one transactional producer. Its records and offsets become visible to
 * read-committed readers together, at `commit()`, or never.
 */
/** Who commits offsets for a group: the member and generation the log checks before accepting them. */
export interface GroupGeneration {
  readonly memberId: string;
  readonly generationId: number;
}

export interface LogTransaction {
  produce(batches: readonly PartitionBatch[]): void;
  /** Commits these consumer offsets (next offset to read) for `group`, and their metadata, with the transaction. */
  sendOffsets(group: string, offsets: ReadonlyMap<string, number>, options?: SendOffsetsOptions): void;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/**
 * A transactional producer. `init` fences any earlier producer with the same id (a zombie of a
 * crashed or replaced process): its open transaction is aborted and its later commits fail with
 * PRODUCER_FENCED.
 */
export interface TransactionalProducer {
  readonly transactionalId: string;
  begin(): LogTransaction;
}

/** One stored batch of a fetch, still encoded: records `skip`.. of the batch are wanted. */
export interface EncodedChunk {
  readonly baseOffset: number;
  readonly skip: number;
  readonly blob: Uint8Array;
}

export interface EncodedFetchResult {
  readonly chunks: readonly EncodedChunk[];
  readonly nextOffset: number;
  readonly endOffset: number;
  readonly startOffset: number;
}

/**
 * What a log owned by another thread offers so that batches cross threads as bytes (see
 * log-codec.ts). The embedded log implements it; the runtime falls back to plain fetch and
 * produce for logs that do not.
 */
export interface EncodedLog {
  fetchEncoded(tp: TopicPartition, offset: number, maxRecords: number): EncodedFetchResult;
  /** Appends encoded batches and offsets as one unit; `producer` makes it a transaction commit. */
  appendEncoded(
    batches: readonly EncodedBatch[],
    offsets: ReadonlyMap<string, ReadonlyMap<string, number>> | undefined,
    producer: TransactionalProducer | undefined,
    metadata?: ReadonlyMap<string, GroupMetadata>,
  ): Promise<number[]>;
}

export function isEncodedLog(log: Log): log is Log & EncodedLog {
  return typeof (log as Partial<EncodedLog>).fetchEncoded === 'function' && typeof (log as Partial<EncodedLog>).appendEncoded === 'function';
}

/** One fetch of a `fetchMany`. */
export interface FetchRequest {
  readonly tp: TopicPartition;
  readonly offset: number;
  readonly options?: FetchOptions;
}

/**
 * How a worker thread opens its own connection to a log: `module` exports a function
 * `exportName(options)` returning the Log (options must survive structured cloning). Logs that
 * offer one (Kafka) give every stream thread its own clients; the others (the embedded log, which
 * one process owns) are served to the threads from the thread that opened them.
 */
export interface WorkerLogSpec {
  readonly module: string;
  readonly exportName: string;
  readonly options: unknown;
}

/** A member of a group, with the metadata it joined with (and, once assigned, its partitions). */
export interface GroupMember {
  readonly memberId: string;
  readonly metadata: Uint8Array;
  readonly partitions: readonly TopicPartition[];
}

/** What a member learns at the end of each rebalance. */
export interface GroupAssignment extends GroupGeneration {
  readonly partitions: readonly TopicPartition[];
  /** Every member of this generation with its metadata and partitions (for routing queries). */
  readonly members: readonly GroupMember[];
}

export interface JoinGroupOptions {
  readonly groupId: string;
  /** The topics whose partitions are assigned. */
  readonly topics: readonly string[];
  /** This member's metadata, asked before every join (e.g. its endpoint and the tasks it has). */
  metadata(): Uint8Array;
  /**
   * Run by the group's leader: the partitions of each member (by member id), given every member's
   * metadata and each topic's partition count. Must be synchronous and deterministic.
   */
  assign(members: readonly { memberId: string; metadata: Uint8Array }[], partitions: ReadonlyMap<string, number>): ReadonlyMap<string, readonly TopicPartition[]>;
  /** Called at the end of every rebalance that includes this member. */
  onAssignment(assignment: GroupAssignment): void;
  /** Called when membership is lost for good (e.g. the broker stayed unreachable). */
  onError(error: StreamsError): void;
  /** The member is dropped after this long without a heartbeat (default 10 s). */
  readonly sessionTimeoutMs?: number;
  /**
   * Static membership (KIP-345): the member keeps its place when it leaves (no LeaveGroup), and a
   * process that joins with the same id within the session timeout takes it back without a
   * rebalance. Two live processes with one id: the older one is fenced.
   */
  readonly groupInstanceId?: string;
}

export interface GroupMembership {
  /** Leaves the group, so that its partitions are reassigned at once. */
  leave(): Promise<void>;
  /** Joins again with fresh metadata (a rebalance every member hears), when the log can. */
  rejoin?(): Promise<void>;
}

export interface Log {
  createTopic(name: string, config: TopicConfig): Promise<void>;
  /** Config of every topic. */
  topics(): Promise<ReadonlyMap<string, TopicConfig>>;
  fetch(tp: TopicPartition, offset: number, options?: FetchOptions): Promise<FetchResult>;
  /** Appends outside any transaction; returns the base offset of each batch. */
  produce(batches: readonly PartitionBatch[]): Promise<number[]>;
  initTransactions(transactionalId: string): Promise<TransactionalProducer>;
  committedOffsets(group: string): Promise<GroupOffsets>;
  /** The metadata committed with the group's offsets (partitions without metadata are absent). */
  committedMetadata(group: string): Promise<GroupMetadata>;
  /**
   * Commits offsets, and their metadata, outside a transaction (at-least-once). With `member`, as
   * a member of that generation of the group: refused with TASK_MIGRATED once the group has moved
   * on (its partitions may be someone else's), as Kafka's consumers commit.
   */
  commitOffsets(group: string, offsets: ReadonlyMap<string, number>, metadata?: GroupMetadata, options?: MemberCommitOptions): Promise<void>;
  /** Drops the records of a partition before `offset` (consumed repartition records). */
  deleteRecords(tp: TopicPartition, offset: number): Promise<void>;
  close(): Promise<void>;
  /** Many fetches in one call (one request per broker), when the log can do better than one by one. */
  fetchMany?(requests: readonly FetchRequest[]): Promise<FetchResult[]>;
  /** How a worker thread opens its own connection to this log, when it can. */
  workerSpec?(): WorkerLogSpec;
  /**
   * Joins a group of processes that split partitions between them (Kafka's group protocol). Logs
   * without it (the embedded log) are owned by one process, which runs every task.
   */
  joinGroup?(options: JoinGroupOptions): Promise<GroupMembership>;
}

/** `log.fetchMany`, or the fetches one by one (concurrently) for logs without it. */
export function fetchMany(log: Log, requests: readonly FetchRequest[]): Promise<FetchResult[]> {
  return log.fetchMany !== undefined ? log.fetchMany(requests) : Promise.all(requests.map((r) => log.fetch(r.tp, r.offset, r.options)));
}

/** Opens the log a WorkerLogSpec describes (in a worker thread). */
export async function openWorkerLog(spec: WorkerLogSpec): Promise<Log> {
  const module = (await import(spec.module)) as Record<string, unknown>;
  const open = module[spec.exportName];
  if (typeof open !== 'function') throw new StreamsError('INVALID_ARGUMENT', `${spec.module} does not export a function "${spec.exportName}" that opens a log`);
  return (await (open as (options: unknown) => Log | Promise<Log>)(spec.options)) as Log;
}
