/**
 * Interactive queries, routed to whoever holds the data (Kafka Streams' KeyQueryMetadata plus the
 * user's own RPC layer, built in): a stream thread of this process, or the process that runs the
 * task (over HTTP), or with `stale` a standby copy here or elsewhere when the active copy cannot
 * answer. Keys given as strings are decoded with the store's key serde and tried first on the
 * partition they hash to.
 */
import { StreamsError, describeCause } from '../errors.ts';
import type { Topology } from '../topology.ts';
import type { FromThread, StoreQuery } from './messages.ts';
import { partitionForKey } from './partitioner.ts';
import { parseKey, validateQuery, type QueryResult } from './queries.ts';
import type { StoreSnapshots } from './store-snapshots.ts';
import type { StreamThreads, ThreadHandle } from './stream-threads.ts';

/** Where the other processes are, as of the last assignment (empty on a log without groups). */
export interface RemoteTasks {
  /** Task id -> `host:port` of the process that runs it. */
  readonly active: ReadonlyMap<string, string>;
  /** Task id -> `host:port` of the processes that keep a standby copy of it. */
  readonly standbys: ReadonlyMap<string, readonly string[]>;
}

export interface QueryRouterOptions {
  readonly topology: Topology;
  /** Store -> its sub-topology and partition count. */
  readonly stores: ReadonlyMap<string, { readonly subtopology: number; readonly partitions: number }>;
  readonly threads: StreamThreads;
  /** Whether stores can answer now (the application is RUNNING or REBALANCING), and the state to name otherwise. */
  readonly state: () => string;
  readonly remote: () => RemoteTasks;
  /** This process's `host:port`, if it serves HTTP. */
  readonly endpoint: () => string | null;
  /** Bearer token for the other processes' HTTP servers. */
  readonly token: string | undefined;
  /** Point-read snapshots of the published stores, answered here without asking the stream thread. */
  readonly snapshots?: StoreSnapshots;
}

export class QueryRouter {
  readonly #o: QueryRouterOptions;

  constructor(options: QueryRouterOptions) {
    this.#o = options;
  }

  /** Stores of the topology, with their partitions. */
  stores(): { name: string; partitions: number }[] {
    return [...this.#o.stores].map(([name, s]) => ({ name, partitions: s.partitions }));
  }

  async query(store: string, partition: number, query: StoreQuery, options: { stale?: boolean } = {}): Promise<QueryResult> {
    const local = await this.queryLocal(store, partition, query);
    if (local.status !== 421 && local.status !== 503) return local;
    const task = `${this.#o.stores.get(store)!.subtopology}_${partition}`;
    const remote = this.#o.remote();
    const endpoint = remote.active.get(task);
    let answer: QueryResult =
      endpoint === undefined
        ? { status: 503, body: { error: `store "${store}" partition ${partition} has no owner right now (state ${this.#o.state()}); retry` } }
        : await this.#forward(endpoint, store, partition, query, false);
    if (answer.status !== 503 || options.stale !== true) return answer;
    // The active copy cannot answer: a standby copy may (possibly behind it).
    const here = await this.queryLocal(store, partition, query, true);
    if (here.status === 200 || here.status === 404) return here;
    for (const other of remote.standbys.get(task) ?? []) {
      answer = await this.#forward(other, store, partition, query, true);
      if (answer.status === 200 || answer.status === 404) return answer;
    }
    return answer;
  }

  async #forward(endpoint: string, store: string, partition: number, query: StoreQuery, stale: boolean): Promise<QueryResult> {
    const token = this.#o.token;
    try {
      const res = await fetch(`http://${endpoint}/internal/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token !== undefined && token !== '' && { authorization: `Bearer ${token}` }) },
        body: JSON.stringify({ store, partition, query, stale }),
        signal: AbortSignal.timeout(10_000),
      });
      return { status: res.status === 421 ? 503 : res.status, body: await res.json() };
    } catch (error) {
      return { status: 503, body: { error: `the process at ${endpoint} that runs store "${store}" partition ${partition} did not answer: ${describeCause(error)}` } };
    }
  }

  async queryLocal(store: string, partition: number, query: StoreQuery, stale = false): Promise<QueryResult> {
    const owner = this.#o.stores.get(store);
    if (owner === undefined) return { status: 404, body: { error: `no store named "${store}"` } };
    if (!Number.isSafeInteger(partition) || partition < 0 || partition >= owner.partitions) {
      return { status: 400, body: { error: `store "${store}" has partitions 0..${owner.partitions - 1}` } };
    }
    const state = this.#o.state();
    if (state !== 'RUNNING' && state !== 'REBALANCING') return { status: 503, body: { error: `store "${store}" is not available (state ${state})` } };
    const task = `${owner.subtopology}_${partition}`;
    const thread = this.#o.threads.threadOf(task, stale);
    if (thread === undefined) {
      if (this.#o.remote().active.has(task)) return { status: 421, body: { error: `store "${store}" partition ${partition} is on another process` } };
      return { status: 503, body: { error: `store "${store}" partition ${partition} is not available (state ${state}); retry` } };
    }
    if (query.type === 'key' && thread === this.#o.threads.threadOf(task)) {
      const answer = this.#fromSnapshot(thread, store, partition, query);
      if (answer !== undefined) return answer;
    }
    try {
      const reply = await this.#o.threads.ask<Extract<FromThread, { kind: 'query-result' }>>(thread, (id) => ({ kind: 'query', id, store, partition, query, ...(stale && { stale }) }));
      return { status: reply.status, body: reply.body };
    } catch (error) {
      // The thread stopped (closing, failed, replaced) before it read the query.
      return { status: 503, body: { error: `store "${store}" partition ${partition} is not available: ${describeCause(error)}` } };
    }
  }

  /**
   * A key query answered from the snapshot `thread` publishes of the partition (see
   * store-snapshots.ts for what it sees); undefined when the thread must answer it (the store is
   * not published, the task has just moved, or the value was evicted from the snapshot).
   */
  #fromSnapshot(thread: ThreadHandle, store: string, partition: number, query: StoreQuery): QueryResult | undefined {
    const snapshots = this.#o.snapshots;
    if (snapshots === undefined || thread.snapshot === undefined || !snapshots.stores.has(store)) return undefined;
    const checked = validateQuery(query);
    if (!checked.ok || checked.query.type !== 'key') return undefined;
    const builder = this.#o.topology.storeBuilder(store)!;
    try {
      const parsed = parseKey(checked.query.key, builder.keySerde);
      if (!parsed.ok) return { status: 400, body: { error: `key ${JSON.stringify(checked.query.key)} cannot be decoded with the store's key serde` } };
      const bytes = builder.keySerde.serialize(parsed.key, store);
      const row = snapshots.read(thread.snapshot, store, partition, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1'));
      if (row === undefined || (row.found && row.value === undefined)) return undefined;
      if (!row.found) return { status: 404, body: { error: 'no such key' } };
      return { status: 200, body: { key: parsed.key, value: builder.valueSerde.deserialize(row.value!, store), timestamp: row.timestamp } };
    } catch {
      // Whatever the serdes refuse, the stream thread answers as it always has.
      return undefined;
    }
  }

  storeHosts(store: string): { partition: number; host: string | null; local: boolean }[] {
    const owner = this.#o.stores.get(store);
    if (owner === undefined) return [];
    return Array.from({ length: owner.partitions }, (_, partition) => {
      const task = `${owner.subtopology}_${partition}`;
      const local = this.#o.threads.runs(task);
      return { partition, local, host: local ? this.#o.endpoint() : (this.#o.remote().active.get(task) ?? null) };
    });
  }

  async queryKey(store: string, query: StoreQuery & { key: string }, options: { stale?: boolean } = {}): Promise<QueryResult> {
    const owner = this.#o.stores.get(store);
    const builder = this.#o.topology.storeBuilder(store);
    if (owner === undefined || builder === undefined) return { status: 404, body: { error: `no store named "${store}"` } };
    const parsed = parseKey(query.key, builder.keySerde);
    if (!parsed.ok) return { status: 400, body: { error: `key ${JSON.stringify(query.key)} cannot be decoded with the store's key serde` } };
    const first = partitionForKey(builder.keySerde.serialize(parsed.key, store), owner.partitions);
    const order = [first, ...Array.from({ length: owner.partitions }, (_, p) => p).filter((p) => p !== first)];
    let last: QueryResult = { status: 404, body: { error: 'no such key' } };
    for (const p of order) {
      last = await this.query(store, p, query, options);
      const empty = Array.isArray(last.body) && last.body.length === 0;
      if (last.status !== 404 && !empty) return last;
    }
    return last;
  }

  async get<V>(store: string, key: string): Promise<V | undefined> {
    const result = await this.queryKey(store, { type: 'key', key });
    if (result.status === 404 && this.#o.stores.has(store)) return undefined;
    if (result.status !== 200) {
      throw new StreamsError(result.status === 503 ? 'ILLEGAL_STATE' : 'INVALID_ARGUMENT', (result.body as { error?: string }).error ?? `query failed (${result.status})`, {
        canRetry: result.status === 503,
      });
    }
    return (result.body as { value: V }).value;
  }
}
