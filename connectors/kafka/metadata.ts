/**
 * What the log knows of the cluster (Kafka's Metadata): each topic's id and partition leaders,
 * topic names by id, and broker addresses, from the metadata requests of a client that never joins
 * a group. Fetches and produce look partition leaders up here and learn them again (`refresh`)
 * when leadership moved; Fetch responses name topics by id, hence the names by id; connections
 * (connections.ts) find broker addresses here.
 */
import type { Admin, ClusterMetadata, Consumer } from '@platformatic/kafka';
import { StreamsError } from '../../engine/errors.ts';

export interface TopicInfo {
  readonly id: string;
  readonly leaders: readonly number[];
}

export interface BrokerAddress {
  readonly host: string;
  readonly port: number;
}

export class Metadata {
  /** Used only for metadata; it never joins a group. */
  readonly #reader: Consumer;
  readonly #admin: Admin;
  readonly #topics = new Map<string, TopicInfo>();
  /** Topic names by topic id (Fetch responses name topics by id). */
  readonly #topicNames = new Map<string, string>();
  /** Broker addresses by node id (from the last metadata). */
  #brokers = new Map<number, BrokerAddress>();

  constructor(reader: Consumer, admin: Admin) {
    this.#reader = reader;
    this.#admin = admin;
  }

  /** Metadata as the client reads it (nothing is learned from it here: see `learnBrokers`, `learnTopic`). */
  read(options: { topics: string[]; forceUpdate?: boolean }): Promise<ClusterMetadata> {
    return this.#reader.metadata(options);
  }

  /** A topic's id and leaders, asked for (again, with `refresh`) when not known. */
  async topic(name: string, refresh = false): Promise<TopicInfo> {
    const known = this.#topics.get(name);
    if (known !== undefined && !refresh) return known;
    let metadata: ClusterMetadata;
    try {
      metadata = await this.#reader.metadata({ topics: [name], forceUpdate: true });
    } catch (error) {
      // The client reports a missing topic in more than one way; ask the broker to be sure.
      if (!(await this.#admin.listTopics({ includeInternals: true })).includes(name)) {
        throw new StreamsError('UNKNOWN_TOPIC', `topic "${name}" does not exist; create it first`, { cause: error });
      }
      throw error;
    }
    this.learnBrokers(metadata);
    const t = metadata.topics.get(name);
    if (t === undefined) throw new StreamsError('UNKNOWN_TOPIC', `topic "${name}" does not exist`);
    return this.learnTopic(name, t);
  }

  /** The name of the topic with this id, when known. */
  topicName(id: string): string | undefined {
    return this.#topicNames.get(id);
  }

  /** Remembers a topic's id and leaders, from metadata read elsewhere. */
  learnTopic(name: string, topic: { readonly id: string; readonly partitions: readonly { readonly leader: number }[] }): TopicInfo {
    const info = { id: topic.id, leaders: topic.partitions.map((p) => p.leader) };
    const previous = this.#topics.get(name);
    if (previous !== undefined && previous.id !== info.id) this.#topicNames.delete(previous.id);
    this.#topics.set(name, info);
    this.#topicNames.set(info.id, name);
    return info;
  }

  /** Remembers the broker addresses of `metadata` (in place of those known before). */
  learnBrokers(metadata: ClusterMetadata): void {
    this.#brokers = new Map([...metadata.brokers].map(([id, b]) => [id, { host: b.host, port: b.port }]));
  }

  /** The address of a broker, from the last metadata; undefined until it is learned. */
  broker(node: number): BrokerAddress | undefined {
    return this.#brokers.get(node);
  }

  /** Reads the brokers' addresses again. */
  async refreshBrokers(): Promise<void> {
    this.learnBrokers(await this.#reader.metadata({ topics: [], forceUpdate: true }));
  }

  close(): Promise<void> {
    return this.#reader.close(true);
  }
}
