/**
 * Fetching (Kafka's Fetcher): raw Fetch requests to each partition's leader, at explicit offsets,
 * read-committed by default, one request per leader broker on the log's own fetch connections.
 *
 * Aborted records are filtered here from the response's aborted-transaction list, as Kafka's own
 * consumer does (the client's filter lets records through when one producer aborted two
 * transactions in one response), control batches are skipped, and records before the requested
 * offset in the first batch are dropped. Records beyond the `maxRecords` asked for are kept for the
 * next fetch of the partition at their offset.
 */
import { FetchIsolationLevels, ListOffsetTimestamps, type Admin } from '@platformatic/kafka';
import { StreamsError } from '../../engine/errors.ts';
import { partitionKey, type FetchedRecord, type FetchOptions, type FetchRequest, type FetchResult, type TopicPartition } from '../../engine/log.ts';
import { brokerError, isUnreachable, type Calls } from './calls.ts';
import type { Connections } from './connections.ts';
import type { KafkaLogOptions } from './kafka-log-options.ts';
import type { Metadata, TopicInfo } from './metadata.ts';
import { rawFetchV17, type RawFetchPartition, type RawFetchResponse } from './fetch-api.ts';
import { decodeRecordBatches } from './record-batch.ts';

/** The records of one fetch response not returned yet (see Fetcher's #surplus). */
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

/**
 * The records of one fetched partition that a read-committed reader may see: records of aborted
 * transactions and control batches are dropped (as Kafka's own consumer does: an aborted
 * transaction of a producer starts at its first offset and ends at that producer's abort marker).
 */
function visibleRecords(records: Buffer | null, aborted: readonly { producerId: bigint; firstOffset: bigint }[] | null, from: number, readCommitted: boolean) {
  const out: FetchedRecord[] = [];
  if (records === null) return { records: out, lastOffset: -1 };
  const pending = (aborted ?? []).map((a) => ({ producerId: a.producerId, firstOffset: Number(a.firstOffset) })).sort((a, b) => a.firstOffset - b.firstOffset);
  const abortedProducers = new Set<bigint>();
  let next = 0;
  const lastOffset = decodeRecordBatches(
    records,
    from,
    (batch, firstKey) => {
      if (readCommitted) {
        while (next < pending.length && pending[next]!.firstOffset <= batch.lastOffset) abortedProducers.add(pending[next++]!.producerId);
      }
      if (batch.isControl) {
        // A control record's key: version (int16), type (int16): 0 = abort, 1 = commit.
        const key = firstKey();
        if (key !== null && key.length >= 4 && key.readInt16BE(2) === 0) abortedProducers.delete(batch.producerId);
        return false;
      }
      return !(readCommitted && batch.isTransactional && abortedProducers.has(batch.producerId));
    },
    out,
  );
  return { records: out, lastOffset };
}

export interface FetcherOptions {
  readonly calls: Calls;
  readonly metadata: Metadata;
  /** The log's fetch connections (a fetch may wait there for fetchMaxWaitMs). */
  readonly connections: Connections;
  /** For start and end offsets (ListOffsets). */
  readonly admin: Admin;
  readonly options: KafkaLogOptions;
}

export class Fetcher {
  readonly #calls: Calls;
  readonly #metadata: Metadata;
  readonly #connections: Connections;
  readonly #admin: Admin;
  readonly #options: KafkaLogOptions;
  /**
   * Records a fetch returned beyond the `maxRecords` asked for, per partition: the next fetch at
   * their offset takes them from here instead of asking the broker for them again (a Fetch returns
   * up to fetchMaxBytesPerPartition, which holds many more records than a poll takes). At most one
   * response's worth per partition; dropped when a fetch asks for another offset.
   */
  readonly #surplus = new Map<string, Surplus>();

  constructor(o: FetcherOptions) {
    this.#calls = o.calls;
    this.#metadata = o.metadata;
    this.#connections = o.connections;
    this.#admin = o.admin;
    this.#options = o.options;
  }

  async fetch(tp: TopicPartition, offset: number, options: FetchOptions = {}): Promise<FetchResult> {
    return (await this.fetchMany([{ tp, offset, options }]))[0]!;
  }

  /** Many partitions at once: one Fetch request per leader broker. */
  async fetchMany(requests: readonly FetchRequest[]): Promise<FetchResult[]> {
    return this.#calls.run('fetching', async () => {
      const results: FetchResult[] = new Array(requests.length);
      const byLeader = new Map<number, { index: number; info: TopicInfo }[]>();
      const ends: number[] = [];
      for (const [index, r] of requests.entries()) {
        if (!Number.isSafeInteger(r.offset) || r.offset < 0) throw new StreamsError('INVALID_OFFSET', `offset ${r.offset} is not a valid offset`);
        const info = await this.#metadata.topic(r.tp.topic);
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

  async #fetchFrom(leader: number, parts: readonly { request: FetchRequest; info: TopicInfo }[], waitMs: number): Promise<FetchResult[]> {
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
    let response: RawFetchResponse;
    try {
      // A raw Fetch (no fetch session) on this log's own connection: the client's Consumer.fetch
      // filters aborted transactions itself, and drops committed transactions that sit between
      // two aborted ones of the same producer (a stream thread keeps its producer id across
      // restarts, so that happens). visibleRecords filters as Kafka's own consumer does.
      const connection = await this.#connections.get(leader);
      response = await rawFetchV17.async(
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
      if (isUnreachable(error)) this.#connections.drop(leader);
      if (brokerError(error, 'OFFSET_OUT_OF_RANGE')) return this.#outOfRange(parts.map((p) => p.request));
      if (brokerError(error, 'NOT_LEADER_OR_FOLLOWER', 'UNKNOWN_TOPIC_ID', 'FENCED_LEADER_EPOCH', 'LEADER_NOT_AVAILABLE')) {
        // Leadership moved: learn the new leaders; the caller's next fetch goes there.
        for (const { request } of parts) await this.#metadata.topic(request.tp.topic, true);
        return parts.map(({ request }) => ({ records: [], nextOffset: request.offset, endOffset: request.offset, startOffset: 0 }));
      }
      throw error;
    }
    const byKey = new Map<string, RawFetchPartition>();
    for (const t of response.responses) {
      const name = this.#metadata.topicName(t.topicId);
      for (const p of t.partitions) byKey.set(`${name}:${p.partitionIndex}`, p);
    }
    return parts.map(({ request }) => {
      const p = byKey.get(partitionKey(request.tp));
      if (p === undefined) return { records: [], nextOffset: request.offset, endOffset: request.offset, startOffset: 0 };
      const committed = request.options?.readCommitted ?? true;
      const end = Number(committed ? p.lastStableOffset : p.highWatermark);
      const start = Number(p.logStartOffset);
      const { records, lastOffset } = visibleRecords(p.records, p.abortedTransactions, request.offset, committed);
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

  /** Below the log start, reading starts at the start (as the embedded log does); past the end is an error. */
  async #outOfRange(requests: readonly FetchRequest[]): Promise<FetchResult[]> {
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
      await this.#metadata.topic(tp.topic);
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
}
