import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Serdes, TopologyTestDriver } from '../../index.ts';
import { CAMPAIGN_STORE, personalizationTopology, sessionSplitFromEnv, TOPICS } from '../../apps/topology.ts';
import { profileSerde, type Profile } from '../../apps/events.ts';
import { alsoViewedOf } from '../../apps/feature-definitions.ts';
import type { FeatureState } from '../../features/index.ts';
import { localDate, previousDate, userFeaturesAt, type CampaignEpochs, type SessionAgg, type SessionSummary, type UserFeatureState } from '../../apps/features.ts';

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
  assert.deepEqual(alsoViewedOf(driver.getKeyValueStore<string, FeatureState>('also-viewed').get('i1'), T0 + 120 * MIN), [
    { itemId: 'i2', count: 1 },
    { itemId: 'i3', count: 1 },
  ]);
  driver.close();
});

test('validation: invalid events go to the dead-letter topic with the reason; valid ones are re-keyed by user', () => {
  const { driver, raw } = setup();
  raw.pipeInput('whatever', { eventId: 'p1', userId: 'u1', type: 'purchase', timestamp: T0, itemId: 'i1' }, T0); // no price
  raw.pipeInput('whatever', { eventId: 'v1', userId: 'u7', type: 'page_view', timestamp: T0, itemId: 'i1' }, T0);
  raw.pipeInput('whatever', 'not an object', T0);
  raw.pipeInput('whatever', { eventId: 'f1', userId: 'u8', type: 'page_view', timestamp: 9e15 }, T0); // past what a Date can hold
  const dlq = driver.createOutputTopic(TOPICS.dlq, Serdes.string(), Serdes.json<{ code: string; reason: string; event: unknown }>()).readValuesToList();
  assert.deepEqual(dlq.map((d) => [d!.code, d!.reason]), [
    ['BAD_VALUE', 'a purchase needs a price >= 0'],
    ['NOT_AN_OBJECT', 'an event must be a JSON object'],
    ['BAD_VALUE', 'timestamp must be an integer from 0 to 8.64e15 (ms since the epoch)'],
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
  const f = userFeaturesAt(state, T0 + 3 * 60 * MIN, driver.getKeyValueStore<string, FeatureState>('user-activity').get('u1'));
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
  const cold = userFeaturesAt(driver.getKeyValueStore<string, UserFeatureState>('user-features').get('nobody'), T0, undefined);
  assert.deepEqual([cold.purchaseSum, cold.distinctItems, cold.lastItems, cold.firstSeen], [0, 0, [], null]);
  driver.close();
});

// ------------------------------------------------------------------------------------------------
// Session splits (Universal Analytics). T0 is 2023-11-14 22:13:20 UTC, 23:13:20 in Berlin (CET,
// UTC+1), so Berlin's midnight is at T0 + 46m40s and UTC's at T0 + 106m40s.

function splitSetup(options: Parameters<typeof personalizationTopology>[0]) {
  const driver = new TopologyTestDriver(personalizationTopology(options));
  const raw = driver.createInputTopic(TOPICS.raw, Serdes.string(), Serdes.json<unknown>());
  const event = (id: string, userId: string, at: number, extra: Record<string, unknown> = {}) =>
    raw.pipeInput(userId, { eventId: id, userId, type: 'page_view', timestamp: at, itemId: 'i1', page: `/p/${id}`, ...extra }, at);
  const closed = () =>
    driver
      .createOutputTopic(TOPICS.sessions, Serdes.string(), Serdes.json<SessionSummary>())
      .readKeyValuesToList()
      .map(({ key, value }) => ({ key, ...value! }))
      .sort((a, b) => a.start - b.start);
  return { driver, event, closed };
}

/** u1 from 23:43:20 to 00:08:20 Berlin time, 5-10 minutes apart, one event late across midnight. */
function aroundBerlinMidnight(event: (id: string, userId: string, at: number, extra?: Record<string, unknown>) => void) {
  event('a', 'u1', T0 + 30 * MIN);
  event('b', 'u1', T0 + 40 * MIN);
  event('c', 'u1', T0 + 50 * MIN); // 00:03:20 on the 15th
  event('late', 'u1', T0 + 45 * MIN); // 23:58:20 on the 14th, after c
  event('d', 'u1', T0 + 55 * MIN);
}

test('session split at midnight: a session crossing midnight in Europe/Berlin ends there, a late event joins its own day', () => {
  const { driver, event, closed } = splitSetup({ sessionSplit: { midnight: { timeZone: 'Europe/Berlin' } } });
  aroundBerlinMidnight(event);
  const store = driver.getSessionStore<string, SessionAgg>('sessions');
  assert.deepEqual(store.fetch('u1|2023-11-14').map((s) => [s.key.window.start - T0, s.key.window.end - T0, s.value.events]), [[30 * MIN, 45 * MIN, 3]]);
  assert.deepEqual(store.fetch('u1|2023-11-15').map((s) => [s.key.window.start - T0, s.key.window.end - T0, s.value.events]), [[50 * MIN, 55 * MIN, 2]]);
  event('flush', 'u2', T0 + 200 * MIN);
  const sessions = closed().filter((s) => s.userId === 'u1');
  assert.deepEqual(
    sessions.map((s) => [s.key, s.sessionId, s.start - T0, s.durationMs, s.events, s.entryPage, s.exitPage]),
    [
      ['u1', `u1-${T0 + 30 * MIN}`, 30 * MIN, 15 * MIN, 3, '/p/a', '/p/late'],
      ['u1', `u1-${T0 + 50 * MIN}`, 50 * MIN, 5 * MIN, 2, '/p/c', '/p/d'],
    ],
  );
  // The closed sessions still feed the per-user roll-up keyed by the user.
  assert.deepEqual(driver.getKeyValueStore('user-session-stats').get('u1'), { sessions: 2, totalDurationMs: 20 * MIN, converted: 0, engaged: 2 });
  driver.close();
});

test('session split at midnight: off by default, and in UTC the same events stay one session', () => {
  for (const options of [{}, { sessionSplit: { midnight: { timeZone: 'UTC' } } }]) {
    const { driver, event, closed } = splitSetup(options);
    aroundBerlinMidnight(event);
    event('flush', 'u2', T0 + 200 * MIN);
    assert.deepEqual(
      closed().filter((s) => s.userId === 'u1').map((s) => [s.sessionId, s.start - T0, s.durationMs, s.events]),
      [[`u1-${T0 + 30 * MIN}`, 30 * MIN, 25 * MIN, 5]],
      JSON.stringify(options),
    );
    driver.close();
  }
});

test('session split at midnight: an unknown time zone fails the build with INVALID_ARGUMENT', () => {
  for (const timeZone of ['Mars/Olympus', '', 'Europe/Berlinn']) {
    assert.throws(() => personalizationTopology({ sessionSplit: { midnight: { timeZone } } }), { name: 'TopologyError', code: 'INVALID_ARGUMENT', operator: 'sessionize' });
  }
  assert.throws(() => sessionSplitFromEnv({ SESSION_SPLIT_TIMEZONE: 'Nowhere/City' }), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => sessionSplitFromEnv({ SESSION_SPLIT_ON_CAMPAIGN: 'yes' }), { code: 'INVALID_ARGUMENT' });
  assert.deepEqual(sessionSplitFromEnv({}), {});
  assert.deepEqual(sessionSplitFromEnv({ SESSION_SPLIT_TIMEZONE: 'Europe/Berlin', SESSION_SPLIT_ON_CAMPAIGN: '1' }), {
    midnight: { timeZone: 'Europe/Berlin' },
    onCampaignChange: true,
  });
});

test('session split on campaign change: a new campaign starts a session, late events go by event time, the campaign persists across gaps', () => {
  const B = T0 - 300 * MIN; // 18:13:20 in Berlin: no midnight in sight (and that split is off)
  const spring = { utmSource: 'google', utmCampaign: 'spring' };
  const summer = { utmSource: 'newsletter', utmCampaign: 'summer' };
  const run = (sessionSplit: { onCampaignChange?: boolean }) => {
    const { driver, event, closed } = splitSetup({ sessionSplit });
    event('a', 'u1', B); // direct
    event('b', 'u1', B + 5 * MIN, spring); // direct -> spring: new session
    event('c', 'u1', B + 10 * MIN); // no campaign: stays
    event('d', 'u1', B + 15 * MIN, spring); // the same campaign: stays
    event('e', 'u1', B + 20 * MIN, summer); // spring -> summer: new session
    event('f', 'u1', B + 12 * MIN); // late, no campaign: the spring session (its time)
    event('g', 'u1', B + 17 * MIN, { utmCampaign: 'winter' }); // late, but after every spring event: splits
    event('h', 'u1', B + 18 * MIN, summer); // late: winter -> summer at 18, the summer session reaches back
    event('i', 'u1', B + 11 * MIN, { utmCampaign: 'autumn' }); // late inside the spring session: joins it
    event('j', 'u1', B + 60 * MIN); // after a gap: a new session, still under summer
    event('k', 'u1', B + 62 * MIN, summer); // summer again: no split (UA: the campaign did not change)
    event('flush', 'u2', B + 300 * MIN);
    const sessions = closed().filter((s) => s.userId === 'u1');
    return { driver, sessions };
  };

  const { driver, sessions } = run({ onCampaignChange: true });
  assert.deepEqual(
    sessions.map((s) => [s.sessionId, s.start - B, s.end - B, s.events, s.entryPage, s.utmCampaign]),
    [
      [`u1-${B}-c0`, 0, 0, 1, '/p/a', null],
      [`u1-${B + 5 * MIN}-c1`, 5 * MIN, 15 * MIN, 5, '/p/b', 'spring'],
      [`u1-${B + 17 * MIN}-c3`, 17 * MIN, 17 * MIN, 1, '/p/g', 'winter'],
      [`u1-${B + 18 * MIN}-c2`, 18 * MIN, 20 * MIN, 2, '/p/h', 'summer'],
      [`u1-${B + 60 * MIN}-c2`, 60 * MIN, 62 * MIN, 2, '/p/j', null],
    ],
  );
  assert.ok(sessions.every((s) => s.key === 'u1'));
  // Only the summer epoch is kept: the others end more than gap + grace before u1's newest event.
  assert.deepEqual(driver.getKeyValueStore<string, CampaignEpochs>(CAMPAIGN_STORE).get('u1'), {
    next: 4,
    before: 3,
    epochs: [{ id: 2, from: B + 18 * MIN, ...summer, maxAt: B + 62 * MIN }],
  });
  driver.close();

  // Off: the gap alone ends sessions.
  const off = run({});
  assert.deepEqual(off.sessions.map((s) => [s.sessionId, s.start - B, s.end - B, s.events]), [
    [`u1-${B}`, 0, 20 * MIN, 9],
    [`u1-${B + 60 * MIN}`, 60 * MIN, 62 * MIN, 2],
  ]);
  off.driver.close();
});

test('session split on campaign change: an event older than every epoch kept is dropped as late, not merged into a newer campaign', () => {
  const { driver, event, closed } = splitSetup({ sessionSplit: { onCampaignChange: true, midnight: { timeZone: 'Europe/Berlin' } } });
  const B = T0 - 300 * MIN;
  event('a', 'u1', B, { utmCampaign: 'spring' });
  event('b', 'u1', B + 20 * MIN, { utmCampaign: 'spring' });
  // summer from 40 minutes on, with activity every 10 minutes up to 100: one long open session
  for (let m = 40; m <= 100; m += 10) event(`s${m}`, 'u1', B + m * MIN, { utmCampaign: 'summer' });
  // At 35 minutes: spring's time, 15 minutes after its last event, so its session would be [0, 35],
  // which closed at 20 + 32 minutes. Without the split it would join the one open session.
  event('late', 'u1', B + 35 * MIN);
  assert.equal(driver.droppedRecords()['late-record'], 1);
  event('flush', 'u2', B + 300 * MIN);
  assert.deepEqual(
    closed().filter((s) => s.userId === 'u1').map((s) => [s.sessionId, s.start - B, s.end - B, s.events, s.utmCampaign]),
    [
      [`u1-${B}-c1`, 0, 20 * MIN, 2, 'spring'],
      [`u1-${B + 40 * MIN}-c2`, 40 * MIN, 100 * MIN, 7, 'summer'],
    ],
  );
  driver.close();
});

test('local dates: by zone, across DST, and past the end of the Date range', () => {
  // 2024-03-31 01:30 UTC is 03:30 in Berlin (CEST from 01:00 UTC); 2024-10-27 22:30 UTC is 23:30 CET.
  assert.equal(localDate(Date.UTC(2024, 2, 31, 1, 30), 'Europe/Berlin'), '2024-03-31');
  assert.equal(localDate(Date.UTC(2024, 9, 27, 22, 30), 'Europe/Berlin'), '2024-10-27');
  assert.equal(localDate(Date.UTC(2024, 9, 27, 23, 0), 'Europe/Berlin'), '2024-10-28');
  assert.equal(localDate(Date.UTC(2024, 0, 1, 18, 14), 'Asia/Kathmandu'), '2024-01-01'); // 23:59 at UTC+5:45
  assert.equal(localDate(Date.UTC(2024, 0, 1, 18, 15), 'Asia/Kathmandu'), '2024-01-02');
  assert.equal(localDate(Number.MAX_SAFE_INTEGER, 'UTC'), '275760-09-13');
  assert.deepEqual(['2024-03-01', '2024-01-01'].map(previousDate), ['2024-02-29', '2023-12-31']);
});
