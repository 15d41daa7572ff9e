/**
 * The apps' feature definitions against reference models, through the whole personalization
 * topology (raw events in, stores read as the serving routes read them): the windowed counts per
 * user and per item equal a brute-force count over the events of each sliding window, a user's
 * purchase sum and average, distinct items, last purchases, last distinct items and decayed
 * category affinity equal the model's, trending per category equals the decayed weights, and
 * "also viewed" keeps every item whose true co-view count beats the smallest one it serves. Plus the two
 * defects of the hand-written buckets, as regressions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Serdes, TopologyTestDriver } from '../../index.ts';
import { personalizationTopology, TOPICS } from '../../apps/topology.ts';
import { AFFINITY_WEIGHTS as WEIGHTS, ALSO_VIEWED_K, alsoViewedOf, trending, trendingOf } from '../../apps/feature-definitions.ts';
import { itemFeaturesAt, userFeaturesAt, type ItemFeatureState, type SessionSummary, type UserFeatureState } from '../../apps/features.ts';
import { tileStart, type FeatureState } from '../../features/index.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const T0 = Date.parse('2026-03-02T09:00:00Z');
const TYPES = ['page_view', 'click', 'add_to_cart', 'purchase'] as const;

function setup() {
  const driver = new TopologyTestDriver(personalizationTopology());
  const raw = driver.createInputTopic(TOPICS.raw, Serdes.string(), Serdes.json<unknown>());
  let n = 0;
  const event = (userId: string, type: string, at: number, itemId: string) =>
    raw.pipeInput(userId, { eventId: `e${n++}`, userId, type, timestamp: at, itemId, category: 'books', page: `/item/${itemId}`, price: 3, quantity: 1 }, at);
  const user = (id: string, now: number) =>
    userFeaturesAt(driver.getKeyValueStore<string, UserFeatureState>('user-features').get(id), now, driver.getKeyValueStore<string, FeatureState>('user-activity').get(id));
  const item = (id: string, now: number) =>
    itemFeaturesAt(driver.getKeyValueStore<string, ItemFeatureState>('item-features').get(id), now, driver.getKeyValueStore<string, FeatureState>('item-activity').get(id));
  return { driver, event, user, item };
}

test('regression: 20 views at 09:58 are in the user\'s and the item\'s 1h at 10:01 (they read 0 with clock-hour buckets)', () => {
  const { driver, event, user, item } = setup();
  const at = Date.parse('2026-03-02T09:58:00Z');
  for (let i = 0; i < 20; i++) event('u1', 'page_view', at + i * 1000, 'i1');
  const tenOhOne = Date.parse('2026-03-02T10:01:00Z');
  assert.equal(user('u1', tenOhOne).counts['1h'].page_view, 20);
  assert.equal(item('i1', tenOhOne)['1h'].views, 20);
  assert.equal(item('i1', tenOhOne)['5m'].views, 20);
  assert.equal(item('i1', Date.parse('2026-03-02T10:05:00Z'))['5m'].views, 0);
  driver.close();
});

test('regression: after 20 items co-viewed twice, an item co-viewed five times is served in "also viewed"', () => {
  const driver = new TopologyTestDriver(personalizationTopology());
  const sessions = driver.createInputTopic(TOPICS.sessions, Serdes.string(), Serdes.json<Partial<SessionSummary>>());
  let t = T0;
  for (let round = 0; round < 2; round++) for (let i = 0; i < 20; i++) sessions.pipeInput('u1', { items: ['i0', `x${i}`], durationMs: 0 }, t++);
  for (let i = 0; i < 5; i++) sessions.pipeInput('u2', { items: ['i0', 'new'], durationMs: 0 }, t++);
  const served = alsoViewedOf(driver.getKeyValueStore<string, FeatureState>('also-viewed').get('i0'), t);
  assert.equal(served.length, ALSO_VIEWED_K);
  assert.deepEqual(served[0], { itemId: 'new', count: 5 });
  driver.close();
});

test('user and item counts equal brute-force counts of each sliding window (random, out-of-order events)', () => {
  const windows = { user: { '1h': [HOUR, 5 * MIN], '1d': [DAY, HOUR], '7d': [7 * DAY, DAY] }, item: { '5m': [5 * MIN, MIN], '1h': [HOUR, 5 * MIN], '1d': [DAY, HOUR] } } as const;
  const ev = fc.record({
    user: fc.constantFrom('u1', 'u2'),
    item: fc.constantFrom('i1', 'i2', 'i3'),
    type: fc.constantFrom(...TYPES),
    t: fc.oneof(fc.integer({ min: 0, max: 9 * DAY }), fc.integer({ min: 0, max: 200 }).chain((i) => fc.constantFrom(i * 5 * MIN, i * 5 * MIN - 1, i * HOUR))),
  });
  fc.assert(
    fc.property(fc.array(ev, { minLength: 1, maxLength: 40 }), fc.array(fc.integer({ min: 0, max: 8 * DAY }), { maxLength: 3 }), (raw, offsets) => {
      const events = raw.map((e) => ({ ...e, t: T0 + e.t }));
      const { driver, event, user, item } = setup();
      try {
        for (const e of events) event(e.user, e.type, e.t, e.item);
        const count = (xs: typeof events, now: number, [size, hop]: readonly [number, number], type: string) =>
          xs.filter((e) => e.type === type && tileStart(e.t, hop) > now - size - hop && e.t <= now).length;
        for (const who of ['u1', 'u2', 'i1', 'i2', 'i3']) {
          const mine = events.filter((e) => e.user === who || e.item === who);
          if (mine.length === 0) continue;
          const newest = Math.max(...mine.map((e) => e.t));
          for (const now of [newest, ...offsets.map((o) => newest + o)]) {
            if (who.startsWith('u')) {
              const f = user(who, now);
              for (const [w, spec] of Object.entries(windows.user)) for (const type of TYPES) assert.equal(f.counts[w as '1h'][type], count(mine, now, spec, type), `${who} ${w} ${type} at ${now - T0}`);
              // Lifetime: purchases (3 each), distinct items, the last 10 purchases by event time.
              const purchases = mine.filter((e) => e.type === 'purchase');
              assert.equal(f.purchaseSum, 3 * purchases.length);
              assert.equal(f.purchaseAvg, purchases.length === 0 ? 0 : 3);
              assert.equal(f.distinctItems, new Set(mine.map((e) => e.item)).size);
              const last = [...purchases].sort((a, b) => a.t - b.t).slice(-10).reverse().map((e) => ({ itemId: e.item, amount: 3, at: e.t, tier: null }));
              assert.deepEqual(f.lastPurchases, last);
              // The last distinct items viewed or clicked (each at its latest time), newest first; the
              // decayed category affinity (view and click 1, cart 3, purchase 10; half-life a day).
              const latest = new Map<string, [number, number]>();
              mine.forEach((e, i) => {
                if (e.type !== 'page_view' && e.type !== 'click') return;
                const seen = latest.get(e.item);
                if (seen === undefined || e.t > seen[0] || (e.t === seen[0] && i > seen[1])) latest.set(e.item, [e.t, i]);
              });
              assert.deepEqual(f.lastItems, [...latest].sort((a, b) => b[1][0] - a[1][0] || b[1][1] - a[1][1]).slice(0, 20).map(([id]) => id), `${who} last items`);
              assert.deepEqual(f.lastCategories, ['books']);
              const affinity = mine.reduce((x, e) => x + WEIGHTS[e.type] * 0.5 ** ((now - e.t) / DAY), 0);
              assert.ok(Math.abs(f.categoryAffinity.books! - affinity) <= 1e-4, `${who} affinity ${f.categoryAffinity.books} vs ${affinity}`);
            } else {
              // Trending in the category (every item here is in books): decayed weights (max(1,
              // affinity weight); half-life an hour), exact with 3 items in 200 counters.
              // A read before the category's newest event is as of that event (as every definition's).
              const asOf = Math.max(now, ...events.map((e) => e.t));
              const served = trendingOf(trending, driver.getKeyValueStore<string, FeatureState>('trending').get('books'), now, 3);
              const weight = (id: string) => events.filter((e) => e.item === id).reduce((x, e) => x + Math.max(1, WEIGHTS[e.type]) * 0.5 ** ((asOf - e.t) / HOUR), 0);
              const row = served.find((r) => r.itemId === who);
              assert.ok(row !== undefined && Math.abs(row.score - weight(who)) <= 1e-3 * Math.max(1, weight(who)), `${who} trending ${row?.score} vs ${weight(who)}`);
              const f = item(who, now);
              for (const [w, spec] of Object.entries(windows.item)) {
                assert.equal(f[w as '1h'].views, count(mine, now, spec, 'page_view'), `${who} ${w} views at ${now - T0}`);
                assert.equal(f[w as '1h'].purchases, count(mine, now, spec, 'purchase'), `${who} ${w} purchases at ${now - T0}`);
              }
            }
          }
        }
      } finally {
        driver.close();
      }
    }),
    { numRuns: 40 },
  );
});

test('"also viewed" serves counts that bound the true ones and leaves out no item seen more often than one it serves', () => {
  fc.assert(
    fc.property(fc.array(fc.uniqueArray(fc.integer({ min: 0, max: 60 }), { minLength: 2, maxLength: 6 }), { minLength: 1, maxLength: 120 }), (sessionItems) => {
      const driver = new TopologyTestDriver(personalizationTopology());
      try {
        const sessions = driver.createInputTopic(TOPICS.sessions, Serdes.string(), Serdes.json<Partial<SessionSummary>>());
        sessionItems.forEach((items, i) => sessions.pipeInput('u', { items: items.map((x) => `i${x % 3 === 0 ? 0 : x}`).filter((x, j, all) => all.indexOf(x) === j), durationMs: 0 }, T0 + i));
        const truth = new Map<string, Map<string, number>>();
        for (const items of sessionItems) {
          const ids = items.map((x) => `i${x % 3 === 0 ? 0 : x}`).filter((x, j, all) => all.indexOf(x) === j);
          for (const a of ids) for (const b of ids) if (a !== b) truth.set(a, new Map(truth.get(a) ?? [])).get(a)!.set(b, (truth.get(a)?.get(b) ?? 0) + 1);
        }
        for (const [a, others] of truth) {
          const served = alsoViewedOf(driver.getKeyValueStore<string, FeatureState>('also-viewed').get(a), T0 + sessionItems.length);
          assert.equal(served.length, Math.min(ALSO_VIEWED_K, others.size));
          for (const s of served) assert.ok(s.count >= others.get(s.itemId)!, `${a}: ${s.itemId} served ${s.count} < true ${others.get(s.itemId)}`);
          const smallest = served.at(-1)!.count;
          if (served.length === ALSO_VIEWED_K) for (const [b, n] of others) if (!served.some((s) => s.itemId === b)) assert.ok(n <= smallest, `${a}: ${b} (${n}) left out, ${smallest} served`);
        }
      } finally {
        driver.close();
      }
    }),
    { numRuns: 30 },
  );
});
