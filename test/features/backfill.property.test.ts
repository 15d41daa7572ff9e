/**
 * Property tests of the point-in-time backfill: over random event streams and random labels, each
 * backfilled row equals what the online topology served at the label's time (a driver fed the
 * same events as they happen, read between events), and no event after a label's time changes
 * that label's row.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Serdes, StreamsBuilder, TopologyTestDriver } from '../../index.ts';
import { Agg, backfillFeatures, backfillFeaturesAsync, buildFeatures, defineFeatures, feature, flattenFeatures, readFeatures, type FeatureState, type LabelPoint } from '../../features/index.ts';

const MIN = 60_000;
const T0 = 1_700_000_400_000;

interface Ev {
  user: string;
  n: number;
  item: string;
}

const def = defineFeatures({
  name: 'pit-features',
  entity: (e: Ev) => e.user,
  windows: { '10m': { hop: '5m' }, '1h': { hop: '5m' }, '3h': { hop: '1h' }, lifetime: 'lifetime' },
  features: {
    count: feature(Agg.count(), (e: Ev) => e),
    sum: feature(Agg.sum(), (e: Ev) => e.n),
    max: feature(Agg.max(), (e: Ev) => e.n),
    last: feature(Agg.lastK<string>(3), (e: Ev) => `${e.item}:${e.n}`),
    top: feature(Agg.topK(2, { capacity: 3 }), (e: Ev) => e.item),
    distinct: feature(Agg.approxDistinct(), (e: Ev) => e.item),
    pct: feature(Agg.approxPercentile([0.5, 0.9]), (e: Ev) => e.n),
    decay: feature(Agg.decayedSum({ halfLifeMs: 20 * MIN }), (e: Ev) => e.n),
    evens: feature(Agg.count(), (e: Ev) => (e.n % 2 === 0 ? 1 : null), { windows: ['1h', 'lifetime'] }),
  },
});

type Timed = Ev & { t: number };

/** Times near tile and window boundaries, over about four hours. */
const time = fc.oneof(
  fc.integer({ min: 0, max: 4 * 60 * MIN }),
  fc.integer({ min: 0, max: 48 }).chain((k) => fc.constantFrom(k * 5 * MIN - 1, k * 5 * MIN, k * 5 * MIN + 1)),
).map((d) => T0 + d);

const events = fc.array(fc.record({ user: fc.constantFrom('a', 'b', 'c'), n: fc.integer({ min: -5, max: 50 }), item: fc.constantFrom('x', 'y', 'z', 'w'), t: time }), { maxLength: 60 });
const labels = fc.array(fc.record({ entity: fc.constantFrom('a', 'b', 'c', 'nobody'), time: fc.oneof(time, fc.constant(T0 - 1)) }), { minLength: 1, maxLength: 12 });

/** Events in time order (equal times keep their order), as the lake is read. */
const byTime = (evs: readonly Timed[]) => [...evs].sort((a, b) => a.t - b.t);
const past = (evs: readonly Timed[]) => byTime(evs).map((e) => ({ key: `k-${e.t}`, value: { user: e.user, n: e.n, item: e.item }, timestamp: e.t }));

/**
 * The online path: the definition's topology fed the events as they happen (in time order), and a
 * serving read of each label's entity at the label's time, taken once every event up to that time
 * has arrived and before any later one.
 */
function online(evs: readonly Timed[], points: readonly LabelPoint[]): unknown[] {
  const builder = new StreamsBuilder();
  buildFeatures(builder.stream('events', { key: Serdes.string(), value: Serdes.json<Ev>() }), def);
  const driver = new TopologyTestDriver(builder.build());
  try {
    const input = driver.createInputTopic('events', Serdes.string(), Serdes.json<Ev>());
    const store = driver.getKeyValueStore<string, FeatureState>('pit-features');
    const served = new Array<unknown>(points.length);
    const serveUpTo = (before: number) =>
      points.forEach((p, i) => {
        if (served[i] === undefined && p.time < before) served[i] = readFeatures(def, store.get(p.entity), p.time);
      });
    for (const e of byTime(evs)) {
      serveUpTo(e.t);
      input.pipeInput(`k-${e.t}`, { user: e.user, n: e.n, item: e.item }, e.t);
    }
    serveUpTo(Infinity);
    return served;
  } finally {
    driver.close();
  }
}

test('backfilled rows equal the values the definition served online at each label time', () => {
  fc.assert(
    fc.property(events, labels, (evs, points) => {
      assert.deepEqual(backfillFeatures(def, past(evs), points), online(evs, points));
    }),
    { numRuns: 60 },
  );
});

test('an event after a label time never changes that label row', () => {
  fc.assert(
    fc.property(events, events, labels, (evs, later, points) => {
      const rows = backfillFeatures(def, past(evs), points);
      points.forEach((p, i) => {
        // Only the events up to the label's time: the same row.
        assert.deepEqual(backfillFeatures(def, past(evs.filter((e) => e.t <= p.time)), [p])[0], rows[i], `label ${i} at ${p.time - T0}`);
        // Any events after the label's time added (same entities, any values): the same row.
        const after = later.map((e) => ({ ...e, t: Math.max(e.t, p.time + 1) }));
        assert.deepEqual(backfillFeatures(def, past([...evs, ...after]), [p])[0], rows[i], `label ${i} at ${p.time - T0} with later events`);
      });
    }),
    { numRuns: 25 },
  );
});

test('backfill: labels come back in their order, events out of time order are refused, flat columns per window', () => {
  const evs = [
    { user: 'a', n: 1, item: 'x', t: T0 },
    { user: 'a', n: 2, item: 'y', t: T0 + 10 * MIN },
  ];
  const rows = backfillFeatures(def, past(evs), [
    { entity: 'a', time: T0 + 10 * MIN },
    { entity: 'a', time: T0 },
    { entity: 'a', time: T0 - 1 },
  ]);
  assert.deepEqual(rows.map((r) => r.count.lifetime), [2, 1, 0]);
  assert.deepEqual(rows.map((r) => r.sum['10m']), [3, 1, 0]);
  const flat = flattenFeatures(rows[0]!);
  assert.equal(flat['count_1h'], 2);
  assert.equal(flat['evens_1h'], 1);
  assert.ok(!('evens_3h' in flat));
  assert.throws(() => backfillFeatures(def, [...past(evs)].reverse(), [{ entity: 'a', time: T0 + 20 * MIN }]), /time order/);
});

test('backfillFeaturesAsync over an async source gives the same rows as backfillFeatures', async () => {
  await fc.assert(
    fc.asyncProperty(events, labels, async (evs, points) => {
      async function* source() {
        for (const e of past(evs)) yield e;
      }
      assert.deepEqual(await backfillFeaturesAsync(def, source(), points), backfillFeatures(def, past(evs), points));
    }),
    { numRuns: 20 },
  );
});
