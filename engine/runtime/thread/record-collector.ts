/**
 * RecordCollector (Kafka Streams' name): what the tasks of one stream thread write between two
 * commits, per topic and partition: sink outputs, changelog records and dead-lettered records. The
 * Committer takes them all at once into the commit's transaction.
 */
import { StreamsError } from '../../errors.ts';
import type { LogRecord, PartitionBatch } from '../../log.ts';
import type { RawRecord } from '../../internals/stream-task.ts';
import { partitionForKey } from '../partitioner.ts';

const EMPTY = new Uint8Array(0);

export interface RecordCollectorOptions {
  /** Partition count of every topic the tasks may write, with log names. */
  readonly partitions: Readonly<Record<string, number>>;
  /** Where dead-lettered records go (log name). */
  readonly deadLetterTopic: string | undefined;
}

export class RecordCollector {
  readonly #options: RecordCollectorOptions;
  /** Per topic, per partition: the records to write at the next commit. */
  readonly #byTopic = new Map<string, LogRecord[][]>();
  #count = 0;

  constructor(options: RecordCollectorOptions) {
    this.#options = options;
  }

  /** Records waiting for the next commit. */
  get count(): number {
    return this.#count;
  }

  /**
   * Adds a record for `topic` (log name). Without a partition, a record goes by its key's hash,
   * without a key by its value's (by neither, to partition 0): a round-robin counter would restart
   * with the thread, and a restart would move records to other partitions.
   */
  send(topic: string, partition: number | undefined, record: LogRecord): void {
    let partitions = this.#byTopic.get(topic);
    if (partitions === undefined) {
      const n = this.#options.partitions[topic];
      if (n === undefined) throw new StreamsError('UNKNOWN_TOPIC', `the topology writes to topic "${topic}", which does not exist; create it first`);
      this.#byTopic.set(topic, (partitions = Array.from({ length: n }, () => [])));
    }
    const p = partition ?? partitionForKey(record.key ?? record.value ?? EMPTY, partitions.length);
    partitions[p]!.push(record);
    this.#count++;
  }

  /**
   * A record that could not be decoded or processed, to the dead-letter topic with its key and
   * value bytes and headers saying where it came from and why. It goes out in the same
   * transaction as the offsets that move past it, so it is dead-lettered exactly once.
   */
  deadLetter(raw: RawRecord, error: StreamsError, source: { readonly topic: string; readonly taskId: string }): void {
    this.send(this.#options.deadLetterTopic!, undefined, {
      key: raw.key,
      value: raw.value,
      timestamp: raw.timestamp,
      headers: {
        ...raw.headers,
        'tributary.error.code': error.code,
        'tributary.error.message': error.message,
        'tributary.source.topic': source.topic,
        'tributary.source.partition': String(raw.partition),
        'tributary.source.offset': String(raw.offset),
        'tributary.task': source.taskId,
      },
    });
  }

  /** Everything collected, as batches per partition; the collector is empty after. */
  take(): PartitionBatch[] {
    const batches: PartitionBatch[] = [];
    for (const [topic, partitions] of this.#byTopic) {
      partitions.forEach((records, partition) => {
        if (records.length > 0) batches.push({ topic, partition, records: records.splice(0) });
      });
    }
    this.#count = 0;
    return batches;
  }
}
