/**
 * The aggregations a feature definition can use. Each is a monoid over plain data (so a store can
 * hold it with MessagePack): `init`, `add` one input at its event time, `merge` two partials (the
 * tiles of a window), and `result` as of a time. Partials may be mutated by `add` and `merge`.
 */
import { DDSketch } from '@datadog/sketches-js';
import { hllAdd, hllCount, hllMerge, hllNew, type HllState } from './hyperloglog.ts';
import { ssAdd, ssMerge, ssNew, ssTop, type SpaceSavingState } from './space-saving.ts';

/**
 * One aggregation: input `I`, partial `P` (plain data), result `O`. Made by the {@link Agg}
 * factories; a definition pairs it with the input it reads (see `feature()`).
 */
export interface Aggregation<I, P, O> {
  /** The aggregation's name, as in the README ("count", "top_k", ...). */
  readonly kind: string;
  init(): P;
  add(partial: P, input: I, time: number): P;
  merge(a: P, b: P): P;
  result(partial: P, now: number): O;
}

/** Any aggregation, whatever its types (definitions hold several). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyAggregation = Aggregation<any, any, any>;

/** The result type of an aggregation. */
export type ResultOf<A> = A extends Aggregation<infer _I, infer _P, infer O> ? O : never;

/** A value and its event time, in the order they are kept by last_k / first_k. */
type Timed<T> = [time: number, value: T];

function insertByTime<T>(list: Timed<T>[], item: Timed<T>): void {
  // After every entry of the same time: arrival order breaks ties (a stable sort by time).
  let i = list.length;
  while (i > 0 && list[i - 1]![0] > item[0]) i--;
  list.splice(i, 0, item);
}

function checkPositiveInt(what: string, n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${what} must be an integer >= 1, got ${String(n)}`);
  return n;
}

/** A decayed sum as of `at`: the value `s` at time `at`. */
export interface DecayState {
  s: number;
  at: number;
}

/** Variance partial: count, mean, sum of squared deviations (Welford; Chan et al. to merge). */
export interface MomentsState {
  n: number;
  mean: number;
  m2: number;
}

/** decayedTopK's partial: a Space-Saving summary of weights relative to `landmark`. */
export interface DecayedTopKState {
  landmark: number | null;
  ss: SpaceSavingState;
}

/** decayedTopK's rows: the item, its decayed score (an upper bound) and error, as of the read. */
export interface DecayedTopKEntry {
  item: string;
  score: number;
  error: number;
}

/** Top-k result rows: the item, its Space-Saving count (an upper bound) and error. */
export interface TopKEntry {
  item: string;
  count: number;
  error: number;
}

/**
 * The aggregation factories.
 *
 * @example
 * const purchases = defineFeatures<Event>({
 *   name: 'user-purchases',
 *   windows: { '1h': { hop: '5m' }, lifetime: 'lifetime' },
 *   features: {
 *     amount: feature(Agg.sum(), (e) => e.price),
 *     items: feature(Agg.approxDistinct(), (e) => e.itemId),
 *   },
 * });
 */
export const Agg = {
  /** The number of inputs (exact). */
  count(): Aggregation<unknown, number, number> {
    return { kind: 'count', init: () => 0, add: (p) => p + 1, merge: (a, b) => a + b, result: (p) => p };
  },

  /** The sum of the inputs (exact up to floating-point rounding). */
  sum(): Aggregation<number, number, number> {
    return { kind: 'sum', init: () => 0, add: (p, x) => p + x, merge: (a, b) => a + b, result: (p) => p };
  },

  /** The mean of the inputs, null without any. */
  avg(): Aggregation<number, [n: number, sum: number], number | null> {
    return {
      kind: 'avg',
      init: () => [0, 0],
      add: (p, x) => [p[0] + 1, p[1] + x],
      merge: (a, b) => [a[0] + b[0], a[1] + b[1]],
      result: (p) => (p[0] === 0 ? null : p[1] / p[0]),
    };
  },

  /** The smallest input, null without any. */
  min(): Aggregation<number, number | null, number | null> {
    const min = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));
    return { kind: 'min', init: () => null, add: min, merge: min, result: (p) => p };
  },

  /** The largest input, null without any. */
  max(): Aggregation<number, number | null, number | null> {
    const max = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b));
    return { kind: 'max', init: () => null, add: max, merge: max, result: (p) => p };
  },

  /** The population variance of the inputs (Welford's update, Chan's merge), null without any. */
  variance(): Aggregation<number, MomentsState, number | null> {
    return {
      kind: 'variance',
      init: () => ({ n: 0, mean: 0, m2: 0 }),
      add: (p, x) => {
        p.n++;
        const d = x - p.mean;
        p.mean += d / p.n;
        p.m2 += d * (x - p.mean);
        return p;
      },
      merge: (a, b) => {
        if (b.n === 0) return a;
        if (a.n === 0) return { ...b };
        const n = a.n + b.n;
        const d = b.mean - a.mean;
        return { n, mean: a.mean + (d * b.n) / n, m2: a.m2 + b.m2 + (d * d * a.n * b.n) / n };
      },
      result: (p) => (p.n === 0 ? null : Math.max(0, p.m2 / p.n)),
    };
  },

  /** The `k` latest inputs by event time, newest first (ties: the later arrival is newer). */
  lastK<T>(k: number): Aggregation<T, Timed<T>[], T[]> {
    checkPositiveInt('lastK(k)', k);
    const keep = (list: Timed<T>[]) => (list.length > k ? list.slice(list.length - k) : list);
    return {
      kind: 'last_k',
      init: () => [],
      add: (p, x, t) => {
        insertByTime(p, [t, x]);
        return keep(p);
      },
      merge: (a, b) => {
        for (const item of b) insertByTime(a, item);
        return keep(a);
      },
      result: (p) => p.map((e) => e[1]).reverse(),
    };
  },

  /** The `k` earliest inputs by event time, oldest first (ties: the earlier arrival is older). */
  firstK<T>(k: number): Aggregation<T, Timed<T>[], T[]> {
    checkPositiveInt('firstK(k)', k);
    const keep = (list: Timed<T>[]) => (list.length > k ? list.slice(0, k) : list);
    return {
      kind: 'first_k',
      init: () => [],
      add: (p, x, t) => {
        insertByTime(p, [t, x]);
        return keep(p);
      },
      merge: (a, b) => {
        // a's entries are older arrivals than b's only within a tile; tiles never share a time.
        for (const item of b) insertByTime(a, item);
        return keep(a);
      },
      result: (p) => p.map((e) => e[1]),
    };
  },

  /**
   * The `k` most frequent inputs, by a Space-Saving summary of `capacity` counters (default 10 k):
   * each count is an upper bound and `count - error` a lower bound of the true count; every item
   * whose true count exceeds the summary's floor is held (see the README for the bound).
   */
  topK(k: number, options: { capacity?: number } = {}): Aggregation<string, SpaceSavingState, TopKEntry[]> {
    checkPositiveInt('topK(k)', k);
    const capacity = checkPositiveInt('topK capacity', options.capacity ?? 10 * k);
    if (capacity < k) throw new RangeError(`topK capacity (${capacity}) must be at least k (${k})`);
    return { kind: 'top_k', init: () => ssNew(capacity), add: (p, x) => ssAdd(p, x), merge: ssMerge, result: (p) => ssTop(p, k) };
  },

  /** The number of distinct inputs, by HyperLogLog with 2^precision registers (default 10: 3.25% standard error). */
  approxDistinct(options: { precision?: number } = {}): Aggregation<string, HllState, number> {
    const p = options.precision ?? 10;
    if (!Number.isInteger(p) || p < 4 || p > 16) throw new RangeError(`approxDistinct precision must be an integer in [4, 16], got ${String(p)}`);
    return { kind: 'approx_distinct', init: () => hllNew(p), add: (h, x) => hllAdd(h, String(x)), merge: hllMerge, result: hllCount };
  },

  /**
   * Quantiles of the inputs, by DDSketch (@datadog/sketches-js) with relative accuracy `alpha`
   * (default 0.01): each returned value is within alpha (relative) of an exact quantile. Null
   * without any input.
   */
  approxPercentile<Q extends readonly number[]>(quantiles: Q, options: { relativeAccuracy?: number } = {}): Aggregation<number, Uint8Array | null, { [I in keyof Q]: number } | null> {
    const alpha = options.relativeAccuracy ?? 0.01;
    for (const q of quantiles) if (!(q >= 0 && q <= 1)) throw new RangeError(`quantiles must be in [0, 1], got ${String(q)}`);
    if (!(alpha > 0 && alpha < 1)) throw new RangeError(`relativeAccuracy must be in (0, 1), got ${String(alpha)}`);
    const open = (p: Uint8Array | null) => (p === null ? new DDSketch({ relativeAccuracy: alpha }) : DDSketch.fromProto(p));
    return {
      kind: 'approx_percentile',
      init: () => null,
      add: (p, x) => {
        const s = open(p);
        s.accept(x);
        return s.toProto();
      },
      merge: (a, b) => {
        if (b === null) return a;
        if (a === null) return b;
        const s = open(a);
        const other = open(b);
        const both = s.count > 0 && other.count > 0;
        s.merge(other);
        // @datadog/sketches-js 2.1.1's merge leaves out the other sketch's negative values (it
        // merges the positive store and the zero count only): merge that store here.
        if (both) s.negativeStore.merge(other.negativeStore);
        return s.toProto();
      },
      result: (p) => {
        if (p === null) return null;
        const s = open(p);
        return quantiles.map((q) => s.getValueAtQuantile(q)) as { [I in keyof Q]: number };
      },
    };
  },

  /** Counts by input value (exact, one counter per distinct value). */
  histogram(): Aggregation<string, Record<string, number>, Record<string, number>> {
    return {
      kind: 'histogram',
      init: () => ({}),
      add: (p, x) => {
        p[x] = (p[x] ?? 0) + 1;
        return p;
      },
      merge: (a, b) => {
        for (const [x, n] of Object.entries(b)) a[x] = (a[x] ?? 0) + n;
        return a;
      },
      result: (p) => ({ ...p }),
    };
  },

  /**
   * An exponentially decayed sum: each input x at time t weighs x * 0.5^((now - t) / halfLifeMs)
   * at a read at `now` (exact up to floating-point rounding).
   */
  decayedSum(options: { halfLifeMs: number }): Aggregation<number, DecayState, number> {
    const h = options.halfLifeMs;
    if (!(h > 0)) throw new RangeError(`decayedSum halfLifeMs must be > 0, got ${String(h)}`);
    const at = (p: DecayState, t: number) => (p.s === 0 ? 0 : p.s * 0.5 ** ((t - p.at) / h));
    return {
      kind: 'exponential_decay',
      init: () => ({ s: 0, at: 0 }),
      add: (p, x, t) => (t >= p.at ? { s: at(p, t) + x, at: t } : { s: p.s + x * 0.5 ** ((p.at - t) / h), at: p.at }),
      merge: (a, b) => {
        const t = Math.max(a.at, b.at);
        return { s: at(a, t) + at(b, t), at: t };
      },
      result: (p, now) => at(p, Math.max(now, p.at)),
    };
  },

  /**
   * The `k` inputs with the largest exponentially decayed weight (each input `[item, w]` at time
   * t weighs w * 0.5^((now - t) / halfLifeMs) at a read at `now`): trending items. A Space-Saving
   * summary of `capacity` counters over forward-decayed weights (Cormode et al.: weights grow with
   * time from a landmark, so old counts need no update; the landmark moves, rescaling the counts,
   * before they grow large). Same bounds as topK, on decayed weights: `score` an upper bound,
   * `score - error` a lower bound.
   */
  decayedTopK(k: number, options: { halfLifeMs: number; capacity?: number }): Aggregation<readonly [string, number], DecayedTopKState, DecayedTopKEntry[]> {
    checkPositiveInt('decayedTopK(k)', k);
    const capacity = checkPositiveInt('decayedTopK capacity', options.capacity ?? 10 * k);
    if (capacity < k) throw new RangeError(`decayedTopK capacity (${capacity}) must be at least k (${k})`);
    const h = options.halfLifeMs;
    if (!(h > 0)) throw new RangeError(`decayedTopK halfLifeMs must be > 0, got ${String(h)}`);
    /** Moves the landmark to `to` (later), scaling every count down. */
    const moveTo = (p: DecayedTopKState, to: number) => {
      if (p.landmark === null || to <= p.landmark) return;
      const f = 0.5 ** ((to - p.landmark) / h);
      p.ss.counts = p.ss.counts.map((c) => c * f);
      p.ss.errors = p.ss.errors.map((e) => e * f);
      p.ss.floor *= f;
      p.landmark = to;
    };
    return {
      kind: 'decayed_top_k',
      init: () => ({ landmark: null, ss: ssNew(capacity) }),
      add: (p, [item, w], t) => {
        if (p.landmark === null) p.landmark = t;
        // Keep weights within a few hundred halvings of the landmark (2^64 here), far from overflow.
        if ((t - p.landmark) / h > 64) moveTo(p, t);
        ssAdd(p.ss, item, w * 2 ** ((t - p.landmark) / h));
        return p;
      },
      merge: (a, b) => {
        if (b.landmark === null) return a;
        if (a.landmark === null) return b;
        const to = Math.max(a.landmark, b.landmark);
        moveTo(a, to);
        // b is not changed: a copy of it is rescaled.
        const other: DecayedTopKState = { landmark: b.landmark, ss: { ...b.ss, counts: [...b.ss.counts], errors: [...b.ss.errors] } };
        moveTo(other, to);
        a.ss = ssMerge(a.ss, other.ss);
        return a;
      },
      result: (p, now) => {
        if (p.landmark === null) return [];
        const f = 0.5 ** ((Math.max(now, p.landmark) - p.landmark) / h);
        return ssTop(p.ss, k).map((e) => ({ item: e.item, score: e.count * f, error: e.error * f }));
      },
    };
  },

  /**
   * The `k` distinct inputs seen last by event time, newest first (each at its latest time; ties:
   * the later arrival is newer). Exact: a value outside a partial's `k` is older than all of them,
   * so merging two partials' lists keeps the right `k`.
   */
  lastDistinctK(k: number): Aggregation<string, Timed<string>[], string[]> {
    checkPositiveInt('lastDistinctK(k)', k);
    const put = (list: Timed<string>[], [t, v]: Timed<string>) => {
      const at = list.findIndex((e) => e[1] === v);
      if (at >= 0) {
        if (list[at]![0] > t) return;
        list.splice(at, 1);
      }
      insertByTime(list, [t, v]);
      if (list.length > k) list.splice(0, list.length - k);
    };
    return {
      kind: 'last_distinct_k',
      init: () => [],
      add: (p, x, t) => {
        put(p, [t, x]);
        return p;
      },
      merge: (a, b) => {
        for (const item of b) put(a, item);
        return a;
      },
      result: (p) => p.map((e) => e[1]).reverse(),
    };
  },

  /**
   * An exponentially decayed sum per key: each input `[key, x]` at time t weighs
   * x * 0.5^((now - t) / halfLifeMs) in its key's sum at a read at `now`. One number per key seen:
   * for small key sets (categories, not items).
   */
  decayedSumByKey(options: { halfLifeMs: number }): Aggregation<readonly [string, number], { at: number; sums: Record<string, number> }, Record<string, number>> {
    const h = options.halfLifeMs;
    if (!(h > 0)) throw new RangeError(`decayedSumByKey halfLifeMs must be > 0, got ${String(h)}`);
    const move = (p: { at: number; sums: Record<string, number> }, t: number) => {
      if (t <= p.at) return;
      const f = 0.5 ** ((t - p.at) / h);
      for (const key of Object.keys(p.sums)) p.sums[key]! *= f;
      p.at = t;
    };
    return {
      kind: 'exponential_decay_by_key',
      init: () => ({ at: 0, sums: {} }),
      add: (p, [key, x], t) => {
        move(p, t);
        p.sums[key] = (p.sums[key] ?? 0) + x * 0.5 ** ((p.at - t) / h);
        return p;
      },
      merge: (a, b) => {
        const t = Math.max(a.at, b.at);
        move(a, t);
        move(b, t);
        for (const [key, x] of Object.entries(b.sums)) a.sums[key] = (a.sums[key] ?? 0) + x;
        return a;
      },
      result: (p, now) => {
        const t = Math.max(now, p.at);
        const f = 0.5 ** ((t - p.at) / h);
        return Object.fromEntries(Object.entries(p.sums).map(([key, x]) => [key, x * f]));
      },
    };
  },
} as const;
