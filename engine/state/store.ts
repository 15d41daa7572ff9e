import type { Serde, Serializer } from '../serde.ts';
import type { Windowed, Window } from '../record.ts';

/**
 * The store interfaces processors program against. Every method is synchronous: the per-record
 * path never awaits. A persistent implementation serves these calls from an in-memory cache that
 * the runtime fills before a batch (one multi-get for the batch's keys) and flushes at commit.
 */
export interface StateStore {
  readonly name: string;
  /** True for stores meant to live on disk (RocksDB under the runtime). */
  readonly persistent: boolean;
  flush(): void;
  close(): void;
}

export interface KeyValue<K, V> {
  readonly key: K;
  readonly value: V;
}

export interface ValueAndTimestamp<V> {
  readonly value: V;
  readonly timestamp: number;
}

export interface ReadOnlyKeyValueStore<K, V> {
  get(key: K): V | undefined;
  /**
   * Entries with `from <= key <= to` in serialized key order; either bound may be omitted.
   * With `limit`, the first `limit` of them.
   */
  range(from?: K, to?: K, limit?: number): KeyValue<K, V>[];
  /**
   * Entries whose serialized key starts with `prefix` serialized by `prefixSerializer`, in
   * serialized key order (Kafka Streams' `prefixScan`, KIP-614). The key serde must put the
   * prefix first, as a composite key's serde does (the foreign-key join's subscriptions).
   */
  prefixScan<P>(prefix: P, prefixSerializer: Serializer<P>): KeyValue<K, V>[];
  all(): KeyValue<K, V>[];
  approximateNumEntries(): number;
}

export interface KeyValueStore<K, V> extends StateStore, ReadOnlyKeyValueStore<K, V> {
  readonly kind: 'key-value';
  getWithTimestamp(key: K): ValueAndTimestamp<V> | undefined;
  /** Writes a row; `null` deletes it. `timestamp` defaults to the current record's. */
  put(key: K, value: V | null, timestamp?: number): void;
  putIfAbsent(key: K, value: V, timestamp?: number): V | undefined;
  delete(key: K): V | undefined;
}

export interface WindowEntry<V> {
  readonly window: Window;
  readonly value: V;
  readonly timestamp: number;
}

export interface WindowedEntry<K, V> extends WindowEntry<V> {
  readonly key: K;
}

export interface ReadOnlyWindowStore<K, V> {
  /** The value of one window, by its start. */
  fetchWindow(key: K, windowStart: number): V | undefined;
  /** Windows of `key` with `timeFrom <= start <= timeTo`, ordered by start. */
  fetch(key: K, timeFrom: number, timeTo: number): WindowEntry<V>[];
  /** Windows of every key with `timeFrom <= start <= timeTo`. */
  fetchAll(timeFrom: number, timeTo: number): WindowedEntry<K, V>[];
  all(): WindowedEntry<K, V>[];
}

export interface WindowStore<K, V> extends StateStore, ReadOnlyWindowStore<K, V> {
  readonly kind: 'window';
  readonly windowSizeMs: number;
  readonly retentionMs: number;
  /**
   * Writes the window of `key` starting at `windowStart`; `null` deletes it. With duplicates
   * retained (join buffers) every put adds an entry. A window older than the retention period
   * (relative to the latest window start written) is not stored.
   */
  put(key: K, value: V | null, windowStart: number, timestamp?: number): void;
  fetchWithTimestamp(key: K, windowStart: number): ValueAndTimestamp<V> | undefined;
}

export interface SessionEntry<K, V> {
  readonly key: Windowed<K>;
  readonly value: V;
}

export interface ReadOnlySessionStore<K, V> {
  /** All sessions of `key`, ordered by end then start. */
  fetch(key: K): SessionEntry<K, V>[];
  fetchSession(key: K, sessionStart: number, sessionEnd: number): V | undefined;
}

export interface SessionStore<K, V> extends StateStore, ReadOnlySessionStore<K, V> {
  readonly kind: 'session';
  readonly retentionMs: number;
  /** Sessions of `key` with `end >= earliestSessionEndTime` and `start <= latestSessionStartTime`. */
  findSessions(key: K, earliestSessionEndTime: number, latestSessionStartTime: number): SessionEntry<K, V>[];
  put(key: Windowed<K>, value: V): void;
  remove(key: Windowed<K>): void;
  all(): SessionEntry<K, V>[];
  /** Sessions of every key with `from <= end < toExclusive`, ordered by end. */
  sessionsEndingIn(from: number, toExclusive: number): SessionEntry<K, V>[];
}

export type AnyStore = KeyValueStore<unknown, unknown> | WindowStore<unknown, unknown> | SessionStore<unknown, unknown>;

/** What kind of store a builder makes, and what backs it. */
export interface StoreSupplier {
  readonly name: string;
  readonly kind: 'key-value' | 'window' | 'session';
  readonly persistent: boolean;
  readonly retentionMs?: number;
  readonly windowSizeMs?: number;
  readonly retainDuplicates?: boolean;
  /** Versioned key-value stores (KIP-889): how long a version stays readable as of older times. */
  readonly historyRetentionMs?: number;
}

/**
 * A description of a store: which kind, its serdes, whether it keeps a changelog. The runtime
 * decides what backs it (RocksDB for persistent stores); the test driver keeps everything in memory.
 */
export interface StoreBuilder<S extends AnyStore = AnyStore> {
  readonly name: string;
  readonly supplier: StoreSupplier;
  readonly keySerde: Serde<unknown>;
  readonly valueSerde: Serde<unknown>;
  readonly loggingEnabled: boolean;
  /**
   * Set for versioned stores: the user's serdes and history retention. The store underneath is a
   * key-value store of bytes (`keySerde`/`valueSerde` above are bytes); processors get a
   * VersionedKeyValueStore view of it.
   */
  readonly versioned?: { readonly keySerde: Serde<unknown>; readonly valueSerde: Serde<unknown>; readonly historyRetentionMs: number };
  /**
   * Writes wait in the stream thread's record cache (KIP-63, `cacheMaxBytes`) until the next commit
   * or eviction: a key written many times in between reaches the store and its changelog once.
   * Off by default for builders (as in Kafka Streams); the DSL's aggregations turn it on unless
   * materialized with `caching: false`.
   */
  readonly cachingEnabled: boolean;
  withLoggingDisabled(): StoreBuilder<S>;
  withLoggingEnabled(): StoreBuilder<S>;
  withCachingEnabled(): StoreBuilder<S>;
  withCachingDisabled(): StoreBuilder<S>;
  /** Phantom field carrying the store type; never set. */
  readonly __store?: S;
}

/**
 * putIfAbsent and delete in terms of get and put, shared by the key-value stores: each store keeps
 * its own get and put (and so its changelog and caching); these two never differ.
 */
export function putIfAbsentVia<K, V>(store: Pick<KeyValueStore<K, V>, 'get' | 'put'>, key: K, value: V, timestamp?: number): V | undefined {
  const existing = store.get(key);
  if (existing === undefined) store.put(key, value, timestamp);
  return existing;
}

/** The ids (latin1 strings of key bytes) of sorted `ids` that start with `prefix`, in order. */
export function* idsWithPrefix(ids: readonly string[], prefix: string): Generator<string> {
  for (let i = firstAtLeast(ids, prefix); i < ids.length && ids[i]!.startsWith(prefix); i++) yield ids[i]!;
}

/**
 * Keeps a sorted id list current on a new key or a removed one (a binary search and one splice),
 * so that stores mixing writes with ranges (a foreign-key join's subscriptions) do not sort all
 * their keys again after every new key. `ids` null: no list built yet, nothing to do.
 */
export function addSorted(ids: string[] | null, id: string): void {
  if (ids !== null) ids.splice(firstAtLeast(ids, id), 0, id);
}

export function removeSorted(ids: string[] | null, id: string): void {
  if (ids === null) return;
  const at = firstAtLeast(ids, id);
  if (ids[at] === id) ids.splice(at, 1);
}

/** Index of the first of the sorted `ids` that is `>= id` (binary search). */
export function firstAtLeast(ids: readonly string[], id: string): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid]! < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function deleteVia<K, V>(store: Pick<KeyValueStore<K, V>, 'get' | 'put'>, key: K): V | undefined {
  const existing = store.get(key);
  store.put(key, null);
  return existing;
}
