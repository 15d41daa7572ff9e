import {
  Serdes,
  TopologyError,
  type ProcessorSupplier,
  type Serde,
  type Sink,
  type Serializer,
  type TopicNameExtractor,
  type Windowed,
} from '../engine/index.ts';
import type { Grouped, Joined, Named, Produced, Repartitioned, StatefulOptions, StreamJoined, ToSink } from './options.ts';
import { type JoinWindows, SessionWindows, SlidingWindows, TimeWindows } from './windows.ts';
import { addBranches, groupedInput, handleOf, internal, repartitionedIfNeeded } from './internals/symbols.ts';
import { type BuilderState, fallbackSerde, materializedOf } from './internals/builder-state.ts';
import {
  BranchProcessor,
  FilterProcessor,
  FlatMapProcessor,
  FlatMapValuesProcessor,
  MapOneProcessor,
  MapProcessor,
  PassThroughProcessor,
  PeekProcessor,
  TableSourceProcessor,
  storeGetter,
  type Fn2,
} from './internals/processors.ts';
import { GraceStreamTableJoinProcessor, VersionedTableSourceProcessor, bufferKeySerde, versionedGetter } from './internals/versioned-table.ts';
import type { StreamAggregation } from './internals/aggregate.ts';
import { addAggregation } from './internals/aggregate-graph.ts';
import { FixedKeyProcessorAdapter } from './internals/fixed-key.ts';
import type { FixedKeyProcessorSupplier } from './fixed-key-processor.ts';
import { StreamStreamJoinProcessor, StreamTableJoinProcessor, pendingKeySerde, type Joiner } from './internals/joins.ts';
import { KTable, GlobalKTable, type TableHandle } from './ktable.ts';
import { TimeWindowedKStream, SessionWindowedKStream } from './windowed-kstream.ts';
import { CogroupedKStream } from './cogrouped-kstream.ts';

/** Internal state of a stream handle. */
export interface StreamHandle<K, V> {
  readonly state: BuilderState;
  readonly node: string;
  readonly keySerde: Serde<K> | undefined;
  readonly valueSerde: Serde<V> | undefined;
  /** Whether the key may differ from the partitioning key (a stateful operator must repartition). */
  readonly keyChanged: boolean;
  /** Topics this stream's partitions come from, for co-partitioning checks. */
  readonly sources: readonly string[];
}

/**
 * A record stream. Immutable: every operator returns a new stream and leaves this one usable,
 * so one stream can feed several operators.
 *
 * @example
 * builder.stream('clicks', { key: Serdes.string(), value: Serdes.json<Click>() })
 *   .filter((_, click) => click.type === 'view')
 *   .mapValues((click) => click.itemId)
 *   .to('item-views', { value: Serdes.string() });
 */
export class KStream<K, V> {
  readonly #h: StreamHandle<K, V>;

  /** Use StreamsBuilder.stream() and the operators. */
  constructor(_: typeof internal, handle: StreamHandle<K, V>) {
    this.#h = handle;
    Object.freeze(this);
  }

  get [handleOf](): StreamHandle<K, V> {
    return this.#h;
  }

  #next<K2, V2>(node: string, changes: Partial<StreamHandle<K2, V2>>): KStream<K2, V2> {
    return new KStream<K2, V2>(internal, { ...(this.#h as unknown as StreamHandle<K2, V2>), node, ...changes });
  }

  #add(prefix: string, named: Named | undefined, supplier: ProcessorSupplier<unknown, unknown, unknown, unknown>): string {
    return this.#h.state.processor(prefix, [this.#h.node], named?.name, supplier);
  }

  filter<S extends V>(predicate: (key: K, value: V) => value is S, named?: Named): KStream<K, S>;
  filter(predicate: (key: K, value: V) => boolean, named?: Named): KStream<K, V>;
  filter(predicate: (key: K, value: V) => boolean, named?: Named): KStream<K, V> {
    return this.#next(this.#add('KSTREAM-FILTER', named, () => new FilterProcessor(predicate as Fn2<boolean>, false)), {});
  }

  filterNot(predicate: (key: K, value: V) => boolean, named?: Named): KStream<K, V> {
    return this.#next(this.#add('KSTREAM-FILTER', named, () => new FilterProcessor(predicate as Fn2<boolean>, true)), {});
  }

  /** Maps each record to a new key and value. A later stateful operator repartitions. */
  map<K2, V2>(mapper: (key: K, value: V) => readonly [K2, V2], named?: Named): KStream<K2, V2> {
    const node = this.#add('KSTREAM-MAP', named, () => new MapProcessor(mapper as Fn2<readonly [unknown, unknown]>));
    return this.#next<K2, V2>(node, { keySerde: undefined, valueSerde: undefined, keyChanged: true });
  }

  mapValues<V2>(mapper: (value: V, key: K) => V2, named?: Named): KStream<K, V2> {
    const node = this.#add('KSTREAM-MAPVALUES', named, () => new MapOneProcessor('value', (k, v) => mapper(v as V, k as K)));
    return this.#next<K, V2>(node, { valueSerde: undefined });
  }

  selectKey<K2>(mapper: (key: K, value: V) => K2, named?: Named): KStream<K2, V> {
    const node = this.#add('KSTREAM-KEY-SELECT', named, () => new MapOneProcessor('key', mapper as Fn2<unknown>));
    return this.#next<K2, V>(node, { keySerde: undefined, keyChanged: true });
  }

  flatMap<K2, V2>(mapper: (key: K, value: V) => Iterable<readonly [K2, V2]>, named?: Named): KStream<K2, V2> {
    const node = this.#add('KSTREAM-FLATMAP', named, () => new FlatMapProcessor(mapper as Fn2<Iterable<readonly [unknown, unknown]>>));
    return this.#next<K2, V2>(node, { keySerde: undefined, valueSerde: undefined, keyChanged: true });
  }

  flatMapValues<V2>(mapper: (value: V, key: K) => Iterable<V2>, named?: Named): KStream<K, V2> {
    const node = this.#add('KSTREAM-FLATMAPVALUES', named, () => new FlatMapValuesProcessor((k, v) => mapper(v as V, k as K)));
    return this.#next<K, V2>(node, { valueSerde: undefined });
  }

  /** Calls `action` for each record and passes the record on unchanged. */
  peek(action: (key: K, value: V) => void, named?: Named): KStream<K, V> {
    return this.#next(this.#add('KSTREAM-PEEK', named, () => new PeekProcessor(action as Fn2<void>, true)), {});
  }

  /** Calls `action` for each record; terminal. */
  foreach(action: (key: K, value: V) => void, named?: Named): void {
    this.#add('KSTREAM-FOREACH', named, () => new PeekProcessor(action as Fn2<void>, false));
  }

  /** The records of both streams, interleaved as they arrive. */
  merge(other: KStream<K, V>, named?: Named): KStream<K, V> {
    const o = other.#h;
    if (o.state !== this.#h.state) throw new TopologyError('INVALID_TOPOLOGY', 'cannot merge streams of two different builders', named?.name);
    const node = this.#h.state.processor('KSTREAM-MERGE', [this.#h.node, o.node], named?.name, () => new PassThroughProcessor());
    return this.#next<K, V>(node, {
      keyChanged: this.#h.keyChanged || o.keyChanged,
      sources: [...this.#h.sources, ...o.sources],
      keySerde: this.#h.keySerde ?? o.keySerde,
      valueSerde: this.#h.valueSerde ?? o.valueSerde,
    });
  }

  /**
   * Splits the stream: each record goes to the first branch whose predicate holds.
   *
   * @example
   * const branches = stream.split({ name: 'by-type-' })
   *   .branch((_, e) => e.type === 'click', { name: 'clicks' })
   *   .defaultBranch({ name: 'other' });
   * branches['by-type-clicks'].to('clicks');
   */
  split(named?: Named): BranchedKStream<K, V> {
    return new BranchedKStream(internal, this, named?.name ?? this.#h.state.name('KSTREAM-BRANCH', [this.#h.node], undefined) + '-', []);
  }

  /** Builds the branch nodes of a split. */
  [addBranches](
    prefix: string,
    branches: readonly { predicate: (key: K, value: V) => boolean; name: string }[],
    defaultName: string | undefined,
  ): Record<string, KStream<K, V>> {
    const branchNode = `${prefix}branch`;
    const children = branches.map((b) => ({ predicate: b.predicate as Fn2<boolean>, child: `${prefix}${b.name}` }));
    const defaultChild = defaultName === undefined ? undefined : `${prefix}${defaultName}`;
    this.#h.state.processor('KSTREAM-BRANCH', [this.#h.node], branchNode, () => new BranchProcessor(children, defaultChild));
    const out: Record<string, KStream<K, V>> = {};
    for (const child of [...children.map((c) => c.child), ...(defaultChild === undefined ? [] : [defaultChild])]) {
      this.#h.state.processor('KSTREAM-BRANCHCHILD', [branchNode], child, () => new PassThroughProcessor());
      out[child] = this.#next<K, V>(child, {});
    }
    return out;
  }

  /** Writes the stream through an internal topic, partitioned by the current key. */
  repartition(options: Repartitioned<K, V> = {}): KStream<K, V> {
    const keySerde = options.key ?? this.#h.keySerde;
    const valueSerde = options.value ?? this.#h.valueSerde;
    const base = this.#h.state.name('KSTREAM-REPARTITION', [this.#h.node], options.name);
    const { node, topic } = this.#h.state.repartition(this.#h.node, base, keySerde as Serde<unknown>, valueSerde as Serde<unknown>, {
      ...(options.numberOfPartitions !== undefined && { numberOfPartitions: options.numberOfPartitions }),
      ...(options.partitioner !== undefined && { partitioner: options.partitioner as never }),
    });
    return this.#next<K, V>(node, { keySerde, valueSerde, keyChanged: false, sources: [topic] });
  }

  /**
   * Hands the stream to a sink outside the log (a warehouse, a lake, a cache: connectors/sinks),
   * as Kafka Connect would: the records go to the internal topic `<applicationId>-<name>-sink`,
   * and `startSinks(app, { log })` (tributary/connectors/sinks) runs a SinkRunner from it into
   * `sink()`, with the sink's guarantee (exactly once for sinks that store their positions in the
   * target), batching, retries, a circuit breaker and backpressure; records the sink made durable
   * are deleted from the topic. `sink` is called where the runner runs (the main thread), never
   * in the stream threads, so a connection is opened once per process, not per thread.
   */
  toSink(sink: () => Sink<K, NonNullable<V>>, options: ToSink<K, NonNullable<V>>): void {
    const state = this.#h.state;
    if (typeof options?.name !== 'string' || !/^[A-Za-z0-9._-]+$/.test(options.name)) {
      throw new TopologyError('INVALID_ARGUMENT', `toSink needs { name } of letters, digits, ".", "_" or "-"; got ${JSON.stringify(options?.name)}`);
    }
    if (typeof sink !== 'function') throw new TopologyError('INVALID_ARGUMENT', 'toSink takes a function that creates the sink (called once, where the sink runs)', options.name);
    const key = (options.key ?? this.#h.keySerde) as Serde<unknown> | undefined;
    const value = (options.value ?? this.#h.valueSerde) as Serde<unknown> | undefined;
    if (key === undefined || value === undefined) {
      throw new TopologyError('MISSING_SERDE', `the serdes of sink "${options.name}" cannot be inferred after a type-changing operator; pass them: toSink(sink, { name, key, value })`, options.name);
    }
    const topic = `${options.name}-sink`;
    state.topology.addSink(`${topic}-writer`, { topic, key, value }, this.#h.node);
    state.topology.addInternalTopic(topic);
    state.topology.addSinkDeclaration({ name: options.name, topic, factory: sink as () => Sink<unknown, unknown>, keySerde: key, valueSerde: value });
  }

  /** Writes each record to `topic`, or to the topic `topic(key, value, ctx)` names. */
  to(topic: string | TopicNameExtractor<K, V>, produced: Produced<K, NonNullable<V>> = {}): void {
    const name = this.#h.state.name('KSTREAM-SINK', [this.#h.node], produced.name);
    const key = (produced.key ?? this.#h.keySerde) as Serializer<unknown> | undefined;
    const value = (produced.value ?? this.#h.valueSerde) as Serializer<unknown> | undefined;
    if (key === undefined || value === undefined) {
      const missing = key === undefined ? (value === undefined ? 'key and value serdes' : 'key serde') : 'value serde';
      const where = typeof topic === 'string' ? ` to "${topic}"` : '';
      throw new TopologyError(
        'MISSING_SERDE',
        `the ${missing} of the sink${where} cannot be inferred after a type-changing operator; pass them: to(topic, { key, value })`,
        name,
      );
    }
    this.#h.state.topology.addSink(
      name,
      {
        topic: topic as string | TopicNameExtractor<unknown, unknown>,
        key,
        value,
        ...(produced.partitioner !== undefined && { partitioner: produced.partitioner as never }),
      },
      this.#h.node,
    );
  }

  /** Reads the stream as a changelog: the latest value per key, null deletes. */
  toTable(options: StatefulOptions<K, NonNullable<V>> = {}): KTable<K, NonNullable<V>> {
    const source = this.#h.keyChanged ? this.#repartitioned('KSTREAM-TOTABLE', options.name, {}) : this.#h;
    const state = this.#h.state;
    const name = state.name('KSTREAM-TOTABLE', [source.node], options.name);
    const m = materializedOf(options.materialized);
    const storeName = m.storeName ?? `${name}-store`;
    const versioned = m.versioned !== undefined;
    state.processor('KSTREAM-TOTABLE', [source.node], name, () => (versioned ? new VersionedTableSourceProcessor(storeName) : new TableSourceProcessor(storeName, true)));
    const store = state.store('key-value', name, { ...m, storeName }, source.keySerde as Serde<unknown>, source.valueSerde as Serde<unknown>, undefined, [name], { versionable: true });
    const handle: TableHandle<K, NonNullable<V>> = {
      state,
      node: name,
      keySerde: (m.key ?? source.keySerde) as Serde<K> | undefined,
      valueSerde: (m.value ?? source.valueSerde) as Serde<NonNullable<V>> | undefined,
      getter: versioned ? versionedGetter(store.name, m.versioned!.historyRetentionMs) : storeGetter(store.name, 'key-value'),
      storeName: store.name,
      sources: source.sources,
      windowCloseMs: undefined,
    };
    return new KTable(internal, handle);
  }

  /** Groups by the current key; repartitions first if an upstream operator changed the key. */
  groupByKey(grouped: Grouped<K, V> = {}): KGroupedStream<K, V> {
    return new KGroupedStream<K, V>(internal, this, grouped);
  }

  /** Groups by a new key: `selectKey(selector).groupByKey(grouped)`. */
  groupBy<K2>(selector: (key: K, value: V) => K2, grouped: Grouped<K2, V> = {}): KGroupedStream<K2, V> {
    const named = grouped.name === undefined ? undefined : { name: `${grouped.name}-key-select` };
    return this.selectKey(selector, named).groupByKey(grouped);
  }

  [repartitionedIfNeeded](prefix: string, name: string | undefined, serdes: { key?: Serde<K>; value?: Serde<V> }): StreamHandle<K, V> {
    return this.#h.keyChanged ? this.#repartitioned(prefix, name, serdes) : this.#h;
  }

  #repartitioned(prefix: string, name: string | undefined, serdes: { key?: Serde<K>; value?: Serde<V> }): StreamHandle<K, V> {
    const keySerde = serdes.key ?? this.#h.keySerde;
    const valueSerde = serdes.value ?? this.#h.valueSerde;
    const base = name ?? this.#h.state.name(prefix, [this.#h.node], undefined);
    const { node, topic } = this.#h.state.repartition(this.#h.node, base, keySerde as Serde<unknown>, valueSerde as Serde<unknown>);
    return { ...this.#h, node, keySerde, valueSerde, keyChanged: false, sources: [topic] };
  }

  /** Outer join with another stream: unmatched records of either side are emitted with `null` once their window closes. */
  outerJoin<VO, VR>(
    other: KStream<K, VO>,
    joiner: (value: V | null, otherValue: VO | null, key: K) => VR,
    windows: JoinWindows,
    options: StreamJoined<K, V, VO> = {},
  ): KStream<K, VR> {
    return this.#streamJoin(other, joiner as Joiner, windows, options, true, true);
  }

  #streamJoin<VO, VR>(
    other: KStream<K, VO>,
    joiner: Joiner,
    windows: JoinWindows,
    options: StreamJoined<K, V, VO>,
    leftOuter: boolean,
    rightOuter: boolean,
  ): KStream<K, VR> {
    const state = this.#h.state;
    if (windows === undefined || windows.kind !== 'join') {
      throw new TopologyError('INVALID_WINDOW', 'a stream-stream join needs JoinWindows', options.name);
    }
    const kind = rightOuter ? 'OUTER' : leftOuter ? 'LEFT' : 'INNER';
    const left = this[repartitionedIfNeeded](`KSTREAM-${kind}JOIN-LEFT`, undefined, { ...(options.key && { key: options.key }), ...(options.value && { value: options.value }) });
    const right = other[repartitionedIfNeeded](`KSTREAM-${kind}JOIN-RIGHT`, undefined, { ...(options.key && { key: options.key }), ...(options.otherValue && { value: options.otherValue }) });
    const base = state.name(`KSTREAM-${kind}JOIN`, [left.node, right.node], options.name);
    const storeBase = options.storeName ?? base;
    const leftName = `${base}-this`;
    const rightName = `${base}-other`;
    const leftStore = `${storeBase}-this-join-store`;
    const rightStore = `${storeBase}-other-join-store`;
    const pendingStore = leftOuter ? `${storeBase}-shared-join-store` : undefined;
    const keySerde = (options.key ?? left.keySerde ?? right.keySerde) as Serde<unknown> | undefined;
    const side = (s: 'left' | 'right') => ({
      side: s,
      windows,
      thisStore: s === 'left' ? leftStore : rightStore,
      otherStore: s === 'left' ? rightStore : leftStore,
      pendingStore,
      outer: s === 'left' ? leftOuter : rightOuter,
      joiner,
    });
    state.processor(`KSTREAM-${kind}JOIN-THIS`, [left.node], leftName, () => new StreamStreamJoinProcessor(side('left')));
    state.processor(`KSTREAM-${kind}JOIN-OTHER`, [right.node], rightName, () => new StreamStreamJoinProcessor(side('right')));
    // Records are kept for before + after + grace, as in Kafka Streams; at least 1 ms, so that a
    // zero-width window still joins records with equal timestamps.
    const windowSizeMs = Math.max(1, windows.sizeMs);
    const window = { retentionMs: Math.max(windowSizeMs, windows.sizeMs + windows.graceMs), windowSizeMs, retainDuplicates: true };
    state.store('window', base, { storeName: leftStore }, keySerde, (options.value ?? left.valueSerde) as Serde<unknown>, window, [leftName, rightName]);
    state.store('window', base, { storeName: rightStore }, keySerde, (options.otherValue ?? right.valueSerde) as Serde<unknown>, window, [leftName, rightName]);
    if (pendingStore !== undefined) {
      state.store('key-value', base, { storeName: pendingStore }, pendingKeySerde(keySerde ?? fallbackSerde) as Serde<unknown>, fallbackSerde, undefined, [leftName, rightName]);
    }
    const merged = state.processor('KSTREAM-MERGE', [leftName, rightName], `${base}-merge`, () => new PassThroughProcessor());
    state.topology.addCopartitionGroup([...left.sources, ...right.sources]);
    return new KStream<K, VR>(internal, { state, node: merged, keySerde: keySerde as Serde<K> | undefined, valueSerde: undefined, keyChanged: false, sources: left.sources });
  }

  /** Stream-table join, shared by join and leftJoin. */
  #tableJoin<VT, VR>(table: KTable<K, VT>, joiner: Joiner, left: boolean, options: Joined<K, V>): KStream<K, VR> {
    const t = table[handleOf];
    const s = this[repartitionedIfNeeded](left ? 'KSTREAM-LEFTJOIN' : 'KSTREAM-JOIN', undefined, {
      ...(options.key && { key: options.key }),
      ...(options.value && { value: options.value }),
    });
    const state = this.#h.state;
    const prefix = left ? 'KSTREAM-LEFTJOIN' : 'KSTREAM-JOIN';
    const grace = options.gracePeriodMs ?? 0;
    let node: string;
    if (grace === 0) {
      node = state.processor(prefix, [s.node], options.name, () => new StreamTableJoinProcessor(t.getter, joiner, left), t.getter.stores);
    } else {
      const name = state.name(prefix, [s.node], options.name);
      if (!Number.isSafeInteger(grace) || grace < 0) throw new TopologyError('INVALID_WINDOW', `gracePeriodMs must be a whole number of milliseconds >= 0, got ${grace}`, name);
      if (t.getter.historyRetentionMs === undefined) {
        throw new TopologyError('INVALID_TOPOLOGY', 'a stream-table join with a grace period needs a versioned table (materialize it with { versioned: { historyRetentionMs } })', name);
      }
      if (grace > t.getter.historyRetentionMs) {
        throw new TopologyError('INVALID_TOPOLOGY', `the join's grace period (${grace} ms) is longer than the table's history retention (${t.getter.historyRetentionMs} ms)`, name);
      }
      const bufferStore = `${name}-buffer-store`;
      const config = { gracePeriodMs: grace, bufferStore, keySerde: (s.keySerde ?? fallbackSerde) as Serde<unknown>, valueSerde: (s.valueSerde ?? fallbackSerde) as Serde<unknown> };
      node = state.processor(prefix, [s.node], name, () => new GraceStreamTableJoinProcessor(t.getter, joiner, left, config), t.getter.stores);
      state.store('key-value', name, { storeName: bufferStore }, bufferKeySerde as Serde<unknown>, fallbackSerde, undefined, [node]);
    }
    state.topology.addCopartitionGroup([...s.sources, ...t.sources]);
    return new KStream<K, VR>(internal, { ...s, node, valueSerde: undefined } as StreamHandle<K, VR>);
  }

  #globalJoin<KG, VG, VR>(
    table: GlobalKTable<KG, VG>,
    keySelector: (key: K, value: V) => KG,
    joiner: Joiner,
    left: boolean,
    named: Named | undefined,
  ): KStream<K, VR> {
    const g = table[handleOf];
    const node = this.#h.state.processor(
      left ? 'KSTREAM-LEFTJOIN' : 'KSTREAM-JOIN',
      [this.#h.node],
      named?.name,
      () => new StreamTableJoinProcessor(g.getter, joiner, left, keySelector as Fn2<unknown>),
    );
    return this.#next<K, VR>(node, { valueSerde: undefined });
  }

  /** Inner join with another stream within a time window. */
  join<VO, VR>(
    other: KStream<K, VO>,
    joiner: (value: V, otherValue: VO, key: K) => VR,
    windows: JoinWindows,
    options?: StreamJoined<K, V, VO>,
  ): KStream<K, VR>;
  /** Inner join with a table, or with a global table through `keySelector`. */
  join<VT, VR>(table: KTable<K, VT>, joiner: (value: V, tableValue: VT, key: K) => VR, options?: Joined<K, V>): KStream<K, VR>;
  join<KG, VG, VR>(
    table: GlobalKTable<KG, VG>,
    keySelector: (key: K, value: V) => KG,
    joiner: (value: V, tableValue: VG, key: K) => VR,
    named?: Named,
  ): KStream<K, VR>;
  join(other: unknown, a: unknown, b?: unknown, c?: unknown): unknown {
    if (other instanceof KStream) return this.#streamJoin(other, a as Joiner, b as JoinWindows, (c ?? {}) as StreamJoined<K, V, unknown>, false, false);
    if (other instanceof GlobalKTable) return this.#globalJoin(other, a as (k: K, v: V) => unknown, b as Joiner, false, c as Named | undefined);
    if (other instanceof KTable) return this.#tableJoin(other, a as Joiner, false, (b ?? {}) as Joined<K, V>);
    throw new TopologyError('INVALID_ARGUMENT', 'join() takes a KStream, a KTable or a GlobalKTable');
  }

  /** Left join with another stream: a record with no partner in its window is emitted with `null` once the window closes. */
  leftJoin<VO, VR>(
    other: KStream<K, VO>,
    joiner: (value: V, otherValue: VO | null, key: K) => VR,
    windows: JoinWindows,
    options?: StreamJoined<K, V, VO>,
  ): KStream<K, VR>;
  /** Left join with a table (null when no row), or with a global table through `keySelector`. */
  leftJoin<VT, VR>(table: KTable<K, VT>, joiner: (value: V, tableValue: VT | null, key: K) => VR, options?: Joined<K, V>): KStream<K, VR>;
  leftJoin<KG, VG, VR>(
    table: GlobalKTable<KG, VG>,
    keySelector: (key: K, value: V) => KG,
    joiner: (value: V, tableValue: VG | null, key: K) => VR,
    named?: Named,
  ): KStream<K, VR>;
  leftJoin(other: unknown, a: unknown, b?: unknown, c?: unknown): unknown {
    if (other instanceof KStream) return this.#streamJoin(other, a as Joiner, b as JoinWindows, (c ?? {}) as StreamJoined<K, V, unknown>, true, false);
    if (other instanceof GlobalKTable) return this.#globalJoin(other, a as (k: K, v: V) => unknown, b as Joiner, true, c as Named | undefined);
    if (other instanceof KTable) return this.#tableJoin(other, a as Joiner, true, (b ?? {}) as Joined<K, V>);
    throw new TopologyError('INVALID_ARGUMENT', 'leftJoin() takes a KStream, a KTable or a GlobalKTable');
  }

  /**
   * Runs a Processor API processor on each record. `stores` names stores added with
   * `StreamsBuilder.addStateStore` that the processor uses. The processor may change keys, so a
   * later stateful operator repartitions; use `processValues` when it keeps them.
   */
  process<KOut, VOut>(supplier: ProcessorSupplier<K, V, KOut, VOut>, ...stores: string[]): KStream<KOut, VOut>;
  process<KOut, VOut>(supplier: ProcessorSupplier<K, V, KOut, VOut>, options: Named & { stores?: string[] }): KStream<KOut, VOut>;
  process<KOut, VOut>(supplier: ProcessorSupplier<K, V, KOut, VOut>, ...rest: unknown[]): KStream<KOut, VOut> {
    const node = this.#addProcessor('KSTREAM-PROCESSOR', supplier as unknown as ProcessorSupplier<unknown, unknown, unknown, unknown>, rest);
    return this.#next<KOut, VOut>(node, { keySerde: undefined, valueSerde: undefined, keyChanged: true });
  }

  /**
   * Runs a fixed-key processor on each record: it sees each record as a FixedKeyRecord and
   * forwards `record.withValue(v)`, never a new key (Kafka Streams' processValues). So the stream
   * keeps its key serde and its partitioning: a later groupByKey or join repartitions only if an
   * operator before this one changed the key. Forwarding anything but a FixedKeyRecord fails with
   * `INVALID_ARGUMENT`.
   *
   * @example
   * orders
   *   .processValues(() => new Enrich(), 'customers') // FixedKeyProcessor<string, Order, EnrichedOrder>
   *   .groupByKey() // no repartition topic
   *   .count();
   */
  processValues<VOut>(supplier: FixedKeyProcessorSupplier<K, V, VOut>, ...stores: string[]): KStream<K, VOut>;
  processValues<VOut>(supplier: FixedKeyProcessorSupplier<K, V, VOut>, options: Named & { stores?: string[] }): KStream<K, VOut>;
  processValues<VOut>(supplier: FixedKeyProcessorSupplier<K, V, VOut>, ...rest: unknown[]): KStream<K, VOut> {
    if (typeof supplier !== 'function') {
      throw new TopologyError('INVALID_ARGUMENT', 'processValues() needs a supplier function returning a FixedKeyProcessor');
    }
    const fixed = supplier as unknown as FixedKeyProcessorSupplier<unknown, unknown, unknown>;
    const node = this.#addProcessor('KSTREAM-PROCESSVALUES', () => new FixedKeyProcessorAdapter(fixed()), rest);
    // The value type changes, the key and whether it changed upstream do not.
    return this.#next<K, VOut>(node, { valueSerde: undefined });
  }

  /** The node of process() or processValues(), with its stores given as names or as `{ name, stores }`. */
  #addProcessor(prefix: string, supplier: ProcessorSupplier<unknown, unknown, unknown, unknown>, rest: unknown[]): string {
    const first = rest[0];
    const opts = typeof first === 'object' && first !== null ? (first as Named & { stores?: string[] }) : { stores: rest as string[] };
    return this.#h.state.processor(prefix, [this.#h.node], opts.name, supplier, opts.stores ?? []);
  }
}

/** Collects the branches of a split(). */
export class BranchedKStream<K, V> {
  readonly #stream: KStream<K, V>;
  readonly #prefix: string;
  readonly #branches: readonly { predicate: (key: K, value: V) => boolean; name: string }[];

  constructor(_: typeof internal, stream: KStream<K, V>, prefix: string, branches: readonly { predicate: (key: K, value: V) => boolean; name: string }[]) {
    this.#stream = stream;
    this.#prefix = prefix;
    this.#branches = branches;
    Object.freeze(this);
  }

  /** Adds a branch; its key in the result is the split's prefix plus `name` (default: its position from 1). */
  branch(predicate: (key: K, value: V) => boolean, named?: Named): BranchedKStream<K, V> {
    const name = named?.name ?? String(this.#branches.length + 1);
    return new BranchedKStream(internal, this.#stream, this.#prefix, [...this.#branches, { predicate, name }]);
  }

  /** Ends the split with a branch for records no predicate took (default name: prefix + "0"). */
  defaultBranch(named?: Named): Record<string, KStream<K, V>> {
    return this.#stream[addBranches](this.#prefix, this.#branches, named?.name ?? '0');
  }

  /** Ends the split; records no predicate took are dropped. */
  noDefaultBranch(): Record<string, KStream<K, V>> {
    return this.#stream[addBranches](this.#prefix, this.#branches, undefined);
  }
}

/**
 * A stream grouped by key, ready to aggregate.
 *
 * @example
 * const counts = clicks.groupByKey().count({ materialized: 'clicks-per-user' });
 */
export class KGroupedStream<K, V> {
  readonly #stream: KStream<K, V>;
  readonly #grouped: Grouped<K, V>;
  /** The grouped input, made once: every aggregation of this grouping shares one repartition topic. */
  #input: StreamHandle<K, V> | undefined;

  constructor(_: typeof internal, stream: KStream<K, V>, grouped: Grouped<K, V>) {
    this.#stream = stream;
    this.#grouped = grouped;
    Object.freeze(this);
  }

  /** The stream being grouped (before any repartition). */
  get [handleOf](): StreamHandle<K, V> {
    return this.#stream[handleOf];
  }

  [groupedInput](prefix: string): StreamHandle<K, V> {
    if (this.#input !== undefined) return this.#input;
    const serdes = {
      ...(this.#grouped.key !== undefined && { key: this.#grouped.key }),
      ...(this.#grouped.value !== undefined && { value: this.#grouped.value }),
    };
    const h = this.#stream[repartitionedIfNeeded](prefix, this.#grouped.name, serdes);
    this.#input = { ...h, keySerde: this.#grouped.key ?? h.keySerde, valueSerde: this.#grouped.value ?? h.valueSerde };
    return this.#input;
  }

  count(options: StatefulOptions<K, number> = {}): KTable<K, number> {
    return this.#aggregate<number>('KSTREAM-COUNT', { init: () => 0, add: (_k, _v, agg) => (agg as number) + 1 }, options, Serdes.number());
  }

  /** Combines values: the first value of a key is its aggregate, then `reducer(aggregate, value)`. */
  reduce(reducer: (aggregate: V, value: V) => V, options: StatefulOptions<K, V> = {}): KTable<K, V> {
    const agg: StreamAggregation = {
      init: () => NO_VALUE,
      add: (_k, v, a) => (a === NO_VALUE ? v : reducer(a as V, v as V)),
    };
    return this.#aggregate<V>('KSTREAM-REDUCE', agg, options, undefined);
  }

  aggregate<VA>(
    initializer: () => VA,
    aggregator: (key: K, value: V, aggregate: VA) => VA,
    options: StatefulOptions<K, VA> = {},
  ): KTable<K, VA> {
    return this.#aggregate<VA>('KSTREAM-AGGREGATE', { init: initializer, add: aggregator as StreamAggregation['add'] }, options, undefined);
  }

  /**
   * Starts a cogroup: this grouped stream and others, of any value types, aggregated into one
   * table with one aggregator per input (Kafka Streams' cogroup). Add inputs with
   * `.cogroup(grouped, aggregator)`, then `.aggregate(initializer)` or `.windowedBy(...)`.
   *
   * @example
   * const totals = orders.groupByKey()
   *   .cogroup((_, o: Order, sum: number) => sum + o.amount)
   *   .cogroup(refunds.groupByKey(), (_, r: Refund, sum: number) => sum - r.amount)
   *   .aggregate(() => 0, { materialized: 'balance' });
   */
  cogroup<VA>(aggregator: (key: K, value: V, aggregate: VA) => VA): CogroupedKStream<K, VA> {
    if (typeof aggregator !== 'function') throw new TopologyError('INVALID_ARGUMENT', 'cogroup() needs an aggregator(key, value, aggregate)');
    return new CogroupedKStream<K, VA>(internal, [
      { grouped: this as KGroupedStream<unknown, unknown>, aggregator: aggregator as (key: unknown, value: unknown, aggregate: unknown) => unknown },
    ]);
  }

  windowedBy(windows: TimeWindows | SlidingWindows): TimeWindowedKStream<K, V>;
  windowedBy(windows: SessionWindows): SessionWindowedKStream<K, V>;
  windowedBy(windows: TimeWindows | SlidingWindows | SessionWindows): TimeWindowedKStream<K, V> | SessionWindowedKStream<K, V> {
    if (windows instanceof SessionWindows) return new SessionWindowedKStream(internal, this, windows, undefined);
    if (windows instanceof TimeWindows || windows instanceof SlidingWindows) return new TimeWindowedKStream(internal, this, windows, undefined);
    throw new TopologyError('INVALID_WINDOW', 'windowedBy() takes TimeWindows, SlidingWindows or SessionWindows');
  }

  #aggregate<VA>(prefix: string, agg: StreamAggregation, options: StatefulOptions<K, VA>, valueSerde: Serde<VA> | undefined): KTable<K, VA> {
    const input = this[groupedInput](prefix);
    const name = input.state.name(prefix, [input.node], options.name);
    // reduce keeps the value type, so the grouped value serde fits the store.
    const vSerde = valueSerde ?? (prefix === 'KSTREAM-REDUCE' ? (input.valueSerde as Serde<VA> | undefined) : undefined);
    const table = addAggregation(input.state, {
      inputs: [{ input: input as StreamHandle<unknown, unknown>, name, agg }],
      windows: undefined,
      emitOnClose: false,
      operator: name,
      materialized: materializedOf(options.materialized),
      valueSerde: vSerde as Serde<unknown> | undefined,
    });
    return new KTable<K, VA>(internal, table as TableHandle<K, VA>);
  }
}

/** Marks "no aggregate yet" for reduce; never stored (the first value replaces it). */
const NO_VALUE: unknown = Symbol('no-value');

export type { Windowed };
