/**
 * Apache Kafka behind the Log SPI (engine/log.ts), on @platformatic/kafka (pure TypeScript: it
 * loads in worker threads, where node-rdkafka cannot). This file wires the parts and delegates to
 * them; each part is one role of a Kafka client, as Kafka's own client splits them:
 *
 * - metadata.ts: topic leaders and ids, broker addresses (Metadata);
 * - connections.ts: the log's own broker connections, one set per purpose (NetworkClient);
 * - fetcher.ts: raw fetches, read-committed filtering of aborted transactions (Fetcher);
 * - producer.ts: record batches with our own sequence numbers, plain idempotent produce
 *   (RecordAccumulator and Sender);
 * - transactions.ts: transactional producers, records and offsets in one transaction
 *   (TransactionManager);
 * - coordinators.ts: group coordinators and the requests sent to them;
 * - groups.ts: committed offsets, read and committed; joinGroup over group-member.ts
 *   (ConsumerCoordinator);
 * - topic-admin.ts: creating, describing topics, deleting records (Admin);
 * - calls.ts: the error policy of all of them: retries, broker errors, coded StreamsErrors.
 */
import { Admin, Consumer } from '@platformatic/kafka';
import { StreamsError } from '../../engine/errors.ts';
import type {
  FetchOptions,
  FetchResult,
  GroupMembership,
  GroupMetadata,
  GroupOffsets,
  JoinGroupOptions,
  Log,
  MemberCommitOptions,
  PartitionBatch,
  TopicConfig,
  TopicPartition,
  TransactionalProducer,
  WorkerLogSpec,
} from '../../engine/log.ts';
import { Calls } from './calls.ts';
import { Connections } from './connections.ts';
import { Coordinators } from './coordinators.ts';
import { Fetcher } from './fetcher.ts';
import { Groups } from './groups.ts';
import type { KafkaLogOptions } from './kafka-log-options.ts';
import { Metadata } from './metadata.ts';
import { Producer } from './producer.ts';
import { TopicAdmin } from './topic-admin.ts';
import { Transactions } from './transactions.ts';

export type { KafkaLogOptions } from './kafka-log-options.ts';

/** Apache Kafka as a Tributary log. */
export class KafkaLog implements Log {
  readonly #options: KafkaLogOptions;
  readonly #calls: Calls;
  readonly #admin: Admin;
  readonly #metadata: Metadata;
  /** This log's own connection to each broker, for fetches. */
  readonly #fetchConnections: Connections;
  /**
   * Connections for produce and offset commits, apart from the fetch ones: a broker answers one
   * request of a connection at a time, and a fetch may wait there for fetchMaxWaitMs.
   */
  readonly #produceConnections: Connections;
  readonly #fetcher: Fetcher;
  readonly #producer: Producer;
  readonly #transactions: Transactions;
  readonly #groups: Groups;
  readonly #topicAdmin: TopicAdmin;

  constructor(options: KafkaLogOptions) {
    if (!Array.isArray(options.bootstrapBrokers) || options.bootstrapBrokers.length === 0) {
      throw new StreamsError('INVALID_ARGUMENT', 'KafkaLog needs bootstrapBrokers, e.g. ["127.0.0.1:9092"]');
    }
    this.#options = options;
    const base = { ...options.client, bootstrapBrokers: [...options.bootstrapBrokers] };
    const id = options.clientId ?? 'tributary';
    const admin = new Admin({ ...base, clientId: `${id}-admin` });
    const calls = new Calls(options);
    const metadata = new Metadata(new Consumer({ ...base, clientId: `${id}-reader`, groupId: `${id}-reader-never-joined`, autocommit: false }), admin);
    const fetchConnections = new Connections(metadata, options);
    const produceConnections = new Connections(metadata, options);
    const coordinators = new Coordinators(admin, produceConnections);
    const producer = new Producer({ calls, metadata, connections: produceConnections });
    this.#admin = admin;
    this.#calls = calls;
    this.#metadata = metadata;
    this.#fetchConnections = fetchConnections;
    this.#produceConnections = produceConnections;
    this.#fetcher = new Fetcher({ calls, metadata, connections: fetchConnections, admin, options });
    this.#producer = producer;
    this.#transactions = new Transactions({ calls, producer, coordinators, options });
    this.#groups = new Groups({ calls, admin, metadata, coordinators, options });
    this.#topicAdmin = new TopicAdmin({ calls, admin, metadata, options });
  }

  createTopic(name: string, config: TopicConfig): Promise<void> {
    return this.#topicAdmin.createTopic(name, config);
  }

  topics(): Promise<ReadonlyMap<string, TopicConfig>> {
    return this.#topicAdmin.topics();
  }

  deleteRecords(tp: TopicPartition, offset: number): Promise<void> {
    return this.#topicAdmin.deleteRecords(tp, offset);
  }

  fetch(tp: TopicPartition, offset: number, options: FetchOptions = {}): Promise<FetchResult> {
    return this.#fetcher.fetch(tp, offset, options);
  }

  /** Many partitions at once: one Fetch request per leader broker. */
  fetchMany(requests: readonly { tp: TopicPartition; offset: number; options?: FetchOptions }[]): Promise<FetchResult[]> {
    return this.#fetcher.fetchMany(requests);
  }

  produce(batches: readonly PartitionBatch[]): Promise<number[]> {
    return this.#producer.produce(batches);
  }

  initTransactions(transactionalId: string): Promise<TransactionalProducer> {
    return this.#transactions.initTransactions(transactionalId);
  }

  committedOffsets(group: string): Promise<GroupOffsets> {
    return this.#groups.committedOffsets(group);
  }

  committedMetadata(group: string): Promise<GroupMetadata> {
    return this.#groups.committedMetadata(group);
  }

  commitOffsets(group: string, offsets: ReadonlyMap<string, number>, metadata?: GroupMetadata, options: MemberCommitOptions = {}): Promise<void> {
    return this.#groups.commitOffsets(group, offsets, metadata, options);
  }

  /** Joins the application's consumer group with Tributary's own assignment (see groups.ts). */
  joinGroup(options: JoinGroupOptions): Promise<GroupMembership> {
    return this.#groups.joinGroup(options);
  }

  /** Each stream thread opens its own KafkaLog (its own consumer and transactional producer). */
  workerSpec(): WorkerLogSpec {
    return { module: import.meta.url, exportName: 'openKafkaLog', options: this.#options };
  }

  async close(): Promise<void> {
    if (!this.#calls.close()) return;
    await Promise.allSettled([
      this.#admin.close(),
      this.#metadata.close(),
      this.#transactions.close(),
      this.#groups.close(),
      this.#fetchConnections.close(),
      this.#produceConnections.close(),
    ]);
  }
}

/** Opens a KafkaLog (what worker threads call through `workerSpec`). */
export function openKafkaLog(options: KafkaLogOptions): KafkaLog {
  return new KafkaLog(options);
}
