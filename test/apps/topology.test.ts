import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Serdes, TopologyTestDriver } from '../../index.ts';
import { personalizationTopology, TOPICS } from '../../apps/topology.ts';
import { profileSerde, type Profile } from '../../apps/events.ts';
import { userFeaturesAt, type SessionAgg, type SessionSummary, type UserFeatureState } from '../../apps/features.ts';

const MIN = 60_000;
const T0 = 1_700_000_000_000; // a fixed instant

function setup() {
  const driver = new TopologyTestDriver(personalizationTopology());
  const raw = driver.createInputTopic(TOPICS.raw, Serdes.string(), Serdes.json<unknown>());
  const profiles = driver.createInputTopic(TOPICS.profiles, Serdes.string(), profileSerde);
  const event = (id: string, userId: string, type: string, at: number, extra: Record<string, unknown> = {}) =>
    raw.pipeInput(userId, { eventId: id, userId, type, timestamp: at, ...extra }, at);
  return { driver, raw, profiles, event };
}

const profile = (userId: string, tier: Profile['tier'], at: number): Profile => ({ userId, name: userId, country: 'FR', tier, marketingOptIn: false, updatedAt: at });

test('sessions: a gap over 30 minutes starts a new session; a late event bridging two sessions merges them; closed sessions come out once', () => {
  const { driver, event } = setup();
  event('e1', 'u1', 'page_view', T0, { itemId: 'i1', category: 'books', page: '/item/i1', referrer: 'google', utmCampaign: 'spring' });
  event('e2', 'u1', 'click', T0 + 1 * MIN, { itemId: 'i2', category: 'books', page: '/item/i2' });
  event('e3', 'u1', 'page_view', T0 + 32 * MIN, { itemId: 'i3', category: 'toys', page: '/item/i3' }); // 31 min after e2
  const sessions = driver.getSessionStore<string, SessionAgg>('sessions');
  assert.deepEqual(sessions.fetch('u1').map((s) => [s.key.window.start - T0, s.key.window.end - T0]), [
    [0, 1 * MIN],
    [32 * MIN, 32 * MIN],
  ]);
  // Late (by 16 minutes) but within the gap of both sessions: they merge into one.
  event('e4', 'u1', 'page_view', T0 + 16 * MIN, { itemId: 'i1', category: 'books', page: '/item/i1' });
  const merged = sessions.fetch('u1');
  assert.deepEqual(merged.map((s) => [s.key.window.start - T0, s.key.window.end - T0]), [[0, 32 * MIN]]);
  assert.equal(merged[0]!.value.events, 4);
  assert.deepEqual(merged[0]!.value.items, ['i1', 'i2', 'i3']);
  assert.equal(driver.createOutputTopic(TOPICS.sessions, Serdes.string(), Serdes.json<SessionSummary>()).isEmpty(), true, 'nothing closed yet');

  // Another user's event two hours later moves stream time past the session's end + gap + grace.
  event('e5', 'u2', 'page_view', T0 + 120 * MIN, { itemId: 'i9', category: 'toys', page: '/item/i9' });
  const closed = driver.createOutputTopic(TOPICS.sessions, Serdes.string(), Serdes.json<SessionSummary>()).readKeyValuesToList();
  assert.equal(closed.length, 1);
  const s = closed[0]!.value!;
  assert.deepEqual(
    [s.userId, s.start - T0, s.durationMs, s.pageViews, s.events, s.distinctItems, s.entryPage, s.exitPage, s.referrer, s.utmCampaign, s.engaged, s.bounce],
    ['u1', 0, 32 * MIN, 3, 4, 3, '/item/i1', '/item/i3', 'google', 'spring', true, false],
  );
  assert.deepEqual(s.eventsByType, { page_view: 3, click: 1 });
  // Closed sessions feed the per-user roll-up and "also viewed".
  assert.deepEqual(driver.getKeyValueStore('user-session-stats').get('u1'), { sessions: 1, totalDurationMs: 32 * MIN, converted: 0, engaged: 1 });
  assert.deepEqual(driver.getKeyValueStore('also-viewed').get('i1'), { i2: 1, i3: 1 });
  driver.close();
});

test('validation: invalid events go to the dead-letter topic with the reason; valid ones are re-keyed by user', () => {
  const { driver, raw } = setup();
  raw.pipeInput('whatever', { eventId: 'p1', userId: 'u1', type: 'purchase', timestamp: T0, itemId: 'i1' }, T0); // no price
  raw.pipeInput('whatever', { eventId: 'v1', userId: 'u7', type: 'page_view', timestamp: T0, itemId: 'i1' }, T0);
  raw.pipeInput('whatever', 'not an object', T0);
  const dlq = driver.createOutputTopic(TOPICS.dlq, Serdes.string(), Serdes.json<{ code: string; reason: string; event: unknown }>()).readValuesToList();
  assert.deepEqual(dlq.map((d) => [d!.code, d!.reason]), [
    ['BAD_VALUE', 'a purchase needs a price >= 0'],
    ['NOT_AN_OBJECT', 'an event must be a JSON object'],
  ]);
  assert.deepEqual((dlq[0]!.event as { eventId: string }).eventId, 'p1');
  const events = driver.createOutputTopic(TOPICS.events, Serdes.string(), Serdes.bytes()).readKeyValuesToList();
  assert.deepEqual(events.map((e) => e.key), ['u7']);
  driver.close();
});

test('user features: windowed counts, purchases with the profile tier as of each event (a profile update in between), cold-start defaults', () => {
  const { driver, event, profiles } = setup();
  profiles.pipeInput('u1', profile('u1', 'regular', T0), T0);
  event('a', 'u1', 'page_view', T0, { itemId: 'i1', category: 'books' });
  event('b', 'u1', 'add_to_cart', T0 + 5 * MIN, { itemId: 'i1', category: 'books', price: 10, quantity: 1 });
  event('c', 'u1', 'purchase', T0 + 6 * MIN, { itemId: 'i1', category: 'books', price: 10, quantity: 2 });
  profiles.pipeInput('u1', profile('u1', 'vip', T0 + 7 * MIN), T0 + 7 * MIN);
  event('d', 'u1', 'purchase', T0 + 3 * 60 * MIN, { itemId: 'i2', category: 'toys', price: 5, quantity: 1 });
  const state = driver.getKeyValueStore<string, UserFeatureState>('user-features').get('u1');
  const f = userFeaturesAt(state, T0 + 3 * 60 * MIN);
  // Within the last hour only the second purchase; within the day everything.
  assert.deepEqual(f.counts['1h'], { page_view: 0, click: 0, add_to_cart: 0, purchase: 1, search: 0 });
  assert.deepEqual(f.counts['1d'], { page_view: 1, click: 0, add_to_cart: 1, purchase: 2, search: 0 });
  assert.equal(f.purchaseSum, 25);
  assert.equal(f.purchaseAvg, 12.5);
  assert.deepEqual(f.lastPurchases.map((p) => [p.itemId, p.amount, p.tier]), [
    ['i2', 5, 'vip'],
    ['i1', 20, 'regular'],
  ]);
  assert.deepEqual(f.lastCategories, ['toys', 'books']);
  assert.equal(f.distinctItems, 2);
  assert.ok(f.categoryAffinity.books! > 0 && f.categoryAffinity.toys! > 0);
  // A user never seen: zeros, no error.
  const cold = userFeaturesAt(driver.getKeyValueStore<string, UserFeatureState>('user-features').get('nobody'), T0);
  assert.deepEqual([cold.purchaseSum, cold.distinctItems, cold.lastItems, cold.firstSeen], [0, 0, [], null]);
  driver.close();
});
