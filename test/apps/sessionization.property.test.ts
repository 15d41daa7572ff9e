import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Serdes, TopologyTestDriver } from '../../index.ts';
import { personalizationTopology, TOPICS, type PersonalizationOptions } from '../../apps/topology.ts';
import type { SessionSummary } from '../../apps/features.ts';

const MIN = 60_000;
const GAP = 30 * MIN;
const GRACE = 2 * MIN;
const T0 = 1_700_000_000_000;

interface Input {
  user: string;
  at: number;
  type: 'page_view' | 'click' | 'purchase';
  campaign?: string | null;
}

interface RefSession {
  start: number;
  end: number;
  events: number;
  pageViews: number;
  converted: boolean;
  utmCampaign?: string | null;
}

/**
 * Berlin's local date as a day number. Every stream here lies within days of T0 (2023-11-14), when
 * Berlin is on CET (UTC+1, from 2023-10-29 to 2024-03-31), so the offset is fixed.
 */
const berlinDay = (t: number) => Math.floor((t + 3_600_000) / 86_400_000);

/**
 * Reference sessionization: per user, the events sorted by time, split wherever two consecutive
 * events are more than the gap apart; with `midnight`, also where Berlin's date changes; with
 * `campaigns`, also at an event whose campaign differs from the user's current one (the last
 * campaign seen, kept across sessions, as Universal Analytics did). Valid when no event is late
 * beyond the grace period.
 */
function reference(events: readonly Input[], split: { midnight?: boolean; campaigns?: boolean } = {}): Map<string, RefSession[]> {
  const out = new Map<string, RefSession[]>();
  const current = new Map<string, string | null>();
  for (const e of [...events].sort((a, b) => a.at - b.at)) {
    const sessions = out.get(e.user) ?? [];
    out.set(e.user, sessions);
    const last = sessions.at(-1);
    const campaign = e.campaign ?? null;
    const newCampaign = split.campaigns === true && campaign !== null && campaign !== (current.get(e.user) ?? null);
    if (campaign !== null) current.set(e.user, campaign);
    if (last !== undefined && e.at - last.end <= GAP && !newCampaign && (split.midnight !== true || berlinDay(e.at) === berlinDay(last.end))) {
      last.end = e.at;
      last.events++;
      if (e.type === 'page_view') last.pageViews++;
      if (e.type === 'purchase') last.converted = true;
    } else {
      sessions.push({
        start: e.at,
        end: e.at,
        events: 1,
        pageViews: e.type === 'page_view' ? 1 : 0,
        converted: e.type === 'purchase',
        ...(split.campaigns === true && { utmCampaign: campaign }),
      });
    }
  }
  return out;
}

// Events in time order with small random delays (at most the grace), so none is dropped as late.
const inputs = fc
  .array(
    fc.record({
      user: fc.constantFrom('u1', 'u2', 'u3'),
      step: fc.oneof(fc.integer({ min: 0, max: 10 * MIN }), fc.integer({ min: 25 * MIN, max: 40 * MIN })),
      delay: fc.integer({ min: 0, max: GRACE - 1000 }),
      type: fc.constantFrom('page_view' as const, 'click' as const, 'purchase' as const),
    }),
    { minLength: 1, maxLength: 40 },
  )
  .map((rows) => {
    let t = T0;
    const events = rows.map((r) => {
      t += r.step;
      return { user: r.user, at: t, type: r.type, arrival: t + r.delay };
    });
    return events.sort((a, b) => a.arrival - b.arrival);
  });

/** Runs the topology on `events`, closes every session, and returns them per user (sorted by start). */
function sessionize(events: readonly Input[], sessionSplit: PersonalizationOptions['sessionSplit'], withCampaign = false) {
  const driver = new TopologyTestDriver(personalizationTopology({ sessionGapMs: GAP, lateEventGraceMs: GRACE, ...(sessionSplit !== undefined && { sessionSplit }) }));
  const raw = driver.createInputTopic(TOPICS.raw, Serdes.string(), Serdes.json<unknown>());
  events.forEach((e, i) => {
    const extra = e.type === 'purchase' ? { price: 1, quantity: 1 } : {};
    raw.pipeInput(e.user, { eventId: `e${i}`, userId: e.user, type: e.type, timestamp: e.at, itemId: 'i1', page: '/item/i1', utmCampaign: e.campaign ?? null, ...extra }, e.at);
  });
  // Far in the future: every session closes.
  const end = Math.max(...events.map((e) => e.at)) + 10 * GAP;
  raw.pipeInput('flush', { eventId: 'flush', userId: 'flush', type: 'page_view', timestamp: end, itemId: 'i0' }, end);
  raw.pipeInput('flush', { eventId: 'flush2', userId: 'flush', type: 'page_view', timestamp: end + 10 * GAP, itemId: 'i0' }, end + 10 * GAP);
  const closed = driver.createOutputTopic(TOPICS.sessions, Serdes.string(), Serdes.json<SessionSummary>()).readKeyValuesToList();
  driver.close();
  const actual = new Map<string, RefSession[]>();
  const ids = new Set<string>();
  for (const { key, value: s } of closed) {
    if (s!.userId === 'flush') continue;
    assert.equal(key, s!.userId, 'the sessions topic is keyed by user');
    assert.ok(!ids.has(s!.sessionId), `session ids are unique: ${s!.sessionId}`);
    ids.add(s!.sessionId);
    const list = actual.get(s!.userId) ?? [];
    actual.set(s!.userId, list);
    list.push({
      start: s!.start,
      end: s!.end,
      events: s!.events,
      pageViews: s!.pageViews,
      converted: s!.converted,
      ...(withCampaign && { utmCampaign: s!.utmCampaign }),
    });
  }
  for (const list of actual.values()) list.sort((a, b) => a.start - b.start);
  return actual;
}

test('sessionization equals a reference model on random streams with out-of-order events within the grace period', () => {
  fc.assert(
    fc.property(inputs, (events) => {
      assert.deepEqual(sessionize(events, undefined), reference(events));
    }),
    { numRuns: 150 },
  );
});

test('with the midnight split (Europe/Berlin), sessionization equals the reference model that also splits at local midnight', () => {
  fc.assert(
    fc.property(inputs, (events) => {
      assert.deepEqual(sessionize(events, { midnight: { timeZone: 'Europe/Berlin' } }), reference(events, { midnight: true }));
    }),
    { numRuns: 100 },
  );
});

// Campaigns on some events. Events that carry one arrive in time order (no delay: the documented
// approximation only concerns late events that change the campaign); the others may be late
// within the grace period. Times are distinct, so the order of two events is never a tie.
const withCampaigns = fc
  .array(
    fc.record({
      user: fc.constantFrom('u1', 'u2'),
      step: fc.oneof(fc.integer({ min: 1, max: 10 * MIN }), fc.integer({ min: 25 * MIN, max: 40 * MIN })),
      delay: fc.integer({ min: 0, max: GRACE - 1000 }),
      type: fc.constantFrom('page_view' as const, 'click' as const, 'purchase' as const),
      campaign: fc.constantFrom(null, null, null, 'spring', 'summer'),
    }),
    { minLength: 1, maxLength: 40 },
  )
  .map((rows) => {
    let t = T0;
    const events = rows.map((r) => {
      t += r.step;
      return { user: r.user, at: t, type: r.type, campaign: r.campaign, arrival: t + (r.campaign === null ? r.delay : 0) };
    });
    return events.sort((a, b) => a.arrival - b.arrival);
  });

test('with the campaign and midnight splits, sessionization equals the reference model that also splits on a campaign change', () => {
  fc.assert(
    fc.property(withCampaigns, (events) => {
      assert.deepEqual(
        sessionize(events, { midnight: { timeZone: 'Europe/Berlin' }, onCampaignChange: true }, true),
        reference(events, { midnight: true, campaigns: true }),
      );
    }),
    { numRuns: 100 },
  );
});
