/**
 * The apps' windowed features as declarative definitions (tributary/features): per user and per
 * item, events by type over sliding windows, and per item the items viewed in the same sessions.
 *
 * They replace hand-written hourly and 5-minute buckets whose windows were read as "the buckets
 * starting after now - window" (so "1h" at 10:01 held only 10:00-10:01: 20 views at 09:58 read 0),
 * and an "also viewed" top 20 truncated on every update (once 20 items had a count of two, a new
 * item never got in). The windows here slide with their hop and are never shorter than their name;
 * "also viewed" is a Space-Saving summary.
 */
import { Agg, defineFeatures, feature, featureOfEach, readFeatures, type FeatureState } from '../features/index.ts';
import { EVENT_TYPES, type Event, type EventType } from './events.ts';

/** A purchase in a user's history, with the CRM tier the user had when buying. */
export interface Purchase {
  itemId: string;
  amount: number;
  at: number;
  tier: string | null;
}

/** An event with the CRM tier its user had when it happened (the stream-table join with `profiles`). */
export type EventWithTier = Event & { tier?: string | null };

/** Affinity weights: a purchase says more than a cart, a cart more than a view. */
export const AFFINITY_WEIGHTS: Readonly<Record<EventType, number>> = {
  page_view: 1,
  click: 1,
  add_to_cart: 3,
  purchase: 10,
  search: 0,
  profile_update: 0,
};
/** A category's affinity halves in a day without new events. */
export const AFFINITY_HALF_LIFE_MS = 24 * 3_600_000;
/** Items served per category as trending, and how fast their popularity halves. */
export const TRENDING_K = 50;
export const TRENDING_HALF_LIFE_MS = 3_600_000;

/** An item's weight in trending: a purchase counts more than a cart, a cart more than a view. */
const trendingWeight = (e: Event) => (e.itemId === null ? null : ([e.itemId, Math.max(1, AFFINITY_WEIGHTS[e.type])] as const));

const purchaseAmount = (e: EventWithTier) => (e.type === 'purchase' ? (e.price ?? 0) * (e.quantity ?? 1) : null);

/**
 * Per user (keyed by the user already): events by type over 1h (5-minute hops), 1d (hourly) and 7d
 * (daily); over the user's lifetime, purchase sum and average, distinct items (HyperLogLog), the
 * last 20 distinct items viewed or clicked and the last 5 distinct categories (by event time),
 * category affinity decayed with a one-day half-life (view or click 1, cart 3, purchase 10), and
 * the last 10 purchases by event time, with the tier the user had then.
 */
export const userActivity = defineFeatures({
  name: 'user-activity',
  windows: { '1h': { hop: '5m' }, '1d': { hop: '1h' }, '7d': { hop: '1d' }, lifetime: 'lifetime' },
  features: {
    byType: feature(Agg.histogram(), (e: EventWithTier) => e.type, { windows: ['1h', '1d', '7d'] }),
    purchaseSum: feature(Agg.sum(), purchaseAmount, { windows: ['lifetime'] }),
    purchaseAvg: feature(Agg.avg(), purchaseAmount, { windows: ['lifetime'] }),
    distinctItems: feature(Agg.approxDistinct(), (e: EventWithTier) => e.itemId, { windows: ['lifetime'] }),
    lastItems: feature(Agg.lastDistinctK(20), (e: EventWithTier) => (e.itemId !== null && (e.type === 'page_view' || e.type === 'click') ? e.itemId : null), { windows: ['lifetime'] }),
    lastCategories: feature(Agg.lastDistinctK(5), (e: EventWithTier) => e.category, { windows: ['lifetime'] }),
    affinity: feature(
      Agg.decayedSumByKey({ halfLifeMs: AFFINITY_HALF_LIFE_MS }),
      (e: EventWithTier) => (e.category !== null && AFFINITY_WEIGHTS[e.type] > 0 ? ([e.category, AFFINITY_WEIGHTS[e.type]] as const) : null),
      { windows: ['lifetime'] },
    ),
    lastPurchases: feature(
      Agg.lastK<Purchase>(10),
      (e: EventWithTier) => (e.type === 'purchase' ? { itemId: e.itemId!, amount: purchaseAmount(e)!, at: e.timestamp, tier: e.tier ?? null } : null),
      { windows: ['lifetime'] },
    ),
  },
});

/** Events by type per item: 5m (1-minute hops), 1h (5-minute hops), 1d (hourly). */
export const itemActivity = defineFeatures({
  name: 'item-activity',
  entity: (e: Event) => e.itemId,
  windows: { '5m': { hop: '1m' }, '1h': { hop: '5m' }, '1d': { hop: '1h' } },
  features: { byType: feature(Agg.histogram(), (e: Event) => e.type) },
});

/** An event with the segment of its user's profile as of the event (apps/segments.ts). */
export interface SegmentEvent {
  readonly event: Event;
  readonly segment: string;
}

/**
 * Per segment of similar users (cold start, apps/segments.ts): events by type over the same
 * windows as a user's, and over the segment's lifetime its distinct users (HyperLogLog), purchase
 * count and sum: serving divides by the users for a typical member.
 */
export const segmentActivity = defineFeatures({
  name: 'segment-activity',
  entity: (v: SegmentEvent) => v.segment,
  windows: { '1h': { hop: '5m' }, '1d': { hop: '1h' }, '7d': { hop: '1d' }, lifetime: 'lifetime' },
  features: {
    byType: feature(Agg.histogram(), (v: SegmentEvent) => v.event.type, { windows: ['1h', '1d', '7d'] }),
    users: feature(Agg.approxDistinct(), (v: SegmentEvent) => v.event.userId, { windows: ['lifetime'] }),
    purchases: feature(Agg.count(), (v: SegmentEvent) => (v.event.type === 'purchase' ? 1 : null), { windows: ['lifetime'] }),
    purchaseSum: feature(Agg.sum(), (v: SegmentEvent) => purchaseAmount(v.event), { windows: ['lifetime'] }),
    affinity: feature(
      Agg.decayedSumByKey({ halfLifeMs: AFFINITY_HALF_LIFE_MS }),
      (v: SegmentEvent) => (v.event.category !== null && AFFINITY_WEIGHTS[v.event.type] > 0 ? ([v.event.category, AFFINITY_WEIGHTS[v.event.type]] as const) : null),
      { windows: ['lifetime'] },
    ),
    items: feature(Agg.decayedTopK(TRENDING_K, { halfLifeMs: TRENDING_HALF_LIFE_MS, capacity: 4 * TRENDING_K }), (v: SegmentEvent) => (v.event.type === 'search' ? null : trendingWeight(v.event)), {
      windows: ['lifetime'],
    }),
  },
});

/**
 * Per category (events with an item and a category, searches excluded): the items with the most
 * decayed weight (half-life one hour), as a Space-Saving summary of 200 counters, so an item that
 * becomes popular always gets in (the hand-written top 50 it replaces dropped the rest at every
 * update).
 */
export const trending = defineFeatures({
  name: 'trending',
  entity: (e: Event) => e.category,
  windows: { lifetime: 'lifetime' },
  features: {
    items: feature(Agg.decayedTopK(TRENDING_K, { halfLifeMs: TRENDING_HALF_LIFE_MS, capacity: 4 * TRENDING_K }), trendingWeight, { windows: ['lifetime'] }),
  },
});

/** The top `k` trending items of a category's (or segment's) state as of `now`, scores rounded. */
export function trendingOf(def: typeof trending | typeof segmentActivity, state: FeatureState | undefined | null, now: number, k: number): { itemId: string; score: number }[] {
  const rows = def === trending ? readFeatures(trending, state, now).items.lifetime! : readFeatures(segmentActivity, state, now).items.lifetime!;
  return rows.slice(0, k).map((r) => ({ itemId: r.item, score: Number(r.score.toFixed(4)) }));
}

/** How many "also viewed" items are served. */
export const ALSO_VIEWED_K = 20;

/**
 * Per item (the record key), the items viewed in the same closed sessions (one record per item of
 * a session, with the session's other items); the top 20 by a Space-Saving summary of 100 counters.
 */
export const alsoViewed = defineFeatures({
  name: 'also-viewed',
  windows: { lifetime: 'lifetime' },
  features: { items: featureOfEach(Agg.topK(ALSO_VIEWED_K, { capacity: 5 * ALSO_VIEWED_K }), (others: readonly string[]) => others) },
});

/** The counts by event type (every type, 0 when none) of each window of an activity definition. */
export function countsByType<W extends string>(def: typeof userActivity | typeof itemActivity, state: FeatureState | undefined | null, now: number): Record<W, Record<EventType, number>> {
  const values: Record<string, Record<string, number>> = def === userActivity ? readFeatures(userActivity, state, now).byType : readFeatures(itemActivity, state, now).byType;
  const out: Record<string, Record<string, number>> = {};
  for (const [w, hist] of Object.entries(values)) out[w] = Object.fromEntries(EVENT_TYPES.filter((t) => t !== 'profile_update').map((t) => [t, hist[t] ?? 0]));
  return out as Record<W, Record<EventType, number>>;
}

/** The "also viewed" items of an item, most frequent first, with their counts (upper bounds). */
export function alsoViewedOf(state: FeatureState | undefined | null, now: number): { itemId: string; count: number }[] {
  return readFeatures(alsoViewed, state, now).items.lifetime!.map((e) => ({ itemId: e.item, count: e.count }));
}
