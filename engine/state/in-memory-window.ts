/** In-memory window store: rows per key by window start, expired by stream time and retention. */
import type { Serde } from '../serde.ts';
import type { ValueAndTimestamp, WindowedEntry, WindowEntry, WindowStore } from './store.ts';
import type { RestorableStore, StoreContext } from './store-context.ts';
import { InMemoryStoreBase, suffixed, u64PairLatin1, unsuffixed } from './in-memory-base.ts';
import { owned } from '../internals/bytes.ts';

interface WindowRow {
  readonly start: number;
  readonly value: Uint8Array;
  readonly timestamp: number;
  /** Sequence number of a retained duplicate (0 otherwise): its changelog key has it. */
  readonly seq: number;
  /** The local mirror's (LocalStateDb.logRow); here so that every row has one shape. */
  supersededAt: number;
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
   * in memory for ever). A list, not a set: a key is listed when a row of that start is inserted
   * (not when it is updated), so a key is listed twice only if its row was deleted and inserted
   * again (or is a duplicate), and expiring it a second time finds nothing left to drop.
   */
  readonly #byStart = new Map<number, string[]>();
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
    this.#write(this.id(key), value === null || value === undefined ? null : this.encode(value), windowStart, timestamp ?? this.ctx.recordTimestamp());
  }

  /**
   * `put` of a value already serialized (null: a delete), returning the bytes the window held
   * before (undefined: none): a record cache flushing an entry reads the old value and writes the
   * new one with one lookup, and does not serialize the value again.
   */
  replace(key: K, bytes: Uint8Array | null, windowStart: number, timestamp: number): Uint8Array | undefined {
    this.check();
    const id = this.id(key);
    const old = windowStart <= this.#expiredUpTo() ? undefined : this.#rowOf(this.#rows.get(id), windowStart)?.value;
    this.#write(id, bytes === null ? null : owned(bytes), windowStart, timestamp);
    return old;
  }

  #write(id: string, bytes: Uint8Array | null, windowStart: number, ts: number): void {
    // Duplicates are never deleted one by one; each one gets its own changelog key.
    if (bytes === null && this.#retainDuplicates) return;
    const seq = this.#retainDuplicates ? ++this.#seq : 0;
    // The row object is the store's and the local mirror's both (its value and timestamp never change).
    const row: WindowRow | null = bytes === null ? null : { start: windowStart, value: bytes, timestamp: ts, seq, supersededAt: -1 };
    const applied = this.#apply(id, row, windowStart);
    if (applied !== false) {
      this.ctx.logChange?.(suffixed(id, [windowStart, seq]), bytes, ts, id + u64PairLatin1(windowStart, seq), row ?? undefined, applied === true ? undefined : applied);
    }
  }

  /** The row of `rows` (one key's) for this window start (the first, with duplicates). */
  #rowOf(rows: readonly WindowRow[] | undefined, windowStart: number): WindowRow | undefined {
    if (rows === undefined) return undefined;
    const row = rows[lowerBound(rows, windowStart)];
    return row?.start === windowStart ? row : undefined;
  }

  restore(key: Uint8Array, value: Uint8Array | null, timestamp: number): void {
    const { id, numbers } = unsuffixed(key, 2);
    this.#seq = Math.max(this.#seq, numbers[1]!);
    const row: WindowRow | null = value === null ? null : { start: numbers[0]!, value: owned(value), timestamp, seq: numbers[1]!, supersededAt: -1 };
    if (this.#apply(id, row, numbers[0]!) === false) this.ctx.expired?.(key);
  }

  /**
   * Applies a write: false when the window is already expired (nothing stored, nothing to log),
   * else the row it replaced or deleted, or true if none.
   */
  #apply(id: string, row: WindowRow | null, windowStart: number): WindowRow | boolean {
    if (windowStart > this.#observedStreamTime) {
      this.#observedStreamTime = windowStart;
      this.#evictExpired();
    }
    if (windowStart <= this.#expiredUpTo()) return false;
    let rows = this.#rows.get(id);
    if (row === null) {
      if (rows === undefined) return true;
      const at = lowerBound(rows, windowStart);
      const old = rows[at];
      if (old?.start !== windowStart) return true;
      rows.splice(at, 1);
      if (rows.length === 0) this.#rows.delete(id);
      return old;
    }
    if (rows === undefined) {
      rows = [];
      this.#rows.set(id, rows);
    }
    if (this.#retainDuplicates) {
      rows.splice(lowerBound(rows, windowStart + 1), 0, row);
    } else {
      const at = lowerBound(rows, windowStart);
      // An update of a row: its key is already indexed under its start.
      const old = rows[at];
      if (old?.start === windowStart) {
        rows[at] = row;
        return old;
      }
      rows.splice(at, 0, row);
    }
    let ids = this.#byStart.get(windowStart);
    if (ids === undefined) {
      this.#byStart.set(windowStart, (ids = []));
      this.#starts.splice(lowerBound(this.#starts, windowStart), 0, { start: windowStart });
    }
    ids.push(id);
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
        for (let i = 0; i < cut; i++) {
          const old = rows[i]!;
          this.ctx.expired?.(suffixed(id, [old.start, old.seq]), id + u64PairLatin1(old.start, old.seq), old);
        }
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
    const row = this.#rowOf(this.#rows.get(this.id(key)), windowStart);
    return row === undefined ? undefined : { value: this.decode(row.value), timestamp: row.timestamp };
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
