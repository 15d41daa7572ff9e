/**
 * Point-in-time feature values for training data (Chronon's backfill, Feast's
 * `get_historical_features`), computed by the streaming definition itself: no second, batch
 * implementation of the windows and aggregations that could drift from what is served.
 *
 * The definition's topology (`buildFeatures`) runs in a TopologyTestDriver over past events in
 * event-time order. Labels are sorted by time too; before a label at time T is read, exactly the
 * events with a time <= T have been piped (and none after), and the entity's row is read with
 * `readFeatures` as of T: the value a serving read at T would have returned had the events arrived
 * in time order. A later event is never in the driver when a label is read, so it cannot leak.
 */
import { Serdes, TopologyTestDriver, type Serde } from '../engine/index.ts';
import { StreamsBuilder } from '../dsl/index.ts';
import { buildFeatures, readFeatures, type FeatureDefinition, type FeatureSpec, type FeatureState, type FeatureValues } from './definition.ts';

/** A past event as it was on the stream the definition reads. */
export interface PastEvent<K, V> {
  readonly key: K | null;
  readonly value: V;
  /** Event time, ms since the epoch. */
  readonly timestamp: number;
}

/** A row to compute features for: the entity and the time they are wanted as of (ms). */
export interface LabelPoint {
  readonly entity: string;
  readonly time: number;
}

export interface BackfillOptions<K, V> {
  /** The key serde of the source stream (default: strings). */
  readonly key?: Serde<K>;
  /** The value serde of the source stream (default: MessagePack). */
  readonly value?: Serde<V>;
}

const SOURCE = 'backfill-source';

/**
 * A definition and how to read its source stream back from a lake: what `tributary features
 * backfill --definitions MODULE` imports (export `backfill` by default).
 *
 * @example
 * export const backfill: LakeBackfill<string, Order> = {
 *   definition: userOrders,
 *   prefix: 'orders',
 *   record: (row) => ({ key: String(row.order_id), value: { user: String(row.user_id), amount: Number(row.amount) }, timestamp: Number(row.ts) }),
 * };
 */
export interface LakeBackfill<K, V> extends BackfillOptions<K, V> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly definition: FeatureDefinition<V, K, any>;
  /** The folder of the source's files under the lake (default `events`). */
  readonly prefix?: string;
  /** The record a lake row was written from (null: not on the stream). */
  readonly record: (row: Readonly<Record<string, unknown>>) => PastEvent<K, V> | null | undefined;
}

/** The labels sorted by time and a driver running the definition: pipe events, read labels. */
class PointInTime<K, V, F extends Record<string, FeatureSpec<V>>> {
  readonly order: number[];
  readonly out: FeatureValues<F>[];
  #next = 0;
  #last = -Infinity;
  readonly #def: FeatureDefinition<V, K, F>;
  readonly #labels: readonly LabelPoint[];
  readonly #driver: TopologyTestDriver;
  readonly #input: ReturnType<TopologyTestDriver['createInputTopic']>;
  readonly #store: ReturnType<TopologyTestDriver['getKeyValueStore']>;

  constructor(def: FeatureDefinition<V, K, F>, labels: readonly LabelPoint[], options: BackfillOptions<K, V>) {
    labels.forEach((l, i) => {
      if (typeof l.entity !== 'string') throw new TypeError(`label ${i + 1}: the entity must be a string, got ${typeof l.entity}`);
      if (!Number.isFinite(l.time)) throw new RangeError(`label ${i + 1}: the time must be a finite number of ms, got ${String(l.time)}`);
    });
    this.#def = def;
    this.#labels = labels;
    this.order = labels.map((_, i) => i).sort((a, b) => labels[a]!.time - labels[b]!.time);
    this.out = new Array<FeatureValues<F>>(labels.length);
    const key = options.key ?? (Serdes.string() as unknown as Serde<K>);
    const value = options.value ?? Serdes.msgpack<V>();
    const builder = new StreamsBuilder();
    buildFeatures(builder.stream(SOURCE, { key, value }), def);
    this.#driver = new TopologyTestDriver(builder.build());
    this.#input = this.#driver.createInputTopic(SOURCE, key, value) as never;
    this.#store = this.#driver.getKeyValueStore<string, FeatureState>(def.name) as never;
  }

  /** Whether every label has been read. */
  get done(): boolean {
    return this.#next === this.order.length;
  }

  /** Reads the labels before `e`'s time, then pipes `e`. */
  add(e: PastEvent<K, V>): void {
    if (!(e.timestamp >= this.#last)) throw new RangeError(`events must come in time order: ${e.timestamp} after ${this.#last}`);
    this.#last = e.timestamp;
    this.readBefore(e.timestamp);
    if (!this.done) this.#input.pipeInput(e.key as never, e.value as never, e.timestamp);
  }

  /** Reads every label with a time before `time` not read yet (all of them: Infinity). */
  readBefore(time: number): void {
    while (this.#next < this.order.length) {
      const i = this.order[this.#next]!;
      const { entity, time: at } = this.#labels[i]!;
      if (at >= time) return;
      this.out[i] = readFeatures(this.#def, this.#store.get(entity) as FeatureState | undefined, at);
      this.#next++;
    }
  }

  close(): void {
    this.#driver.close();
  }
}

/**
 * The features of each label as of its time, in the order of `labels`. `events` must come in
 * non-decreasing timestamp order (a lake read hour by hour, sorted within the hour, does); an
 * event out of order is refused with a RangeError rather than silently misplaced. Events are read
 * lazily and only up to the latest label's time.
 *
 * @example
 * const rows = backfillFeatures(userOrders, orders, [{ entity: 'u1', time: Date.UTC(2026, 0, 1) }]);
 * rows[0].orders['1h']; // u1's orders in the hour before midnight, as served then
 */
export function backfillFeatures<K, V, F extends Record<string, FeatureSpec<V>>>(
  def: FeatureDefinition<V, K, F>,
  events: Iterable<PastEvent<K, V>>,
  labels: readonly LabelPoint[],
  options: BackfillOptions<K, V> = {},
): FeatureValues<F>[] {
  const run = new PointInTime(def, labels, options);
  try {
    for (const e of events) {
      run.add(e);
      if (run.done) break;
    }
    run.readBefore(Infinity);
    return run.out;
  } finally {
    run.close();
  }
}

/**
 * {@link backfillFeatures} over events read asynchronously (files of a lake, hour by hour).
 *
 * @example
 * const rows = await backfillFeaturesAsync(userOrders, readOrdersFromLake(), labels);
 */
export async function backfillFeaturesAsync<K, V, F extends Record<string, FeatureSpec<V>>>(
  def: FeatureDefinition<V, K, F>,
  events: AsyncIterable<PastEvent<K, V>> | Iterable<PastEvent<K, V>>,
  labels: readonly LabelPoint[],
  options: BackfillOptions<K, V> = {},
): Promise<FeatureValues<F>[]> {
  const run = new PointInTime(def, labels, options);
  try {
    for await (const e of events) {
      run.add(e);
      if (run.done) break;
    }
    run.readBefore(Infinity);
    return run.out;
  } finally {
    run.close();
  }
}

/**
 * One flat column per feature and window, `<feature>_<window>` (`orders_1h`), as a training table
 * wants them.
 *
 * @example
 * flattenFeatures({ orders: { '1h': 3, lifetime: 40 } }); // { orders_1h: 3, orders_lifetime: 40 }
 */
export function flattenFeatures(values: Readonly<Record<string, Readonly<Record<string, unknown>>>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, windows] of Object.entries(values)) for (const [w, v] of Object.entries(windows)) out[`${name}_${w}`] = v;
  return out;
}
