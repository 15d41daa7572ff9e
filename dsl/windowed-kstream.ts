import { Serdes, TopologyError, type Serde, type Windowed } from '../engine/index.ts';
import type { StatefulOptions } from './options.ts';
import type { EmitStrategy, SessionWindows, SlidingWindows, TimeWindows } from './windows.ts';
import { groupedInput, internal } from './internals/symbols.ts';
import { materializedOf } from './internals/builder-state.ts';
import type { WindowAggregation } from './internals/windowed-aggregate.ts';
import { addAggregation, type AggregationWindows } from './internals/aggregate-graph.ts';
import type { KGroupedStream, StreamHandle } from './kstream.ts';
import { KTable, type TableHandle } from './ktable.ts';

const NO_VALUE: unknown = Symbol('no-value');

function reduceAgg<V>(reducer: (aggregate: V, value: V) => V): WindowAggregation {
  return { init: () => NO_VALUE, add: (_k, v, a) => (a === NO_VALUE ? v : reducer(a as V, v as V)) };
}

/**
 * A grouped stream over time windows (tumbling, hopping) or sliding windows. The result is a
 * table keyed by `{ key, window }`.
 *
 * @example
 * clicks.groupByKey()
 *   .windowedBy(TimeWindows.ofSizeAndGrace(60_000, 5_000))
 *   .emitStrategy(EmitStrategy.onWindowClose())
 *   .count();
 */
export class TimeWindowedKStream<K, V> {
  readonly #grouped: KGroupedStream<K, V>;
  readonly #windows: TimeWindows | SlidingWindows;
  readonly #emit: EmitStrategy | undefined;

  constructor(_: typeof internal, grouped: KGroupedStream<K, V>, windows: TimeWindows | SlidingWindows, emit: EmitStrategy | undefined) {
    this.#grouped = grouped;
    this.#windows = windows;
    this.#emit = emit;
    Object.freeze(this);
  }

  emitStrategy(strategy: EmitStrategy): TimeWindowedKStream<K, V> {
    return new TimeWindowedKStream(internal, this.#grouped, this.#windows, strategy);
  }

  count(options: StatefulOptions<K, number> = {}): KTable<Windowed<K>, number> {
    return this.#aggregate('KSTREAM-COUNT', { init: () => 0, add: (_k, _v, a) => (a as number) + 1 }, options, Serdes.number());
  }

  reduce(reducer: (aggregate: V, value: V) => V, options: StatefulOptions<K, V> = {}): KTable<Windowed<K>, V> {
    return this.#aggregate('KSTREAM-REDUCE', reduceAgg(reducer), options, undefined, true);
  }

  aggregate<VA>(
    initializer: () => VA,
    aggregator: (key: K, value: V, aggregate: VA) => VA,
    options: StatefulOptions<K, VA> = {},
  ): KTable<Windowed<K>, VA> {
    return this.#aggregate('KSTREAM-AGGREGATE', { init: initializer, add: aggregator as WindowAggregation['add'] }, options, undefined);
  }

  #aggregate<VA>(
    prefix: string,
    agg: WindowAggregation,
    options: StatefulOptions<K, VA>,
    valueSerde: Serde<VA> | undefined,
    reduce = false,
  ): KTable<Windowed<K>, VA> {
    return windowedAggregate(this.#grouped, prefix, 'TIME-WINDOWED', this.#windows, this.#emit, agg, options, valueSerde, reduce);
  }
}

/**
 * A grouped stream over session windows. The result is a table keyed by `{ key, window }`; when a
 * record merges sessions, the merged-away sessions are retracted (a null value for their key).
 */
export class SessionWindowedKStream<K, V> {
  readonly #grouped: KGroupedStream<K, V>;
  readonly #windows: SessionWindows;
  readonly #emit: EmitStrategy | undefined;

  constructor(_: typeof internal, grouped: KGroupedStream<K, V>, windows: SessionWindows, emit: EmitStrategy | undefined) {
    this.#grouped = grouped;
    this.#windows = windows;
    this.#emit = emit;
    Object.freeze(this);
  }

  emitStrategy(strategy: EmitStrategy): SessionWindowedKStream<K, V> {
    return new SessionWindowedKStream(internal, this.#grouped, this.#windows, strategy);
  }

  count(options: StatefulOptions<K, number> = {}): KTable<Windowed<K>, number> {
    return this.#aggregate(
      'KSTREAM-COUNT',
      { init: () => 0, add: (_k, _v, a) => (a as number) + 1, merge: (_k, a, b) => (a as number) + (b as number) },
      options,
      Serdes.number(),
    );
  }

  reduce(reducer: (aggregate: V, value: V) => V, options: StatefulOptions<K, V> = {}): KTable<Windowed<K>, V> {
    const agg: WindowAggregation = {
      ...reduceAgg(reducer),
      merge: (_k, a, b) => (a === NO_VALUE ? b : b === NO_VALUE ? a : reducer(a as V, b as V)),
    };
    return this.#aggregate('KSTREAM-REDUCE', agg, options, undefined, true);
  }

  /** `merger(key, aggregate1, aggregate2)` combines two sessions' aggregates when a record bridges them. */
  aggregate<VA>(
    initializer: () => VA,
    aggregator: (key: K, value: V, aggregate: VA) => VA,
    merger: (key: K, aggregate1: VA, aggregate2: VA) => VA,
    options: StatefulOptions<K, VA> = {},
  ): KTable<Windowed<K>, VA> {
    if (typeof merger !== 'function') {
      throw new TopologyError('INVALID_ARGUMENT', 'a session aggregation needs a merger(key, agg1, agg2)', options.name);
    }
    return this.#aggregate(
      'KSTREAM-AGGREGATE',
      { init: initializer, add: aggregator as WindowAggregation['add'], merge: merger as WindowAggregation['merge'] },
      options,
      undefined,
    );
  }

  #aggregate<VA>(
    prefix: string,
    agg: WindowAggregation,
    options: StatefulOptions<K, VA>,
    valueSerde: Serde<VA> | undefined,
    reduce = false,
  ): KTable<Windowed<K>, VA> {
    return windowedAggregate(this.#grouped, prefix, 'SESSION-WINDOWED', this.#windows, this.#emit, agg, options, valueSerde, reduce);
  }
}

/** A windowed aggregation of one grouped stream. */
function windowedAggregate<K, V, VA>(
  grouped: KGroupedStream<K, V>,
  prefix: string,
  kind: 'TIME-WINDOWED' | 'SESSION-WINDOWED',
  windows: AggregationWindows,
  emit: EmitStrategy | undefined,
  agg: WindowAggregation,
  options: StatefulOptions<K, VA>,
  valueSerde: Serde<VA> | undefined,
  reduce: boolean,
): KTable<Windowed<K>, VA> {
  const input = grouped[groupedInput](prefix);
  const name = input.state.name(`${kind}-${prefix}`, [input.node], options.name);
  const vSerde = valueSerde ?? (reduce ? (input.valueSerde as Serde<VA> | undefined) : undefined);
  const table = addAggregation(input.state, {
    inputs: [{ input: input as StreamHandle<unknown, unknown>, name, agg }],
    windows,
    emitOnClose: emit?.type === 'on-window-close',
    operator: name,
    materialized: materializedOf(options.materialized),
    valueSerde: vSerde as Serde<unknown> | undefined,
  });
  return new KTable<Windowed<K>, VA>(internal, table as TableHandle<Windowed<K>, VA>);
}
