/**
 * Apache Kafka behind the Log SPI (engine/log.ts), on @platformatic/kafka (pure TypeScript: it
 * loads in worker threads, where node-rdkafka cannot).
 *
 * - fetch: raw Fetch requests to each partition's leader, at explicit offsets, read-committed by
 *   default. Aborted records are filtered here from the response's aborted-transaction list (the
 *   client's own filter lets records through when one producer aborted two transactions in one
 *   response), control batches are skipped, and records before the requested offset in the first
 *   batch are dropped.
 * - transactions: one @platformatic/kafka Producer per transactional id, created with producer id
 *   and epoch -1 so that InitProducerId bumps the epoch and fences an earlier instance (the client
 *   defaults to 0/0, with which a restarted instance fences itself). Calls inside a transaction are
 *   made one at a time: the client merges concurrent ones.
 * - offsets: committed offsets are read with requireStable, so a reader never sees the offsets of
 *   a transaction that is still being completed. Offsets and their metadata are committed with raw
 *   OffsetCommit / TxnOffsetCommit requests to the group's coordinator (the admin client's
 *   alterConsumerGroupOffsets cannot carry metadata).
 */
import {
  Admin,
  Connection,
  Consumer,
  FetchIsolationLevels,
  ListOffsetTimestamps,
  Producer,
  Writer,
  createAPI,
  fetchV17,
  produceV11,
  initProducerIdV5,
  offsetCommitV8,
  txnOffsetCommitV4,
  findErrorBy,
  type ClusterMetadata,
  type RecordsBatch,
} from '@platformatic/kafka';

type FetchResponse = fetchV17.FetchResponse;
/** A producer's open transaction (the client does not export the class's type). */
type Transaction = Awaited<ReturnType<Producer['beginTransaction']>>;
import { StreamsError, describeCause } from '../../engine/errors.ts';
import { encodeRecordBatch } from './record-batch.ts';
import { GroupMember } from './group-member.ts';
import type { Headers } from '../../engine/record.ts';
import {
  partitionKey,
  type CleanupPolicy,
  type FetchedRecord,
  type FetchOptions,
  type FetchResult,
  type GroupGeneration,
  type GroupMetadata,
  type MemberCommitOptions,
  type GroupOffsets,
  type Log,
  type LogRecord,
  type LogTransaction,
  type PartitionBatch,
  type TopicConfig,
  type TopicPartition,
  type TransactionalProducer,
  type SendOffsetsOptions,
  type GroupMembership,
  type JoinGroupOptions,
  type WorkerLogSpec,
} from '../../engine/log.ts';

export interface KafkaLogOptions {
  /** `host:port` of one or more brokers. */
  readonly bootstrapBrokers: readonly string[];
  /** Prefix of the client ids (default `tributary`). */
  readonly clientId?: string;
  /** Replication factor of the topics this log creates (default: the broker's default). */
  readonly replicationFactor?: number;
  /**
   * Transaction timeout (transaction.timeout.ms, default 10 s as in Kafka Streams under
   * exactly-once): the broker aborts a transaction open longer than this and fences its producer.
   * It bounds how long a crashed process's unfinished transaction holds read-committed readers back.
   */
  readonly transactionTimeoutMs?: number;
  /** Longest time a fetch waits on the broker for records to arrive (default 50 ms). */
  readonly fetchMaxWaitMs?: number;
  /** Most bytes a fetch returns per partition (default 1 MiB; at least one batch is returned). */
  readonly fetchMaxBytesPerPartition?: number;
  /**
   * How long an unreachable broker is retried (with backoff from 100 ms to 5 s) before a call
   * fails with LOG_UNAVAILABLE (default 60 s); a stream thread that gets it fails, and the
   * application goes to ERROR.
   */
  readonly unavailableRetryMs?: number;
  /**
   * Options passed to every @platformatic/kafka client as they are (TLS, SASL, timeouts, retries,
   * connection settings...). Options this connector sets itself (transactional ids, idempotence,
   * isolation level) win.
   */
  readonly client?: Readonly<Record<string, unknown>>;
}

/** The records of one fetch response not returned yet (see KafkaLog's #surplus). */
interface Surplus {
  /** The offset a fetch must ask for to be served from here: after the last record returned. */
  readonly offset: number;
  readonly readCommitted: boolean;
  readonly records: readonly FetchedRecord[];
  /** Index of the first record not returned yet. */
  readonly from: number;
  /** Where reading goes on once every record here is returned. */
  readonly nextOffset: number;
  readonly endOffset: number;
  readonly startOffset: number;
}

/** A producer id and epoch with our own sequence numbers per partition (`topic:partition`). */
interface IdempotentProducer {
  readonly producerId: bigint;
  readonly producerEpoch: number;
  readonly sequences: Map<string, number>;
}

/** Most bytes of one produced record batch (the broker's message.max.bytes defaults to 1 MiB). */
const MAX_BATCH_BYTES = 512 * 1024;
const PRODUCE_TIMEOUT_MS = 30_000;
const EMPTY = Buffer.alloc(0);

/** Produce (v11, acks all) of one encoded record batch for one partition, in a transaction. */
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

/** Tries of an OffsetCommit, a TxnOffsetCommit or an InitProducerId on retriable errors (several seconds of backoff in all). */
const TXN_OFFSET_COMMIT_ATTEMPTS = 30;

const CONTROL_BATCH = 0x20;
const TRANSACTIONAL_BATCH = 0x10;

interface TopicInfo {
  readonly id: string;
  readonly leaders: readonly number[];
}

/**
 * Runs one broker request, again after an error `retriable` accepts (it may first drop a
 * connection or look a coordinator up again), up to `attempts` tries with `backoffMs(attempt)`
 * between them. The request's own state (sequence numbers, transaction) is the caller's: a retry
 * sends the same request.
 */
async function retrying<T>(
  attempts: number,
  backoffMs: (attempt: number) => number,
  run: (attempt: number) => Promise<T>,
  retriable: (error: unknown, attempt: number) => boolean | Promise<boolean>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run(attempt);
    } catch (error) {
      if (attempt >= attempts || !(await retriable(error, attempt))) throw error;
      await new Promise((resolve) => setTimeout(resolve, backoffMs(attempt)));
    }
  }
}

/**
 * The records of `batches` per partition (`topic:partition`), in order, for the partitions with
 * records; `of` holds, for each given batch of that partition, its index and where its records
 * start.
 */
function byPartition(batches: readonly PartitionBatch[]): Map<string, { tp: TopicPartition; records: LogRecord[]; of: number[] }> {
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

/** A broker error by its Kafka name, wherever the client nested it. */
function brokerError(error: unknown, ...names: string[]): boolean {
  if (!(error instanceof Error)) return false;
  return names.some((name) => findErrorBy(error, 'apiId', name) !== null && findErrorBy(error, 'apiId', name) !== undefined);
}

/** The broker could not be reached or did not answer in time (worth retrying). */
function isUnreachable(error: unknown): boolean {
  if (!(error instanceof Error) || error instanceof StreamsError) return false;
  return [findErrorBy(error, 'code', 'PLT_KFK_NETWORK'), findErrorBy(error, 'code', 'PLT_KFK_TIMEOUT')].some((e) => e !== null && e !== undefined);
}


/**
 * A group's offsets as OffsetCommit and TxnOffsetCommit list them, per topic, each with its
 * metadata: a partition without any gets null, which clears what it had (as Kafka's consumer does).
 */
function offsetCommitTopics(offsets: ReadonlyMap<string, number>, metadata: GroupMetadata | undefined) {
  const topics = new Map<string, { partitionIndex: number; committedOffset: bigint; committedLeaderEpoch: number; committedMetadata: string | null }[]>();
  for (const [key, next] of offsets) {
    const at = key.lastIndexOf(':');
    const topic = key.slice(0, at);
    let partitions = topics.get(topic);
    if (partitions === undefined) topics.set(topic, (partitions = []));
    partitions.push({ partitionIndex: Number(key.slice(at + 1)), committedOffset: BigInt(next), committedLeaderEpoch: -1, committedMetadata: metadata?.get(key) ?? null });
  }
  return [...topics].map(([name, partitions]) => ({ name, partitions }));
}

/** The commit came from a member whose generation is over: its tasks belong to someone else now. */
function isMigrated(error: unknown): boolean {
  return brokerError(error, 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'REBALANCE_IN_PROGRESS', 'FENCED_INSTANCE_ID');
}

/**
 * Runs a member's offset commit; refused only because the member's generation moved on
 * (ILLEGAL_GENERATION), it goes again under the generation `renew` gives (cooperative
 * rebalancing, see MemberCommitOptions.renewMember), as long as it gives one.
 */
async function withRenewedMember<T>(
  member: GroupGeneration | undefined,
  renew: MemberCommitOptions['renewMember'],
  send: (member: GroupGeneration | undefined) => Promise<T>,
): Promise<T> {
  for (;;) {
    try {
      return await send(member);
    } catch (error) {
      if (member === undefined || renew === undefined || !brokerError(error, 'ILLEGAL_GENERATION')) throw error;
      const next = await renew(member);
      if (next === undefined || next.memberId !== member.memberId || next.generationId <= member.generationId) throw error;
      member = next;
    }
  }
}

function isFenced(error: unknown): boolean {
  return brokerError(error, 'PRODUCER_FENCED', 'INVALID_PRODUCER_EPOCH', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED');
}

function toHeaders(entries: readonly [Buffer | null, Buffer | null][]): Headers | undefined {
  if (entries.length === 0) return undefined;
  const headers: Record<string, string> = {};
  for (const [k, v] of entries) if (k !== null) headers[k.toString()] = v === null ? '' : v.toString();
  return headers;
}

/**
 * The records of one fetched partition that a read-committed reader may see: records of aborted
 * transactions and control batches are dropped (as Kafka's own consumer does: an aborted
 * transaction of a producer starts at its first offset and ends at that producer's abort marker).
 */
function visibleRecords(batches: readonly RecordsBatch[], aborted: readonly { producerId: bigint; firstOffset: bigint }[] | null, from: bigint, readCommitted: boolean) {
  const pending = [...(aborted ?? [])].sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0));
  const abortedProducers = new Set<bigint>();
  let next = 0;
  const out: FetchedRecord[] = [];
  let lastOffset = -1n;
  for (const batch of batches) {
    const batchEnd = batch.firstOffset + BigInt(batch.lastOffsetDelta);
    lastOffset = batchEnd;
    if (readCommitted) {
      while (next < pending.length && pending[next]!.firstOffset <= batchEnd) abortedProducers.add(pending[next++]!.producerId);
    }
    if ((batch.attributes & CONTROL_BATCH) !== 0) {
      // A control record's key: version (int16), type (int16): 0 = abort, 1 = commit.
      const key = batch.records[0]?.key;
      if (key !== null && key !== undefined && key.length >= 4 && key.readInt16BE(2) === 0) abortedProducers.delete(batch.producerId);
      continue;
    }
    if (readCommitted && (batch.attributes & TRANSACTIONAL_BATCH) !== 0 && abortedProducers.has(batch.producerId)) continue;
    for (const r of batch.records) {
      const offset = batch.firstOffset + BigInt(r.offsetDelta);
      if (offset < from) continue;
      const headers = toHeaders(r.headers);
      out.push({
        offset: Number(offset),
        key: r.key,
        value: r.value,
        timestamp: Number(batch.firstTimestamp + r.timestampDelta),
        ...(headers !== undefined && { headers }),
      });
    }
  }
  return { records: out, lastOffset: Number(lastOffset) };
}

/** Apache Kafka as a Tributary log. */
export class KafkaLog implements Log {
  readonly #options: KafkaLogOptions;
  readonly #admin: Admin;
  /** Used only for raw fetches and metadata; it never joins a group. */
  readonly #reader: Consumer;
  readonly #transactional = new Set<Producer>();
  /** Group memberships (joinGroup) still open. */
  readonly #members = new Set<GroupMembership>();
  readonly #topics = new Map<string, TopicInfo>();
  /** Topic names by topic id (Fetch responses name topics by id). */
  readonly #topicNames = new Map<string, string>();
  /**
   * Records a fetch returned beyond the `maxRecords` asked for, per partition: the next fetch at
   * their offset takes them from here instead of asking the broker for them again (a Fetch returns
   * up to fetchMaxBytesPerPartition, which holds many more records than a poll takes). At most one
   * response's worth per partition; dropped when a fetch asks for another offset.
   */
  readonly #surplus = new Map<string, Surplus>();
  /** Broker addresses by node id (from the last metadata). */
  #brokers = new Map<number, { host: string; port: number }>();
  /** This log's own connection to each broker, for fetches. */
  readonly #fetchConnections = new Map<number, Promise<Connection>>();
  /**
   * Connections for transactional produce and offset commits, apart from the fetch ones: a broker
   * answers one request of a connection at a time, and a fetch may wait there for fetchMaxWaitMs.
   */
  readonly #produceConnections = new Map<number, Promise<Connection>>();
  /** The coordinator broker of each consumer group (offsets sent in a transaction go there). */
  readonly #coordinators = new Map<string, number>();
  #closed = false;

  constructor(options: KafkaLogOptions) {
    if (!Array.isArray(options.bootstrapBrokers) || options.bootstrapBrokers.length === 0) {
      throw new StreamsError('INVALID_ARGUMENT', 'KafkaLog needs bootstrapBrokers, e.g. ["127.0.0.1:9092"]');
    }
    this.#options = options;
    const base = { ...options.client, bootstrapBrokers: [...options.bootstrapBrokers] };
    const id = options.clientId ?? 'tributary';
    this.#admin = new Admin({ ...base, clientId: `${id}-admin` });
    this.#reader = new Consumer({ ...base, clientId: `${id}-reader`, groupId: `${id}-reader-never-joined`, autocommit: false });
  }

  #check(): void {
    if (this.#closed) throw new StreamsError('LOG_CLOSED', 'the Kafka log is closed');
  }

  /**
   * Runs a client call, mapping its errors to coded ones. With `retry`, an unreachable broker (a
   * network error or timeout) is retried with exponential backoff for up to `unavailableRetryMs`,
   * then fails with LOG_UNAVAILABLE. Calls that are not safe to repeat (produce, commit) pass
   * `retry: false`.
   */
  async #call<T>(what: string, run: () => Promise<T>, retry = true): Promise<T> {
    this.#check();
    const deadline = Date.now() + (this.#options.unavailableRetryMs ?? 60_000);
    for (let delay = 100; ; delay = Math.min(delay * 2, 5000)) {
      try {
        return await run();
      } catch (error) {
        if (!isUnreachable(error)) throw this.#coded(what, error);
        const left = deadline - Date.now();
        if (!retry || left <= 0 || this.#closed) {
          throw new StreamsError(
            'LOG_UNAVAILABLE',
            `${what}: Kafka is unreachable at ${this.#options.bootstrapBrokers.join(',')} (${describeCause(error)}); is the broker running, and are bootstrapBrokers right?`,
            { cause: error, canRetry: true },
          );
        }
        console.warn(`[tributary] ${what}: Kafka unreachable at ${this.#options.bootstrapBrokers.join(',')}; retrying in ${delay} ms (${Math.ceil(left / 1000)} s left)`);
        await new Promise((resolve) => setTimeout(resolve, Math.min(delay, left)));
      }
    }
  }

  #coded(what: string, error: unknown): StreamsError {
    if (error instanceof StreamsError) return error;
    if (brokerError(error, 'UNKNOWN_TOPIC_OR_PARTITION', 'UNKNOWN_TOPIC_ID')) {
      return new StreamsError('UNKNOWN_TOPIC', `${what}: the topic does not exist (${describeCause(error)})`, { cause: error });
    }
    if (brokerError(error, 'OFFSET_METADATA_TOO_LARGE')) {
      return new StreamsError(
        'INVALID_ARGUMENT',
        `${what}: the metadata committed with an offset is longer than the broker keeps (offset.metadata.max.bytes, 4096 by default); ` +
          'commit less metadata per partition, or raise offset.metadata.max.bytes on the brokers',
        { cause: error },
      );
    }
    return new StreamsError('ILLEGAL_STATE', `${what} failed on Kafka: ${describeCause(error)}`, { cause: error, canRetry: true });
  }

  async #topic(name: string, refresh = false): Promise<TopicInfo> {
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
    this.#brokers = new Map([...metadata.brokers].map(([id, b]) => [id, { host: b.host, port: b.port }]));
    const t = metadata.topics.get(name);
    if (t === undefined) throw new StreamsError('UNKNOWN_TOPIC', `topic "${name}" does not exist`);
    const info = { id: t.id, leaders: t.partitions.map((p) => p.leader) };
    this.#learnTopic(name, info);
    return info;
  }

  #learnTopic(name: string, info: TopicInfo): void {
    const previous = this.#topics.get(name);
    if (previous !== undefined && previous.id !== info.id) this.#topicNames.delete(previous.id);
    this.#topics.set(name, info);
    this.#topicNames.set(info.id, name);
  }

  async createTopic(name: string, config: TopicConfig): Promise<void> {
    await this.#call(`creating topic "${name}"`, async () => {
      const configs: { name: string; value: string }[] = [{ name: 'cleanup.policy', value: config.cleanupPolicy }];
      if (config.retentionMs !== undefined) configs.push({ name: 'retention.ms', value: String(config.retentionMs) });
      if (config.retentionBytes !== undefined) configs.push({ name: 'retention.bytes', value: String(config.retentionBytes) });
      try {
        await this.#admin.createTopics({ topics: [name], partitions: config.partitions, replicas: this.#options.replicationFactor ?? -1, configs });
        // The controller has the topic; wait until the brokers' metadata shows it with its leaders,
        // so that whoever is told "created" (another process, another client) can use it at once.
        for (let attempt = 0; ; attempt++) {
          const t = (await this.#reader.metadata({ topics: [name], forceUpdate: true }).catch(() => undefined))?.topics.get(name);
          if (t !== undefined && t.partitionsCount === config.partitions && t.partitions.every((p) => p.leader >= 0)) break;
          if (attempt >= 50) break;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      } catch (error) {
        if (!brokerError(error, 'TOPIC_ALREADY_EXISTS')) throw error;
        const existing = (await this.#describe([name])).get(name);
        if (existing !== undefined && (existing.partitions !== config.partitions || existing.cleanupPolicy !== config.cleanupPolicy)) {
          throw new StreamsError(
            'TOPIC_CONFLICT',
            `topic "${name}" exists with ${existing.partitions} partitions (${existing.cleanupPolicy}), not ${config.partitions} (${config.cleanupPolicy}); ` +
              'delete it or use a matching configuration',
          );
        }
      }
    });
  }

  async #describe(names: readonly string[]): Promise<Map<string, TopicConfig>> {
    const out = new Map<string, TopicConfig>();
    if (names.length === 0) return out;
    const metadata = await this.#reader.metadata({ topics: [...names], forceUpdate: true });
    this.#brokers = new Map([...metadata.brokers].map(([id, b]) => [id, { host: b.host, port: b.port }]));
    const configs = await this.#admin.describeConfigs({
      resources: names.map((resourceName) => ({ resourceType: 2 /* TOPIC */, resourceName, configurationKeys: ['cleanup.policy', 'retention.ms', 'retention.bytes'] })),
    });
    for (const name of names) {
      const t = metadata.topics.get(name);
      if (t === undefined) continue;
      this.#learnTopic(name, { id: t.id, leaders: t.partitions.map((p) => p.leader) });
      const described = configs.find((c) => c.resourceName === name)?.configs ?? [];
      const value = (key: string) => described.find((c) => c.name === key)?.value ?? undefined;
      const policy = (value('cleanup.policy') ?? 'delete').split(',').sort().join(',') as CleanupPolicy;
      out.set(name, { partitions: t.partitionsCount, cleanupPolicy: policy });
    }
    return out;
  }

  async topics(): Promise<ReadonlyMap<string, TopicConfig>> {
    return this.#call('listing topics', async () => {
      const names = await this.#admin.listTopics({ includeInternals: false });
      try {
        return await this.#describe(names);
      } catch (error) {
        // A topic deleted between the listing and the description: describe what is left.
        const left = new Set(await this.#admin.listTopics({ includeInternals: false }));
        if (names.every((n) => left.has(n))) throw error;
        return this.#describe(names.filter((n) => left.has(n)));
      }
    });
  }

  async fetch(tp: TopicPartition, offset: number, options: FetchOptions = {}): Promise<FetchResult> {
    return (await this.fetchMany([{ tp, offset, options }]))[0]!;
  }

  /** Many partitions at once: one Fetch request per leader broker. */
  async fetchMany(requests: readonly { tp: TopicPartition; offset: number; options?: FetchOptions }[]): Promise<FetchResult[]> {
    return this.#call('fetching', async () => {
      const results: FetchResult[] = new Array(requests.length);
      const byLeader = new Map<number, { index: number; info: TopicInfo }[]>();
      const ends: number[] = [];
      for (const [index, r] of requests.entries()) {
        if (!Number.isSafeInteger(r.offset) || r.offset < 0) throw new StreamsError('INVALID_OFFSET', `offset ${r.offset} is not a valid offset`);
        const info = await this.#topic(r.tp.topic);
        const leader = info.leaders[r.tp.partition];
        if (leader === undefined) throw new StreamsError('UNKNOWN_TOPIC', `topic "${r.tp.topic}" has no partition ${r.tp.partition}`);
        const max = r.options?.maxRecords ?? 1000;
        if (max === 0) {
          ends.push(index);
          continue;
        }
        const key = partitionKey(r.tp);
        const surplus = this.#surplus.get(key);
        if (surplus !== undefined) {
          this.#surplus.delete(key);
          if (surplus.offset === r.offset && surplus.readCommitted === (r.options?.readCommitted ?? true)) {
            results[index] = this.#take(key, surplus, max);
            continue;
          }
        }
        let list = byLeader.get(leader);
        if (list === undefined) byLeader.set(leader, (list = []));
        list.push({ index, info });
      }
      if (ends.length > 0) {
        const offsets = await this.#offsets(ends.map((i) => requests[i]!.tp));
        ends.forEach((i, j) => (results[i] = { records: [], nextOffset: requests[i]!.offset, ...offsets[j]! }));
      }
      await Promise.all(
        [...byLeader].map(async ([leader, list]) => {
          // Records already in hand from an earlier response: the broker is not to wait for more.
          const waitMs = results.some((r) => r !== undefined && r.records.length > 0) ? 0 : (this.#options.fetchMaxWaitMs ?? 50);
          const answered = await this.#fetchFrom(leader, list.map(({ index, info }) => ({ request: requests[index]!, info })), waitMs);
          list.forEach(({ index }, j) => (results[index] = answered[j]!));
        }),
      );
      return results;
    });
  }

  async #fetchFrom(
    leader: number,
    parts: readonly { request: { tp: TopicPartition; offset: number; options?: FetchOptions }; info: TopicInfo }[],
    waitMs: number,
  ): Promise<FetchResult[]> {
    const readCommitted = parts.every((p) => p.request.options?.readCommitted ?? true);
    const topics = new Map<string, { topicId: string; partitions: { partition: number; fetchOffset: bigint; partitionMaxBytes: number; currentLeaderEpoch: number; lastFetchedEpoch: number }[] }>();
    for (const { request, info } of parts) {
      let t = topics.get(info.id);
      if (t === undefined) topics.set(info.id, (t = { topicId: info.id, partitions: [] }));
      t.partitions.push({
        partition: request.tp.partition,
        fetchOffset: BigInt(request.offset),
        partitionMaxBytes: this.#options.fetchMaxBytesPerPartition ?? 1 << 20,
        currentLeaderEpoch: -1,
        lastFetchedEpoch: -1,
      });
    }
    let response: FetchResponse;
    try {
      // A raw Fetch (no fetch session) on this log's own connection: the client's Consumer.fetch
      // filters aborted transactions itself, and drops committed transactions that sit between
      // two aborted ones of the same producer (a stream thread keeps its producer id across
      // restarts, so that happens). visibleRecords below filters as Kafka's own consumer does.
      const connection = await this.#connection(leader);
      response = await fetchV17.api.async(
        connection,
        waitMs,
        1,
        64 << 20,
        readCommitted ? FetchIsolationLevels.READ_COMMITTED : FetchIsolationLevels.READ_UNCOMMITTED,
        0,
        -1,
        [...topics.values()],
        [],
        '',
      );
    } catch (error) {
      if (isUnreachable(error)) this.#dropConnection(leader);
      if (brokerError(error, 'OFFSET_OUT_OF_RANGE')) return this.#outOfRange(parts.map((p) => p.request));
      if (brokerError(error, 'NOT_LEADER_OR_FOLLOWER', 'UNKNOWN_TOPIC_ID', 'FENCED_LEADER_EPOCH', 'LEADER_NOT_AVAILABLE')) {
        // Leadership moved: learn the new leaders; the caller's next fetch goes there.
        for (const { request } of parts) await this.#topic(request.tp.topic, true);
        return parts.map(({ request }) => ({ records: [], nextOffset: request.offset, endOffset: request.offset, startOffset: 0 }));
      }
      throw error;
    }
    const byKey = new Map<string, (typeof response.responses)[number]['partitions'][number]>();
    for (const t of response.responses) {
      const name = this.#topicNames.get(t.topicId);
      for (const p of t.partitions) byKey.set(`${name}:${p.partitionIndex}`, p);
    }
    return parts.map(({ request }) => {
      const p = byKey.get(partitionKey(request.tp));
      if (p === undefined) return { records: [], nextOffset: request.offset, endOffset: request.offset, startOffset: 0 };
      const committed = request.options?.readCommitted ?? true;
      const end = Number(committed ? p.lastStableOffset : p.highWatermark);
      const start = Number(p.logStartOffset);
      const { records, lastOffset } = visibleRecords(p.records ?? [], p.abortedTransactions, BigInt(request.offset), committed);
      // After the last record; past skipped control batches and aborted records.
      const nextOffset = Math.min(Math.max(request.offset, lastOffset + 1), Math.max(end, request.offset));
      const all: Surplus = { offset: request.offset, readCommitted: committed, records, from: 0, nextOffset, endOffset: end, startOffset: start };
      return this.#take(partitionKey(request.tp), all, request.options?.maxRecords ?? 1000);
    });
  }

  /** Up to `max` records of a fetched response; the rest is kept for the next fetch of the partition. */
  #take(key: string, fetched: Surplus, max: number): FetchResult {
    const { records, from, endOffset, startOffset } = fetched;
    if (records.length - from <= max) {
      return { records: from === 0 ? records : records.slice(from), nextOffset: fetched.nextOffset, endOffset, startOffset };
    }
    const taken = records.slice(from, from + max);
    const offset = taken.at(-1)!.offset + 1;
    this.#surplus.set(key, { ...fetched, offset, from: from + max });
    return { records: taken, nextOffset: offset, endOffset, startOffset };
  }

  async #connection(node: number, pool = this.#fetchConnections, requestTimeout?: number): Promise<Connection> {
    let pending = pool.get(node);
    if (pending === undefined) {
      if (!this.#brokers.has(node)) {
        const metadata = await this.#reader.metadata({ topics: [], forceUpdate: true });
        this.#brokers = new Map([...metadata.brokers].map(([id, b]) => [id, { host: b.host, port: b.port }]));
        pending = pool.get(node);
        if (pending !== undefined) return pending;
      }
      const broker = this.#brokers.get(node);
      if (broker === undefined) throw new StreamsError('ILLEGAL_STATE', `no address known for broker ${node}`, { canRetry: true });
      const client = this.#options.client ?? {};
      const options = {
        ...Object.fromEntries(['connectTimeout', 'requestTimeout', 'tls', 'ssl', 'tlsServerName', 'sasl'].filter((k) => client[k] !== undefined).map((k) => [k, client[k]])),
        ...(requestTimeout !== undefined && { requestTimeout }),
      };
      const connection = new Connection(`${this.#options.clientId ?? 'tributary'}-fetch`, options);
      const opened: Promise<Connection> = Promise.resolve(connection.connect(broker.host, broker.port)).then(() => connection);
      pending = opened;
      opened.catch(() => pool.delete(node));
      // A connection the broker closed (connections.max.idle.ms, a restart) leaves the pool, so
      // the next request opens a new one instead of failing on it.
      connection.on('close', () => {
        if (pool.get(node) === opened) pool.delete(node);
      });
      pool.set(node, opened);
    }
    return pending;
  }

  #dropConnection(node: number, pool = this.#fetchConnections): void {
    const pending = pool.get(node);
    pool.delete(node);
    void pending?.then((c) => c.close()).catch(() => {});
  }

  /** Below the log start, reading starts at the start (as the embedded log does); past the end is an error. */
  async #outOfRange(requests: readonly { tp: TopicPartition; offset: number; options?: FetchOptions }[]): Promise<FetchResult[]> {
    const offsets = await this.#offsets(requests.map((r) => r.tp));
    const out: FetchResult[] = [];
    for (const [i, r] of requests.entries()) {
      const { startOffset, endOffset } = offsets[i]!;
      if (r.offset > endOffset) throw new StreamsError('INVALID_OFFSET', `offset ${r.offset} is outside ${r.tp.topic}-${r.tp.partition} (log end ${endOffset})`);
      out.push(r.offset < startOffset ? (await this.fetchMany([{ ...r, offset: startOffset }]))[0]! : { records: [], nextOffset: r.offset, endOffset, startOffset });
    }
    return out;
  }

  /** Start and (read-committed) end offsets. */
  async #offsets(tps: readonly TopicPartition[]): Promise<{ startOffset: number; endOffset: number }[]> {
    const byTopic = new Map<string, number[]>();
    for (const tp of tps) {
      await this.#topic(tp.topic);
      byTopic.set(tp.topic, [...(byTopic.get(tp.topic) ?? []), tp.partition]);
    }
    const list = async (timestamp: bigint) => {
      const result = await this.#admin.listOffsets({
        topics: [...byTopic].map(([name, partitions]) => ({ name, partitions: [...new Set(partitions)].map((partitionIndex) => ({ partitionIndex, timestamp })) })),
        isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      });
      const map = new Map<string, number>();
      for (const t of result) for (const p of t.partitions) map.set(`${t.name}:${p.partitionIndex}`, Number(p.offset));
      return map;
    };
    const [starts, ends] = await Promise.all([list(ListOffsetTimestamps.EARLIEST), list(ListOffsetTimestamps.LATEST)]);
    return tps.map((tp) => ({ startOffset: starts.get(partitionKey(tp)) ?? 0, endOffset: ends.get(partitionKey(tp)) ?? 0 }));
  }

  /**
   * The idempotent producer of plain (non-transactional) produce: a producer id from
   * InitProducerId and our own sequence numbers per partition. Dropped after a failed send (its
   * sequences may be out of step with the broker's), so the next produce starts a new one.
   */
  #idempotent: Promise<IdempotentProducer> | undefined;

  #idempotentProducer(): Promise<IdempotentProducer> {
    this.#idempotent ??= (async () => {
      const [node] = [...(await this.#reader.metadata({ topics: [], forceUpdate: true })).brokers.keys()];
      if (node === undefined) throw new StreamsError('LOG_UNAVAILABLE', 'no Kafka broker is known', { canRetry: true });
      // Retried while the broker's transaction state loads (a broker that just started) or moves.
      const answer = await retrying(
        TXN_OFFSET_COMMIT_ATTEMPTS,
        (attempt) => Math.min(50 * attempt, 500),
        async () => initProducerIdV5.api.async(await this.#connection(node, this.#produceConnections), null, 60_000, -1n, -1),
        (error) => {
          if (isUnreachable(error)) this.#dropConnection(node, this.#produceConnections);
          return isUnreachable(error) || brokerError(error, 'COORDINATOR_LOAD_IN_PROGRESS', 'COORDINATOR_NOT_AVAILABLE', 'NOT_COORDINATOR', 'CONCURRENT_TRANSACTIONS');
        },
      );
      return { producerId: answer.producerId, producerEpoch: answer.producerEpoch, sequences: new Map() };
    })();
    this.#idempotent.catch(() => (this.#idempotent = undefined));
    return this.#idempotent;
  }

  async produce(batches: readonly PartitionBatch[]): Promise<number[]> {
    return this.#call('producing', async () => {
      // One record batch per partition (in order, up to MAX_BATCH_BYTES each), so each given
      // batch's base offset is known.
      const nonEmpty = [...byPartition(batches)];
      const out = new Array<number>(batches.length).fill(-1);
      if (nonEmpty.length === 0) return out;
      const producer = await this.#idempotentProducer();
      try {
        await Promise.all(
          nonEmpty.map(async ([key, m]) => {
            const bases = await this.#sendRecords(null, producer, key, m.tp.topic, m.tp.partition, m.records, false);
            for (let i = 0; i < m.of.length; i += 2) out[m.of[i]!] = bases(m.of[i + 1]!);
          }),
        );
      } catch (error) {
        if (this.#idempotent !== undefined && (await this.#idempotent.catch(() => undefined)) === producer) this.#idempotent = undefined;
        throw error;
      }
      return out;
    }, false);
  }

  async initTransactions(transactionalId: string): Promise<TransactionalProducer> {
    return this.#call(`initializing transactions for "${transactionalId}"`, async () => {
      const producer = new Producer({
        ...this.#options.client,
        bootstrapBrokers: [...this.#options.bootstrapBrokers],
        clientId: `${this.#options.clientId ?? 'tributary'}-${transactionalId}`,
        idempotent: true,
        transactionalId,
        // -1/-1: InitProducerId bumps the epoch of this id, fencing any earlier instance.
        producerId: -1n,
        producerEpoch: -1,
        timeout: this.#options.transactionTimeoutMs ?? 10_000,
        retryDelay: 10,
      });
      this.#transactional.add(producer);
      // InitProducerId now, not at the first commit: from here on, the earlier instance is fenced.
      const tx = await producer.beginTransaction();
      await tx.cancel();
      let fenced = false;
      /** Next sequence number per partition (`topic:partition`) for this producer id and epoch. */
      const sequences = new Map<string, number>();
      return {
        transactionalId,
        begin: (): LogTransaction => {
          // Records are sent as soon as they are given (the transaction begins with the first),
          // one send after the other, while the caller goes on: the commit then waits for them.
          let begun: Promise<Transaction> | undefined;
          let sending: Promise<void> | undefined;
          const offsets: [string, ReadonlyMap<string, number>, SendOffsetsOptions | undefined][] = [];
          let done = false;
          const open = () => {
            if (done) throw new StreamsError('ILLEGAL_STATE', 'the transaction is already committed or aborted');
          };
          const finish = () => {
            open();
            done = true;
          };
          return {
            produce: (more) => {
              open();
              const batches = more.filter((b) => b.records.length > 0);
              if (batches.length === 0 || fenced) return;
              const started = (begun ??= producer.beginTransaction());
              sending = (sending ?? started.then(() => {})).then(async () => {
                await this.#produceInTransaction(producer, await started, sequences, batches);
              });
              // Reported by commit (or ignored by abort), not as an unhandled rejection.
              sending.catch(() => {});
            },
            sendOffsets: (group, map, options) => {
              open();
              offsets.push([group, map, options]);
            },
            commit: async () => {
              finish();
              if (fenced) throw new StreamsError('PRODUCER_FENCED', `producer "${transactionalId}" was fenced by a newer instance`);
              await this.#call(`committing a transaction of "${transactionalId}"`, async () => {
                try {
                  await this.#commit(producer, begun, sending, offsets);
                } catch (error) {
                  if (isFenced(error)) {
                    fenced = true;
                    this.#transactional.delete(producer);
                    await producer.close(true).catch(() => {});
                    throw new StreamsError('PRODUCER_FENCED', `producer "${transactionalId}" was fenced by a newer instance (a zombie): its transaction is aborted`, {
                      cause: error,
                    });
                  }
                  if (isMigrated(error)) {
                    await producer.transaction?.abort().catch(() => producer.transaction?.cancel());
                    throw new StreamsError('TASK_MIGRATED', `a rebalance gave the tasks of "${transactionalId}" to another member; its transaction is aborted`, {
                      cause: error,
                      canRetry: true,
                    });
                  }
                  // The group's coordinator may have moved: look it up again next time.
                  if (brokerError(error, 'NOT_COORDINATOR', 'COORDINATOR_NOT_AVAILABLE')) this.#coordinators.clear();
                  await producer.transaction?.abort().catch(() => producer.transaction?.cancel());
                  throw error;
                }
              }, false);
            },
            abort: async () => {
              finish();
              if (begun === undefined) return;
              await sending?.catch(() => {});
              await producer.transaction?.abort().catch(() => producer.transaction?.cancel());
            },
          };
        },
      };
    });
  }

  /**
   * Sends records in the producer's open transaction with our own encoding (encodeRecordBatch:
   * one buffer per batch, where the client builds many small ones): the client adds the partitions
   * to the transaction (AddPartitionsToTxn), then one Produce per record batch of at most
   * MAX_BATCH_BYTES per partition, each partition's batches in order, with the producer's id, epoch
   * and sequence numbers (this path is the only one that produces with this producer).
   */
  async #produceInTransaction(producer: Producer, tx: Transaction, sequences: Map<string, number>, batches: readonly PartitionBatch[]): Promise<void> {
    const merged = byPartition(batches);
    const metadata = await producer.metadata({ topics: [...new Set(batches.map((b) => b.topic))] });
    await tx.addPartitions(
      metadata,
      [...merged.values()].map(({ tp }) => ({ topic: tp.topic, partition: tp.partition, value: EMPTY })),
    );
    const ids = { producerId: producer.producerId!, producerEpoch: producer.producerEpoch!, sequences };
    await Promise.all([...merged].map(([key, { tp, records }]) => this.#sendRecords(tx.id, ids, key, tp.topic, tp.partition, records, true)));
  }

  /**
   * Produces records to one partition in record batches of at most MAX_BATCH_BYTES, in order, with
   * the producer's sequence numbers (reserved before any await, so concurrent calls for one
   * partition go out in the order of their sequences). Returns the offset of the i-th record.
   */
  async #sendRecords(
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
        leader = (await this.#topic(topic, attempt > 1)).leaders[partition] ?? -1;
        if (leader < 0) throw new StreamsError('UNKNOWN_TOPIC', `topic "${topic}" has no leader for partition ${partition}`, { canRetry: true });
        const answer = await produceRawBatch.async(await this.#connection(leader, this.#produceConnections), transactionalId, PRODUCE_TIMEOUT_MS, topic, partition, batch);
        return Number(answer.responses[0]?.partitionResponses[0]?.baseOffset ?? -1);
      },
      (error, attempt) => {
        const unreachable = isUnreachable(error);
        if (unreachable && leader >= 0) this.#dropConnection(leader, this.#produceConnections);
        // Sent again with the same sequence number: a batch the broker did append is recognized
        // as a duplicate and not written twice.
        return (unreachable && attempt === 1) || brokerError(error, 'NOT_LEADER_OR_FOLLOWER', 'LEADER_NOT_AVAILABLE', 'NOT_ENOUGH_REPLICAS', 'UNKNOWN_TOPIC_OR_PARTITION');
      },
    );
  }

  async #commit(
    producer: Producer,
    begun: Promise<Transaction> | undefined,
    sending: Promise<void> | undefined,
    offsets: readonly [string, ReadonlyMap<string, number>, SendOffsetsOptions | undefined][],
  ): Promise<void> {
    const hasOffsets = offsets.some(([, map]) => map.size > 0);
    if (begun === undefined && !hasOffsets) return;
    const tx = await (begun ?? producer.beginTransaction());
    // The records (sent since produce) and the offsets go to different coordinators: both at
    // once, then EndTxn.
    const committing = (async () => {
      for (const [groupId, map, options] of offsets) {
        if (map.size === 0) continue;
        await this.#coordinator(groupId);
        await tx.addConsumer({ groupId } as unknown as Consumer);
        // Every partition in one TxnOffsetCommit (the client's addOffset sends one request per
        // partition, one at a time), with its metadata. With a member, the broker checks its
        // generation (KIP-447); without one (generation -1) it does not (a single process owns every task).
        const topics = offsetCommitTopics(map, options?.metadata);
        await withRenewedMember(options?.member, options?.renewMember, (member) =>
          this.#atCoordinator(groupId, (connection) =>
            txnOffsetCommitV4.api.async(
              connection,
              producer.transaction!.id,
              groupId,
              producer.producerId!,
              producer.producerEpoch!,
              member?.generationId ?? -1,
              member?.memberId ?? '',
              null,
              topics,
            ),
          ),
        );
      }
    })();
    const [sent, committed] = await Promise.allSettled([sending, committing]);
    for (const outcome of [sent, committed]) if (outcome.status === 'rejected') throw outcome.reason;
    await tx.commit();
  }

  /** The coordinator broker of a consumer group, looked up (again, with `refresh`) when not known. */
  async #coordinator(groupId: string, refresh = false): Promise<number> {
    let id = refresh ? undefined : this.#coordinators.get(groupId);
    if (id === undefined) {
      const [found] = await this.#admin.findCoordinator({ keyType: 0 /* GROUP */, keys: [groupId] });
      if (found === undefined) throw new StreamsError('ILLEGAL_STATE', `no coordinator found for group "${groupId}"`, { canRetry: true });
      this.#coordinators.set(groupId, (id = found.nodeId));
    }
    return id;
  }

  /**
   * Sends a request to a group's coordinator. Retried as the client retries its own requests: while
   * the coordinator loads or a previous transaction of this producer is still completing, or at a
   * coordinator that moved. An unreachable coordinator's connection is dropped, and the error left
   * to the caller (#call retries it where that is safe).
   */
  async #atCoordinator<T>(groupId: string, send: (connection: Connection) => Promise<T>): Promise<T> {
    let coordinatorId = await this.#coordinator(groupId);
    return retrying(
      TXN_OFFSET_COMMIT_ATTEMPTS,
      (attempt) => Math.min(20 * attempt, 200),
      async () => send(await this.#connection(coordinatorId, this.#produceConnections)),
      async (error) => {
        if (isUnreachable(error)) this.#dropConnection(coordinatorId, this.#produceConnections);
        const moved = brokerError(error, 'NOT_COORDINATOR', 'COORDINATOR_NOT_AVAILABLE');
        if (!(moved || brokerError(error, 'COORDINATOR_LOAD_IN_PROGRESS', 'CONCURRENT_TRANSACTIONS'))) return false;
        if (moved) coordinatorId = await this.#coordinator(groupId, true).catch(() => coordinatorId);
        return true;
      },
    );
  }

  /** A group's committed offsets with their metadata ("" when none), read with requireStable. */
  async #committed(group: string): Promise<Map<string, { offset: number; metadata: string }>> {
    const result = await this.#admin.listConsumerGroupOffsets({ groups: [group], requireStable: true });
    const out = new Map<string, { offset: number; metadata: string }>();
    for (const g of result) {
      for (const t of g.topics) {
        for (const p of t.partitions) {
          if (p.committedOffset >= 0n) out.set(`${t.name}:${p.partitionIndex}`, { offset: Number(p.committedOffset), metadata: p.metadata ?? '' });
        }
      }
    }
    return out;
  }

  async committedOffsets(group: string): Promise<GroupOffsets> {
    return this.#call(`reading offsets of group "${group}"`, async () => new Map([...(await this.#committed(group))].map(([key, c]) => [key, c.offset])));
  }

  async committedMetadata(group: string): Promise<GroupMetadata> {
    return this.#call(`reading offset metadata of group "${group}"`, async () => {
      const out = new Map<string, string>();
      // Kafka keeps "" for an offset committed without metadata: that is none.
      for (const [key, c] of await this.#committed(group)) if (c.metadata !== '') out.set(key, c.metadata);
      return out;
    });
  }

  async commitOffsets(group: string, offsets: ReadonlyMap<string, number>, metadata?: GroupMetadata, options: MemberCommitOptions = {}): Promise<void> {
    if (offsets.size === 0) return;
    const topics = offsetCommitTopics(offsets, metadata);
    // Without a member: a simple commit (generation -1), as the admin client's
    // alterConsumerGroupOffsets makes, but with metadata (the broker takes it only while the group
    // has no members). With one: the member's commit, refused once its generation is over.
    const generationId = options.member?.generationId ?? -1;
    await this.#call(`committing offsets of group "${group}"`, async () => {
      try {
        await withRenewedMember(options.member, options.renewMember, (member) =>
          this.#atCoordinator(group, (connection) => offsetCommitV8.api.async(connection, group, member?.generationId ?? -1, member?.memberId ?? '', null, topics)),
        );
      } catch (error) {
        if (options.member !== undefined && isMigrated(error)) {
          throw new StreamsError('TASK_MIGRATED', `a rebalance gave the partitions of generation ${generationId} of group "${group}" to other members; the commit is refused`, {
            cause: error,
            canRetry: true,
          });
        }
        throw error;
      }
    });
  }

  async deleteRecords(tp: TopicPartition, offset: number): Promise<void> {
    await this.#call(`deleting records of ${tp.topic}-${tp.partition}`, async () => {
      try {
        await this.#admin.deleteRecords({ topics: [{ name: tp.topic, partitions: [{ partition: tp.partition, offset: BigInt(offset) }] }] });
      } catch (error) {
        if (brokerError(error, 'OFFSET_OUT_OF_RANGE')) throw new StreamsError('INVALID_OFFSET', `offset ${offset} is past the end of ${tp.topic}-${tp.partition}`, { cause: error });
        throw error;
      }
    });
  }

  /**
   * Joins the application's consumer group with Tributary's own assignment (GroupMember): every
   * member sends its metadata (endpoint, threads, tasks), the leader runs `options.assign` over
   * all of them, and every member hears its partitions and everybody else's. Heartbeats run on
   * this thread's event loop. With `groupInstanceId`, a static member (KIP-345).
   */
  async joinGroup(options: JoinGroupOptions): Promise<GroupMembership> {
    const sessionTimeout = options.sessionTimeoutMs ?? 10_000;
    // JoinGroup waits for every member (up to the rebalance timeout): a connection of its own,
    // whose requests may take that long.
    const pool = new Map<number, Promise<Connection>>();
    const requestTimeout = Math.max(sessionTimeout, 30_000) + 10_000;
    let coordinatorId: number | undefined;
    const member = new GroupMember({
      ...options,
      coordinator: async (refresh) => {
        if (refresh || coordinatorId === undefined) {
          if (coordinatorId !== undefined) this.#dropConnection(coordinatorId, pool);
          coordinatorId = await this.#coordinator(options.groupId, refresh);
        }
        return this.#connection(coordinatorId, pool, requestTimeout);
      },
      partitionCounts: async () => {
        const metadata = await this.#reader.metadata({ topics: [...options.topics] });
        return new Map(options.topics.map((topic) => [topic, metadata.topics.get(topic)?.partitionsCount ?? 0]));
      },
    });
    const membership: GroupMembership = {
      leave: async () => {
        this.#members.delete(membership);
        await member.leave();
        await Promise.allSettled([...pool.values()].map((c) => c.then((x) => x.close())));
      },
      rejoin: () => this.#call(`rejoining group "${options.groupId}"`, () => member.rejoin()),
    };
    this.#members.add(membership);
    try {
      await this.#call(`joining group "${options.groupId}"`, () => member.join());
    } catch (error) {
      await membership.leave();
      throw error;
    }
    return membership;
  }

  /** Each stream thread opens its own KafkaLog (its own consumer and transactional producer). */
  workerSpec(): WorkerLogSpec {
    return { module: import.meta.url, exportName: 'openKafkaLog', options: this.#options };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([
      this.#admin.close(),
      this.#reader.close(true),
      ...[...this.#transactional].map((p) => p.close(true)),
      ...[...this.#members].map((m) => m.leave()),
      ...[...this.#fetchConnections.values(), ...this.#produceConnections.values()].map((p) => p.then((c) => c.close())),
    ]);
  }
}

/** Opens a KafkaLog (what worker threads call through `workerSpec`). */
export function openKafkaLog(options: KafkaLogOptions): KafkaLog {
  return new KafkaLog(options);
}
