import { Serdes, TopologyError, type Serde, type Windowed } from '../engine/index.ts';
import type { Grouped, Named, StatefulOptions } from './options.ts';
import type { Suppressed } from './suppressed.ts';
import { handleOf, internal } from './internals/symbols.ts';
import { type BuilderState, fallbackSerde, materializedOf } from './internals/builder-state.ts';
import {
  TableFilterProcessor,
  TableMapValuesProcessor,
  TableMaterializeProcessor,
  TableToStreamProcessor,
  PassThroughProcessor,
  TableSourceProcessor,
  derivedGetter,
  storeGetter,
  type ValueGetterSupplier,
} from './internals/processors.ts';
import { TableAggregateProcessor, TableGroupByProcessor, type TableAggregation } from './internals/aggregate.ts';
import { SuppressProcessor, bufferedSerde } from './internals/suppress.ts';
import { TableTableJoinProcessor, joinedGetter, type Joiner, type TableJoinKind } from './internals/joins.ts';
import {
  ForeignChangeProcessor,
  ResponseJoinProcessor,
  SubscriptionJoinProcessor,
  SubscriptionSendProcessor,
  bytesSerde,
  responseSerde,
  subscriptionKeySerde,
  subscriptionSerde,
  type SubscriptionResponse,
} from './internals/foreign-key-join.ts';
import { KStream } from './kstream.ts';

/** Internal state of a table handle. */
export interface TableHandle<K, V> {
  readonly state: BuilderState;
  /** The node that forwards this table's changes. */
  readonly node: string;
  readonly keySerde: Serde<K> | undefined;
  readonly valueSerde: Serde<V> | undefined;
  /** How a processor reads the table's current row for a key. */
  readonly getter: ValueGetterSupplier;
  /** The queryable store holding this table, if it is materialized. */
  readonly storeName: string | undefined;
  readonly sources: readonly string[];
  /** For windowed aggregation results: how long after a window's end its result is final. */
  readonly windowCloseMs: number | undefined;
}

/**
 * A changelog viewed as a table: the latest value per key; a null value deletes the row.
 *
 * @example
 * const profiles = builder.table('profiles', { key: Serdes.string(), value: Serdes.json<Profile>() });
 * const adults = profiles.filter((_, p) => p.age >= 18, { materialized: 'adults' });
 */
type Extract = (value: unknown, key: unknown) => unknown;

export class KTable<K, V> {
  readonly #h: TableHandle<K, V>;

  constructor(_: typeof internal, handle: TableHandle<K, V>) {
    this.#h = handle;
    Object.freeze(this);
  }

  get [handleOf](): TableHandle<K, V> {
    return this.#h;
  }

  /** The name of the store that holds this table, when it is materialized (queryable). */
  queryableStoreName(): string | undefined {
    return this.#h.storeName;
  }

  /**
   * Adds a row transformation. Materialized (a store name given): the result is stored and
   * readable by name; otherwise readers apply the transformation to the parent's rows.
   */
  #derive<V2>(
    prefix: string,
    options: StatefulOptions<K, V2>,
    processor: () => TableFilterProcessor | TableMapValuesProcessor,
    transform: (key: unknown, value: unknown) => unknown,
    valueSerde: Serde<V2> | undefined,
  ): KTable<K, V2> {
    const state = this.#h.state;
    const node = state.processor(prefix, [this.#h.node], options.name, processor);
    if (options.materialized === undefined) {
      return new KTable<K, V2>(internal, { ...this.#h, node, valueSerde, getter: derivedGetter(this.#h.getter, transform), storeName: undefined } as TableHandle<K, V2>);
    }
    const m = materializedOf(options.materialized);
    const storeName = m.storeName ?? `${node}-store`;
    const materialize = state.processor(`${prefix}-MATERIALIZE`, [node], `${node}-materialize`, () => new TableMaterializeProcessor(storeName));
    state.store('key-value', node, { ...m, storeName }, this.#h.keySerde as Serde<unknown>, (m.value ?? valueSerde) as Serde<unknown>, undefined, [materialize]);
    return new KTable<K, V2>(internal, {
      ...this.#h,
      node: materialize,
      valueSerde: (m.value ?? valueSerde) as Serde<V2> | undefined,
      getter: storeGetter(storeName, 'key-value'),
      storeName,
    } as TableHandle<K, V2>);
  }

  filter(predicate: (key: K, value: V) => boolean, options: StatefulOptions<K, V> = {}): KTable<K, V> {
    const keep = predicate as (k: unknown, v: unknown) => boolean;
    return this.#derive('KTABLE-FILTER', options, () => new TableFilterProcessor(keep), (k, v) => (keep(k, v) ? v : null), this.#h.valueSerde);
  }

  filterNot(predicate: (key: K, value: V) => boolean, options: StatefulOptions<K, V> = {}): KTable<K, V> {
    const keep = (k: unknown, v: unknown) => !predicate(k as K, v as V);
    return this.#derive('KTABLE-FILTER', options, () => new TableFilterProcessor(keep), (k, v) => (keep(k, v) ? v : null), this.#h.valueSerde);
  }

  mapValues<V2>(mapper: (value: V, key: K) => V2, options: StatefulOptions<K, V2> = {}): KTable<K, V2> {
    const m = (v: unknown, k: unknown) => mapper(v as V, k as K);
    return this.#derive<V2>('KTABLE-MAPVALUES', options, () => new TableMapValuesProcessor(m), (k, v) => m(v, k), undefined);
  }

  /** The table's changes as a stream: each update's new value, null for a delete. */
  toStream(named?: Named): KStream<K, V | null> {
    const node = this.#h.state.processor('KTABLE-TOSTREAM', [this.#h.node], named?.name, () => new TableToStreamProcessor());
    return new KStream<K, V | null>(internal, {
      state: this.#h.state,
      node,
      keySerde: this.#h.keySerde,
      valueSerde: this.#h.valueSerde as Serde<V | null> | undefined,
      keyChanged: false,
      sources: this.#h.sources,
    });
  }

  /**
   * Holds back updates: `Suppressed.untilWindowCloses()` on a windowed aggregation emits each
   * window's final result once; `Suppressed.untilTimeLimit(ms)` rate-limits updates per key.
   */
  suppress(suppressed: Suppressed, named?: Named): KTable<K, V> {
    let wait = suppressed.timeToWaitMs;
    if (suppressed.type === 'until-window-closes') {
      if (this.#h.windowCloseMs === undefined) {
        throw new TopologyError(
          'INVALID_TOPOLOGY',
          'suppress(untilWindowCloses) needs a windowed aggregation upstream (windowedBy(...).count/reduce/aggregate)',
          named?.name,
        );
      }
      wait = this.#h.windowCloseMs;
    }
    const keySerde = (this.#h.keySerde ?? fallbackSerde) as Serde<unknown>;
    const valueSerde = bufferedSerde((this.#h.valueSerde ?? fallbackSerde) as Serde<unknown>);
    const { maxRecords, maxBytes, whenFull } = suppressed.buffer;
    // The buffer is a store of its own (`<node>-store`, with a changelog), named once the node is.
    let storeName = '';
    const node = this.#h.state.processor('KTABLE-SUPPRESS', [this.#h.node], named?.name, () =>
      new SuppressProcessor({
        mode: suppressed.type,
        waitMs: wait,
        maxRecords,
        maxBytes,
        emitEarly: whenFull === 'emit-early',
        storeName,
        keyId: (key) => Buffer.from(keySerde.serialize(key, storeName)).toString('latin1'),
        valueBytes: (value) => valueSerde.serialize(value, storeName).byteLength,
      }),
    );
    storeName = this.#h.state.store('key-value', node, {}, keySerde, valueSerde as Serde<unknown>, undefined, [node]).name;
    return new KTable<K, V>(internal, { ...this.#h, node, storeName: undefined });
  }

  /**
   * Foreign-key inner join (KIP-213): each row of this table joins the row of `other` whose key
   * `foreignKeyExtractor(value, key)` returns; a row exists while both exist. Results are keyed
   * and partitioned like this table. Runs through two internal topics and a subscription store on
   * `other`'s side; an answer about a value this row no longer has is dropped, so a foreign key
   * that changes quickly never leaves a stale result. An extractor returning null or undefined
   * drops the row from the join (counted as `null-foreign-key`).
   */
  join<KO, VO, VR>(
    other: KTable<KO, VO>,
    foreignKeyExtractor: (value: V, key: K) => KO | null | undefined,
    joiner: (value: V, otherValue: VO, key: K) => VR,
    options?: StatefulOptions<K, VR>,
  ): KTable<K, VR>;
  /** Inner join: a row exists while both tables have one for the key. */
  join<VO, VR>(other: KTable<K, VO>, joiner: (value: V, otherValue: VO, key: K) => VR, options?: StatefulOptions<K, VR>): KTable<K, VR>;
  join<KO, VO>(other: KTable<KO, VO>, a: (...args: never[]) => unknown, b?: unknown, c?: unknown): KTable<K, unknown> {
    if (typeof b === 'function') return this.#foreignKeyJoin(other as KTable<unknown, unknown>, a as Extract, b as Joiner, false, (c ?? {}) as StatefulOptions<K, unknown>);
    return this.#join(other as unknown as KTable<K, unknown>, 'inner', a as Joiner, (b ?? {}) as StatefulOptions<K, unknown>);
  }

  /**
   * Foreign-key left join (KIP-213): as the foreign-key `join`, but a row exists while this table
   * has one; `otherValue` is null when the foreign key is null or names no row of `other`.
   */
  leftJoin<KO, VO, VR>(
    other: KTable<KO, VO>,
    foreignKeyExtractor: (value: V, key: K) => KO | null | undefined,
    joiner: (value: V, otherValue: VO | null, key: K) => VR,
    options?: StatefulOptions<K, VR>,
  ): KTable<K, VR>;
  /** Left join: a row exists while this table has one; the other side may be null. */
  leftJoin<VO, VR>(other: KTable<K, VO>, joiner: (value: V, otherValue: VO | null, key: K) => VR, options?: StatefulOptions<K, VR>): KTable<K, VR>;
  leftJoin<KO, VO>(other: KTable<KO, VO>, a: (...args: never[]) => unknown, b?: unknown, c?: unknown): KTable<K, unknown> {
    if (typeof b === 'function') return this.#foreignKeyJoin(other as KTable<unknown, unknown>, a as Extract, b as Joiner, true, (c ?? {}) as StatefulOptions<K, unknown>);
    return this.#join(other as unknown as KTable<K, unknown>, 'left', a as Joiner, (b ?? {}) as StatefulOptions<K, unknown>);
  }

  /** Outer join: a row exists while either table has one. */
  outerJoin<VO, VR>(
    other: KTable<K, VO>,
    joiner: (value: V | null, otherValue: VO | null, key: K) => VR,
    options: StatefulOptions<K, VR> = {},
  ): KTable<K, VR> {
    return this.#join(other, 'outer', joiner as Joiner, options);
  }

  #join<VO, VR>(other: KTable<K, VO>, kind: TableJoinKind, joiner: Joiner, options: StatefulOptions<K, VR>): KTable<K, VR> {
    const state = this.#h.state;
    const o = other.#h;
    if (o.state !== state) throw new TopologyError('INVALID_TOPOLOGY', 'cannot join tables of two different builders', options.name);
    const prefix = `KTABLE-${kind.toUpperCase()}JOIN`;
    const base = state.name(prefix, [this.#h.node, o.node], options.name);
    const left = state.processor(`${prefix}-THIS`, [this.#h.node], `${base}-this`, () => new TableTableJoinProcessor('left', kind, o.getter, joiner), o.getter.stores);
    const right = state.processor(`${prefix}-OTHER`, [o.node], `${base}-other`, () => new TableTableJoinProcessor('right', kind, this.#h.getter, joiner), this.#h.getter.stores);
    const merge = state.processor(`${prefix}-MERGE`, [left, right], `${base}-merge`, () => new PassThroughProcessor());
    state.topology.addCopartitionGroup([...this.#h.sources, ...o.sources]);
    const joined: TableHandle<K, VR> = {
      state,
      node: merge,
      keySerde: this.#h.keySerde ?? (o.keySerde as Serde<K> | undefined),
      valueSerde: undefined,
      getter: joinedGetter(this.#h.getter, o.getter, kind, joiner),
      storeName: undefined,
      sources: [...this.#h.sources, ...o.sources],
      windowCloseMs: undefined,
    };
    if (options.materialized === undefined) return new KTable(internal, joined);
    const m = materializedOf(options.materialized);
    const storeName = m.storeName ?? `${base}-store`;
    const materialize = state.processor(`${prefix}-MATERIALIZE`, [merge], `${base}-materialize`, () => new TableMaterializeProcessor(storeName));
    state.store('key-value', base, { ...m, storeName }, joined.keySerde as Serde<unknown>, m.value, undefined, [materialize]);
    return new KTable(internal, { ...joined, node: materialize, valueSerde: m.value as Serde<VR> | undefined, getter: storeGetter(storeName, 'key-value'), storeName });
  }

  #foreignKeyJoin(other: KTable<unknown, unknown>, extract: Extract, joiner: Joiner, leftJoin: boolean, options: StatefulOptions<K, unknown>): KTable<K, unknown> {
    const state = this.#h.state;
    const o = other.#h;
    if (o.state !== state) throw new TopologyError('INVALID_TOPOLOGY', 'cannot join tables of two different builders', options.name);
    const base = state.name('KTABLE-FK-JOIN', [this.#h.node, o.node], options.name);
    const foreignKeySerde = (o.keySerde ?? fallbackSerde) as Serde<unknown>;
    const primaryKeySerde = (this.#h.keySerde ?? fallbackSerde) as Serde<unknown>;
    const valueSerde = (this.#h.valueSerde ?? fallbackSerde) as Serde<unknown>;
    const registrationTopic = `${base}-subscription-registration-topic`;
    const responseTopic = `${base}-subscription-response-topic`;
    let response = '';
    const send = state.processor('KTABLE-FK-JOIN-SUBSCRIPTION-SEND', [this.#h.node], `${base}-subscription-send`, () =>
      new SubscriptionSendProcessor({
        extract,
        foreignKeySerde,
        primaryKeySerde,
        valueSerde,
        leftJoin,
        nodes: () => ({ registration: `${registrationTopic}-sink`, response }),
      }),
    );
    // Subscriptions are partitioned by foreign key like `other`; answers go back to the left row's partition.
    const registration = state.throughTopic([send], registrationTopic, foreignKeySerde, subscriptionSerde as Serde<unknown>, { partitionsOf: o.sources });
    const storeName = `${base}-subscription-store`;
    const subscribe = state.processor('KTABLE-FK-JOIN-SUBSCRIPTION-JOIN', [registration], `${base}-subscription-join`, () => new SubscriptionJoinProcessor(storeName, o.getter), o.getter.stores);
    const changes = state.processor('KTABLE-FK-JOIN-FOREIGN-CHANGE', [o.node], `${base}-foreign-change`, () => new ForeignChangeProcessor(storeName, foreignKeySerde));
    state.store('key-value', base, { storeName }, subscriptionKeySerde(foreignKeySerde) as Serde<unknown>, subscriptionSerde as Serde<unknown>, undefined, [subscribe, changes]);
    const answers = state.throughTopic([subscribe, changes], responseTopic, bytesSerde as Serde<unknown>, responseSerde((o.valueSerde ?? fallbackSerde) as Serde<unknown>) as Serde<unknown>, {
      partitioner: (_topic, _key, value) => (value as SubscriptionResponse).primaryPartition,
      partitionsOf: this.#h.sources,
    });
    state.topology.addCopartitionGroup([registrationTopic, ...o.sources]);
    state.topology.addCopartitionGroup([responseTopic, ...this.#h.sources]);
    response = state.processor(
      'KTABLE-FK-JOIN-RESPONSE',
      [answers, send],
      `${base}-response-join`,
      () => new ResponseJoinProcessor({ primary: this.#h.getter, primaryKeySerde, valueSerde, leftJoin, joiner }),
      this.#h.getter.stores,
    );
    // The results as a table: kept in a store (queryable when named) to know each row's old value.
    const m = materializedOf(options.materialized);
    const resultStore = m.storeName ?? `${base}-store`;
    const result = state.processor('KTABLE-FK-JOIN-RESULT', [response], `${base}-result`, () => new TableSourceProcessor(resultStore, true));
    state.store('key-value', base, { ...m, storeName: resultStore }, this.#h.keySerde as Serde<unknown>, m.value, undefined, [result]);
    return new KTable(internal, {
      state,
      node: result,
      keySerde: this.#h.keySerde,
      valueSerde: m.value,
      getter: storeGetter(resultStore, 'key-value'),
      storeName: m.storeName,
      sources: this.#h.sources,
      windowCloseMs: undefined,
    });
  }

  /**
   * Re-groups the table's rows under new keys, always through a repartition topic. Aggregations
   * of the result take an adder and a subtractor: an updated row is subtracted from its old group
   * and added to its new one.
   */
  groupBy<K2, V2>(selector: (key: K, value: V) => readonly [K2, V2], grouped: Grouped<K2, V2> = {}): KGroupedTable<K2, V2> {
    const state = this.#h.state;
    const node = state.processor(
      'KTABLE-GROUPBY',
      [this.#h.node],
      grouped.name === undefined ? undefined : `${grouped.name}-select`,
      () => new TableGroupByProcessor(selector as (k: unknown, v: unknown) => readonly [unknown, unknown]),
    );
    const base = grouped.name ?? state.name('KTABLE-AGGREGATE', [node], undefined);
    // Deltas ({ add, remove }) travel through the topic; values inside use MessagePack.
    const repartition = state.repartition(node, base, grouped.key as Serde<unknown> | undefined, fallbackSerde);
    return new KGroupedTable<K2, V2>(internal, state, repartition.node, repartition.topic, grouped);
  }
}

/** A table re-grouped by KTable.groupBy, ready to aggregate with adder and subtractor. */
export class KGroupedTable<K, V> {
  readonly #state: BuilderState;
  readonly #node: string;
  readonly #topic: string;
  readonly #grouped: Grouped<K, V>;

  constructor(_: typeof internal, state: BuilderState, node: string, topic: string, grouped: Grouped<K, V>) {
    this.#state = state;
    this.#node = node;
    this.#topic = topic;
    this.#grouped = grouped;
    Object.freeze(this);
  }

  count(options: StatefulOptions<K, number> = {}): KTable<K, number> {
    return this.#aggregate(
      'KTABLE-COUNT',
      { init: () => 0, add: (_k, _v, a) => (a as number) + 1, remove: (_k, _v, a) => (a as number) - 1, reduce: false },
      options,
      Serdes.number(),
    );
  }

  reduce(adder: (aggregate: V, value: V) => V, subtractor: (aggregate: V, value: V) => V, options: StatefulOptions<K, V> = {}): KTable<K, V> {
    return this.#aggregate(
      'KTABLE-REDUCE',
      {
        init: () => null,
        add: (_k, v, a) => adder(a as V, v as V),
        remove: (_k, v, a) => subtractor(a as V, v as V),
        reduce: true,
      },
      options,
      this.#grouped.value,
    );
  }

  aggregate<VA>(
    initializer: () => VA,
    adder: (key: K, value: V, aggregate: VA) => VA,
    subtractor: (key: K, value: V, aggregate: VA) => VA,
    options: StatefulOptions<K, VA> = {},
  ): KTable<K, VA> {
    return this.#aggregate(
      'KTABLE-AGGREGATE',
      { init: initializer, add: adder as TableAggregation['add'], remove: subtractor as TableAggregation['remove'], reduce: false },
      options,
      undefined,
    );
  }

  #aggregate<VA>(prefix: string, agg: TableAggregation, options: StatefulOptions<K, VA>, valueSerde: Serde<VA> | undefined): KTable<K, VA> {
    const state = this.#state;
    const name = state.name(prefix, [this.#node], options.name);
    const m = materializedOf(options.materialized);
    const storeName = m.storeName ?? `${name}-store`;
    state.processor(prefix, [this.#node], name, () => new TableAggregateProcessor(storeName, agg));
    state.store('key-value', name, { ...m, storeName }, this.#grouped.key as Serde<unknown>, valueSerde as Serde<unknown>, undefined, [name], { cacheable: true });
    return new KTable<K, VA>(internal, {
      state,
      node: name,
      keySerde: (m.key ?? this.#grouped.key) as Serde<K> | undefined,
      valueSerde: (m.value ?? valueSerde) as Serde<VA> | undefined,
      getter: storeGetter(storeName, 'key-value'),
      storeName,
      sources: [this.#topic],
      windowCloseMs: undefined,
    });
  }
}

/** Internal state of a global table. */
export interface GlobalTableHandle {
  readonly getter: ValueGetterSupplier;
  readonly storeName: string;
}

/**
 * A table replicated in full to every task: joins against it need no co-partitioning and may
 * look rows up by any key derived from the stream record.
 */
export class GlobalKTable<K, V> {
  readonly #h: GlobalTableHandle;
  /** Phantom types. */
  declare readonly __types?: [K, V];

  constructor(_: typeof internal, handle: GlobalTableHandle) {
    this.#h = handle;
    Object.freeze(this);
  }

  get [handleOf](): GlobalTableHandle {
    return this.#h;
  }

  queryableStoreName(): string {
    return this.#h.storeName;
  }
}

export type { Windowed };
