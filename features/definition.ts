/**
 * Declarative feature definitions (in the spirit of Chronon's GroupBy): the entity, the windows
 * and the aggregations; `buildFeatures` adds the streaming aggregation to a topology, and
 * `readFeatures` serves an entity's values as of a time.
 *
 * State per entity (one row of the definition's store, changelogged like any DSL aggregate, so it
 * is exactly-once and restored after a restart): the newest event time, one partial per feature
 * with a lifetime window, and per hop the tiles a read can still need: a tile is dropped once its
 * start is at or before newest - (largest window of that hop) - hop, since a read at a `now` at
 * or after the newest event never merges it.
 */
import { Serdes } from '../engine/index.ts';
import type { FixedKeyProcessor, FixedKeyProcessorContext, FixedKeyRecord, KStream, KTable } from '../dsl/index.ts';
import type { Aggregation, AnyAggregation, ResultOf } from './aggregations.ts';
import { resolveWindow, tileInWindow, tileStart, type ResolvedWindow, type WindowSpec } from './windows.ts';

/** One feature: an aggregation of the value `input` reads (null or undefined: the event is skipped). */
export interface FeatureSpec<V, A extends AnyAggregation = AnyAggregation> {
  readonly aggregation: A;
  readonly input: (value: V) => unknown;
  /** The windows it is computed over (names of the definition's windows; default all). */
  readonly windows?: readonly string[];
  /** `input` returns a list, each element one input at the event's time (see {@link featureOfEach}). */
  readonly each?: boolean;
}

/**
 * A feature: an aggregation and the input it reads from each event (null or undefined skips the
 * event), typed so the input matches what the aggregation takes.
 *
 * @example
 * feature(Agg.sum(), (e: Event) => (e.type === 'purchase' ? e.price : null), { windows: ['1d'] })
 */
export function feature<V, I, P, O>(
  aggregation: Aggregation<I, P, O>,
  input: (value: V) => I | null | undefined,
  options: { windows?: readonly string[] } = {},
): FeatureSpec<V, Aggregation<I, P, O>> {
  return { aggregation, input, ...(options.windows !== undefined && { windows: options.windows }) };
}

/**
 * A feature whose input is a list per event: each element is added at the event's time (e.g. the
 * items viewed with an item in one session), in one update of the entity's row.
 *
 * @example
 * featureOfEach(Agg.topK(20), (s: { others: string[] }) => s.others)
 */
export function featureOfEach<V, I, P, O>(
  aggregation: Aggregation<I, P, O>,
  input: (value: V) => readonly I[] | null | undefined,
  options: { windows?: readonly string[] } = {},
): FeatureSpec<V, Aggregation<I, P, O>> {
  return { aggregation, input, each: true, ...(options.windows !== undefined && { windows: options.windows }) };
}

/** A feature definition over values `V` of a stream keyed by `K`. */
export interface FeatureDefinition<V, K = string, F extends Record<string, FeatureSpec<never>> = Record<string, FeatureSpec<V>>> {
  /** The name of the store (and of the operators). */
  readonly name: string;
  /** The entity of an event (default: the record key, which must then be a string; no repartition). */
  readonly entity?: (value: V, key: K) => string | null;
  /** Windows by name: `{ '1h': { hop: '5m' }, '7d': { hop: '1h' }, lifetime: 'lifetime' }`. */
  readonly windows: Readonly<Record<string, WindowSpec>>;
  readonly features: F;
}

/** The value type the features of a definition read. */
export type ValueOf<F> = F[keyof F] extends FeatureSpec<infer V, AnyAggregation> ? V : never;

/** The values served for a definition: per feature, per window, the aggregation's result. */
export type FeatureValues<F> = { [N in keyof F]: F[N] extends FeatureSpec<infer _V, infer A> ? Record<string, ResultOf<A>> : never };

/** An entity's row in the store (plain data, MessagePack). */
export interface FeatureState {
  /** The newest event time seen. */
  newest: number;
  /** Per feature index: the lifetime partial, or null. */
  life: unknown[];
  /** Per hop (ms): the tiles sorted by start, each with the partial of each feature index (or null). */
  tiles: Record<number, [start: number, partials: unknown[]][]>;
}

/** An event as it crosses the repartition topic: entity, time and each feature's input. */
interface Projected {
  e: string;
  t: number;
  x: unknown[];
}

/** A definition checked and resolved once, as the processors use it. */
class Plan<V, K> {
  readonly features: { name: string; agg: AnyAggregation; input: (v: V) => unknown; each: boolean; windows: ResolvedWindow[]; lifetime: boolean }[];
  /** Per hop: the largest window with that hop. */
  readonly hops: Map<number, number>;

  readonly def: FeatureDefinition<V, K>;

  constructor(def: FeatureDefinition<V, K>) {
    this.def = def;
    if (typeof def.name !== 'string' || def.name === '') throw new RangeError('a feature definition needs a name');
    const windows = Object.entries(def.windows).map(([name, spec]) => resolveWindow(name, spec));
    if (windows.length === 0) throw new RangeError(`feature definition '${def.name}' declares no window`);
    this.hops = new Map();
    for (const w of windows) if (w.hopMs !== null) this.hops.set(w.hopMs, Math.max(this.hops.get(w.hopMs) ?? 0, w.sizeMs!));
    this.features = Object.entries(def.features).map(([name, spec]) => {
      const names = spec.windows ?? windows.map((w) => w.name);
      const own = names.map((n) => {
        const w = windows.find((x) => x.name === n);
        if (w === undefined) throw new RangeError(`feature '${name}' of '${def.name}' names window '${n}', which the definition does not declare`);
        return w;
      });
      return { name, agg: spec.aggregation, input: spec.input, each: spec.each === true, windows: own.filter((w) => w.hopMs !== null), lifetime: own.some((w) => w.hopMs === null) };
    });
  }

  init(): FeatureState {
    return { newest: -Infinity, life: this.features.map((f) => (f.lifetime ? f.agg.init() : null)), tiles: {} };
  }

  add(s: FeatureState, p: Projected): FeatureState {
    s.newest = Math.max(s.newest, p.t);
    this.features.forEach((f, i) => {
      const x = p.x[i];
      if (x === null || x === undefined) return;
      if (f.lifetime) s.life[i] = this.#addTo(f, s.life[i], x, p.t);
    });
    for (const [hop, largest] of this.hops) {
      let tiles = (s.tiles[hop] ??= []);
      const start = tileStart(p.t, hop);
      const horizon = s.newest - largest - hop;
      if (start > horizon) {
        let at = tiles.findIndex((tile) => tile[0] >= start);
        this.features.forEach((f, i) => {
          const x = p.x[i];
          if (x === null || x === undefined || !f.windows.some((w) => w.hopMs === hop)) return;
          if (at < 0 || tiles[at]![0] !== start) {
            // Tiles stay sorted by start.
            at = at < 0 ? tiles.length : at;
            tiles.splice(at, 0, [start, this.features.map(() => null)]);
          }
          const partials = tiles[at]![1];
          partials[i] = this.#addTo(f, partials[i] ?? f.agg.init(), x, p.t);
        });
      }
      if (tiles.length > 0 && tiles[0]![0] <= horizon) s.tiles[hop] = tiles = tiles.filter((tile) => tile[0] > horizon);
    }
    return s;
  }

  #addTo(f: Plan<V, K>['features'][number], partial: unknown, x: unknown, t: number): unknown {
    if (!f.each) return f.agg.add(partial, x, t);
    for (const item of x as unknown[]) if (item !== null && item !== undefined) partial = f.agg.add(partial, item, t);
    return partial;
  }

  read(s: FeatureState | undefined | null, now: number): Record<string, Record<string, unknown>> {
    const state = s ?? this.init();
    // A read never goes back before the entity's newest event (see the README).
    const at = Math.max(now, state.newest);
    const out: Record<string, Record<string, unknown>> = {};
    this.features.forEach((f, i) => {
      const values: Record<string, unknown> = {};
      for (const w of f.windows) {
        let acc = f.agg.init();
        for (const [start, partials] of state.tiles[w.hopMs!] ?? []) {
          const partial = partials[i];
          if (partial !== null && partial !== undefined && tileInWindow(start, at, w.sizeMs!, w.hopMs!)) acc = f.agg.merge(acc, structuredClone(partial));
        }
        values[w.name] = f.agg.result(acc, at);
      }
      if (f.lifetime) {
        const name = Object.entries(this.def.windows).find(([, spec]) => spec === 'lifetime')![0];
        values[name] = f.agg.result(structuredClone(state.life[i]), at);
      }
      out[f.name] = values;
    });
    return out;
  }
}

/**
 * Declares a feature definition (checked now: windows, hops, window names), to pass to
 * {@link buildFeatures} and {@link readFeatures}.
 *
 * @example
 * const userFeatures = defineFeatures({
 *   name: 'user-features',
 *   entity: (e: Event) => e.userId,
 *   windows: { '1h': { hop: '5m' }, '1d': { hop: '1h' }, '7d': { hop: '1d' }, lifetime: 'lifetime' },
 *   features: {
 *     views: feature(Agg.count(), (e: Event) => (e.type === 'page_view' ? 1 : null)),
 *     spend: feature(Agg.sum(), (e: Event) => (e.type === 'purchase' ? e.price : null), { windows: ['1d', 'lifetime'] }),
 *   },
 * });
 */
export function defineFeatures<F extends Record<string, FeatureSpec<never>>, K = string>(
  def: FeatureDefinition<ValueOf<F>, K, F>,
): FeatureDefinition<ValueOf<F>, K, F> {
  new Plan<ValueOf<F>, K>(def as unknown as FeatureDefinition<ValueOf<F>, K>);
  const lifetimes = Object.values(def.windows).filter((w) => w === 'lifetime').length;
  if (lifetimes > 1) throw new RangeError(`feature definition '${def.name}' declares ${lifetimes} lifetime windows; one is enough`);
  return Object.freeze({ ...def });
}

class Project<K, V> implements FixedKeyProcessor<K, V, Projected> {
  #ctx!: FixedKeyProcessorContext<K, Projected>;
  readonly plan: Plan<V, K>;
  constructor(plan: Plan<V, K>) {
    this.plan = plan;
  }
  init(ctx: FixedKeyProcessorContext<K, Projected>): void {
    this.#ctx = ctx;
  }
  process(record: FixedKeyRecord<K, V>): void {
    const v = record.value;
    if (v === null || v === undefined) return;
    const entity = this.plan.def.entity === undefined ? (record.key as unknown as string) : this.plan.def.entity(v, record.key);
    if (entity === null || entity === undefined) return;
    const x = this.plan.features.map((f) => f.input(v) ?? null);
    if (x.every((i) => i === null)) return;
    this.#ctx.forward(record.withValue({ e: entity, t: record.timestamp, x }));
  }
}

/**
 * Adds a definition's streaming aggregation to the topology of `stream`: each event is projected to
 * its entity, time and inputs, grouped by entity (repartitioned when `entity` is given) and
 * aggregated into the store named after the definition. Returns the table of states; read an
 * entity's values with {@link readFeatures}.
 *
 * @example
 * const events = builder.stream('events', { key: Serdes.string(), value: eventSerde });
 * buildFeatures(events, userFeatures);
 * // later: readFeatures(userFeatures, driver.getKeyValueStore('user-features').get('u1'), Date.now())
 */
export function buildFeatures<K, V, F extends Record<string, FeatureSpec<V>>>(stream: KStream<K, V>, def: FeatureDefinition<V, K, F>): KTable<string, FeatureState> {
  const plan = new Plan<V, K>(def as FeatureDefinition<V, K>);
  const projected = stream.processValues(() => new Project<K, V>(plan), { name: `${def.name}-project` });
  const value = Serdes.msgpack<Projected>();
  const grouped =
    def.entity === undefined
      ? (projected as unknown as KStream<string, Projected>).groupByKey({ key: Serdes.string(), value, name: `${def.name}-by-entity` })
      : projected.groupBy((_, p) => p.e, { key: Serdes.string(), value, name: `${def.name}-by-entity` });
  return grouped.aggregate(() => plan.init(), (_, p, s) => plan.add(s, p), { materialized: def.name, name: `${def.name}-aggregate` });
}

/**
 * An entity's feature values as of `now` (event time, ms), from its row in the definition's store
 * (undefined or null: an entity never seen, which reads as empty windows). A `now` before the
 * entity's newest event reads as of that event.
 *
 * @example
 * const values = readFeatures(userFeatures, store.get('u1'), Date.now());
 * values.views['1h']; // page views in the last hour (to the hop)
 */
export function readFeatures<V, K, F extends Record<string, FeatureSpec<V>>>(def: FeatureDefinition<V, K, F>, state: FeatureState | undefined | null, now: number): FeatureValues<F> {
  return planOf(def).read(state, now) as FeatureValues<F>;
}

const plans = new WeakMap<object, Plan<never, never>>();
function planOf<V, K>(def: FeatureDefinition<V, K, Record<string, FeatureSpec<V>>>): Plan<V, K> {
  let plan = plans.get(def) as Plan<V, K> | undefined;
  if (plan === undefined) {
    plan = new Plan(def);
    plans.set(def, plan as unknown as Plan<never, never>);
  }
  return plan;
}

