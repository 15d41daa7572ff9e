/**
 * Gathers fetched records into the next batch and says when it is due: by size (records or bytes)
 * or by time (`lingerMs` after the batch took its first record). Pure, with the clock passed in,
 * so the boundaries are unit- and property-tested without a log.
 */
import { StreamsError } from '../../engine/index.ts';
import type { SinkBatch, SinkPartitionBatch, SinkRecord } from './sink.ts';

export interface BatchPolicy {
  /** A batch is due once it holds this many records, and never holds more (default 1000). */
  readonly maxRecords?: number;
  /** A batch is due once its keys and values take this many bytes (default 4 MiB). */
  readonly maxBytes?: number;
  /** A batch is due this long after it took its first record, however small (default 1000 ms). */
  readonly lingerMs?: number;
}

export type ResolvedBatchPolicy = Required<BatchPolicy>;

/** Why a batch was due. */
export type BatchTrigger = 'records' | 'bytes' | 'linger';

export function resolveBatchPolicy(policy: BatchPolicy = {}): ResolvedBatchPolicy {
  const resolved = { maxRecords: policy.maxRecords ?? 1000, maxBytes: policy.maxBytes ?? 4 * 1024 * 1024, lingerMs: policy.lingerMs ?? 1000 };
  if (!Number.isInteger(resolved.maxRecords) || resolved.maxRecords < 1) throw new StreamsError('INVALID_ARGUMENT', `batch maxRecords must be a positive integer, got ${resolved.maxRecords}`);
  if (!(resolved.maxBytes > 0)) throw new StreamsError('INVALID_ARGUMENT', `batch maxBytes must be positive, got ${resolved.maxBytes}`);
  if (!(Number.isFinite(resolved.lingerMs) && resolved.lingerMs >= 0)) throw new StreamsError('INVALID_ARGUMENT', `batch lingerMs must be a non-negative number, got ${resolved.lingerMs}`);
  return resolved;
}

interface Part<K, V> {
  fromOffset: number;
  nextOffset: number;
  records: SinkRecord<K, V>[];
}

export class BatchBuilder<K, V> {
  readonly topic: string;
  readonly policy: ResolvedBatchPolicy;
  #parts = new Map<number, Part<K, V>>();
  #size = 0;
  #bytes = 0;
  #startedAt: number | undefined;

  constructor(topic: string, policy: BatchPolicy = {}) {
    this.topic = topic;
    this.policy = resolveBatchPolicy(policy);
  }

  get size(): number {
    return this.#size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Records the batch can still take. */
  get room(): number {
    return this.policy.maxRecords - this.#size;
  }

  /** Whether the batch holds anything to write: records, or a position that moved without records. */
  get isEmpty(): boolean {
    return this.#startedAt === undefined;
  }

  /**
   * Adds what one fetch of `partition` returned: `records` (at most `room`), read from
   * `fromOffset` up to `nextOffset`. A fetch must start where the previous one of the same
   * partition ended (the runner's position).
   */
  add(partition: number, fromOffset: number, nextOffset: number, records: readonly SinkRecord<K, V>[], bytes: number, now: number): void {
    if (records.length > this.room) throw new StreamsError('ILLEGAL_STATE', `a batch of at most ${this.policy.maxRecords} records cannot take ${records.length} more (it has ${this.#size})`);
    if (nextOffset <= fromOffset && records.length === 0) return;
    let part = this.#parts.get(partition);
    if (part === undefined) {
      this.#parts.set(partition, (part = { fromOffset, nextOffset: fromOffset, records: [] }));
    } else if (part.nextOffset !== fromOffset) {
      throw new StreamsError('ILLEGAL_STATE', `partition ${partition}: a fetch from ${fromOffset} does not continue the batch, which ends at ${part.nextOffset}`);
    }
    for (const r of records) part.records.push(r);
    part.nextOffset = nextOffset;
    this.#size += records.length;
    this.#bytes += bytes;
    this.#startedAt ??= now;
  }

  /** Why the batch is due at `now`, or undefined if it is not (an empty batch never is). */
  due(now: number): BatchTrigger | undefined {
    if (this.#startedAt === undefined) return undefined;
    if (this.#size >= this.policy.maxRecords) return 'records';
    if (this.#bytes >= this.policy.maxBytes) return 'bytes';
    if (now - this.#startedAt >= this.policy.lingerMs) return 'linger';
    return undefined;
  }

  /** When the batch will be due by time (ms), or undefined while it is empty. */
  get deadline(): number | undefined {
    return this.#startedAt === undefined ? undefined : this.#startedAt + this.policy.lingerMs;
  }

  /** Hands the batch over (parts in partition order) and starts an empty one. */
  take(sequence: number): SinkBatch<K, V> {
    const parts: SinkPartitionBatch<K, V>[] = [...this.#parts]
      .sort(([a], [b]) => a - b)
      .map(([partition, p]) => ({ partition, fromOffset: p.fromOffset, nextOffset: p.nextOffset, records: p.records }));
    const batch: SinkBatch<K, V> = { topic: this.topic, sequence, parts, size: this.#size };
    this.#parts = new Map();
    this.#size = 0;
    this.#bytes = 0;
    this.#startedAt = undefined;
    return batch;
  }
}
