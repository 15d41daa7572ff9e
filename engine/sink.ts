/**
 * The sink SPI: what a target (a warehouse, a lake, a cache) implements so that a SinkRunner can
 * move a topic into it. The model is Kafka Connect's sink task: the runner consumes one topic
 * (read-committed) with its own position per partition, hands the sink batches ordered per
 * partition (so per key), and commits the position once the sink says the batch is durable.
 *
 * Where the position lives decides the guarantee, and each sink states both:
 *
 *   positions  guarantee       how
 *   ---------  --------------  ------------------------------------------------------------------
 *   'target'   exactly-once    the sink stores the consumed offsets in the same transaction as the
 *                              rows (a database); `open` reads them back, so a crash between write
 *                              and commit duplicates nothing
 *   'log'      idempotent      the runner commits the offsets to the log's group after the write;
 *                              a replay after a crash writes the same rows again, which the target
 *                              absorbs (upserts by key, files named by their first offset)
 *   'log'      at-least-once   as above, but a replay may duplicate (appends, notifications)
 */
import type { Headers } from './record.ts';

/** What a sink promises about each record of the topic (see the table above). */
export type SinkGuarantee = 'exactly-once' | 'idempotent' | 'at-least-once';

/**
 * Where the consumed positions live: `'log'`, the log's committed offsets of the runner's group
 * (committed by the runner after each write); `'target'`, the target itself, written by the sink
 * in the same transaction as the rows and read back by `open`.
 */
export type PositionStore = 'log' | 'target';

/** Next offsets to read, by partition number (of the runner's one topic). */
export type SinkPositions = ReadonlyMap<number, number>;

/** A record as a sink receives it: decoded, with where it came from. `null` is a tombstone. */
export interface SinkRecord<K, V> {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: K | null;
  readonly value: V | null;
  readonly timestamp: number;
  readonly headers?: Headers;
}

/** The records of one partition in a batch, in offset order. */
export interface SinkPartitionBatch<K, V> {
  readonly partition: number;
  /** Where this part starts: the position the runner read from (a file sink names files by it). */
  readonly fromOffset: number;
  /**
   * The position after this part (the next offset to read). It may be past the last record's
   * offset + 1: read-committed skips transaction markers and aborted records, and compaction
   * leaves gaps. A part can have no records and still move the position.
   */
  readonly nextOffset: number;
  readonly records: readonly SinkRecord<K, V>[];
}

/** One batch: at most one per partition, each in offset order. */
export interface SinkBatch<K, V> {
  readonly topic: string;
  /** 1, 2, 3... in this runner's life (a retried batch keeps its sequence). */
  readonly sequence: number;
  readonly parts: readonly SinkPartitionBatch<K, V>[];
  /** Records in all parts. */
  readonly size: number;
}

/** Given to `open`: what the sink is to consume. */
export interface SinkContext {
  readonly topic: string;
  readonly partitions: readonly number[];
}

/**
 * A target. The runner calls `open` once it starts (and again after a failed `open`), then
 * `write` with one batch at a time (never two at once, the next only after the previous one
 * resolved), `flush` when idle if the sink has it, and `close` at the end.
 *
 * A failed `write` is retried with the same batch (the sink must accept it again: a database sink
 * rolls back its transaction; a sink with `positions: 'target'` skips records below the offsets
 * it has stored, which also covers a commit whose answer was lost). Errors with
 * `canRetry === false` (see StreamsError) stop the runner in FAILED; every other error is retried
 * with backoff behind the circuit breaker.
 *
 * @example
 * const sink: Sink<string, number> = {
 *   name: 'totals-to-console',
 *   guarantee: 'at-least-once',
 *   positions: 'log',
 *   async open() {},
 *   async write(batch) {
 *     for (const part of batch.parts) for (const r of part.records) console.log(r.key, r.value);
 *   },
 *   async close() {},
 * };
 */
export interface Sink<K, V> {
  /** Names the sink in metrics, errors and (for `positions: 'target'`) the stored offsets. */
  readonly name: string;
  readonly guarantee: SinkGuarantee;
  readonly positions: PositionStore;
  /**
   * Prepares the target (connects, creates tables). With `positions: 'target'`, returns the stored
   * next offsets (partitions without one start at the beginning of the log); otherwise returns
   * nothing and the runner reads the log's committed offsets.
   */
  open(context: SinkContext): Promise<SinkPositions | void>;
  /**
   * Writes a batch. Resolves when it is durable, with nothing (the whole batch is), or with the
   * positions that are durable so far, per partition, for sinks that stage records before making
   * them visible (a lake rolling files of many MB): the runner commits only those, and replays the
   * rest after a restart.
   */
  write(batch: SinkBatch<K, V>): Promise<SinkPositions | void>;
  /**
   * For sinks that stage: called every poll interval while the runner is idle (`'idle'`: finish
   * what the sink's own size or age rules say is due) and once at close (`'close'`: finish
   * everything it can). Returns the positions durable so far.
   */
  flush?(reason: 'idle' | 'close'): Promise<SinkPositions | void>;
  /** Releases connections; called once. */
  close(): Promise<void>;
}
