/**
 * The processors behind the stateless DSL operators and the table operators, one small class
 * each. DSL internals work on `unknown`; the public KStream/KTable types carry the real types.
 */
import type {
  AnyStore,
  Change,
  KeyValueStore,
  Processor,
  ProcessorContext,
  SessionStore,
  StreamRecord,
  ValueAndTimestamp,
  Windowed,
  WindowStore,
} from '../../engine/index.ts';

export type Rec = StreamRecord<unknown, unknown>;
export type Ctx = ProcessorContext<unknown, unknown>;
export type Fn2<R> = (a: unknown, b: unknown) => R;

/**
 * A record derived from `record`: its headers (if any), a new key and value, its timestamp unless
 * another is given. A literal rather than a spread: the hottest allocation of the DSL's operators.
 */
export function recordWith(record: Rec, key: unknown, value: unknown, timestamp: number = record.timestamp): Rec {
  const headers = record.headers;
  return headers === undefined ? { key, value, timestamp } : { key, value, timestamp, headers };
}

/** A processor with the context kept; subclasses implement `process`. */
export abstract class Base implements Processor<unknown, unknown, unknown, unknown> {
  protected ctx!: Ctx;

  init(ctx: Ctx): void {
    this.ctx = ctx;
  }

  abstract process(record: Rec): void;
}

/** A processor that owns one store, looked up in init. */
export abstract class StoreProcessor<S extends AnyStore> extends Base {
  protected store!: S;
  readonly #storeName: string;

  constructor(storeName: string) {
    super();
    this.#storeName = storeName;
  }

  override init(ctx: Ctx): void {
    super.init(ctx);
    this.store = ctx.getStateStore<S>(this.#storeName);
  }
}

export class FilterProcessor extends Base {
  readonly #predicate: Fn2<boolean>;
  readonly #negate: boolean;

  constructor(predicate: Fn2<boolean>, negate: boolean) {
    super();
    this.#predicate = predicate;
    this.#negate = negate;
  }

  process(record: Rec): void {
    if (Boolean(this.#predicate(record.key, record.value)) !== this.#negate) this.ctx.forward(record);
  }
}

export class MapProcessor extends Base {
  readonly #mapper: Fn2<readonly [unknown, unknown]>;

  constructor(mapper: Fn2<readonly [unknown, unknown]>) {
    super();
    this.#mapper = mapper;
  }

  process(record: Rec): void {
    const [key, value] = this.#mapper(record.key, record.value);
    this.ctx.forward(recordWith(record, key, value));
  }
}

/** mapValues and selectKey: `mapper(key, value)` gives the new value, or the new key. */
export class MapOneProcessor extends Base {
  readonly #mapper: Fn2<unknown>;
  readonly #field: 'key' | 'value';

  constructor(field: 'key' | 'value', mapper: Fn2<unknown>) {
    super();
    this.#field = field;
    this.#mapper = mapper;
  }

  process(record: Rec): void {
    const out = this.#mapper(record.key, record.value);
    this.ctx.forward(this.#field === 'key' ? recordWith(record, out, record.value) : recordWith(record, record.key, out));
  }
}

export class FlatMapProcessor extends Base {
  readonly #mapper: Fn2<Iterable<readonly [unknown, unknown]>>;

  constructor(mapper: Fn2<Iterable<readonly [unknown, unknown]>>) {
    super();
    this.#mapper = mapper;
  }

  process(record: Rec): void {
    for (const [key, value] of this.#mapper(record.key, record.value)) this.ctx.forward(recordWith(record, key, value));
  }
}

export class FlatMapValuesProcessor extends Base {
  readonly #mapper: Fn2<Iterable<unknown>>;

  constructor(mapper: Fn2<Iterable<unknown>>) {
    super();
    this.#mapper = mapper;
  }

  process(record: Rec): void {
    for (const value of this.#mapper(record.key, record.value)) this.ctx.forward(recordWith(record, record.key, value));
  }
}

/** peek (forwards) and foreach (terminal). */
export class PeekProcessor extends Base {
  readonly #action: Fn2<void>;
  readonly #forward: boolean;

  constructor(action: Fn2<void>, forward: boolean) {
    super();
    this.#action = action;
    this.#forward = forward;
  }

  process(record: Rec): void {
    this.#action(record.key, record.value);
    if (this.#forward) this.ctx.forward(record);
  }
}

export class PassThroughProcessor extends Base {
  process(record: Rec): void {
    this.ctx.forward(record);
  }
}

/** split(): each record goes to the first branch whose predicate holds, else to the default branch. */
export class BranchProcessor extends Base {
  readonly #branches: readonly { predicate: Fn2<boolean>; child: string }[];
  readonly #defaultChild: string | undefined;

  constructor(branches: readonly { predicate: Fn2<boolean>; child: string }[], defaultChild: string | undefined) {
    super();
    this.#branches = branches;
    this.#defaultChild = defaultChild;
  }

  process(record: Rec): void {
    for (const b of this.#branches) {
      if (b.predicate(record.key, record.value)) {
        this.ctx.forward(record, b.child);
        return;
      }
    }
    if (this.#defaultChild !== undefined) this.ctx.forward(record, this.#defaultChild);
  }
}

// ---------------------------------------------------------------------------------------------
// Tables. A table processor forwards Change records: { newValue, oldValue } for one key.

/** Reads the current row of a table, materialized or not. */
export interface ValueGetter {
  get(key: unknown): ValueAndTimestamp<unknown> | undefined;
  /** Versioned tables: the row as of `timestamp` (stream-table joins read this when it exists). */
  getAsOf?(key: unknown, timestamp: number): ValueAndTimestamp<unknown> | undefined;
}

/** How to build a table's value getter inside a task, and which stores it reads. */
export interface ValueGetterSupplier {
  readonly stores: readonly string[];
  /** Set for versioned tables (and tables derived from one without a store of their own). */
  readonly historyRetentionMs?: number;
  create(ctx: Ctx): ValueGetter;
}

export function storeGetter(storeName: string, kind: 'key-value' | 'window' | 'session'): ValueGetterSupplier {
  return {
    stores: [storeName],
    create(ctx) {
      if (kind === 'key-value') {
        const store = ctx.getStateStore<KeyValueStore<unknown, unknown>>(storeName);
        return { get: (key) => store.getWithTimestamp(key) };
      }
      if (kind === 'window') {
        const store = ctx.getStateStore<WindowStore<unknown, unknown>>(storeName);
        return { get: (key) => store.fetchWithTimestamp((key as Windowed<unknown>).key, (key as Windowed<unknown>).window.start) };
      }
      const store = ctx.getStateStore<SessionStore<unknown, unknown>>(storeName);
      return {
        get(key) {
          const w = key as Windowed<unknown>;
          const value = store.fetchSession(w.key, w.window.start, w.window.end);
          return value === undefined ? undefined : { value, timestamp: w.window.end };
        },
      };
    },
  };
}

/** A getter that applies a row transformation (filter, mapValues) on top of the parent's getter. */
export function derivedGetter(parent: ValueGetterSupplier, transform: (key: unknown, value: unknown) => unknown): ValueGetterSupplier {
  return {
    stores: parent.stores,
    ...(parent.historyRetentionMs !== undefined && { historyRetentionMs: parent.historyRetentionMs }),
    create(ctx) {
      const inner = parent.create(ctx);
      const derive = (key: unknown, row: ValueAndTimestamp<unknown> | undefined) => {
        if (row === undefined) return undefined;
        const value = transform(key, row.value);
        return value === null || value === undefined ? undefined : { value, timestamp: row.timestamp };
      };
      const getAsOf = inner.getAsOf;
      return {
        get: (key) => derive(key, inner.get(key)),
        ...(getAsOf !== undefined && { getAsOf: (key: unknown, timestamp: number) => derive(key, getAsOf.call(inner, key, timestamp)) }),
      };
    },
  };
}

function changeOf(record: Rec): Change<unknown> {
  return record.value as Change<unknown>;
}

/**
 * Materializes a changelog stream into a table: table(), toTable() and a materialized filter or
 * mapValues all end here. Keeps the row, forwards the change with the row it replaced.
 */
export class TableSourceProcessor extends StoreProcessor<KeyValueStore<unknown, unknown>> {
  /** True when the input is a plain stream of values (table(), toTable()), not of changes. */
  readonly #fromStream: boolean;

  constructor(storeName: string, fromStream: boolean) {
    super(storeName);
    this.#fromStream = fromStream;
  }

  process(record: Rec): void {
    if (record.key === null || record.key === undefined) {
      this.ctx.recordDropped('null-key');
      return;
    }
    const newValue = this.#fromStream ? record.value : changeOf(record).newValue;
    const old = this.store.get(record.key) ?? null;
    this.store.put(record.key, newValue ?? null, record.timestamp);
    if (old === null && (newValue === null || newValue === undefined)) return; // deleting nothing
    this.ctx.forward(recordWith(record, record.key, { newValue: newValue ?? null, oldValue: old } satisfies Change<unknown>));
  }
}

/** KTable.filter / filterNot: rows that fail the predicate become deletes. */
export class TableFilterProcessor extends Base {
  readonly #keep: (key: unknown, value: unknown) => boolean;

  constructor(keep: (key: unknown, value: unknown) => boolean) {
    super();
    this.#keep = keep;
  }

  process(record: Rec): void {
    const change = changeOf(record);
    const apply = (v: unknown) => (v !== null && v !== undefined && this.#keep(record.key, v) ? v : null);
    const newValue = apply(change.newValue);
    const oldValue = apply(change.oldValue);
    if (newValue === null && oldValue === null) return;
    this.ctx.forward(recordWith(record, record.key, { newValue, oldValue }));
  }
}

/** KTable.mapValues. */
export class TableMapValuesProcessor extends Base {
  readonly #mapper: (value: unknown, key: unknown) => unknown;

  constructor(mapper: (value: unknown, key: unknown) => unknown) {
    super();
    this.#mapper = mapper;
  }

  process(record: Rec): void {
    const change = changeOf(record);
    const apply = (v: unknown) => (v === null || v === undefined ? null : this.#mapper(v, record.key));
    this.ctx.forward(recordWith(record, record.key, { newValue: apply(change.newValue), oldValue: apply(change.oldValue) }));
  }
}

/** KTable.toStream: the new value of each change (null for a delete). */
export class TableToStreamProcessor extends Base {
  process(record: Rec): void {
    this.ctx.forward(recordWith(record, record.key, changeOf(record).newValue));
  }
}

/** Materializes a non-source table (a filter or mapValues with a store): keeps the new row. */
export class TableMaterializeProcessor extends StoreProcessor<KeyValueStore<unknown, unknown>> {
  process(record: Rec): void {
    this.store.put(record.key, changeOf(record).newValue, record.timestamp);
    this.ctx.forward(record);
  }
}
