import type { Serde } from '../serde.ts';
import type { Windowed } from '../record.ts';
import { StreamsError } from '../errors.ts';
import { latin1WithUint64s } from '../internals/bytes.ts';
import { deleteVia, firstAtLeast, putIfAbsentVia } from './store.ts';
import type {
  AnyStore,
  KeyValue,
  KeyValueStore,
  SessionEntry,
  SessionStore,
  StoreBuilder,
  ValueAndTimestamp,
  WindowedEntry,
  WindowEntry,
  WindowStore,
} from './store.ts';

/** What a store needs from the task that owns it. */
export interface StoreContext {
  /** The timestamp of the record being processed (used when a put gives none). */
  recordTimestamp(): number;
  /**
   * Called with every change, for the store's changelog: the changelog key and value bytes
   * (null for a delete). Window and session changelog keys carry the window; see `restore`.
   */
  logChange?(key: Uint8Array, value: Uint8Array | null, timestamp: number): void;
  /**
   * Called with the changelog key of every row a window or session store drops because it fell
   * out of retention, and of every restored row that already had. Nothing is logged for it (the
   * changelog topic's own retention drops such records, as in Kafka Streams), but a local copy
   * of the store must drop the row too, or it would grow for ever.
   */
  expired?(key: Uint8Array): void;
}

/** A store that can be rebuilt from its changelog. */
export interface RestorableStore {
  /** Applies one changelog record, as written through `StoreContext.logChange`. */
  restore(key: Uint8Array, value: Uint8Array | null, timestamp: number): void;
}

function readU64(view: DataView, at: number): number {
  return view.getUint32(at) * 2 ** 32 + view.getUint32(at + 4);
}

/** Key bytes followed by `numbers` big-endian u64s (window start, sequence...). */
const suffixed = latin1WithUint64s;

function unsuffixed(data: Uint8Array, count: number): { id: string; numbers: number[] } {
  const at = data.byteLength - 8 * count;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const numbers = Array.from({ length: count }, (_, i) => readU64(view, at + 8 * i));
  return { id: Buffer.from(data.buffer, data.byteOffset, at).toString('latin1'), numbers };
}

/**
 * In-memory stores. Keys are ordered by their serialized bytes, as in RocksDB, and values are
 * kept serialized, so a processor that mutates a value it read cannot change the stored row and
 * a value that cannot be serialized fails at the put, exactly as it would against RocksDB.
 */
export function createInMemoryStore(builder: StoreBuilder, ctx: StoreContext): AnyStore {
  const { supplier, keySerde, valueSerde } = builder;
  switch (supplier.kind) {
    case 'key-value':
      return new InMemoryKeyValueStore(builder.name, supplier.persistent, keySerde, valueSerde, ctx);
    case 'window':
      return new InMemoryWindowStore(
        builder.name,
        supplier.persistent,
        keySerde,
        valueSerde,
        ctx,
        supplier.windowSizeMs ?? 0,
        supplier.retentionMs ?? Number.MAX_SAFE_INTEGER,
        supplier.retainDuplicates ?? false,
      );
    case 'session':
      return new InMemorySessionStore(
        builder.name,
        supplier.persistent,
        keySerde,
        valueSerde,
        ctx,
        supplier.retentionMs ?? Number.MAX_SAFE_INTEGER,
      );
  }
}

/** Serialized key as a string whose code units are the bytes: JS string order is byte order. */
function keyId<K>(serde: Serde<K>, key: K, store: string): string {
  if (key === null || key === undefined) {
    throw new StreamsError('INVALID_ARGUMENT', `store "${store}" cannot hold a null key`);
  }
  return Buffer.from(serde.serialize(key, store)).toString('latin1');
}

function idBytes(id: string): Uint8Array {
  return Buffer.from(id, 'latin1');
}

interface Row {
  readonly value: Uint8Array;
  readonly timestamp: number;
}

abstract class InMemoryStoreBase<K, V> {
  readonly name: string;
  readonly persistent: boolean;
  protected readonly keySerde: Serde<K>;
  protected readonly valueSerde: Serde<V>;
  protected readonly ctx: StoreContext;
  protected open = true;

  constructor(name: string, persistent: boolean, keySerde: Serde<K>, valueSerde: Serde<V>, ctx: StoreContext) {
    this.name = name;
    this.persistent = persistent;
    this.keySerde = keySerde;
    this.valueSerde = valueSerde;
    this.ctx = ctx;
  }

  flush(): void {}

  close(): void {
    this.open = false;
  }

  protected check(): void {
    if (!this.open) throw new StreamsError('ILLEGAL_STATE', `store "${this.name}" is closed`);
  }

  /** The last key and its id: an aggregation reads then writes the same key. */
  #lastKey: unknown = undefined;
  #lastId = '';

  protected id(key: K): string {
    // Only for primitive keys (an object key may have changed since); Object.is tells 0 from -0,
    // whose bytes differ.
    if (Object.is(key, this.#lastKey) && key !== undefined && typeof key !== 'object') return this.#lastId;
    const id = keyId(this.keySerde, key, this.name);
    this.#lastKey = key;
    this.#lastId = id;
    return id;
  }

  protected encode(value: V): Uint8Array {
    return this.valueSerde.serialize(value, this.name);
  }

  protected decode(bytes: Uint8Array): V {
    return this.valueSerde.deserialize(bytes, this.name);
  }

  protected decodeKey(id: string): K {
    return this.keySerde.deserialize(idBytes(id), this.name);
  }
}

export class InMemoryKeyValueStore<K, V> extends InMemoryStoreBase<K, V> implements KeyValueStore<K, V>, RestorableStore {
  readonly kind = 'key-value' as const;
  readonly #rows = new Map<string, Row>();
  #sorted: string[] | null = null;

  get(key: K): V | undefined {
    return this.getWithTimestamp(key)?.value;
  }

  getWithTimestamp(key: K): ValueAndTimestamp<V> | undefined {
    this.check();
    const row = this.#rows.get(this.id(key));
    return row === undefined ? undefined : { value: this.decode(row.value), timestamp: row.timestamp };
  }

  put(key: K, value: V | null, timestamp?: number): void {
    this.check();
    const id = this.id(key);
    const bytes = value === null || value === undefined ? null : this.encode(value);
    const ts = timestamp ?? this.ctx.recordTimestamp();
    this.#apply(id, bytes, ts);
    this.ctx.logChange?.(idBytes(id), bytes, ts);
  }

  restore(key: Uint8Array, value: Uint8Array | null, timestamp: number): void {
    this.#apply(Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1'), value, timestamp);
  }

  #apply(id: string, value: Uint8Array | null, timestamp: number): void {
    if (value === null) {
      if (this.#rows.delete(id)) this.#sorted = null;
      return;
    }
    if (!this.#rows.has(id)) this.#sorted = null;
    this.#rows.set(id, { value, timestamp });
  }

  putIfAbsent(key: K, value: V, timestamp?: number): V | undefined {
    return putIfAbsentVia(this, key, value, timestamp);
  }

  delete(key: K): V | undefined {
    return deleteVia(this, key);
  }

  range(from?: K, to?: K, limit = Number.POSITIVE_INFINITY): KeyValue<K, V>[] {
    this.check();
    const hi = to === undefined ? undefined : this.id(to);
    const keys = this.#keys();
    const out: KeyValue<K, V>[] = [];
    for (let i = from === undefined ? 0 : firstAtLeast(keys, this.id(from)); i < keys.length && out.length < limit; i++) {
      const id = keys[i]!;
      if (hi !== undefined && id > hi) break;
      out.push({ key: this.decodeKey(id), value: this.decode(this.#rows.get(id)!.value) });
    }
    return out;
  }

  all(): KeyValue<K, V>[] {
    return this.range();
  }

  approximateNumEntries(): number {
    return this.#rows.size;
  }

  #keys(): string[] {
    this.#sorted ??= [...this.#rows.keys()].sort();
    return this.#sorted;
  }
}

interface WindowRow {
  readonly start: number;
  readonly value: Uint8Array;
  readonly timestamp: number;
  /** Sequence number of a retained duplicate (0 otherwise): its changelog key has it. */
  readonly seq: number;
}

/** First index in `rows` (sorted by start) whose start is >= `start`. */
function lowerBound(rows: readonly { start: number }[], start: number): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (rows[mid]!.start < start) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class InMemoryWindowStore<K, V> extends InMemoryStoreBase<K, V> implements WindowStore<K, V>, RestorableStore {
  readonly kind = 'window' as const;
  readonly windowSizeMs: number;
  readonly retentionMs: number;
  readonly #retainDuplicates: boolean;
  /** Per key, windows sorted by start (duplicates in insertion order). */
  readonly #rows = new Map<string, WindowRow[]>();
  #observedStreamTime = Number.NEGATIVE_INFINITY;
  /** Sequence number of the last duplicate written, so each duplicate has its own changelog key. */
  #seq = 0;
  /**
   * Keys with rows per window start, and the starts in ascending order: windows fall out of
   * retention for every key, not only for the keys still written to (which would otherwise stay
   * in memory for ever).
   */
  readonly #byStart = new Map<number, Set<string>>();
  readonly #starts: { readonly start: number }[] = [];

  constructor(
    name: string,
    persistent: boolean,
    keySerde: Serde<K>,
    valueSerde: Serde<V>,
    ctx: StoreContext,
    windowSizeMs: number,
    retentionMs: number,
    retainDuplicates: boolean,
  ) {
    super(name, persistent, keySerde, valueSerde, ctx);
    this.windowSizeMs = windowSizeMs;
    this.retentionMs = retentionMs;
    this.#retainDuplicates = retainDuplicates;
  }

  /** Windows whose start is at or before this are expired. */
  #expiredUpTo(): number {
    return this.#observedStreamTime - this.retentionMs;
  }

  put(key: K, value: V | null, windowStart: number, timestamp?: number): void {
    this.check();
    const id = this.id(key);
    const bytes = value === null || value === undefined ? null : this.encode(value);
    const ts = timestamp ?? this.ctx.recordTimestamp();
    // Duplicates are never deleted one by one; each one gets its own changelog key.
    if (bytes === null && this.#retainDuplicates) return;
    const seq = this.#retainDuplicates ? ++this.#seq : 0;
    if (this.#apply(id, bytes, windowStart, ts, seq)) this.ctx.logChange?.(suffixed(id, [windowStart, seq]), bytes, ts);
  }

  restore(key: Uint8Array, value: Uint8Array | null, timestamp: number): void {
    const { id, numbers } = unsuffixed(key, 2);
    this.#seq = Math.max(this.#seq, numbers[1]!);
    if (!this.#apply(id, value, numbers[0]!, timestamp, numbers[1]!)) this.ctx.expired?.(key);
  }

  /** Applies a write; false when the window is already expired (nothing stored, nothing to log). */
  #apply(id: string, value: Uint8Array | null, windowStart: number, timestamp: number, seq: number): boolean {
    if (windowStart > this.#observedStreamTime) {
      this.#observedStreamTime = windowStart;
      this.#evictExpired();
    }
    if (windowStart <= this.#expiredUpTo()) return false;
    let rows = this.#rows.get(id);
    if (value === null) {
      if (rows === undefined) return true;
      const at = lowerBound(rows, windowStart);
      if (rows[at]?.start === windowStart) rows.splice(at, 1);
      if (rows.length === 0) this.#rows.delete(id);
      return true;
    }
    const row: WindowRow = { start: windowStart, value, timestamp, seq };
    if (rows === undefined) {
      rows = [];
      this.#rows.set(id, rows);
    }
    if (this.#retainDuplicates) {
      rows.splice(lowerBound(rows, windowStart + 1), 0, row);
    } else {
      const at = lowerBound(rows, windowStart);
      if (rows[at]?.start === windowStart) rows[at] = row;
      else rows.splice(at, 0, row);
    }
    let ids = this.#byStart.get(windowStart);
    if (ids === undefined) {
      this.#byStart.set(windowStart, (ids = new Set()));
      this.#starts.splice(lowerBound(this.#starts, windowStart), 0, { start: windowStart });
    }
    ids.add(id);
    return true;
  }

  /** Drops the windows now out of retention, of every key, and tells the context which. */
  #evictExpired(): void {
    const upTo = this.#expiredUpTo();
    let done = 0;
    while (done < this.#starts.length && this.#starts[done]!.start <= upTo) {
      const { start } = this.#starts[done++]!;
      for (const id of this.#byStart.get(start)!) {
        const rows = this.#rows.get(id);
        if (rows === undefined) continue;
        const cut = lowerBound(rows, upTo + 1);
        for (let i = 0; i < cut; i++) this.ctx.expired?.(suffixed(id, [rows[i]!.start, rows[i]!.seq]));
        if (cut > 0) rows.splice(0, cut);
        if (rows.length === 0) this.#rows.delete(id);
      }
      this.#byStart.delete(start);
    }
    if (done > 0) this.#starts.splice(0, done);
  }

  fetchWithTimestamp(key: K, windowStart: number): ValueAndTimestamp<V> | undefined {
    this.check();
    if (windowStart <= this.#expiredUpTo()) return undefined;
    const rows = this.#rows.get(this.id(key));
    if (rows === undefined) return undefined;
    const row = rows[lowerBound(rows, windowStart)];
    return row?.start === windowStart ? { value: this.decode(row.value), timestamp: row.timestamp } : undefined;
  }

  fetchWindow(key: K, windowStart: number): V | undefined {
    return this.fetchWithTimestamp(key, windowStart)?.value;
  }

  fetch(key: K, timeFrom: number, timeTo: number): WindowEntry<V>[] {
    this.check();
    const rows = this.#rows.get(this.id(key));
    return rows === undefined ? [] : this.#slice(rows, timeFrom, timeTo);
  }

  fetchAll(timeFrom: number, timeTo: number): WindowedEntry<K, V>[] {
    this.check();
    // Ordered by window start, then key bytes, as Kafka Streams' window stores iterate.
    const out: (WindowedEntry<K, V> & { id: string })[] = [];
    for (const [id, rows] of this.#rows) {
      const key = this.decodeKey(id);
      for (const entry of this.#slice(rows, timeFrom, timeTo)) out.push({ id, key, ...entry });
    }
    out.sort((a, b) => a.window.start - b.window.start || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return out.map(({ key, window, value, timestamp }) => ({ key, window, value, timestamp }));
  }

  all(): WindowedEntry<K, V>[] {
    return this.fetchAll(Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY);
  }

  #slice(rows: readonly WindowRow[], timeFrom: number, timeTo: number): WindowEntry<V>[] {
    const from = Math.max(timeFrom, this.#expiredUpTo() + 1);
    const out: WindowEntry<V>[] = [];
    for (let i = lowerBound(rows, from); i < rows.length && rows[i]!.start <= timeTo; i++) {
      const row = rows[i]!;
      out.push({
        window: { start: row.start, end: row.start + this.windowSizeMs },
        value: this.decode(row.value),
        timestamp: row.timestamp,
      });
    }
    return out;
  }
}

interface SessionIndexEntry {
  readonly end: number;
  readonly id: string;
  readonly start: number;
  /** Merged away or removed (see InMemorySessionStore's #byEnd). */
  dead?: boolean;
}

interface SessionRow {
  readonly start: number;
  readonly end: number;
  readonly value: Uint8Array;
}

export class InMemorySessionStore<K, V> extends InMemoryStoreBase<K, V> implements SessionStore<K, V>, RestorableStore {
  readonly kind = 'session' as const;
  readonly retentionMs: number;
  /** Per key, sessions sorted by end then start. */
  readonly #rows = new Map<string, SessionRow[]>();
  #observedStreamTime = Number.NEGATIVE_INFINITY;

  constructor(
    name: string,
    persistent: boolean,
    keySerde: Serde<K>,
    valueSerde: Serde<V>,
    ctx: StoreContext,
    retentionMs: number,
  ) {
    super(name, persistent, keySerde, valueSerde, ctx);
    this.retentionMs = retentionMs;
  }

  #expiredUpTo(): number {
    return this.#observedStreamTime - this.retentionMs;
  }

  put(key: Windowed<K>, value: V): void {
    this.check();
    const bytes = value === null || value === undefined ? null : this.encode(value);
    const id = this.id(key.key);
    const { start, end } = key.window;
    if (this.#apply(id, start, end, bytes)) this.ctx.logChange?.(suffixed(id, [end, start]), bytes, this.ctx.recordTimestamp());
  }

  remove(key: Windowed<K>): void {
    this.put(key, null as V);
  }

  restore(key: Uint8Array, value: Uint8Array | null): void {
    const { id, numbers } = unsuffixed(key, 2);
    if (!this.#apply(id, numbers[1]!, numbers[0]!, value)) this.ctx.expired?.(key);
  }

  /** Applies a write; false when the session is already expired. */
  #apply(id: string, start: number, end: number, value: Uint8Array | null): boolean {
    this.check();
    this.#observedStreamTime = Math.max(this.#observedStreamTime, end);
    if (value === null) {
      const rows = this.#rows.get(id);
      const at = rows === undefined ? -1 : rows.findIndex((r) => r.start === start && r.end === end);
      if (at !== -1) {
        rows!.splice(at, 1);
        if (rows!.length === 0) this.#rows.delete(id);
        this.#unindex(end, id, start);
      }
      this.#evict();
      return true;
    }
    if (end <= this.#expiredUpTo()) return false;
    let rows = this.#rows.get(id);
    if (rows === undefined) {
      rows = [];
      this.#rows.set(id, rows);
    }
    const row: SessionRow = { start, end, value };
    const at = rows.findIndex((r) => r.end > end || (r.end === end && r.start >= start));
    if (at !== -1 && rows[at]!.end === end && rows[at]!.start === start) {
      rows[at] = row;
    } else {
      if (at === -1) rows.push(row);
      else rows.splice(at, 0, row);
      this.#index(end, id, start);
    }
    this.#evict();
    return true;
  }

  // Every session, ordered by end time: finds the sessions that end in a time range without
  // looking at every key (emit-on-close), and drops expired sessions of every key, not only of the
  // keys still written to (which would otherwise stay in memory forever). A session merged away or
  // removed is marked dead rather than spliced out (a splice moves every later entry, and most
  // records merge into their key's last session); dead entries are skipped, and compacted away
  // once they are half of the index.
  #byEnd: SessionIndexEntry[] = [];
  #head = 0;
  #dead = 0;

  #lowerBound(end: number): number {
    let lo = this.#head;
    let hi = this.#byEnd.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#byEnd[mid]!.end < end) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #index(end: number, id: string, start: number): void {
    const at = this.#lowerBound(end + 1);
    if (at === this.#byEnd.length) this.#byEnd.push({ end, id, start });
    else this.#byEnd.splice(at, 0, { end, id, start });
  }

  #unindex(end: number, id: string, start: number): void {
    for (let i = this.#lowerBound(end); i < this.#byEnd.length && this.#byEnd[i]!.end === end; i++) {
      const e = this.#byEnd[i]!;
      if (!e.dead && e.id === id && e.start === start) {
        e.dead = true;
        this.#dead++;
        break;
      }
    }
    this.#compact();
  }

  /** Drops the index entries before #head and the dead ones, once they are half of it. */
  #compact(): void {
    const consumed = this.#head > 1024 && this.#head * 2 > this.#byEnd.length;
    const dead = this.#dead > 1024 && this.#dead * 2 > this.#byEnd.length - this.#head;
    if (!consumed && !dead) return;
    this.#byEnd = this.#dead > 0 ? this.#byEnd.slice(this.#head).filter((e) => !e.dead) : this.#byEnd.slice(this.#head);
    this.#head = 0;
    this.#dead = 0;
  }

  #evict(): void {
    const upTo = this.#expiredUpTo();
    while (this.#head < this.#byEnd.length && this.#byEnd[this.#head]!.end <= upTo) {
      const { id, start, end, dead } = this.#byEnd[this.#head++]!;
      if (dead) {
        this.#dead--;
        continue;
      }
      const rows = this.#rows.get(id);
      const at = rows === undefined ? -1 : rows.findIndex((r) => r.start === start && r.end === end);
      if (at !== -1) {
        rows!.splice(at, 1);
        if (rows!.length === 0) this.#rows.delete(id);
        this.ctx.expired?.(suffixed(id, [end, start]));
      }
    }
    this.#compact();
  }

  /**
   * Sessions of every key with `from <= end < toExclusive`, by end, then serialized key, then
   * start. The index holds sessions of one end in the order they were written, which a restart
   * (reloading them in key order) does not reproduce; emit-on-close must not depend on it.
   */
  sessionsEndingIn(from: number, toExclusive: number): SessionEntry<K, V>[] {
    this.check();
    const found: { id: string; start: number; end: number; value: Uint8Array }[] = [];
    for (let i = this.#lowerBound(from); i < this.#byEnd.length && this.#byEnd[i]!.end < toExclusive; i++) {
      const { id, start, end, dead } = this.#byEnd[i]!;
      if (dead) continue;
      const row = this.#rows.get(id)?.find((r) => r.start === start && r.end === end);
      if (row !== undefined) found.push({ id, start, end, value: row.value });
    }
    found.sort((a, b) => a.end - b.end || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) || a.start - b.start);
    return found.map((f) => ({ key: { key: this.decodeKey(f.id), window: { start: f.start, end: f.end } }, value: this.decode(f.value) }));
  }

  findSessions(key: K, earliestSessionEndTime: number, latestSessionStartTime: number): SessionEntry<K, V>[] {
    this.check();
    const rows = this.#rows.get(this.id(key)) ?? [];
    const floor = Math.max(earliestSessionEndTime, this.#expiredUpTo() + 1);
    return rows
      .filter((r) => r.end >= floor && r.start <= latestSessionStartTime)
      .map((r) => ({ key: { key, window: { start: r.start, end: r.end } }, value: this.decode(r.value) }));
  }

  fetch(key: K): SessionEntry<K, V>[] {
    return this.findSessions(key, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY);
  }

  fetchSession(key: K, sessionStart: number, sessionEnd: number): V | undefined {
    return this.findSessions(key, sessionEnd, sessionStart).find(
      (s) => s.key.window.start === sessionStart && s.key.window.end === sessionEnd,
    )?.value;
  }

  all(): SessionEntry<K, V>[] {
    const out: SessionEntry<K, V>[] = [];
    for (const id of [...this.#rows.keys()].sort()) out.push(...this.fetch(this.decodeKey(id)));
    return out;
  }
}
