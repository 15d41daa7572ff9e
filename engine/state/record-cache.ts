/**
 * The record cache (Kafka Streams' KIP-63): a stream thread's budget of bytes in which the stores
 * that enable caching keep their latest writes between two commits. A key written many times
 * between commits reaches the store below (and so its changelog) once, and the processor that
 * owns the store forwards once, at the flush: at every commit, or earlier when the thread's cache
 * is over its budget (an eviction flushes the evicted entry's store).
 *
 * Kafka Streams' shape, in short:
 * - one `ThreadCache` per stream thread, `cacheMaxBytes / threads` bytes, shared by the caching
 *   stores of all its tasks; each store has a named cache in it (here `NamedCache`), LRU ordered;
 * - a put goes to the cache, dirty; a get reads the cache first, then the store below;
 * - flushing a store writes its dirty entries, in the order they were first dirtied, to the
 *   store below and hands each to the store's flush listener with the value the store held
 *   before (the "old value" of a table update), in the record context of the entry's last write;
 * - when a put takes the thread over its budget, the least recently used entries of the store
 *   written are evicted; evicting a dirty entry flushes that store first.
 *
 * Forwarding through the flush is what deduplicates outputs: the DSL's aggregations register a
 * listener (`setFlushListener`) and forward from it instead of from `process`. Stores whose
 * processors do not (the Processor API's, unless their builder enables caching) are not wrapped.
 */
import { StreamsError } from '../errors.ts';
import type { StoreContext } from './store-context.ts';
import { keyId } from './in-memory-base.ts';
import { InMemoryWindowStore } from './in-memory-window.ts';
import type { Serde, Serializer } from '../serde.ts';
import type { Headers } from '../record.ts';
import type { AnyStore, KeyValue, KeyValueStore, StoreBuilder, ValueAndTimestamp, WindowEntry, WindowedEntry, WindowStore } from './store.ts';
import { owned } from '../internals/bytes.ts';

/** Bytes an entry costs beyond its key and value (map slots, the entry object), roughly as Kafka Streams counts. */
const ENTRY_OVERHEAD_BYTES = 64;

/** One cached write: the value's bytes (null: a delete), its timestamp, and the context it was written in. */
interface Entry {
  readonly id: string;
  readonly key: unknown;
  /** The window's start (window stores). */
  readonly windowStart: number;
  bytes: Uint8Array | null;
  /** The value as it was put (forwarded as is at the flush); undefined once clean. */
  value: unknown;
  timestamp: number;
  dirty: boolean;
  context: unknown;
  size: number;
  /** Neighbours in the LRU list (older, newer). */
  older: Entry | undefined;
  newer: Entry | undefined;
}

/** A stream thread's cache: the budget its caching stores share. */
export class ThreadCache {
  readonly maxBytes: number;
  #bytes = 0;
  /** Entries flushed (written below) and evicted, for metrics and tests. */
  flushed = 0;
  evicted = 0;

  constructor(maxBytes: number) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
      throw new StreamsError('INVALID_ARGUMENT', `cacheMaxBytes must be an integer >= 0, got ${maxBytes}`);
    }
    this.maxBytes = maxBytes;
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** @internal */
  grow(delta: number): void {
    this.#bytes += delta;
  }

  /** Evicts from `cache` (the store just written) until the thread is within its budget. */
  /** @internal */
  maybeEvict(cache: NamedCache): void {
    while (this.#bytes > this.maxBytes && cache.size > 0) {
      if (!cache.evictEldest()) return;
      this.evicted++;
    }
  }
}

/** What a store's flush hands to its listener: one key's latest write and what the store held before. */
export interface CacheFlush {
  readonly key: unknown;
  /** Window stores: the window's start. */
  readonly windowStart: number;
  readonly newValue: unknown;
  readonly oldValue: unknown;
  readonly timestamp: number;
  /** The headers of the record whose processing wrote it last. */
  readonly headers?: Headers;
}

/** Runs a flushed entry's forwarding in the record context of its last write (set by the task). */
export interface CacheContext {
  capture(): unknown;
  headersOf(context: unknown): Headers | undefined;
  replay(context: unknown, timestamp: number, run: () => void): void;
}

/**
 * One store's share of a thread cache: its entries by id, in LRU order (a list through the
 * entries, so that a read moves an entry without touching the map), and its dirty ones in the
 * order they were first dirtied.
 */
export class NamedCache {
  readonly #thread: ThreadCache;
  readonly #entries = new Map<string, Entry>();
  /** Least recently used first. */
  #eldest: Entry | undefined;
  #newest: Entry | undefined;
  /** Entries made dirty since the last flush, in that order (an entry cleaned meanwhile is skipped). */
  readonly #dirty: Entry[] = [];
  #dirtyCount = 0;
  readonly #flushStore: () => void;

  constructor(thread: ThreadCache, flushStore: () => void) {
    this.#thread = thread;
    this.#flushStore = flushStore;
  }

  get size(): number {
    return this.#entries.size;
  }

  get dirtyCount(): number {
    return this.#dirtyCount;
  }

  #unlink(e: Entry): void {
    if (e.older === undefined) this.#eldest = e.newer;
    else e.older.newer = e.newer;
    if (e.newer === undefined) this.#newest = e.older;
    else e.newer.older = e.older;
    e.older = e.newer = undefined;
  }

  #append(e: Entry): void {
    e.older = this.#newest;
    if (this.#newest === undefined) this.#eldest = e;
    else this.#newest.newer = e;
    this.#newest = e;
  }

  get(id: string): Entry | undefined {
    const entry = this.#entries.get(id);
    if (entry !== undefined && entry !== this.#newest) {
      // Most recently used last.
      this.#unlink(entry);
      this.#append(entry);
    }
    return entry;
  }

  /** Peeks without touching the LRU order (range reads). */
  peek(id: string): Entry | undefined {
    return this.#entries.get(id);
  }

  entries(): IterableIterator<[string, Entry]> {
    return this.#entries.entries();
  }

  putDirty(id: string, key: unknown, windowStart: number, bytes: Uint8Array | null, value: unknown, timestamp: number, context: unknown): void {
    const size = id.length + (bytes?.byteLength ?? 0) + ENTRY_OVERHEAD_BYTES;
    let entry = this.#entries.get(id);
    if (entry !== undefined) {
      this.#thread.grow(size - entry.size);
      if (entry !== this.#newest) {
        this.#unlink(entry);
        this.#append(entry);
      }
      entry.bytes = bytes;
      entry.value = value;
      entry.timestamp = timestamp;
      entry.context = context;
      entry.size = size;
    } else {
      this.#thread.grow(size);
      entry = { id, key, windowStart, bytes, value, timestamp, dirty: false, context, size, older: undefined, newer: undefined };
      this.#entries.set(id, entry);
      this.#append(entry);
    }
    if (!entry.dirty) {
      entry.dirty = true;
      this.#dirtyCount++;
      this.#dirty.push(entry);
    }
    this.#thread.maybeEvict(this);
  }

  /**
   * Hands the dirty entries to `fn` in the order they were first dirtied, each marked clean as it
   * is taken (an entry dirtied again meanwhile comes again, later).
   */
  takeDirty(fn: (entry: Entry) => void): void {
    const list = this.#dirty;
    let i = 0;
    try {
      for (; i < list.length; i++) {
        const entry = list[i]!;
        if (!entry.dirty) continue;
        entry.dirty = false;
        this.#dirtyCount--;
        this.#thread.flushed++;
        fn(entry);
        entry.value = undefined;
        entry.context = undefined;
      }
    } finally {
      // On a throw, the entries not taken yet stay listed (the one that threw is clean already).
      if (i >= list.length) list.length = 0;
      else list.splice(0, i + 1);
    }
  }

  /** Drops one clean entry. */
  remove(id: string): void {
    const entry = this.#entries.get(id);
    if (entry === undefined || entry.dirty) return;
    this.#drop(entry);
  }

  #drop(entry: Entry): void {
    this.#entries.delete(entry.id);
    this.#unlink(entry);
    this.#thread.grow(-entry.size);
  }

  /**
   * Drops the least recently used entry, flushing the store first if it is dirty; false if it is
   * still dirty after that (the store is in the middle of its own flush): it stays, over budget.
   */
  evictEldest(): boolean {
    const eldest = this.#eldest;
    if (eldest === undefined) return false;
    if (eldest.dirty) this.#flushStore();
    // The flush may have evicted or rewritten it already.
    const now = this.#entries.get(eldest.id);
    if (now === undefined) return true;
    if (now.dirty) return false;
    this.#drop(now);
    return true;
  }

  /** Drops everything (the task is closed: what was dirty is replayed from the last commit). */
  clear(): void {
    for (const entry of this.#entries.values()) this.#thread.grow(-entry.size);
    this.#entries.clear();
    this.#eldest = this.#newest = undefined;
    this.#dirty.length = 0;
    this.#dirtyCount = 0;
  }
}

/** A store with a record cache in front: the DSL registers how flushed entries are forwarded. */
export interface CachingStore {
  readonly caching: true;
  /** Entries written since the last flush. */
  readonly dirtyCount: number;
  setFlushListener(listener: (flush: CacheFlush) => void): void;
}

/**
 * Registers `listener` for the flushes of `store` when it caches; true if it does, in which case
 * the processor forwards from the listener and not from `process` (Kafka Streams'
 * TimestampedTupleForwarder).
 */
export function setFlushListener(store: unknown, listener: (flush: CacheFlush) => void): boolean {
  const caching = store as Partial<CachingStore> | null;
  if (caching === null || typeof caching !== 'object' || caching.caching !== true) return false;
  caching.setFlushListener!(listener);
  return true;
}

/**
 * `store` behind the thread's record cache when its builder enables caching and the cache has
 * room: key-value stores and window stores without duplicates (not versioned, session or join
 * buffer stores, as in Kafka Streams' DSL); otherwise `store` itself.
 */
export function withRecordCache(builder: StoreBuilder, store: AnyStore, thread: ThreadCache, ctx: StoreContext & Partial<CacheContext>): AnyStore {
  if (!builder.cachingEnabled || thread.maxBytes === 0 || builder.versioned !== undefined) return store;
  if (store.kind === 'key-value') return new CachingKeyValueStore(store, thread, builder.keySerde, builder.valueSerde, ctx);
  if (store.kind === 'window' && builder.supplier.retainDuplicates !== true) return new CachingWindowStore(store, thread, builder.keySerde, builder.valueSerde, ctx);
  return store;
}

/** The store below a record cache (restoring writes there), or `store` itself. */
export function belowCache(store: AnyStore): AnyStore {
  return store instanceof CachingKeyValueStore || store instanceof CachingWindowStore ? store.inner : store;
}

/** What the caching layers share: the thread's cache, the task's record context, the store's serdes. */
abstract class CachingBase {
  readonly caching = true as const;
  readonly name: string;
  readonly persistent: boolean;
  protected readonly cache: NamedCache;
  protected readonly keySerde: Serde<unknown>;
  protected readonly valueSerde: Serde<unknown>;
  protected readonly ctx: StoreContext & Partial<CacheContext>;
  #listener: ((flush: CacheFlush) => void) | undefined;
  #flushing = false;

  constructor(name: string, persistent: boolean, thread: ThreadCache, keySerde: Serde<unknown>, valueSerde: Serde<unknown>, ctx: StoreContext & Partial<CacheContext>) {
    this.name = name;
    this.persistent = persistent;
    this.keySerde = keySerde;
    this.valueSerde = valueSerde;
    this.ctx = ctx;
    this.cache = new NamedCache(thread, () => this.flush());
  }

  get dirtyCount(): number {
    return this.cache.dirtyCount;
  }

  setFlushListener(listener: (flush: CacheFlush) => void): void {
    this.#listener = listener;
  }

  /** The last primitive key's id: a processor's get and put of one key serialize it once (an object key may be mutated in between). */
  #lastKey: unknown = undefined;
  #lastId = '';

  protected id(key: unknown): string {
    if (key !== this.#lastKey || this.#lastId === '' || typeof key === 'object') {
      this.#lastId = keyId(this.keySerde, key, this.name);
      this.#lastKey = key;
    }
    return this.#lastId;
  }

  protected decode(bytes: Uint8Array | null): unknown {
    return bytes === null ? null : this.valueSerde.deserialize(bytes, this.name);
  }

  protected write(id: string, key: unknown, windowStart: number, value: unknown, timestamp: number | undefined): void {
    // Not copied yet (see `owned`): a dirty entry lives until the next flush, which copies what
    // stays (a clean entry, the row of the store below); a hot key's many writes in between are not.
    const bytes = value === null || value === undefined ? null : this.valueSerde.serialize(value, this.name);
    const ts = timestamp ?? this.ctx.recordTimestamp();
    this.cache.putDirty(id, key, windowStart, bytes, bytes === null ? null : value, ts, this.ctx.capture?.());
  }

  /** Writes the dirty entries below, in write order, and hands each to the listener. */
  flush(): void {
    // A flush that forwards into this store again (a cycle through the topology) finishes first.
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      this.cache.takeDirty((entry) => {
        const oldValue = this.writeBelow(entry.key, entry.windowStart, entry.bytes === null ? null : entry.value, entry.timestamp, entry.bytes);
        if (!this.keepsClean) this.cache.remove(entry.id);
        else if (entry.bytes !== null) entry.bytes = owned(entry.bytes);
        const listener = this.#listener;
        if (listener === undefined || (entry.bytes === null && oldValue === null)) return;
        const headers = this.ctx.headersOf?.(entry.context);
        const flush: CacheFlush = {
          key: entry.key,
          windowStart: entry.windowStart,
          newValue: entry.bytes === null ? null : entry.value,
          oldValue,
          timestamp: entry.timestamp,
          ...(headers !== undefined && { headers }),
        };
        if (this.ctx.replay !== undefined) this.ctx.replay(entry.context, entry.timestamp, () => listener(flush));
        else listener(flush);
      });
      this.inner.flush();
    } finally {
      this.#flushing = false;
    }
  }

  /**
   * Whether flushed entries stay cached for reads. Not for window stores: the store below drops
   * windows that fall out of retention, which a clean copy in the cache would outlive.
   */
  protected abstract readonly keepsClean: boolean;

  /** Writes one entry to the store below (`bytes`: the value serialized); returns the value it held (null: none). */
  protected abstract writeBelow(key: unknown, windowStart: number, value: unknown, timestamp: number, bytes: Uint8Array | null): unknown;

  /** The store below (restoring and standbys write there directly). */
  abstract get inner(): { flush(): void; close(): void };

  /** Drops the cache's entries (what was dirty is replayed from the last commit) and closes the store below. */
  close(): void {
    this.cache.clear();
    this.inner.close();
  }
}

/** A key-value store behind a record cache. */
export class CachingKeyValueStore extends CachingBase implements KeyValueStore<unknown, unknown>, CachingStore {
  readonly kind = 'key-value' as const;
  protected readonly keepsClean = true;
  readonly #inner: KeyValueStore<unknown, unknown>;

  constructor(inner: KeyValueStore<unknown, unknown>, thread: ThreadCache, keySerde: Serde<unknown>, valueSerde: Serde<unknown>, ctx: StoreContext & Partial<CacheContext>) {
    super(inner.name, inner.persistent, thread, keySerde, valueSerde, ctx);
    this.#inner = inner;
  }

  /** The store below (restoring and standbys write there directly). */
  get inner(): KeyValueStore<unknown, unknown> {
    return this.#inner;
  }

  get(key: unknown): unknown {
    return this.getWithTimestamp(key)?.value;
  }

  getWithTimestamp(key: unknown): ValueAndTimestamp<unknown> | undefined {
    const entry = this.cache.get(this.id(key));
    if (entry === undefined) return this.#inner.getWithTimestamp(key);
    return entry.bytes === null ? undefined : { value: this.decode(entry.bytes), timestamp: entry.timestamp };
  }

  put(key: unknown, value: unknown, timestamp?: number): void {
    this.write(this.id(key), key, 0, value, timestamp);
  }

  putIfAbsent(key: unknown, value: unknown, timestamp?: number): unknown {
    const existing = this.get(key);
    if (existing === undefined) this.put(key, value, timestamp);
    return existing;
  }

  delete(key: unknown): unknown {
    const existing = this.get(key);
    this.put(key, null);
    return existing;
  }

  /** The store's rows with the cache's writes laid over them, by serialized key. */
  #merged(rows: readonly KeyValue<unknown, unknown>[], inRange: (id: string) => boolean): KeyValue<unknown, unknown>[] {
    const byId = new Map<string, KeyValue<unknown, unknown>>();
    for (const row of rows) byId.set(this.id(row.key), row);
    for (const [id, entry] of this.cache.entries()) {
      if (!inRange(id)) continue;
      if (entry.bytes === null) byId.delete(id);
      else byId.set(id, { key: entry.key, value: this.decode(entry.bytes) });
    }
    return [...byId.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);
  }

  range(from?: unknown, to?: unknown, limit = Number.POSITIVE_INFINITY): KeyValue<unknown, unknown>[] {
    const lo = from === undefined ? undefined : this.id(from);
    const hi = to === undefined ? undefined : this.id(to);
    const merged = this.#merged(this.#inner.range(from, to), (id) => (lo === undefined || id >= lo) && (hi === undefined || id <= hi));
    return merged.slice(0, limit);
  }

  prefixScan<P>(prefix: P, prefixSerializer: Serializer<P>): KeyValue<unknown, unknown>[] {
    const bytes = prefixSerializer.serialize(prefix, this.name);
    const start = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
    return this.#merged(this.#inner.prefixScan(prefix, prefixSerializer), (id) => id.startsWith(start));
  }

  all(): KeyValue<unknown, unknown>[] {
    return this.range();
  }

  approximateNumEntries(): number {
    return this.#inner.approximateNumEntries() + this.cache.dirtyCount;
  }

  protected writeBelow(key: unknown, _windowStart: number, value: unknown, timestamp: number): unknown {
    const old = this.#inner.get(key);
    this.#inner.put(key, value, timestamp);
    return old ?? null;
  }

}

/** A window store behind a record cache (not for stores that keep duplicates). */
export class CachingWindowStore extends CachingBase implements WindowStore<unknown, unknown>, CachingStore {
  readonly kind = 'window' as const;
  protected readonly keepsClean = false;
  readonly windowSizeMs: number;
  readonly retentionMs: number;
  readonly #inner: WindowStore<unknown, unknown>;

  constructor(inner: WindowStore<unknown, unknown>, thread: ThreadCache, keySerde: Serde<unknown>, valueSerde: Serde<unknown>, ctx: StoreContext & Partial<CacheContext>) {
    super(inner.name, inner.persistent, thread, keySerde, valueSerde, ctx);
    this.#inner = inner;
    this.windowSizeMs = inner.windowSizeMs;
    this.retentionMs = inner.retentionMs;
  }

  get inner(): WindowStore<unknown, unknown> {
    return this.#inner;
  }

  /** The last window id: a processor's fetch and put of one window build it once. */
  #lastWindowKey = '';
  #lastWindowStart = Number.NaN;
  #lastWindowId = '';

  #windowId(key: unknown, windowStart: number): string {
    const id = this.id(key);
    if (id !== this.#lastWindowKey || windowStart !== this.#lastWindowStart) {
      this.#lastWindowId = `${id}\u0000${windowStart}`;
      this.#lastWindowKey = id;
      this.#lastWindowStart = windowStart;
    }
    return this.#lastWindowId;
  }

  fetchWindow(key: unknown, windowStart: number): unknown {
    return this.fetchWithTimestamp(key, windowStart)?.value;
  }

  fetchWithTimestamp(key: unknown, windowStart: number): ValueAndTimestamp<unknown> | undefined {
    const entry = this.cache.get(this.#windowId(key, windowStart));
    if (entry === undefined) return this.#inner.fetchWithTimestamp(key, windowStart);
    return entry.bytes === null ? undefined : { value: this.decode(entry.bytes), timestamp: entry.timestamp };
  }

  put(key: unknown, value: unknown, windowStart: number, timestamp?: number): void {
    this.write(this.#windowId(key, windowStart), key, windowStart, value, timestamp);
  }

  fetch(key: unknown, timeFrom: number, timeTo: number): WindowEntry<unknown>[] {
    const id = this.id(key);
    const byStart = new Map<number, WindowEntry<unknown>>();
    for (const row of this.#inner.fetch(key, timeFrom, timeTo)) byStart.set(row.window.start, row);
    for (const [entryId, e] of this.cache.entries()) {
      if (e.windowStart < timeFrom || e.windowStart > timeTo || entryId !== `${id}\u0000${e.windowStart}`) continue;
      if (e.bytes === null) byStart.delete(e.windowStart);
      else byStart.set(e.windowStart, { window: { start: e.windowStart, end: e.windowStart + this.windowSizeMs }, value: this.decode(e.bytes), timestamp: e.timestamp });
    }
    return [...byStart.values()].sort((a, b) => a.window.start - b.window.start);
  }

  fetchAll(timeFrom: number, timeTo: number): WindowedEntry<unknown, unknown>[] {
    return this.#mergedAll(this.#inner.fetchAll(timeFrom, timeTo), (start) => start >= timeFrom && start <= timeTo);
  }

  all(): WindowedEntry<unknown, unknown>[] {
    return this.#mergedAll(this.#inner.all(), () => true);
  }

  #mergedAll(rows: readonly WindowedEntry<unknown, unknown>[], inRange: (start: number) => boolean): WindowedEntry<unknown, unknown>[] {
    const byId = new Map<string, WindowedEntry<unknown, unknown>>();
    for (const row of rows) byId.set(this.#windowId(row.key, row.window.start), row);
    for (const [id, e] of this.cache.entries()) {
      if (!inRange(e.windowStart)) continue;
      if (e.bytes === null) byId.delete(id);
      else byId.set(id, { key: e.key, window: { start: e.windowStart, end: e.windowStart + this.windowSizeMs }, value: this.decode(e.bytes), timestamp: e.timestamp });
    }
    return [...byId.values()];
  }

  protected writeBelow(key: unknown, windowStart: number, value: unknown, timestamp: number, bytes: Uint8Array | null): unknown {
    // The in-memory window store (the one below a cache in the runtime): one lookup, no second serialize.
    if (this.#inner instanceof InMemoryWindowStore) {
      const old = this.#inner.replace(key, bytes, windowStart, timestamp);
      return old === undefined ? null : this.decode(old);
    }
    const old = this.#inner.fetchWindow(key, windowStart);
    this.#inner.put(key, value, windowStart, timestamp);
    return old ?? null;
  }

}
