/** In-memory session store: sessions per key, with an index by end time for merging and expiry. */
import type { Windowed } from '../record.ts';
import type { Serde } from '../serde.ts';
import type { SessionEntry, SessionStore } from './store.ts';
import type { RestorableStore, StoreContext } from './store-context.ts';
import { InMemoryStoreBase, suffixed, u64PairLatin1, unsuffixed } from './in-memory-base.ts';
import { owned } from '../internals/bytes.ts';

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
  /** The timestamp it was logged with: the row object is the local mirror's too. */
  readonly timestamp: number;
  /** The local mirror's (LocalStateDb.logRow); here so that every row has one shape. */
  supersededAt: number;
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
    const timestamp = this.ctx.recordTimestamp();
    const row: SessionRow | null = bytes === null ? null : { start, end, value: bytes, timestamp, supersededAt: -1 };
    const applied = this.#apply(id, start, end, row);
    if (applied !== false) {
      this.ctx.logChange?.(suffixed(id, [end, start]), bytes, timestamp, id + u64PairLatin1(end, start), row ?? undefined, applied === true ? undefined : applied);
    }
  }

  remove(key: Windowed<K>): void {
    this.put(key, null as V);
  }

  restore(key: Uint8Array, value: Uint8Array | null, timestamp = 0): void {
    const { id, numbers } = unsuffixed(key, 2);
    const [end, start] = numbers as [number, number];
    if (this.#apply(id, start, end, value === null ? null : { start, end, value: owned(value), timestamp, supersededAt: -1 }) === false) this.ctx.expired?.(key);
  }

  /** Applies a write: false when the session is already expired, else the row it replaced or deleted, or true if none. */
  #apply(id: string, start: number, end: number, row: SessionRow | null): SessionRow | boolean {
    this.check();
    this.#observedStreamTime = Math.max(this.#observedStreamTime, end);
    if (row === null) {
      const rows = this.#rows.get(id);
      const at = rows === undefined ? -1 : rows.findIndex((r) => r.start === start && r.end === end);
      let old: SessionRow | boolean = true;
      if (at !== -1) {
        old = rows![at]!;
        rows!.splice(at, 1);
        if (rows!.length === 0) this.#rows.delete(id);
        this.#unindex(end, id, start);
      }
      this.#evict();
      return old;
    }
    if (end <= this.#expiredUpTo()) return false;
    let rows = this.#rows.get(id);
    if (rows === undefined) {
      rows = [];
      this.#rows.set(id, rows);
    }
    const at = rows.findIndex((r) => r.end > end || (r.end === end && r.start >= start));
    let old: SessionRow | boolean = true;
    if (at !== -1 && rows[at]!.end === end && rows[at]!.start === start) {
      old = rows[at]!;
      rows[at] = row;
    } else {
      if (at === -1) rows.push(row);
      else rows.splice(at, 0, row);
      this.#index(end, id, start);
    }
    this.#evict();
    return old;
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
        const old = rows![at]!;
        rows!.splice(at, 1);
        if (rows!.length === 0) this.#rows.delete(id);
        this.ctx.expired?.(suffixed(id, [end, start]), id + u64PairLatin1(end, start), old);
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
    const out: SessionEntry<K, V>[] = [];
    const rows = this.#rows.get(this.id(key));
    if (rows === undefined) return out;
    const floor = Math.max(earliestSessionEndTime, this.#expiredUpTo() + 1);
    // A loop, not filter + map: this runs for every record of a session aggregation.
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      if (r.end >= floor && r.start <= latestSessionStartTime) out.push({ key: { key, window: { start: r.start, end: r.end } }, value: this.decode(r.value) });
    }
    return out;
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
