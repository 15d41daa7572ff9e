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
 * The features of each label as of its time, in the order of `labels`. `events` must come in
 * non-decreasing timestamp order (a lake read hour by hour, sorted within the hour, does); an
 * event out of order is refused with a RangeError rather than silently misplaced. The events are
 * consumed once, lazily: only those up to the latest label's time are read.
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
  labels.forEach((l, i) => {
    if (typeof l.entity !== 'string') throw new TypeError(`label ${i + 1}: the entity must be a string, got ${typeof l.entity}`);
    if (!Number.isFinite(l.time)) throw new RangeError(`label ${i + 1}: the time must be a finite number of ms, got ${String(l.time)}`);
  });
  const builder = new StreamsBuilder();
  buildFeatures(builder.stream(SOURCE, { key: options.key ?? (Serdes.string() as unknown as Serde<K>), value: options.value ?? Serdes.msgpack<V>() }), def);
  const driver = new TopologyTestDriver(builder.build());
  try {
    const input = driver.createInputTopic(SOURCE, options.key ?? (Serdes.string() as unknown as Serde<K>), options.value ?? Serdes.msgpack<V>());
    const store = driver.getKeyValueStore<string, FeatureState>(def.name);
    const order = labels.map((_, i) => i).sort((a, b) => labels[a]!.time - labels[b]!.time);
    const out = new Array<FeatureValues<F>>(labels.length);
    const it = events[Symbol.iterator]();
    let pending: PastEvent<K, V> | undefined;
    let last = -Infinity;
    let done = false;
    const next = (): PastEvent<K, V> | undefined => {
      if (pending === undefined && !done) {
        const r = it.next();
        if (r.done === true) done = true;
        else {
          pending = r.value;
          if (!(pending.timestamp >= last)) throw new RangeError(`events must come in time order: ${pending.timestamp} after ${last}`);
          last = pending.timestamp;
        }
      }
      return pending;
    };
    for (const i of order) {
      const { entity, time } = labels[i]!;
      for (let e = next(); e !== undefined && e.timestamp <= time; e = next()) {
        input.pipeInput(e.key, e.value, e.timestamp);
        pending = undefined;
      }
      out[i] = readFeatures(def, store.get(entity), time);
    }
    return out;
  } finally {
    driver.close();
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
