/**
 * Aggregation processors: grouped streams, grouped tables, and suppression.
 * Windowed aggregations live in windowed-aggregate.ts.
 */
import type { Change, KeyValueStore } from '../../engine/index.ts';
import { setFlushListener, type CacheFlush } from '../../engine/state/record-cache.ts';
import { Base, recordWith, StoreProcessor, type Ctx, type Rec } from './processors.ts';

/**
 * A key-value aggregation's store with the record cache: true if it caches, and then the cache's
 * flushes are forwarded as the aggregation's updates (Kafka Streams' TimestampedTupleForwarder).
 */
function forwardFlushes(ctx: Ctx, store: KeyValueStore<unknown, unknown>): boolean {
  return setFlushListener(store, (flush: CacheFlush) =>
    ctx.forward({
      key: flush.key,
      value: { newValue: flush.newValue, oldValue: flush.oldValue } satisfies Change<unknown>,
      timestamp: flush.timestamp,
      ...(flush.headers !== undefined && { headers: flush.headers }),
    }),
  );
}

/** The aggregation a grouped stream applies: `init` for a new key, then `add` per record. */
export interface StreamAggregation {
  readonly init: () => unknown;
  readonly add: (key: unknown, value: unknown, aggregate: unknown) => unknown;
}

/** KGroupedStream count/reduce/aggregate: one row per key, updated per record. */
export class StreamAggregateProcessor extends StoreProcessor<KeyValueStore<unknown, unknown>> {
  readonly #agg: StreamAggregation;
  #cached = false;

  constructor(storeName: string, agg: StreamAggregation) {
    super(storeName);
    this.#agg = agg;
  }

  override init(ctx: Ctx): void {
    super.init(ctx);
    this.#cached = forwardFlushes(ctx, this.store);
  }

  process(record: Rec): void {
    if (record.key === null || record.key === undefined) {
      this.ctx.recordDropped('null-key');
      return;
    }
    if (record.value === null || record.value === undefined) {
      this.ctx.recordDropped('null-value');
      return;
    }
    const old = this.store.getWithTimestamp(record.key);
    const oldValue = old?.value ?? null;
    const newValue = this.#agg.add(record.key, record.value, old === undefined ? this.#agg.init() : old.value);
    // The result's timestamp is the highest of the inputs that made it.
    const timestamp = old === undefined ? record.timestamp : Math.max(record.timestamp, old.timestamp);
    this.store.put(record.key, newValue, timestamp);
    if (!this.#cached) this.ctx.forward(recordWith(record, record.key, { newValue, oldValue } satisfies Change<unknown>, timestamp));
  }
}

/** What travels through a table groupBy's repartition topic: the row to add and/or the row to remove. */
export interface TableDelta {
  readonly add?: unknown;
  readonly remove?: unknown;
}

/**
 * KTable.groupBy: maps each change to the new grouping. The old row is subtracted from its old
 * group and the new row added to its new group; when both land in the same group they travel as
 * one record, so the aggregate never shows the intermediate state (KIP-904).
 */
export class TableGroupByProcessor extends Base {
  readonly #selector: (key: unknown, value: unknown) => readonly [unknown, unknown];

  constructor(selector: (key: unknown, value: unknown) => readonly [unknown, unknown]) {
    super();
    this.#selector = selector;
  }

  process(record: Rec): void {
    const change = record.value as Change<unknown>;
    // A pair takes part only if it, its key and its value are all present (as in Kafka Streams).
    const select = (row: unknown) => {
      if (row === null || row === undefined) return undefined;
      const pair = this.#selector(record.key, row);
      const missing = (v: unknown) => v === null || v === undefined;
      return missing(pair) || missing(pair[0]) || missing(pair[1]) ? undefined : pair;
    };
    const next = select(change.newValue);
    const prev = select(change.oldValue);
    if (next !== undefined && prev !== undefined && sameKey(next[0], prev[0])) {
      this.ctx.forward(recordWith(record, next[0], { add: next[1], remove: prev[1] } satisfies TableDelta));
      return;
    }
    if (prev !== undefined) this.ctx.forward(recordWith(record, prev[0], { remove: prev[1] } satisfies TableDelta));
    if (next !== undefined) this.ctx.forward(recordWith(record, next[0], { add: next[1] } satisfies TableDelta));
  }
}

function sameKey(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

export interface TableAggregation {
  readonly init: () => unknown;
  readonly add: (key: unknown, value: unknown, aggregate: unknown) => unknown;
  readonly remove: (key: unknown, value: unknown, aggregate: unknown) => unknown;
  /** reduce(): the first row of a group is the aggregate; a group whose rows are all gone is deleted. */
  readonly reduce: boolean;
}

/** KGroupedTable count/reduce/aggregate: subtract the old row, then add the new one. */
export class TableAggregateProcessor extends StoreProcessor<KeyValueStore<unknown, unknown>> {
  readonly #agg: TableAggregation;
  #cached = false;

  constructor(storeName: string, agg: TableAggregation) {
    super(storeName);
    this.#agg = agg;
  }

  override init(ctx: Ctx): void {
    super.init(ctx);
    this.#cached = forwardFlushes(ctx, this.store);
  }

  process(record: Rec): void {
    if (record.key === null || record.key === undefined) {
      this.ctx.recordDropped('null-key');
      return;
    }
    const delta = record.value as TableDelta;
    const old = this.store.getWithTimestamp(record.key);
    const oldValue = old?.value ?? null;
    let value: unknown = old === undefined ? (this.#agg.reduce ? null : this.#agg.init()) : old.value;
    if ('remove' in delta && value !== null) {
      value = this.#agg.remove(record.key, delta.remove, value);
    }
    if ('add' in delta) {
      value = this.#agg.reduce && value === null ? delta.add : this.#agg.add(record.key, delta.add, value);
    }
    const newValue = value ?? null;
    const timestamp = old === undefined ? record.timestamp : Math.max(record.timestamp, old.timestamp);
    this.store.put(record.key, newValue, timestamp);
    if (this.#cached || (newValue === null && oldValue === null)) return;
    this.ctx.forward(recordWith(record, record.key, { newValue, oldValue } satisfies Change<unknown>, timestamp));
  }
}
