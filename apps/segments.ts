/**
 * Cold start (issue 19, item 4): a user with no history of their own gets the features of similar
 * users, those of the same segment of the CRM profile (country, tier, signup channel). The topology
 * keeps one aggregate per segment, summed over the events of every user in it (the user's profile
 * as of each event, a stream-table join); serving divides by the segment's distinct users, so a
 * cold user reads what a typical member of the segment did, and says so with a flag.
 *
 * The per-user means are approximate: the distinct users come from a HyperLogLog (~3%), and a
 * user who moved to another segment (a tier upgrade) keeps counting in the old one for the events
 * before the move, as a profile-at-event-time join means.
 */
import type { Profile } from './events.ts';
import { readFeatures, type FeatureState } from '../features/index.ts';
import { segmentActivity, trendingOf } from './feature-definitions.ts';
import type { UserFeatures } from './features.ts';

/** A segment's key: `country|tier|signupChannel` (`unknown` for a profile without a channel). */
export function segmentOf(profile: Pick<Profile, 'country' | 'tier' | 'signupChannel'>): string {
  return `${profile.country}|${profile.tier}|${profile.signupChannel ?? 'unknown'}`;
}

/** A segment key as people read it. */
export function describeSegment(segment: string): string {
  const [country, tier, channel] = segment.split('|');
  return `${country}, ${tier}, signed up on ${channel}`;
}

/** What a cold-start answer carries besides the features: where they come from. */
export interface SimilarUsers {
  readonly segment: string;
  readonly description: string;
  /** Distinct users the means are over (approximate). */
  readonly users: number;
  readonly lastEventAt: number;
}

const round = (n: number) => Number(n.toFixed(2));

/**
 * The features of a typical user of the segment at `now`: window counts, purchase sum and
 * category affinity are means per user; the purchase average is the segment's; recent items and
 * purchases, being one user's own, stay empty.
 */
export function segmentFeaturesAt(segment: string, activity: FeatureState, now: number): { features: UserFeatures; similarUsers: SimilarUsers } {
  const values = readFeatures(segmentActivity, activity, now);
  const distinct = values.users.lifetime ?? 0;
  const users = Math.max(1, distinct);
  const purchases = values.purchases.lifetime ?? 0;
  const purchaseSum = values.purchaseSum.lifetime ?? 0;
  const counts = {} as UserFeatures['counts'];
  for (const name of ['1h', '1d', '7d'] as const) {
    counts[name] = {};
    const byType = values.byType[name] ?? {};
    for (const type of ['page_view', 'click', 'add_to_cart', 'purchase', 'search']) counts[name][type] = round((byType[type] ?? 0) / users);
  }
  const affinity: Record<string, number> = {};
  for (const [c, v] of Object.entries(values.affinity.lifetime ?? {})) affinity[c] = Number((v / users).toFixed(4));
  return {
    features: {
      counts,
      purchaseSum: round(purchaseSum / users),
      purchaseAvg: purchases === 0 ? 0 : round(purchaseSum / purchases),
      lastItems: [],
      lastCategories: Object.entries(affinity).sort((a, b) => b[1] - a[1]).slice(0, 5).map(([c]) => c),
      categoryAffinity: affinity,
      distinctItems: 0,
      lastPurchases: [],
      firstSeen: null,
      lastSeen: null,
    },
    similarUsers: { segment, description: describeSegment(segment), users: distinct, lastEventAt: activity.newest },
  };
}

/** The segment's most popular items now. */
export function segmentTopItems(activity: FeatureState, now: number, k: number): { itemId: string; score: number }[] {
  return trendingOf(segmentActivity, activity, now, k);
}
