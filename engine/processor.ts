import type { StreamRecord, RecordMetadata } from './record.ts';
import type { AnyStore } from './state/store.ts';
import type { VersionedKeyValueStore } from './state/versioned.ts';

/** What `getStateStore` returns: a store, or the view of a versioned store. */
export type ProcessorStore = AnyStore | VersionedKeyValueStore<unknown, unknown>;

export type PunctuationType = 'stream-time' | 'wall-clock-time';

export interface Cancellable {
  cancel(): void;
}

/** Why a record was dropped without being processed; each reason is counted per task. */
export type DropReason =
  | 'late-record'
  | 'expired-window'
  | 'null-key'
  | 'null-value'
  /** A foreign-key join's extractor returned null for a row of an inner join. */
  | 'null-foreign-key'
  | 'negative-timestamp'
  | 'deserialization-error'
  | 'processing-error'
  /** An output the production exception handler chose to drop (it could not be serialized, or was too large). */
  | 'production-error';

/**
 * A timestamp the task commits with its input offsets and restores exactly after a restart, a
 * rebalance or a move to another process, without a store: what an operator must remember of
 * time (its observed stream time, the close time up to which it emitted final results). It only
 * moves forward. Kafka Streams keeps partition time and its emit-on-close bookkeeping the same way
 * (in the offsets' commit metadata).
 *
 * @example
 * init(ctx) { this.#observed = ctx.committedTime(`${ctx.nodeName}:observed`); }
 * process(r) { this.#observed.advance(r.timestamp); if (r.timestamp < this.#observed.value - 60_000) return; ... }
 */
export interface CommittedTime {
  /** -Infinity until first advanced. */
  readonly value: number;
  /** Moves the value to `to` if that is later; an earlier `to` is ignored. */
  advance(to: number): void;
}

/**
 * What a processor can do while it processes a record or a punctuation.
 * `forward` hands a record to the children synchronously: by the time it returns, the
 * whole sub-tree below has processed the record.
 */
export interface ProcessorContext<KOut = unknown, VOut = unknown> {
  readonly applicationId: string;
  /** `<sub-topology>_<partition>`, as in Kafka Streams. */
  readonly taskId: string;
  /** The name of the node this context belongs to. */
  readonly nodeName: string;
  forward(record: StreamRecord<KOut, VOut>, childName?: string): void;
  /** A store connected to this processor, or a global store. Throws STORE_NOT_CONNECTED otherwise. */
  getStateStore<S extends ProcessorStore = AnyStore>(name: string): S;
  /**
   * Calls `callback` every `intervalMs` of stream time (advanced by record timestamps) or of
   * wall-clock time. The callback receives the time that triggered it.
   */
  schedule(intervalMs: number, type: PunctuationType, callback: (timestamp: number) => void): Cancellable;
  /** The highest record timestamp this task has seen; -Infinity before the first record. Survives restarts. */
  currentStreamTimeMs(): number;
  /**
   * The task's committed time of this name (created at the first call; the same object for the
   * same name within a task). Names are shared by the task's processors: prefix them with the
   * node or store name. Keep them few and short: they are committed with every commit, and Kafka
   * limits commit metadata to 4 KB per partition by default (offset.metadata.max.bytes).
   */
  committedTime(name: string): CommittedTime;
  currentSystemTimeMs(): number;
  /** Where the record being processed came from; undefined inside a punctuation. */
  recordMetadata(): RecordMetadata | undefined;
  /** Counts a record this processor dropped, by reason (exported as the dropped-records metric). */
  recordDropped(reason: DropReason): void;
}

/**
 * A processor of the Processor API: `init` once per task, `process` per record, `close` at the end.
 *
 * @example
 * class Upper implements Processor<string, string, string, string> {
 *   #ctx!: ProcessorContext<string, string>;
 *   init(ctx: ProcessorContext<string, string>) { this.#ctx = ctx; }
 *   process(r: StreamRecord<string, string>) { this.#ctx.forward({ ...r, value: r.value.toUpperCase() }); }
 * }
 */
export interface Processor<KIn, VIn, KOut = never, VOut = never> {
  init?(context: ProcessorContext<KOut, VOut>): void;
  process(record: StreamRecord<KIn, VIn>): void;
  close?(): void;
}

/** Makes a fresh processor for each task: processors hold per-task state and are never shared. */
export type ProcessorSupplier<KIn, VIn, KOut = never, VOut = never> = () => Processor<KIn, VIn, KOut, VOut>;

/**
 * Picks a record's event time. The default uses the timestamp the record was produced with.
 * Return a negative number to mark the record invalid: it is dropped and counted.
 */
export type TimestampExtractor<K = unknown, V = unknown> = (
  record: { key: K; value: V; timestamp: number; topic: string; partition: number; offset: number },
  partitionTime: number,
) => number;

/** Decides the topic of each output record for a dynamic sink. */
export type TopicNameExtractor<K, V> = (key: K, value: V, context: { topic?: string; partition?: number; offset?: number }) => string;

/** Decides the partition of each output record; undefined falls back to hashing the key bytes. */
export type StreamPartitioner<K, V> = (topic: string, key: K, value: V, numPartitions: number) => number | undefined;
