/**
 * Join processors: stream-stream (windowed), stream-table, stream-globalTable, table-table.
 * The user's joiner always receives (leftValue, rightValue, key), whichever side triggered it.
 */
import type { Change, CommittedTime, KeyValueStore, Serde, WindowStore } from '../../engine/index.ts';
import type { JoinWindows } from '../windows.ts';
import { Base, recordWith, type Ctx, type Rec, type ValueGetter, type ValueGetterSupplier } from './processors.ts';

export type Joiner = (left: unknown, right: unknown, key: unknown) => unknown;

// ---------------------------------------------------------------------------------------------
// Stream-stream join

const LEFT = 1;
const RIGHT = 0;

/** Key of a record waiting for a partner: ordered by timestamp, then side (right first), then key bytes. */
export interface PendingKey {
  readonly timestamp: number;
  readonly side: typeof LEFT | typeof RIGHT;
  readonly key: unknown;
}

export function pendingKeySerde(keySerde: Serde<unknown>): Serde<PendingKey> {
  return {
    serialize(value, topic) {
      const key = keySerde.serialize(value.key, topic);
      const out = new Uint8Array(9 + key.byteLength);
      const view = new DataView(out.buffer);
      view.setUint32(0, Math.floor(value.timestamp / 2 ** 32));
      view.setUint32(4, value.timestamp % 2 ** 32);
      out[8] = value.side;
      out.set(key, 9);
      return out;
    },
    deserialize(data, topic) {
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      const timestamp = view.getUint32(0) * 2 ** 32 + view.getUint32(4);
      const side = data[8] === LEFT ? LEFT : RIGHT;
      return { timestamp, side, key: keySerde.deserialize(data.subarray(9), topic) };
    },
  };
}

export interface StreamJoinSideConfig {
  readonly side: 'left' | 'right';
  readonly windows: JoinWindows;
  readonly thisStore: string;
  readonly otherStore: string;
  /** The store of records still waiting for a partner (left and outer joins), shared by both sides. */
  readonly pendingStore: string | undefined;
  /** Whether an unmatched record of this side is emitted with a null partner. */
  readonly outer: boolean;
  readonly joiner: Joiner;
}

/**
 * One side of a stream-stream join. A record joins the other side's records in its window,
 * then is buffered in its own side's window store. In a left or outer join an unmatched record
 * waits in the pending store and is emitted with a null partner only once its window has closed
 * (KIP-633): a left record at tl when tl + after + grace < stream time, a right record at tr when
 * tr + before + grace < stream time.
 */
export class StreamStreamJoinProcessor extends Base {
  readonly #config: StreamJoinSideConfig;
  #thisStore!: WindowStore<unknown, unknown>;
  #otherStore!: WindowStore<unknown, unknown>;
  #pending: KeyValueStore<PendingKey, unknown[]> | undefined;
  /**
   * Time shared by both sides of the join in this task: the highest timestamp either side saw.
   * Committed with the task's offsets (named after the left side's store, unique per join), so
   * after a restart unmatched records are emitted exactly when they would have been.
   */
  #time!: CommittedTime;

  constructor(config: StreamJoinSideConfig) {
    super();
    this.#config = config;
  }

  override init(ctx: Ctx): void {
    super.init(ctx);
    const c = this.#config;
    this.#thisStore = ctx.getStateStore(c.thisStore);
    this.#otherStore = ctx.getStateStore(c.otherStore);
    if (c.pendingStore !== undefined) this.#pending = ctx.getStateStore(c.pendingStore);
    this.#time = ctx.committedTime(`${c.side === 'left' ? c.thisStore : c.otherStore}:observed`);
  }

  #join(thisValue: unknown, otherValue: unknown, key: unknown): unknown {
    return this.#config.side === 'left'
      ? this.#config.joiner(thisValue, otherValue, key)
      : this.#config.joiner(otherValue, thisValue, key);
  }

  process(record: Rec): void {
    const { side, windows, outer } = this.#config;
    const t = record.timestamp;
    this.#time.advance(t);
    if (record.key === null || record.key === undefined) {
      if (outer && record.value !== null && record.value !== undefined) {
        this.ctx.forward(recordWith(record, record.key, this.#join(record.value, null, record.key)));
      } else {
        this.ctx.recordDropped('null-key');
      }
      return;
    }
    if (record.value === null || record.value === undefined) {
      this.ctx.recordDropped('null-value');
      return;
    }
    if (t === this.#time.value) this.#emitExpired();
    // A left record at t joins right records in [t - before, t + after]; a right record the mirror.
    const before = side === 'left' ? windows.beforeMs : windows.afterMs;
    const after = side === 'left' ? windows.afterMs : windows.beforeMs;
    const from = Math.max(0, t - before);
    const to = Math.max(0, t + after);
    const matches = this.#otherStore.fetch(record.key, from, to);
    const otherSide = side === 'left' ? RIGHT : LEFT;
    for (const match of matches) {
      const matchTime = match.window.start;
      this.#pending?.delete({ timestamp: matchTime, side: otherSide, key: record.key });
      this.ctx.forward(recordWith(record, record.key, this.#join(record.value, match.value, record.key), Math.max(t, match.timestamp)));
    }
    if (outer && matches.length === 0) {
      if (this.#pending === undefined || to < this.#time.value) {
        this.ctx.forward(recordWith(record, record.key, this.#join(record.value, null, record.key)));
      } else {
        const pendingKey: PendingKey = { timestamp: t, side: side === 'left' ? LEFT : RIGHT, key: record.key };
        const waiting = this.#pending.get(pendingKey) ?? [];
        waiting.push(record.value);
        this.#pending.put(pendingKey, waiting, t);
      }
    }
    this.#thisStore.put(record.key, record.value, t, t);
  }

  /** Emits, in timestamp order, every waiting record whose join window has closed. */
  #emitExpired(): void {
    if (this.#pending === undefined) return;
    const { beforeMs, afterMs, graceMs } = this.#config.windows;
    const now = this.#time.value;
    const horizon = Math.min(beforeMs, afterMs);
    for (const { key: pendingKey, value: values } of this.#pending.all()) {
      const { timestamp, side, key } = pendingKey;
      if (timestamp + horizon + graceMs >= now) break; // this and every later entry are still open
      const lookahead = side === LEFT ? afterMs : beforeMs;
      if (timestamp + lookahead + graceMs >= now) continue;
      for (const value of values) {
        const joined = side === LEFT ? this.#config.joiner(value, null, key) : this.#config.joiner(null, value, key);
        this.ctx.forward({ key, value: joined, timestamp });
      }
      this.#pending.delete(pendingKey);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Stream-table and stream-globalTable joins

/**
 * Joins each stream record with the table row for its key as the table is when the record
 * arrives. Table updates never produce output. A left join keeps records without a row (and,
 * as in Kafka Streams since KIP-962, records with a null key).
 */
export class StreamTableJoinProcessor extends Base {
  readonly #table: ValueGetterSupplier;
  readonly #keySelector: ((key: unknown, value: unknown) => unknown) | undefined;
  readonly #joiner: Joiner;
  readonly #left: boolean;
  #getter!: ValueGetter;

  constructor(table: ValueGetterSupplier, joiner: Joiner, left: boolean, keySelector?: (key: unknown, value: unknown) => unknown) {
    super();
    this.#table = table;
    this.#joiner = joiner;
    this.#left = left;
    this.#keySelector = keySelector;
  }

  override init(ctx: Ctx): void {
    super.init(ctx);
    this.#getter = this.#table.create(ctx);
  }

  process(record: Rec): void {
    if (record.value === null || record.value === undefined) {
      this.ctx.recordDropped('null-value');
      return;
    }
    this.join(record);
  }

  /** Joins a record with a non-null value against the table and forwards the result. */
  protected join(record: Rec): void {
    const tableKey = this.#keySelector === undefined ? record.key : this.#keySelector(record.key, record.value);
    if (tableKey === null || tableKey === undefined) {
      if (this.#left && this.#keySelector === undefined) {
        this.ctx.forward(recordWith(record, record.key, this.#joiner(record.value, null, record.key)));
      } else {
        this.ctx.recordDropped('null-key');
      }
      return;
    }
    // A versioned table is read as of the record's time (KIP-914), any other as it is now.
    const row = this.#getter.getAsOf === undefined ? this.#getter.get(tableKey) : this.#getter.getAsOf(tableKey, record.timestamp);
    if (row === undefined && !this.#left) return;
    this.ctx.forward(recordWith(record, record.key, this.#joiner(record.value, row?.value ?? null, record.key)));
  }
}

// ---------------------------------------------------------------------------------------------
// Table-table join

export type TableJoinKind = 'inner' | 'left' | 'outer';

/**
 * One side of a table-table join: on a change of this side's row, reads the other side's current
 * row and forwards the change of the joined row. `kind` is seen from the left table: in a left join
 * the right side's processor emits only while a left row exists.
 */
export class TableTableJoinProcessor extends Base {
  readonly #side: 'left' | 'right';
  readonly #kind: TableJoinKind;
  readonly #other: ValueGetterSupplier;
  readonly #joiner: Joiner;
  #getter!: ValueGetter;

  constructor(side: 'left' | 'right', kind: TableJoinKind, other: ValueGetterSupplier, joiner: Joiner) {
    super();
    this.#side = side;
    this.#kind = kind;
    this.#other = other;
    this.#joiner = joiner;
  }

  override init(ctx: Ctx): void {
    super.init(ctx);
    this.#getter = this.#other.create(ctx);
  }

  #join(thisValue: unknown, otherValue: unknown, key: unknown): unknown {
    return this.#side === 'left' ? this.#joiner(thisValue, otherValue, key) : this.#joiner(otherValue, thisValue, key);
  }

  process(record: Rec): void {
    if (record.key === null || record.key === undefined) {
      this.ctx.recordDropped('null-key');
      return;
    }
    const { newValue, oldValue } = record.value as Change<unknown>;
    const otherRow = this.#getter.get(record.key);
    const other = otherRow?.value ?? null;
    const timestamp = otherRow === undefined ? record.timestamp : Math.max(record.timestamp, otherRow.timestamp);
    const join = (mine: unknown) => this.#join(mine, other, record.key);
    let joinedNew: unknown;
    let joinedOld: unknown;
    if (this.#kind === 'inner') {
      if (other === null) return;
      joinedNew = newValue === null ? null : join(newValue);
      joinedOld = oldValue === null ? null : join(oldValue);
    } else if (this.#kind === 'left' && this.#side === 'right') {
      // Without a left row there is no joined row; a right row going away leaves joiner(left, null).
      if (other === null) return;
      joinedNew = join(newValue);
      joinedOld = join(oldValue);
    } else if (this.#kind === 'left') {
      if (other === null && newValue === null && oldValue === null) return;
      joinedNew = newValue === null ? null : join(newValue);
      joinedOld = oldValue === null ? null : join(oldValue);
    } else {
      // Outer: a joined row exists while either side has a row.
      if (other === null && newValue === null && oldValue === null) return;
      joinedNew = other !== null || newValue !== null ? join(newValue) : null;
      joinedOld = other !== null || oldValue !== null ? join(oldValue) : null;
    }
    this.ctx.forward({ key: record.key, value: { newValue: joinedNew, oldValue: joinedOld } satisfies Change<unknown>, timestamp });
  }
}

/** The value getter of a joined table: joins the two sides' current rows on read. */
export function joinedGetter(left: ValueGetterSupplier, right: ValueGetterSupplier, kind: TableJoinKind, joiner: Joiner): ValueGetterSupplier {
  return {
    stores: [...left.stores, ...right.stores],
    create(ctx) {
      const l = left.create(ctx);
      const r = right.create(ctx);
      return {
        get(key) {
          const lv = l.get(key);
          const rv = r.get(key);
          if (lv === undefined && (kind !== 'outer' || rv === undefined)) return undefined;
          if (rv === undefined && kind === 'inner') return undefined;
          const timestamp = Math.max(lv?.timestamp ?? 0, rv?.timestamp ?? 0);
          return { value: joiner(lv?.value ?? null, rv?.value ?? null, key), timestamp };
        },
      };
    },
  };
}
