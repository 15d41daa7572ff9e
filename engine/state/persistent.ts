/**
 * A persistent key-value store: rows on disk (LocalStateDb, one database per task), the keys in
 * memory, and a bounded cache of values in front. Every call is synchronous: a key that does not
 * exist is known from the key set without touching the disk, a cached value is served from
 * memory, and a miss is read with LevelDB's synchronous get. The runtime prefetches the keys of
 * each batch with one multi-get, so misses are rare. Writes go to the database's pending batch
 * and reach the disk at commit, together with the changelog position they reflect. The database
 * also holds a 32-bit hash of each row in memory (LocalStateDb.loadKeys), so a commit moves the
 * store's digest without reading the rows it replaces: a second map of the keys.
 */
import { StreamsError } from '../errors.ts';
import { Serdes, type Serde, type Serializer } from '../serde.ts';
import { addSorted, deleteVia, firstAtLeast, idsWithPrefix, putIfAbsentVia, removeSorted, type KeyValue, type KeyValueStore, type ValueAndTimestamp } from './store.ts';
import type { RestorableStore, StoreContext } from './in-memory.ts';
import type { LocalStateDb } from './local-state.ts';
import { idOfKey, keyOfId } from '../internals/key-ids.ts';
import { owned } from '../internals/bytes.ts';

function bytesOf(id: string): Uint8Array {
  return Buffer.from(id, 'latin1');
}

function idOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

interface Row {
  readonly value: Uint8Array;
  readonly timestamp: number;
}

const UNDECODED: unique symbol = Symbol('undecoded');

/**
 * A row of the value cache. `decoded` keeps the value deserialized once when it is a primitive
 * (a string, a number...), which no reader can change: a table read on every record (a
 * stream-table join) then decodes each cached value once, not once per read. Objects are decoded
 * per read, as each reader may change its copy.
 */
interface CachedRow extends Row {
  decoded: unknown;
}

function cached(row: Row): CachedRow {
  return { value: row.value, timestamp: row.timestamp, decoded: UNDECODED };
}

const numberSerde = Serdes.number();
const stringSerde = Serdes.string();

/**
 * Whether `value`, as written, is what deserializing its bytes gives back: numbers under
 * `Serdes.number()` and well-formed strings under `Serdes.string()` (a lone surrogate becomes
 * U+FFFD). Other serdes may normalize, so a read decodes the bytes, as after a restart.
 */
function keepsDecoded(serde: Serde<unknown>, value: unknown): boolean {
  return (serde === numberSerde && typeof value === 'number') || (serde === stringSerde && typeof value === 'string' && value.isWellFormed());
}

export class PersistentKeyValueStore<K, V> implements KeyValueStore<K, V>, RestorableStore {
  readonly kind = 'key-value' as const;
  readonly persistent = true;
  readonly name: string;
  readonly #keySerde: Serde<K>;
  readonly #valueSerde: Serde<V>;
  readonly #ctx: StoreContext;
  readonly #db: LocalStateDb;
  /** Every key in the store. */
  readonly #keys: Set<string>;
  #sorted: string[] | null = null;
  /**
   * The value cache, in two generations (an approximation of LRU that costs one map lookup per
   * hit instead of a delete and a set): values used since the last rotation are young, those
   * used only before it old; a use of an old value makes it young. When the young generation
   * reaches half the limit it becomes the old one and the old one is dropped, so the cache holds
   * at most about the limit and keeps the values used most recently.
   */
  #young = new Map<string, CachedRow>();
  #youngBytes = 0;
  #old = new Map<string, CachedRow>();
  readonly #cacheLimitBytes: number;
  hits = 0;
  misses = 0;
  #open = true;

  constructor(
    name: string,
    keySerde: Serde<K>,
    valueSerde: Serde<V>,
    ctx: StoreContext,
    db: LocalStateDb,
    /** The keys on disk, as latin1 strings (LocalStateDb.loadKeys). */
    ids: Iterable<string>,
    cacheLimitBytes: number,
  ) {
    this.name = name;
    this.#keySerde = keySerde;
    this.#valueSerde = valueSerde;
    this.#ctx = ctx;
    this.#db = db;
    this.#keys = new Set(ids);
    this.#cacheLimitBytes = cacheLimitBytes;
  }

  /** The last key and its id: an aggregation reads then writes the same key. */
  #lastKey: unknown = undefined;
  #lastId = '';

  #id(key: K): string {
    if (key === null || key === undefined) throw new StreamsError('INVALID_ARGUMENT', `store "${this.name}" cannot hold a null key`);
    if (Object.is(key, this.#lastKey) && typeof key !== 'object') return this.#lastId;
    const id = idOfKey(this.#keySerde, key, this.name);
    this.#lastKey = key;
    this.#lastId = id;
    return id;
  }

  #check(): void {
    if (!this.#open) throw new StreamsError('ILLEGAL_STATE', `store "${this.name}" is closed`);
  }

  #remember(id: string, row: CachedRow): void {
    const young = this.#young.get(id);
    if (young !== undefined) this.#youngBytes -= young.value.byteLength + id.length;
    else this.#old.delete(id);
    this.#young.set(id, row);
    this.#youngBytes += row.value.byteLength + id.length;
    if (this.#youngBytes > this.#cacheLimitBytes / 2) {
      this.#old = this.#young;
      this.#young = new Map();
      this.#youngBytes = 0;
    }
  }

  #forget(id: string): void {
    const young = this.#young.get(id);
    if (young !== undefined) {
      this.#young.delete(id);
      this.#youngBytes -= young.value.byteLength + id.length;
    }
    this.#old.delete(id);
  }

  #row(id: string): CachedRow | undefined {
    // The cache holds only keys of the store (a delete forgets its key), so a hit needs no look
    // at the key set: one map lookup per read of a hot key instead of two.
    const young = this.#young.get(id);
    if (young !== undefined) {
      this.hits++;
      return young;
    }
    const old = this.#old.get(id);
    if (old !== undefined) {
      this.hits++;
      this.#remember(id, old);
      return old;
    }
    if (!this.#keys.has(id)) return undefined;
    this.misses++;
    const found = this.#db.readSync(this.name, id);
    if (found === undefined) return undefined;
    const row = cached(found);
    this.#remember(id, row);
    return row;
  }

  #value(row: CachedRow): V {
    if (row.decoded !== UNDECODED) return row.decoded as V;
    const value = this.#valueSerde.deserialize(row.value, this.name);
    if (typeof value !== 'object' && typeof value !== 'function') {
      row.decoded = value;
      // Counted against the cache's budget (approximately: a row remembered again is not).
      if (typeof value === 'string') this.#youngBytes += value.length;
    }
    return value;
  }

  get(key: K): V | undefined {
    return this.getWithTimestamp(key)?.value;
  }

  getWithTimestamp(key: K): ValueAndTimestamp<V> | undefined {
    this.#check();
    const row = this.#row(this.#id(key));
    return row === undefined ? undefined : { value: this.#value(row), timestamp: row.timestamp };
  }

  put(key: K, value: V | null, timestamp?: number): void {
    this.#check();
    const id = this.#id(key);
    const bytes = value === null || value === undefined ? null : owned(this.#valueSerde.serialize(value, this.name));
    const ts = timestamp ?? this.#ctx.recordTimestamp();
    // A value the next read would decode to itself is kept decoded (see keepsDecoded); the row
    // object is the cache's and the pending write's both.
    const row = bytes === null ? null : { value: bytes, timestamp: ts, decoded: keepsDecoded(this.#valueSerde, value) ? value : UNDECODED };
    this.#applyRow(id, row);
    // Counted against the cache's budget as #value counts a decoded string.
    if (typeof row?.decoded === 'string') this.#youngBytes += row.decoded.length;
    this.#db.writeRow(this.name, id, row);
    this.#ctx.logChange?.(bytesOf(id), bytes, ts);
  }

  /** Applies a changelog record in memory; the caller writes it to the database. */
  restore(key: Uint8Array, value: Uint8Array | null, timestamp: number): void {
    this.#apply(idOf(key), value === null ? null : owned(value), timestamp);
  }

  #apply(id: string, value: Uint8Array | null, timestamp: number): void {
    this.#applyRow(id, value === null ? null : { value, timestamp, decoded: UNDECODED });
  }

  #applyRow(id: string, row: CachedRow | null): void {
    if (row === null) {
      if (this.#keys.delete(id)) removeSorted(this.#sorted, id);
      this.#forget(id);
      return;
    }
    if (!this.#keys.has(id)) {
      this.#keys.add(id);
      addSorted(this.#sorted, id);
    }
    this.#remember(id, row);
  }

  putIfAbsent(key: K, value: V, timestamp?: number): V | undefined {
    return putIfAbsentVia(this, key, value, timestamp);
  }

  delete(key: K): V | undefined {
    return deleteVia(this, key);
  }

  range(from?: K, to?: K, limit = Number.POSITIVE_INFINITY): KeyValue<K, V>[] {
    this.#check();
    const hi = to === undefined ? undefined : this.#id(to);
    const keys = (this.#sorted ??= [...this.#keys].sort());
    const out: KeyValue<K, V>[] = [];
    for (let i = from === undefined ? 0 : firstAtLeast(keys, this.#id(from)); i < keys.length && out.length < limit; i++) {
      const id = keys[i]!;
      if (hi !== undefined && id > hi) break;
      const row = this.#row(id);
      if (row !== undefined) out.push({ key: keyOfId(this.#keySerde, id, this.name), value: this.#value(row) });
    }
    return out;
  }

  prefixScan<P>(prefix: P, prefixSerializer: Serializer<P>): KeyValue<K, V>[] {
    this.#check();
    const keys = (this.#sorted ??= [...this.#keys].sort());
    const out: KeyValue<K, V>[] = [];
    for (const id of idsWithPrefix(keys, idOf(prefixSerializer.serialize(prefix, this.name)))) {
      const row = this.#row(id);
      if (row !== undefined) out.push({ key: keyOfId(this.#keySerde, id, this.name), value: this.#value(row) });
    }
    return out;
  }

  all(): KeyValue<K, V>[] {
    return this.range();
  }

  approximateNumEntries(): number {
    return this.#keys.size;
  }

  /** Loads the values of these keys (as key bytes) into the cache with one multi-get. */
  async prefetch(keys: readonly Uint8Array[]): Promise<void> {
    // Every key of the store is cached (the cache holds only keys of the store, each once): nothing
    // to read, and no need to look at the keys.
    if (this.#young.size + this.#old.size >= this.#keys.size) return;
    const missing = new Set<string>();
    for (const key of keys) {
      const id = idOf(key);
      if (this.#keys.has(id) && !this.#young.has(id) && !this.#old.has(id)) missing.add(id);
    }
    if (missing.size === 0) return;
    const wanted = [...missing];
    const rows = await this.#db.readMany(this.name, wanted);
    rows.forEach((row, i) => {
      if (row !== undefined) this.#remember(wanted[i]!, cached(row));
    });
  }

  flush(): void {}

  close(): void {
    this.#open = false;
  }
}
