import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { ClickstreamGenerator, MAX_IN_SESSION_GAP_MS, SESSION_GAP_MS, type ClickstreamStats } from '../../apps/generator.ts';
import { validateEvent, type Event, type Profile } from '../../apps/events.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const START = Date.UTC(2024, 0, 1); // the default startTime

/** One large run with the default options, shared by the statistical tests (about 11 simulated days). */
let big: { events: Event[]; profiles: Profile[]; stats: ClickstreamStats; gen: ClickstreamGenerator } | undefined;
function bigRun() {
  if (big === undefined) {
    const gen = new ClickstreamGenerator({ seed: 42 });
    const { raw, profiles } = gen.nextEvents(200_000);
    big = { events: raw as Event[], profiles, stats: gen.stats, gen };
  }
  return big;
}

/** Events of each user in timestamp order. */
function byUser(events: readonly Event[]): Map<string, Event[]> {
  const users = new Map<string, Event[]>();
  for (const e of events) {
    let list = users.get(e.userId);
    if (list === undefined) users.set(e.userId, (list = []));
    list.push(e);
  }
  for (const list of users.values()) list.sort((a, b) => a.timestamp - b.timestamp);
  return users;
}

const isView = (e: Event) => e.type === 'page_view' || e.type === 'click';

test('determinism: the same seed gives the same records, whatever the batch sizes; another seed gives others', () => {
  const a = new ClickstreamGenerator({ seed: 7, users: 200, items: 100, invalidRate: 0.01 }).nextEvents(20_000);
  const b = new ClickstreamGenerator({ seed: 7, users: 200, items: 100, invalidRate: 0.01 }).nextEvents(20_000);
  assert.deepEqual(b, a);

  // Pulling in uneven batches yields the same concatenated stream.
  const g = new ClickstreamGenerator({ seed: 7, users: 200, items: 100, invalidRate: 0.01 });
  const parts = [1, 999, 5000, 14_000].map((n) => g.nextEvents(n));
  assert.deepEqual(
    parts.flatMap((p) => p.raw),
    a.raw,
  );
  assert.deepEqual(
    parts.flatMap((p) => p.profiles),
    a.profiles,
  );

  const c = new ClickstreamGenerator({ seed: 8, users: 200, items: 100, invalidRate: 0.01 }).nextEvents(20_000);
  const strip = (raw: unknown[]) => raw.map((e) => ({ ...(e as Event), eventId: '' }));
  assert.notDeepEqual(strip(c.raw.slice(0, 10)), strip(a.raw.slice(0, 10)));
  assert.notDeepEqual(c.profiles.slice(0, 10), a.profiles.slice(0, 10));
});

test('the funnel: about 96.7% views, 2.5% carts, 0.8% purchases among item events; about 3% searches', () => {
  const { events, stats } = bigRun();
  assert.equal(events.length, 200_000);
  const count = (pred: (e: Event) => boolean) => events.filter(pred).length;
  const views = count(isView);
  const carts = count((e) => e.type === 'add_to_cart');
  const purchases = count((e) => e.type === 'purchase');
  const searches = count((e) => e.type === 'search');
  assert.equal(views + carts + purchases + searches, events.length, 'no other types');
  const itemEvents = views + carts + purchases;
  // About 194k item events: the binomial standard deviation of a 2.5% share is 0.035 points, so these
  // tolerances allow for the carts and purchases postponed to a later event, not for a wrong funnel.
  assert.ok(Math.abs(views / itemEvents - 0.967) < 0.003, `views ${views / itemEvents}`);
  assert.ok(Math.abs(carts / itemEvents - 0.025) < 0.0025, `carts ${carts / itemEvents}`);
  assert.ok(Math.abs(purchases / itemEvents - 0.008) < 0.0015, `purchases ${purchases / itemEvents}`);
  assert.ok(Math.abs(searches / events.length - 0.03) < 0.005, `searches ${searches / events.length}`);
  // Both view types occur (page_view about 3 for 1 click).
  const clicks = count((e) => e.type === 'click');
  assert.ok(clicks / views > 0.2 && clicks / views < 0.3, `clicks ${clicks / views}`);
  assert.deepEqual(
    { views: stats.byType.page_view + stats.byType.click, carts: stats.byType.add_to_cart, purchases: stats.byType.purchase, searches: stats.byType.search },
    { views, carts, purchases, searches },
  );
});

test('sessions: gaps within a session are at most 20 minutes, sessions are over 30 minutes apart; lengths as OTTO', () => {
  const { events, stats } = bigRun();
  const users = byUser(events);
  const inSession: number[] = [];
  let between = 0;
  const lengths: number[] = [];
  for (const list of users.values()) {
    let length = 1;
    for (let i = 1; i < list.length; i++) {
      const gap = list[i]!.timestamp - list[i - 1]!.timestamp;
      // Nothing falls between the two: the 30-minute boundary is unambiguous.
      assert.ok(gap <= MAX_IN_SESSION_GAP_MS || gap > SESSION_GAP_MS, `gap ${gap} of ${list[i]!.userId}`);
      if (gap <= MAX_IN_SESSION_GAP_MS) {
        inSession.push(gap);
        length++;
      } else {
        between++;
        lengths.push(length);
        length = 1;
      }
    }
  }
  // Most consecutive events of a user belong to one session (mean session length is about 16).
  assert.ok(inSession.length / (inSession.length + between) > 0.85, `in-session share ${inSession.length / (inSession.length + between)}`);
  // Every started session shows as a user's first events or a gap over 30 minutes; only a session
  // whose events are all still in flight (late) would be missing.
  const seen = users.size + between;
  assert.ok(stats.sessions - seen >= 0 && stats.sessions - seen <= 5, `sessions ${stats.sessions} vs seen ${seen}`);
  // Log-normal gaps with a median of 40 s.
  inSession.sort((a, b) => a - b);
  const median = inSession[inSession.length >> 1]!;
  assert.ok(median > 30_000 && median < 50_000, `median gap ${median}`);
  // Session lengths (the complete ones): median 6, p90 about 39.
  lengths.sort((a, b) => a - b);
  const medianLength = lengths[lengths.length >> 1]!;
  const p90 = lengths[Math.floor(lengths.length * 0.9)]!;
  assert.ok(medianLength >= 5 && medianLength <= 7, `median length ${medianLength}`);
  assert.ok(p90 >= 30 && p90 <= 48, `p90 length ${p90}`);
});

test('referrer and campaign only on the first event of a session; pages and sources by type', () => {
  const { events } = bigRun();
  let firsts = 0;
  let withCampaign = 0;
  for (const list of byUser(events).values()) {
    list.forEach((e, i) => {
      const first = i === 0 || e.timestamp - list[i - 1]!.timestamp > SESSION_GAP_MS;
      if (!first) assert.deepEqual([e.referrer, e.utmSource, e.utmCampaign], [null, null, null], e.eventId);
      else {
        firsts++;
        if (e.utmCampaign !== null) {
          withCampaign++;
          // Campaigns change weekly: <name>_<year>w<week>.
          assert.match(e.utmCampaign, /^[a-z_]+_2024w0[1-3]$/);
        }
      }
    });
  }
  assert.ok(withCampaign / firsts > 0.2 && withCampaign / firsts < 0.5, `campaign share ${withCampaign / firsts}`);
  for (const e of events) {
    if (e.type === 'search') {
      assert.equal(e.itemId, null);
      assert.ok(e.query !== null && e.page === `/search?q=${encodeURIComponent(e.query)}`, e.eventId);
    } else if (e.type === 'purchase') {
      assert.deepEqual([e.page, e.source], ['/checkout', 'txn']);
      assert.ok(e.price !== null && e.price > 0 && e.quantity !== null && e.quantity >= 1);
    } else {
      assert.equal(e.page, `/item/${e.itemId}`);
      assert.ok(e.source === 'web' || e.source === 'app');
    }
  }
});

test('about 1% of events arrive late: out of order by at most 3 minutes', () => {
  const { events, stats } = bigRun();
  let maxSoFar = -Infinity;
  let outOfOrder = 0;
  let worst = 0;
  for (const e of events) {
    if (e.timestamp < maxSoFar) {
      outOfOrder++;
      worst = Math.max(worst, maxSoFar - e.timestamp);
    }
    maxSoFar = Math.max(maxSoFar, e.timestamp);
  }
  // lateRate 0.01 (standard deviation 0.02 points over 200k); a late event with nothing emitted during
  // its delay (at night) is late but not out of order, so out-of-order <= late.
  assert.ok(Math.abs(stats.late / stats.valid - 0.01) < 0.001, `late ${stats.late / stats.valid}`);
  assert.ok(outOfOrder <= stats.late, `${outOfOrder} out of order, ${stats.late} late`);
  assert.ok(outOfOrder / events.length > 0.008 && outOfOrder / events.length < 0.012, `out of order ${outOfOrder / events.length}`);
  assert.ok(worst <= 3 * MIN, `worst ${worst}`);
  assert.ok(worst > MIN, 'some are minutes late');
});

test('item popularity is Zipf-like; preferred categories dominate each user\'s views; categories and prices match the catalogue', () => {
  const { events, gen } = bigRun();
  const perItem = new Map<string, number>();
  let views = 0;
  for (const e of events) {
    if (!isView(e)) continue;
    views++;
    perItem.set(e.itemId!, (perItem.get(e.itemId!) ?? 0) + 1);
    const item = gen.describeItem(e.itemId!)!;
    assert.deepEqual([e.category, e.price], [item.category, item.price], e.eventId);
  }
  const catalogue = gen.stats.items;
  const counts = [...perItem.values()].sort((a, b) => b - a);
  const top = counts.slice(0, Math.round(catalogue / 10)).reduce((s, n) => s + n, 0);
  // Uniform popularity would give the top 10% of items 10% of views; Zipf(1) within categories of
  // about 45 items gives the top 4-5 about 2.3/4.4 = half of their category.
  assert.ok(top / views > 0.35, `top 10% share ${top / views}`);

  let preferredViews = 0;
  let dominated = 0;
  let active = 0;
  for (const [userId, list] of byUser(events)) {
    const preferred = new Set(gen.describeUser(userId)!.preferredCategories);
    assert.ok(preferred.size >= 1 && preferred.size <= 3);
    const userViews = list.filter(isView);
    const inPreferred = userViews.filter((e) => preferred.has(e.category!)).length;
    preferredViews += inPreferred;
    if (userViews.length >= 20) {
      active++;
      if (inPreferred / userViews.length > 0.5) dominated++;
    }
  }
  // 85% of category draws come from the preferred ones, and a share of the other 15% by chance.
  assert.ok(preferredViews / views > 0.85, `preferred share ${preferredViews / views}`);
  assert.ok(active > 500 && dominated / active > 0.95, `${dominated} of ${active} users`);
});

test('fewer sessions at night: events between 03:00 and 06:00 UTC are a fraction of those between 15:00 and 18:00', () => {
  const { events } = bigRun();
  const perHour = new Array<number>(24).fill(0);
  for (const e of events) perHour[Math.floor((e.timestamp % (24 * HOUR)) / HOUR)]!++;
  const night = perHour[3]! + perHour[4]! + perHour[5]!;
  const day = perHour[15]! + perHour[16]! + perHour[17]!;
  // The arrival rate is 1 + 0.85 cos(2 pi (h - 17) / 24): about 0.2 at 03-06 against 1.8 at 15-18.
  assert.ok(night / day < 0.3, `night/day ${night / day}`);
  assert.ok(night > 0, 'but not zero');
});

test('cold start: new users and new items appear over time and get traffic', () => {
  const { events, gen, stats } = bigRun();
  const end = events.reduce((m, e) => Math.max(m, e.timestamp), 0);
  const mid = START + (end - START) / 2;
  // newUserRate 1/h and newItemRate 0.25/h over about 11 days: about 270 users and 70 items.
  assert.ok(stats.newUsers > 150 && stats.newUsers < 400, `new users ${stats.newUsers}`);
  assert.ok(stats.newItems > 35 && stats.newItems < 110, `new items ${stats.newItems}`);
  assert.equal(stats.users, 1000 + stats.newUsers);
  assert.equal(stats.items, 500 + stats.newItems);

  const firstSeen = new Map<string, number>();
  for (const e of events) {
    for (const id of [e.userId, e.itemId]) if (id !== null && !firstSeen.has(id)) firstSeen.set(id, e.timestamp);
  }
  const newUsers = [...firstSeen].filter(([id]) => gen.describeUser(id)?.isNew === true);
  const newItems = [...firstSeen].filter(([id]) => gen.describeItem(id)?.isNew === true);
  assert.ok(newUsers.length > stats.newUsers * 0.9, `${newUsers.length} of ${stats.newUsers} new users active`);
  assert.ok(newItems.length > stats.newItems * 0.5, `${newItems.length} of ${stats.newItems} new items seen`);
  for (const [id, t] of newUsers) assert.ok(t >= gen.describeUser(id)!.createdAt && t > START, id);
  for (const [id, t] of newItems) assert.ok(t >= gen.describeItem(id)!.createdAt && t > START, id);
  for (const list of [newUsers, newItems]) {
    assert.ok(list.some(([, t]) => t < mid) && list.some(([, t]) => t > mid), 'in both halves of the run');
  }
});

test('every valid event passes validateEvent unchanged; every injected invalid one fails; injection leaves the valid stream alone', () => {
  const clean = new ClickstreamGenerator({ seed: 3, users: 300, items: 150 }).nextEvents(30_000).raw;
  const gen = new ClickstreamGenerator({ seed: 3, users: 300, items: 150, invalidRate: 0.01 });
  const { raw } = gen.nextEvents(30_000);
  const valid: unknown[] = [];
  const codes = new Set<string>();
  for (const r of raw) {
    const result = validateEvent(r);
    if (result.ok) {
      assert.deepEqual(result.event, r, 'already normalized');
      valid.push(r);
    } else {
      codes.add(result.rejection.code);
      // Invalid events are recognisable by their ids (or lack of one): valid ids never start with "bad-".
      const id = typeof r === 'object' && r !== null ? (r as { eventId?: unknown }).eventId : undefined;
      assert.ok(typeof r === 'string' || (typeof id === 'string' && id.startsWith('bad-')), JSON.stringify(r));
    }
  }
  const invalid = raw.length - valid.length;
  const stats = gen.stats;
  assert.deepEqual([stats.raw, stats.valid, stats.invalid], [30_000, valid.length, invalid]);
  // invalidRate 0.01 per valid event: about 297 (standard deviation 17).
  assert.ok(invalid > 220 && invalid < 380, `invalid ${invalid}`);
  assert.deepEqual([...codes].sort(), ['BAD_TYPE', 'BAD_VALUE', 'MISSING_FIELD', 'NOT_AN_OBJECT']);
  // The valid events are exactly those of the run without injection.
  assert.deepEqual(valid, clean.slice(0, valid.length));
  // No invalid events by default.
  assert.ok(clean.every((r) => validateEvent(r).ok));
});

test('profiles: every user has a profile before their first event; updates come in time order; purchases upgrade tiers', () => {
  const gen = new ClickstreamGenerator({ seed: 11, users: 200, items: 100, newUserRate: 5, profileUpdateRate: 0.5 });
  /** Each user's first profile record. */
  const profiled = new Map<string, Profile>();
  const history: Profile[] = [];
  const buyers = new Set<string>();
  let events = 0;
  while (events < 40_000) {
    const record = gen.nextRecord();
    assert.ok(record.key !== null);
    if (record.topic === 'profiles') {
      const p = record.value as Profile;
      assert.deepEqual([record.key, record.timestamp], [p.userId, p.updatedAt]);
      if (!profiled.has(p.userId)) profiled.set(p.userId, p);
      history.push(p);
    } else {
      const e = record.value as Event;
      events++;
      assert.equal(record.key, e.userId);
      assert.equal(record.timestamp, e.timestamp);
      // (A later profile change may be newer than a late event, but the first profile is older.)
      const p = profiled.get(e.userId);
      assert.ok(p !== undefined && p.updatedAt <= e.timestamp, `profile of ${e.userId} before ${e.eventId}`);
      if (e.type === 'purchase') buyers.add(e.userId);
    }
  }
  const initial = history.slice(0, 200);
  assert.deepEqual(initial.map((p) => p.userId).sort(), Array.from({ length: 200 }, (_, i) => `u${i}`).sort());
  assert.ok(initial.every((p) => p.updatedAt < START));
  const later = history.slice(200);
  for (let i = 1; i < history.length; i++) assert.ok(history[i]!.updatedAt >= history[i - 1]!.updatedAt, 'in time order');
  // New users sign up as tier "new"; some get upgraded after buying; random CRM changes touch others.
  const stats = gen.stats;
  assert.equal(stats.users, profiled.size);
  assert.ok(later.filter((p) => gen.describeUser(p.userId)!.isNew).length >= stats.newUsers);
  const upgrades = later.filter((p, i) => p.tier !== 'new' && later.slice(0, i).some((q) => q.userId === p.userId && q.tier === 'new'));
  assert.ok(upgrades.length > 0, 'some new users were upgraded');
  for (const p of upgrades) assert.ok(buyers.has(p.userId), `${p.userId} was upgraded without buying`);
  assert.ok(later.length > stats.newUsers + upgrades.length, 'random CRM changes too');
});

test('options are checked', () => {
  assert.throws(() => new ClickstreamGenerator({ seed: 1.5 }), RangeError);
  assert.throws(() => new ClickstreamGenerator({ seed: 1, users: 0 }), RangeError);
  assert.throws(() => new ClickstreamGenerator({ seed: 1, items: 3 }), RangeError); // fewer items than categories
  assert.throws(() => new ClickstreamGenerator({ seed: 1, lateRate: 2 }), RangeError);
  assert.throws(() => new ClickstreamGenerator({ seed: 1 }).nextEvents(-1), RangeError);
});

test('the CLI writes NDJSON records { key, value, timestamp } of the same stream; --profiles writes the profiles', () => {
  const cli = resolve(import.meta.dirname, '../../apps/generate.ts');
  const run = (...args: string[]) =>
    execFileSync(process.execPath, [cli, '--seed', '5', '--events', '300', '--users', '50', '--items', '40', '--start', '2024-06-01T12:00:00Z', '--quiet', ...args], {
      encoding: 'utf8',
    })
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { key: string; value: unknown; timestamp: number });
  const lines = run('--invalid-rate', '0.05');
  const expected = new ClickstreamGenerator({ seed: 5, users: 50, items: 40, startTime: Date.UTC(2024, 5, 1, 12), invalidRate: 0.05 }).nextEvents(300);
  assert.deepEqual(
    lines.map((l) => l.value),
    expected.raw,
  );
  for (const l of lines) {
    const v = l.value as Partial<Event>;
    if (validateEvent(v).ok) assert.deepEqual([l.key, l.timestamp], [v.userId, v.timestamp]);
  }
  const profiles = run('--invalid-rate', '0.05', '--profiles');
  assert.deepEqual(
    profiles.map((l) => l.value),
    expected.profiles,
  );
});
