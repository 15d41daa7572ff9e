/**
 * Producing (Kafka's RecordAccumulator and Sender in one): the records for a partition go out as
 * record batches of our own encoding (record-batch.ts: one buffer per batch, where the client
 * builds many small ones) of at most MAX_BATCH_BYTES each, in order, with the producer's sequence
 * numbers, each Produce retried with the same sequence at the partition's new leader.
 *
 * `produce` is the log's plain produce, idempotent under a producer id of its own; transactions
 * (transactions.ts) send through `send` under their transactional producer's id and epoch.
 */
import { Writer, createAPI, initProducerIdV5, produceV11 } from '@platformatic/kafka';
import { StreamsError } from '../../engine/errors.ts';
import { partitionKey, type LogRecord, type PartitionBatch, type TopicPartition } from '../../engine/log.ts';
import { COORDINATOR_ATTEMPTS, brokerError, isUnreachable, retrying, type Calls } from './calls.ts';
import type { Connections } from './connections.ts';
import type { Metadata } from './metadata.ts';
import { encodeRecordBatch } from './record-batch.ts';

/** A producer id and epoch with our own sequence numbers per partition (`topic:partition`). */
export interface IdempotentProducer {
  readonly producerId: bigint;
  readonly producerEpoch: number;
  readonly sequences: Map<string, number>;
}

/** Most bytes of one produced record batch (the broker's message.max.bytes defaults to 1 MiB). */
const MAX_BATCH_BYTES = 512 * 1024;
const PRODUCE_TIMEOUT_MS = 30_000;

/** Produce (v11, acks all) of one encoded record batch for one partition, in a transaction (with its id) or not (null). */
const produceRawBatch = createAPI(
  0,
  11,
  (transactionalId: string | null, timeoutMs: number, topic: string, partition: number, batch: Buffer) =>
    Writer.create()
      .appendString(transactionalId)
      .appendInt16(-1)
      .appendInt32(timeoutMs)
      .appendArray([topic], (w, name) => {
        w.appendString(name).appendArray([partition], (w, index) => {
          w.appendInt32(index).appendUnsignedVarInt(batch.length + 1).append(batch);
        });
      })
      .appendTaggedFields(),
  produceV11.parseResponse,
);

/**
 * The records of `batches` per partition (`topic:partition`), in order, for the partitions with
 * records; `of` holds, for each given batch of that partition, its index and where its records
 * start.
 */
export function byPartition(batches: readonly PartitionBatch[]): Map<string, { tp: TopicPartition; records: LogRecord[]; of: number[] }> {
  const merged = new Map<string, { tp: TopicPartition; records: LogRecord[]; of: number[] }>();
  batches.forEach((b, i) => {
    const key = partitionKey(b);
    let m = merged.get(key);
    if (m === undefined) merged.set(key, (m = { tp: b, records: [], of: [] }));
    m.of.push(i, m.records.length);
    for (const r of b.records) m.records.push(r);
  });
  for (const [key, m] of merged) if (m.records.length === 0) merged.delete(key);
  return merged;
}

export interface ProducerOptions {
  readonly calls: Calls;
  readonly metadata: Metadata;
  /** The log's produce connections, apart from the fetch ones. */
  readonly connections: Connections;
}

export class Producer {
  readonly #calls: Calls;
  readonly #metadata: Metadata;
  readonly #connections: Connections;
  /**
   * The idempotent producer of plain (non-transactional) produce: a producer id from
   * InitProducerId and our own sequence numbers per partition. Dropped after a failed send (its
   * sequences may be out of step with the broker's), so the next produce starts a new one.
   */
  #idempotent: Promise<IdempotentProducer> | undefined;

  constructor(o: ProducerOptions) {
    this.#calls = o.calls;
    this.#metadata = o.metadata;
    this.#connections = o.connections;
  }

  /** Appends outside any transaction; returns the base offset of each batch (-1 for an empty one). */
  async produce(batches: readonly PartitionBatch[]): Promise<number[]> {
    return this.#calls.run(
      'producing',
      async () => {
        // One record batch per partition (in order, up to MAX_BATCH_BYTES each), so each given
        // batch's base offset is known.
        const nonEmpty = [...byPartition(batches)];
        const out = new Array<number>(batches.length).fill(-1);
        if (nonEmpty.length === 0) return out;
        const producer = await this.#idempotentProducer();
        try {
          await Promise.all(
            nonEmpty.map(async ([key, m]) => {
              const bases = await this.send(null, producer, key, m.tp.topic, m.tp.partition, m.records, false);
              for (let i = 0; i < m.of.length; i += 2) out[m.of[i]!] = bases(m.of[i + 1]!);
            }),
          );
        } catch (error) {
          if (this.#idempotent !== undefined && (await this.#idempotent.catch(() => undefined)) === producer) this.#idempotent = undefined;
          throw error;
        }
        return out;
      },
      false,
    );
  }

  #idempotentProducer(): Promise<IdempotentProducer> {
    this.#idempotent ??= (async () => {
      const [node] = [...(await this.#metadata.read({ topics: [], forceUpdate: true })).brokers.keys()];
      if (node === undefined) throw new StreamsError('LOG_UNAVAILABLE', 'no Kafka broker is known', { canRetry: true });
      // Retried while the broker's transaction state loads (a broker that just started) or moves.
      const answer = await retrying(
        COORDINATOR_ATTEMPTS,
        (attempt) => Math.min(50 * attempt, 500),
        async () => initProducerIdV5.api.async(await this.#connections.get(node), null, 60_000, -1n, -1),
        (error) => {
          if (isUnreachable(error)) this.#connections.drop(node);
          return isUnreachable(error) || brokerError(error, 'COORDINATOR_LOAD_IN_PROGRESS', 'COORDINATOR_NOT_AVAILABLE', 'NOT_COORDINATOR', 'CONCURRENT_TRANSACTIONS');
        },
      );
      return { producerId: answer.producerId, producerEpoch: answer.producerEpoch, sequences: new Map() };
    })();
    this.#idempotent.catch(() => (this.#idempotent = undefined));
    return this.#idempotent;
  }

  /**
   * Produces records to one partition in record batches of at most MAX_BATCH_BYTES, in order, with
   * the producer's sequence numbers (reserved before any await, so concurrent calls for one
   * partition go out in the order of their sequences). Returns the offset of the i-th record.
   */
  async send(
    transactionalId: string | null,
    producer: IdempotentProducer,
    key: string,
    topic: string,
    partition: number,
    records: readonly LogRecord[],
    transactional: boolean,
  ): Promise<(index: number) => number> {
    const sends: { from: number; sent: Promise<number> }[] = [];
    for (let from = 0; from < records.length; ) {
      let to = from;
      let bytes = 0;
      while (to < records.length && (to === from || bytes < MAX_BATCH_BYTES)) {
        const r = records[to++]!;
        bytes += (r.key?.byteLength ?? 0) + (r.value?.byteLength ?? 0) + 32;
      }
      const baseSequence = producer.sequences.get(key) ?? 0;
      producer.sequences.set(key, (baseSequence + (to - from)) % 2 ** 31);
      const batch = encodeRecordBatch(records.slice(from, to), { producerId: producer.producerId, producerEpoch: producer.producerEpoch, baseSequence, transactional });
      sends.push({ from, sent: this.#sendBatch(transactionalId, topic, partition, batch) });
      from = to;
    }
    const settled = await Promise.allSettled(sends.map((s) => s.sent));
    for (const outcome of settled) if (outcome.status === 'rejected') throw outcome.reason;
    const bases = settled.map((o) => (o as PromiseFulfilledResult<number>).value);
    return (index) => {
      let i = sends.length - 1;
      while (sends[i]!.from > index) i--;
      return bases[i]! + index - sends[i]!.from;
    };
  }

  /** One Produce request with one record batch; retried (same sequence) at a partition's new leader. Returns its base offset. */
  async #sendBatch(transactionalId: string | null, topic: string, partition: number, batch: Buffer): Promise<number> {
    let leader = -1;
    return retrying(
      5,
      (attempt) => 100 * attempt,
      async (attempt) => {
        leader = -1; // until this attempt resolves it (the metadata lookup may fail)
        leader = (await this.#metadata.topic(topic, attempt > 1)).leaders[partition] ?? -1;
        if (leader < 0) throw new StreamsError('UNKNOWN_TOPIC', `topic "${topic}" has no leader for partition ${partition}`, { canRetry: true });
        const answer = await produceRawBatch.async(await this.#connections.get(leader), transactionalId, PRODUCE_TIMEOUT_MS, topic, partition, batch);
        return Number(answer.responses[0]?.partitionResponses[0]?.baseOffset ?? -1);
      },
      (error, attempt) => {
        const unreachable = isUnreachable(error);
        if (unreachable && leader >= 0) this.#connections.drop(leader);
        // Sent again with the same sequence number: a batch the broker did append is recognized
        // as a duplicate and not written twice.
        return (unreachable && attempt === 1) || brokerError(error, 'NOT_LEADER_OR_FOLLOWER', 'LEADER_NOT_AVAILABLE', 'NOT_ENOUGH_REPLICAS', 'UNKNOWN_TOPIC_OR_PARTITION');
      },
    );
  }
}
