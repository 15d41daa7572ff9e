import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Serdes, TopologyTestDriver } from '../../index.ts';
import { personalizationTopology, TOPICS } from '../../apps/topology.ts';
import type { SessionSummary } from '../../apps/features.ts';

const MIN = 60_000;
const GAP = 30 * MIN;
const GRACE = 2 * MIN;
const T0 = 1_700_000_000_000;

interface Input {
  user: string;
  at: number;
  type: 'page_view' | 'click' | 'purchase';
}

/**
 * Reference sessionization: per user, the events sorted by time, split wherever two consecutive
 * events are more than the gap apart. Valid when no event is late beyond the grace period.
 */
function reference(events: readonly Input[]): Map<string, { start: number; end: number; events: number; pageViews: number; converted: boolean }[]> {
  const out = new Map<string, { start: number; end: number; events: number; pageViews: number; converted: boolean }[]>();
  for (const e of [...events].sort((a, b) => a.at - b.at)) {
    const sessions = out.get(e.user) ?? [];
    out.set(e.user, sessions);
    const last = sessions.at(-1);
    if (last !== undefined && e.at - last.end <= GAP) {
      last.end = e.at;
      last.events++;
      if (e.type === 'page_view') last.pageViews++;
      if (e.type === 'purchase') last.converted = true;
    } else {
      sessions.push({ start: e.at, end: e.at, events: 1, pageViews: e.type === 'page_view' ? 1 : 0, converted: e.type === 'purchase' });
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

test('sessionization equals a reference model on random streams with out-of-order events within the grace period', () => {
  fc.assert(
    fc.property(inputs, (events) => {
      const driver = new TopologyTestDriver(personalizationTopology({ sessionGapMs: GAP, lateEventGraceMs: GRACE }));
      const raw = driver.createInputTopic(TOPICS.raw, Serdes.string(), Serdes.json<unknown>());
      events.forEach((e, i) => {
        const extra = e.type === 'purchase' ? { price: 1, quantity: 1 } : {};
        raw.pipeInput(e.user, { eventId: `e${i}`, userId: e.user, type: e.type, timestamp: e.at, itemId: 'i1', page: '/item/i1', ...extra }, e.at);
      });
      // Far in the future: every session closes.
      const end = Math.max(...events.map((e) => e.at)) + 10 * GAP;
      raw.pipeInput('flush', { eventId: 'flush', userId: 'flush', type: 'page_view', timestamp: end, itemId: 'i0' }, end);
      raw.pipeInput('flush', { eventId: 'flush2', userId: 'flush', type: 'page_view', timestamp: end + 10 * GAP, itemId: 'i0' }, end + 10 * GAP);
      const closed = driver.createOutputTopic(TOPICS.sessions, Serdes.string(), Serdes.json<SessionSummary>()).readValuesToList();
      driver.close();
      const actual = new Map<string, { start: number; end: number; events: number; pageViews: number; converted: boolean }[]>();
      for (const s of closed) {
        if (s!.userId === 'flush') continue;
        const list = actual.get(s!.userId) ?? [];
        actual.set(s!.userId, list);
        list.push({ start: s!.start, end: s!.end, events: s!.events, pageViews: s!.pageViews, converted: s!.converted });
      }
      for (const list of actual.values()) list.sort((a, b) => a.start - b.start);
      assert.deepEqual(actual, reference(events));
    }),
    { numRuns: 150 },
  );
});
