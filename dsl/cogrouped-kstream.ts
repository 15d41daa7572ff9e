import { TopologyError, type Windowed } from '../engine/index.ts';
import type { StatefulOptions } from './options.ts';
import { SessionWindows, SlidingWindows, TimeWindows } from './windows.ts';
import { groupedInput, handleOf, internal } from './internals/symbols.ts';
import { materializedOf } from './internals/builder-state.ts';
import { addAggregation, type AggregationWindows } from './internals/aggregate-graph.ts';
import type { WindowAggregation } from './internals/windowed-aggregate.ts';
import { KGroupedStream, type StreamHandle } from './kstream.ts';
import { KTable, type TableHandle } from './ktable.ts';

/** One input of a cogroup: a grouped stream and the aggregator that adds its records. */
interface CogroupPart {
  readonly grouped: KGroupedStream<unknown, unknown>;
  readonly aggregator: (key: unknown, value: unknown, aggregate: unknown) => unknown;
}

/** Kafka Streams names a cogroup's nodes after this prefix (CogroupedKStreamImpl.AGGREGATE_NAME). */
const PREFIX = 'COGROUPKSTREAM-AGGREGATE';

/**
 * Several grouped streams, of any value types, aggregated into one table (Kafka Streams'
 * CogroupedKStream): one store, and each input's records update it with that input's own
 * aggregator, so every record of every input updates the one aggregate and the table emits each
 * update. The inputs must share the key type; each one whose key changed upstream is
 * repartitioned (only that one), and all are co-partitioned.
 *
 * @example
 * const carts = clicks.groupByKey()
 *   .cogroup((_, click: Click, agg: Cart) => ({ ...agg, clicks: agg.clicks + 1 }))
 *   .cogroup(purchases.groupByKey(), (_, p: Purchase, agg: Cart) => ({ ...agg, spent: agg.spent + p.price }))
 *   .aggregate(() => ({ clicks: 0, spent: 0 }), { materialized: 'carts' });
 */
export class CogroupedKStream<K, VA> {
  readonly #parts: readonly CogroupPart[];

  /** Use KGroupedStream.cogroup(). */
  constructor(_: typeof internal, parts: readonly CogroupPart[]) {
    this.#parts = parts;
    Object.freeze(this);
  }

  /** Adds a grouped stream and the aggregator that adds its records to the aggregate. */
  cogroup<V>(grouped: KGroupedStream<K, V>, aggregator: (key: K, value: V, aggregate: VA) => VA): CogroupedKStream<K, VA> {
    if (!(grouped instanceof KGroupedStream)) throw new TopologyError('INVALID_ARGUMENT', 'cogroup() takes a KGroupedStream and an aggregator');
    checkFunction(aggregator, 'cogroup() needs an aggregator(key, value, aggregate)');
    const first = this.#parts[0]!.grouped;
    if (grouped[handleOf].state !== first[handleOf].state) {
      throw new TopologyError('INVALID_TOPOLOGY', 'cannot cogroup grouped streams of two different builders');
    }
    // Kafka Streams keys its inputs by grouped stream, so a second aggregator silently replaces the
    // first; one input adding its records twice, or not the way first written, is a mistake to report.
    if (this.#parts.some((p) => p.grouped === (grouped as KGroupedStream<unknown, unknown>))) {
      throw new TopologyError('INVALID_ARGUMENT', 'this grouped stream is already in the cogroup: each input has one aggregator');
    }
    return new CogroupedKStream<K, VA>(internal, [...this.#parts, { grouped: grouped as KGroupedStream<unknown, unknown>, aggregator: aggregator as CogroupPart['aggregator'] }]);
  }

  /** The aggregate per key: `initializer()` for a new key, then each input's aggregator per record. */
  aggregate(initializer: () => VA, options: StatefulOptions<K, VA> = {}): KTable<K, VA> {
    return new KTable<K, VA>(internal, cogroupAggregate(this.#parts, initializer, undefined, undefined, options) as TableHandle<K, VA>);
  }

  /** Aggregates per window. Updates are emitted on every record (Kafka Streams has no other emit strategy for cogroups). */
  windowedBy(windows: TimeWindows | SlidingWindows): TimeWindowedCogroupedKStream<K, VA>;
  windowedBy(windows: SessionWindows): SessionWindowedCogroupedKStream<K, VA>;
  windowedBy(windows: TimeWindows | SlidingWindows | SessionWindows): TimeWindowedCogroupedKStream<K, VA> | SessionWindowedCogroupedKStream<K, VA> {
    if (windows instanceof SessionWindows) return new SessionWindowedCogroupedKStream(internal, this.#parts, windows);
    if (windows instanceof TimeWindows || windows instanceof SlidingWindows) return new TimeWindowedCogroupedKStream(internal, this.#parts, windows);
    throw new TopologyError('INVALID_WINDOW', 'windowedBy() takes TimeWindows, SlidingWindows or SessionWindows');
  }
}

/**
 * A cogroup over time windows (tumbling, hopping) or sliding windows; the result is keyed by
 * `{ key, window }`. Windows, grace and late records work as for `KGroupedStream.windowedBy`; all
 * inputs share one stream time, so a window closed for one input is closed for all.
 *
 * @example
 * clicks.groupByKey().cogroup((_, c: Click, n: number) => n + 1)
 *   .cogroup(views.groupByKey(), (_, v: View, n: number) => n + v.weight)
 *   .windowedBy(TimeWindows.ofSizeWithNoGrace(60_000))
 *   .aggregate(() => 0);
 */
export class TimeWindowedCogroupedKStream<K, VA> {
  readonly #parts: readonly CogroupPart[];
  readonly #windows: TimeWindows | SlidingWindows;

  constructor(_: typeof internal, parts: readonly CogroupPart[], windows: TimeWindows | SlidingWindows) {
    this.#parts = parts;
    this.#windows = windows;
    Object.freeze(this);
  }

  aggregate(initializer: () => VA, options: StatefulOptions<K, VA> = {}): KTable<Windowed<K>, VA> {
    const table = cogroupAggregate(this.#parts, initializer, this.#windows, undefined, options);
    return new KTable<Windowed<K>, VA>(internal, table as TableHandle<Windowed<K>, VA>);
  }
}

/**
 * A cogroup over session windows; the result is keyed by `{ key, window }`. A record of any input
 * that bridges sessions merges them with `sessionMerger`, and the merged-away sessions are
 * retracted, as for `KGroupedStream.windowedBy(SessionWindows)`.
 *
 * @example
 * clicks.groupByKey().cogroup((_, c: Click, n: number) => n + 1)
 *   .cogroup(views.groupByKey(), (_, v: View, n: number) => n + 1)
 *   .windowedBy(SessionWindows.ofInactivityGapWithNoGrace(30_000))
 *   .aggregate(() => 0, (_, a, b) => a + b);
 */
export class SessionWindowedCogroupedKStream<K, VA> {
  readonly #parts: readonly CogroupPart[];
  readonly #windows: SessionWindows;

  constructor(_: typeof internal, parts: readonly CogroupPart[], windows: SessionWindows) {
    this.#parts = parts;
    this.#windows = windows;
    Object.freeze(this);
  }

  /** `sessionMerger(key, aggregate1, aggregate2)` combines two sessions' aggregates when a record bridges them. */
  aggregate(
    initializer: () => VA,
    sessionMerger: (key: K, aggregate1: VA, aggregate2: VA) => VA,
    options: StatefulOptions<K, VA> = {},
  ): KTable<Windowed<K>, VA> {
    checkFunction(sessionMerger, 'a session aggregation needs a merger(key, agg1, agg2)', options.name);
    const merge = sessionMerger as WindowAggregation['merge'];
    const table = cogroupAggregate(this.#parts, initializer, this.#windows, merge, options);
    return new KTable<Windowed<K>, VA>(internal, table as TableHandle<Windowed<K>, VA>);
  }
}

/**
 * The cogroup's graph: each input repartitioned if its key changed, one aggregate processor per
 * input (`<name>-cogroup-agg-<i>`, in cogroup order), one store, and `<name>-cogroup-merge`.
 */
function cogroupAggregate(
  parts: readonly CogroupPart[],
  initializer: () => unknown,
  windows: AggregationWindows | undefined,
  merge: WindowAggregation['merge'],
  options: StatefulOptions<unknown, unknown>,
): TableHandle<unknown, unknown> {
  checkFunction(initializer, 'aggregate() needs an initializer', options.name);
  const inputs: StreamHandle<unknown, unknown>[] = parts.map((p) => p.grouped[groupedInput](PREFIX));
  const state = inputs[0]!.state;
  const name = state.name(PREFIX, inputs.map((i) => i.node), options.name);
  return addAggregation(state, {
    inputs: parts.map((p, i) => ({
      input: inputs[i]!,
      name: `${name}-cogroup-agg-${i}`,
      agg: { init: initializer, add: p.aggregator, ...(merge !== undefined && { merge }) },
    })),
    windows,
    emitOnClose: false,
    operator: name,
    materialized: materializedOf(options.materialized),
    valueSerde: undefined,
    merge: `${name}-cogroup-merge`,
    timeName: name,
  });
}

function checkFunction(f: unknown, message: string, operator?: string): void {
  if (typeof f !== 'function') throw new TopologyError('INVALID_ARGUMENT', message, operator);
}
