/**
 * Property tests of feature definitions under the TopologyTestDriver: every aggregation over every
 * window, read at random times, against a brute-force model that keeps all events. Random event
 * streams are out of order (late events, some older than every window), with times drawn near tile
 * and window boundaries, and reads at the newest event, at tile boundaries and at window edges.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Serdes, StreamsBuilder, TopologyTestDriver } from '../../index.ts';
import { Agg, buildFeatures, defineFeatures, feature, featureOfEach, readFeatures, tileStart, type FeatureState } from '../../features/index.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = 1_700_000_400_000; // a multiple of 5 minutes and of the hour

interface Ev {
  user: string;
  n: number;
  item: string;
}

const K = 3;
const CAPACITY = 4;
const Q = [0, 0.5, 0.9, 1] as const;
const HALF_LIFE = 20 * MIN;

const def = defineFeatures({
  name: 'prop-features',
  entity: (e: Ev) => e.user,
  windows: { '1h': { hop: '5m' }, '3h': { hop: '1h' }, '10m': { hop: 5 * MIN }, lifetime: 'lifetime' },
  features: {
    count: feature(Agg.count(), (e: Ev) => e),
    sum: feature(Agg.sum(), (e: Ev) => e.n),
    avg: feature(Agg.avg(), (e: Ev) => e.n),
    min: feature(Agg.min(), (e: Ev) => e.n),
    max: feature(Agg.max(), (e: Ev) => e.n),
    variance: feature(Agg.variance(), (e: Ev) => e.n),
    last: feature(Agg.lastK<string>(K), (e: Ev) => `${e.item}:${e.n}`),
    first: feature(Agg.firstK<string>(K), (e: Ev) => `${e.item}:${e.n}`),
    top: feature(Agg.topK(K, { capacity: CAPACITY }), (e: Ev) => e.item),
    distinct: feature(Agg.approxDistinct(), (e: Ev) => e.item),
    pct: feature(Agg.approxPercentile(Q, { relativeAccuracy: 0.02 }), (e: Ev) => e.n),
    hist: feature(Agg.histogram(), (e: Ev) => e.item),
    decay: feature(Agg.decayedSum({ halfLifeMs: HALF_LIFE }), (e: Ev) => e.n),
    lastDistinct: feature(Agg.lastDistinctK(K), (e: Ev) => e.item),
    decayByKey: feature(Agg.decayedSumByKey({ halfLifeMs: HALF_LIFE }), (e: Ev) => [e.item, e.n] as const),
    trending: feature(Agg.decayedTopK(K, { capacity: CAPACITY, halfLifeMs: HALF_LIFE }), (e: Ev) => [e.item, Math.abs(e.n) + 1] as const),
    // Skips: only even values, and only in two windows.
    evens: feature(Agg.count(), (e: Ev) => (e.n % 2 === 0 ? 1 : null), { windows: ['1h', 'lifetime'] }),
    // A list per event: each element one input.
    pairs: featureOfEach(Agg.histogram(), (e: Ev) => (e.n % 3 === 0 ? [] : [e.item, `${e.item}${e.n % 2}`])),
  },
});

const WINDOWS = { '1h': [HOUR, 5 * MIN], '3h': [3 * HOUR, HOUR], '10m': [10 * MIN, 5 * MIN] } as const;

/** The events a window of `size`/`hop` holds at `now` (>= every event): tiles starting in (now - size - hop, now]. */
function inWindow<E extends Ev & { t: number }>(events: readonly E[], now: number, size: number, hop: number): E[] {
  return events.filter((e) => tileStart(e.t, hop) > now - size - hop && tileStart(e.t, hop) <= now);
}

function close(actual: number | null, expected: number | null, what: string) {
  if (expected === null || actual === null) return assert.equal(actual, expected, what);
  assert.ok(Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected}`);
}

function checkWindow(values: Record<string, Record<string, unknown>>, w: string, events: (Ev & { t: number; i: number })[], now: number) {
  const at = `${w} at ${now - T0}`;
  const ns = events.map((e) => e.n);
  const n = ns.length;
  assert.equal(values.count![w], n, `count ${at}`);
  assert.equal(values.sum![w], ns.reduce((a, b) => a + b, 0), `sum ${at}`);
  close(values.avg![w] as number | null, n === 0 ? null : ns.reduce((a, b) => a + b, 0) / n, `avg ${at}`);
  assert.equal(values.min![w], n === 0 ? null : Math.min(...ns), `min ${at}`);
  assert.equal(values.max![w], n === 0 ? null : Math.max(...ns), `max ${at}`);
  const mean = ns.reduce((a, b) => a + b, 0) / n;
  close(values.variance![w] as number | null, n === 0 ? null : ns.reduce((a, x) => a + (x - mean) ** 2, 0) / n, `variance ${at}`);
  // Stable sort by time: ties keep arrival order.
  const sorted = [...events].sort((a, b) => a.t - b.t).map((e) => `${e.item}:${e.n}`);
  assert.deepEqual(values.last![w], sorted.slice(-K).reverse(), `last_k ${at}`);
  assert.deepEqual(values.first![w], sorted.slice(0, K), `first_k ${at}`);
  const hist: Record<string, number> = {};
  for (const e of events) hist[e.item] = (hist[e.item] ?? 0) + 1;
  assert.deepEqual(values.hist![w], hist, `histogram ${at}`);
  // Space-Saving: each count an upper bound, count - error a lower bound; an item left out never
  // has a larger true count than the smallest reported (when k are reported).
  const top = values.top![w] as { item: string; count: number; error: number }[];
  for (const r of top) assert.ok(r.count >= hist[r.item]! && r.count - r.error <= hist[r.item]!, `top_k bounds of ${r.item} ${at}: ${JSON.stringify(r)} vs ${hist[r.item]}`);
  assert.equal(top.length, Math.min(K, Object.keys(hist).length), `top_k size ${at}`);
  if (top.length === K) {
    const floor = top[K - 1]!.count;
    for (const [item, c] of Object.entries(hist)) if (!top.some((r) => r.item === item)) assert.ok(c <= floor, `top_k left out ${item} (${c} > ${floor}) ${at}`);
  }
  const d = Object.keys(hist).length;
  const distinct = values.distinct![w] as number;
  assert.ok(Math.abs(distinct - d) <= 1 + 0.1 * d, `approx distinct ${at}: ${distinct} vs ${d}`);
  // DDSketch: each quantile within alpha (relative) of the exact values at the ranks around q (n - 1).
  const pct = values.pct![w] as number[] | null;
  if (n === 0) assert.equal(pct, null);
  else {
    const s = [...ns].sort((a, b) => a - b);
    Q.forEach((q, i) => {
      const lo = s[Math.floor(q * (n - 1))]!;
      const hi = s[Math.ceil(q * (n - 1))]!;
      const v = pct![i]!;
      assert.ok(v >= Math.min(lo * 0.98, lo * 1.02) - 1e-9 && v <= Math.max(hi * 0.98, hi * 1.02) + 1e-9, `p${q} ${at}: ${v} not in [${lo}, ${hi}] +- 2%`);
    });
  }
  // last_distinct_k: each item at its latest time (a later arrival wins a tie), newest first.
  const latest = new Map<string, [number, number]>();
  for (const e of events) {
    const seen = latest.get(e.item);
    if (seen === undefined || e.t > seen[0] || (e.t === seen[0] && e.i > seen[1])) latest.set(e.item, [e.t, e.i]);
  }
  const byRecency = [...latest].sort((a, b) => b[1][0] - a[1][0] || b[1][1] - a[1][1]).map(([item]) => item);
  assert.deepEqual(values.lastDistinct![w], byRecency.slice(0, K), `last_distinct_k ${at}`);
  const perKey: Record<string, number> = {};
  for (const e of events) perKey[e.item] = (perKey[e.item] ?? 0) + e.n * 0.5 ** ((now - e.t) / HALF_LIFE);
  const gotByKey = values.decayByKey![w] as Record<string, number>;
  assert.deepEqual(Object.keys(gotByKey).sort(), Object.keys(perKey).sort(), `decay by key: keys ${at}`);
  for (const [key, x] of Object.entries(perKey)) assert.ok(Math.abs(gotByKey[key]! - x) <= 1e-9 * Math.max(1, Math.abs(x)), `decay by key ${key} ${at}: ${gotByKey[key]} vs ${x}`);
  // decayed top-k (Space-Saving on decayed weights): each score an upper bound and score - error a
  // lower bound of the item's decayed weight; an item left out weighs at most the smallest served.
  const weights: Record<string, number> = {};
  for (const e of events) weights[e.item] = (weights[e.item] ?? 0) + (Math.abs(e.n) + 1) * 0.5 ** ((now - e.t) / HALF_LIFE);
  const trending = values.trending![w] as { item: string; score: number; error: number }[];
  const eps = (x: number) => 1e-9 * Math.max(1, Math.abs(x));
  for (const r of trending) {
    const truth = weights[r.item]!;
    assert.ok(r.score >= truth - eps(truth) && r.score - r.error <= truth + eps(truth), `decayed top_k bounds of ${r.item} ${at}: ${JSON.stringify(r)} vs ${truth}`);
  }
  assert.equal(trending.length, Math.min(K, Object.keys(weights).length), `decayed top_k size ${at}`);
  if (trending.length === K) {
    const floor = trending[K - 1]!.score;
    for (const [item, x] of Object.entries(weights)) if (!trending.some((r) => r.item === item)) assert.ok(x <= floor + eps(floor), `decayed top_k left out ${item} (${x} > ${floor}) ${at}`);
  }
  const decayed = events.reduce((a, e) => a + e.n * 0.5 ** ((now - e.t) / HALF_LIFE), 0);
  assert.ok(Math.abs((values.decay![w] as number) - decayed) <= 1e-9 * Math.max(1, Math.abs(decayed)), `decay ${at}: ${String(values.decay![w])} vs ${decayed}`);
}

const event = fc.record({
  user: fc.constantFrom('u1', 'u2'),
  n: fc.integer({ min: -20, max: 50 }),
  item: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g'),
  // Times spread over 6 hours, with many exactly on or next to tile and window boundaries.
  t: fc.oneof(
    fc.integer({ min: 0, max: 6 * HOUR }),
    fc.integer({ min: 0, max: 72 }).chain((i) => fc.constantFrom(i * 5 * MIN, i * 5 * MIN - 1, i * 5 * MIN + 1)),
  ),
});

test('every aggregation over sliding and lifetime windows equals a brute-force model (random, out-of-order events; reads at boundaries)', () => {
  fc.assert(
    fc.property(
      fc.array(event, { minLength: 1, maxLength: 60 }),
      fc.array(fc.oneof(fc.integer({ min: 0, max: 4 * HOUR }), fc.constantFrom(0, 1, HOUR, HOUR - 1, HOUR + 5 * MIN, 3 * HOUR, 5 * MIN - 1)), { minLength: 1, maxLength: 4 }),
      (raw, offsets) => {
        const events = raw.map((e, i) => ({ ...e, t: T0 + e.t, i }));
        const b = new StreamsBuilder();
        buildFeatures(b.stream('events', { key: Serdes.string(), value: Serdes.json<Ev>() }), def);
        const driver = new TopologyTestDriver(b.build());
        try {
          const input = driver.createInputTopic('events', Serdes.string(), Serdes.json<Ev>());
          for (const e of events) input.pipeInput(e.user, { user: e.user, n: e.n, item: e.item }, e.t);
          const store = driver.getKeyValueStore<string, FeatureState>('prop-features');
          const newest = Math.max(...events.map((e) => e.t));
          // Reads from the newest event on, and at the tile boundary just after it.
          const nows = [newest, tileStart(newest, 5 * MIN) + 5 * MIN, ...offsets.map((o) => newest + o)];
          for (const user of ['u1', 'u2']) {
            const mine = events.filter((e) => e.user === user);
            for (const now of nows) {
              const values = readFeatures(def, store.get(user), now) as unknown as Record<string, Record<string, unknown>>;
              if (mine.length > 0 && now < Math.max(...mine.map((e) => e.t))) continue; // reads before an entity's newest event are clamped to it
              for (const [w, [size, hop]] of Object.entries(WINDOWS)) checkWindow(values, w, inWindow(mine, now, size, hop), now);
              checkWindow(values, 'lifetime', mine, now);
              const evens = (xs: Ev[]) => xs.filter((e) => e.n % 2 === 0).length;
              assert.equal(values.evens!['1h'], evens(inWindow(mine, now, HOUR, 5 * MIN)));
              assert.equal(values.evens!.lifetime, evens(mine));
              assert.equal(values.evens!['3h'], undefined);
              for (const [w, [size, hop]] of [...Object.entries(WINDOWS), ['lifetime', [Infinity, 1]] as const]) {
                const pairs: Record<string, number> = {};
                for (const e of size === Infinity ? mine : inWindow(mine, now, size, hop)) {
                  if (e.n % 3 !== 0) for (const x of [e.item, `${e.item}${e.n % 2}`]) pairs[x] = (pairs[x] ?? 0) + 1;
                }
                assert.deepEqual(values.pairs![w], pairs, `each ${w}`);
              }
            }
          }
        } finally {
          driver.close();
        }
      },
    ),
    { numRuns: 150 },
  );
});
