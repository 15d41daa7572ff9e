/**
 * Feature serving: HTTP routes over the personalization stores. Features are computed from the
 * stored aggregates at request time (sliding windows read "now" from feature definitions), each group with
 * its freshness. Unknown users and items get cold-start defaults, never errors.
 *
 *   GET  /users/{id}/features      GET /users/{id}/session      GET /users/{id}/profile
 *   GET  /items/{id}/features      GET /trending?category=&k=    GET /recommendations/{userId}?k=
 *   POST /users/features           body { "ids": [...] }
 *   GET  /features/{definition}/{entity}?at=   (user-activity, item-activity, also-viewed)
 */
import { partitionForKey, type HttpRoute, type StreamsApp } from '../engine/index.ts';
import type { Profile } from './events.ts';
import { featureRoutes, type FeatureState } from '../features/index.ts';
import { alsoViewed, alsoViewedOf, itemActivity, userActivity } from './feature-definitions.ts';
import {
  itemFeaturesAt,
  localDate,
  previousDate,
  sessionIdOf,
  sessionKey,
  sessionRollup,
  summarize,
  topTrending,
  userFeaturesAt,
  type CampaignEpochs,
  type ItemFeatureState,
  type SessionAgg,
  type SessionStats,
  type Trending,
  type UserFeatureState,
} from './features.ts';
import { CAMPAIGN_STORE, type SessionSplit } from './topology.ts';

export interface ServingOptions {
  /** The clock features are computed at (default Date.now). */
  readonly now?: () => number;
  /** The session gap, to tell an open session from a closed one (default 30 minutes). */
  readonly sessionGapMs?: number;
  /** The session splits the topology runs with (they decide where the live session is stored). */
  readonly sessionSplit?: SessionSplit;
}

type StoredSession = { window: { start: number; end: number }; value: SessionAgg };

const json = (status: number, body: unknown) => ({ status, body });

function freshness(lastEventAt: number | null, now: number) {
  return { lastEventAt, ageMs: lastEventAt === null ? null : Math.max(0, now - lastEventAt) };
}

export function servingRoutes(app: StreamsApp, options: ServingOptions = {}): HttpRoute[] {
  const now = options.now ?? Date.now;
  const gap = options.sessionGapMs ?? 30 * 60_000;
  const timeZone = options.sessionSplit?.midnight?.timeZone ?? null;
  const campaigns = options.sessionSplit?.onCampaignChange === true;

  async function userFeatures(id: string) {
    const at = now();
    const [state, stats, activity] = await Promise.all([
      app.get<UserFeatureState>('user-features', id),
      app.get<SessionStats>('user-session-stats', id),
      app.get<FeatureState>(userActivity.name, id),
    ]);
    const features = userFeaturesAt(state, at, activity);
    return {
      userId: id,
      coldStart: state === undefined,
      features,
      sessions: sessionRollup(stats),
      freshness: freshness(features.lastSeen, at),
    };
  }

  /**
   * The user's sessions in the live store, each with its campaign epoch. With splits they are
   * stored under composite keys (user|date|cN), all in the user's partition: the candidates are
   * the local dates of the user's newest event and the day before (the session store may not have
   * that event yet), times the campaign epochs still kept for the user. The newest event time is
   * the campaign epochs' newest, or the user features' `lastSeen` with the midnight split only.
   */
  async function storedSessions(id: string): Promise<(StoredSession & { epoch: number | null })[]> {
    const rows = (r: { status: number; body: unknown }) => (r.status === 200 ? (r.body as StoredSession[]) : []);
    if (timeZone === null && !campaigns) return rows(await app.queryKey('sessions', { type: 'sessions', key: id })).map((s) => ({ ...s, epoch: null }));
    let epochs: (number | null)[] = [null];
    let newest: number | undefined;
    if (campaigns) {
      const state = await app.get<CampaignEpochs>(CAMPAIGN_STORE, id);
      if (state === undefined) return [];
      epochs = state.epochs.map((e) => e.id);
      newest = Math.max(...state.epochs.map((e) => e.maxAt));
    } else {
      newest = (await app.get<UserFeatureState>('user-features', id))?.lastSeen;
      if (newest === undefined) return [];
    }
    const dates = timeZone === null ? [null] : [localDate(newest, timeZone), previousDate(localDate(newest, timeZone))];
    const partitions = app.stores().find((s) => s.name === 'sessions')?.partitions ?? 0;
    if (partitions === 0) return [];
    const partition = partitionForKey(Buffer.from(id), partitions);
    const keys = dates.flatMap((date) => epochs.map((epoch) => ({ key: sessionKey(id, date, epoch), epoch })));
    const found = await Promise.all(keys.map(async ({ key, epoch }) => rows(await app.query('sessions', partition, { type: 'sessions', key })).map((s) => ({ ...s, epoch }))));
    return found.flat();
  }

  async function liveSession(id: string) {
    const sessions = await storedSessions(id);
    const latest = sessions.reduce<(typeof sessions)[number] | undefined>((a, s) => (a === undefined || s.window.end > a.window.end ? s : a), undefined);
    if (latest === undefined) return { userId: id, session: null };
    const at = now();
    // With the midnight split a session also closes when the local date changes.
    const open = latest.window.end + gap > at && (timeZone === null || localDate(at, timeZone) === localDate(latest.window.end, timeZone));
    const summary = summarize(latest.value);
    return { userId: id, session: { ...summary, sessionId: sessionIdOf(id, summary.start, latest.epoch), open }, freshness: freshness(latest.window.end, at) };
  }

  /** Trending items of one category, or of every category merged. */
  async function trending(category: string | null, k: number) {
    if (category !== null) return topTrending(await app.get<Trending>('trending', category), k);
    const partitions = app.stores().find((s) => s.name === 'trending')?.partitions ?? 0;
    const rows = await Promise.all(Array.from({ length: partitions }, (_, p) => app.query('trending', p, { type: 'range' })));
    const all: { itemId: string; score: number }[] = [];
    for (const r of rows) if (r.status === 200) for (const row of r.body as { value: Trending }[]) all.push(...topTrending(row.value, k));
    return all.sort((a, b) => b.score - a.score).slice(0, k);
  }

  async function recommendations(userId: string, k: number) {
    const [state, activity] = await Promise.all([app.get<UserFeatureState>('user-features', userId), app.get<FeatureState>(userActivity.name, userId)]);
    if (state === undefined) return { userId, coldStart: true, items: (await trending(null, k)).map((t) => ({ ...t, reason: 'popular' })) };
    const features = userFeaturesAt(state, now(), activity);
    const seen = new Set([...features.lastPurchases.map((p) => p.itemId)]);
    const scores = new Map<string, { score: number; reason: string }>();
    const add = (itemId: string, score: number, reason: string) => {
      if (seen.has(itemId)) return;
      const old = scores.get(itemId);
      scores.set(itemId, old === undefined ? { score, reason } : { score: old.score + score, reason: old.reason });
    };
    // Affinity times trending, in the user's top categories.
    const top = Object.entries(features.categoryAffinity).sort((a, b) => b[1] - a[1]).slice(0, 3);
    const lists = await Promise.all(top.map(([category]) => trending(category, k)));
    top.forEach(([category, affinity], i) => {
      for (const t of lists[i]!) add(t.itemId, affinity * t.score, `trending in ${category}`);
    });
    // Items viewed together with what the user viewed last.
    const together = await Promise.all(features.lastItems.slice(0, 3).map((item) => app.get<FeatureState>(alsoViewed.name, item)));
    together.forEach((also, i) => {
      for (const { itemId, count } of alsoViewedOf(also, now())) add(itemId, count, `viewed with ${features.lastItems[i]}`);
    });
    const items = [...scores].sort((a, b) => b[1].score - a[1].score).slice(0, k).map(([itemId, s]) => ({ itemId, score: Number(s.score.toFixed(4)), reason: s.reason }));
    if (items.length < k) {
      for (const t of await trending(null, k)) if (items.length < k && !items.some((i) => i.itemId === t.itemId) && !seen.has(t.itemId)) items.push({ ...t, reason: 'popular' });
    }
    return { userId, coldStart: false, items };
  }

  const limit = (url: URL, fallback: number) => {
    const k = Number(url.searchParams.get('k') ?? fallback);
    return Number.isSafeInteger(k) && k > 0 && k <= 100 ? k : null;
  };
  const badK = json(400, { error: 'k must be an integer from 1 to 100' });

  return [
    // Every feature definition's values as stored: GET /features/{definition}/{entity}[?at=ms].
    ...featureRoutes(app, [userActivity, itemActivity, alsoViewed], { now }),
    { method: 'GET', name: '/users/{id}/features', path: /^\/users\/([^/]+)\/features$/, handle: async (m) => json(200, await userFeatures(decodeURIComponent(m[1]!))) },
    { method: 'GET', name: '/users/{id}/session', path: /^\/users\/([^/]+)\/session$/, handle: async (m) => json(200, await liveSession(decodeURIComponent(m[1]!))) },
    {
      method: 'GET',
      name: '/users/{id}/profile',
      path: /^\/users\/([^/]+)\/profile$/,
      handle: async (m) => {
        const id = decodeURIComponent(m[1]!);
        const [profile, features, session] = await Promise.all([app.get<Profile>('profiles', id), userFeatures(id), liveSession(id)]);
        return json(200, {
          userId: id,
          profile: profile ?? { userId: id, tier: 'new', country: null, marketingOptIn: false },
          profileKnown: profile !== undefined,
          features: features.features,
          sessions: features.sessions,
          purchaseHistory: features.features.lastPurchases,
          liveSession: session.session,
          coldStart: features.coldStart,
          freshness: features.freshness,
        });
      },
    },
    {
      method: 'GET',
      name: '/items/{id}/features',
      path: /^\/items\/([^/]+)\/features$/,
      handle: async (m) => {
        const id = decodeURIComponent(m[1]!);
        const [state, activity, also] = await Promise.all([
          app.get<ItemFeatureState>('item-features', id),
          app.get<FeatureState>(itemActivity.name, id),
          app.get<FeatureState>(alsoViewed.name, id),
        ]);
        const at = now();
        const features = itemFeaturesAt(state, at, activity);
        return json(200, { itemId: id, coldStart: state === undefined, features, alsoViewed: alsoViewedOf(also, at).map((a) => a.itemId), freshness: freshness(features.lastSeen, at) });
      },
    },
    {
      method: 'GET',
      name: '/trending',
      path: /^\/trending$/,
      handle: async (_m, { url }) => {
        const k = limit(url, 10);
        if (k === null) return badK;
        const category = url.searchParams.get('category');
        return json(200, { category, items: await trending(category === '' ? null : category, k) });
      },
    },
    {
      method: 'GET',
      name: '/recommendations/{userId}',
      path: /^\/recommendations\/([^/]+)$/,
      handle: async (m, { url }) => {
        const k = limit(url, 10);
        if (k === null) return badK;
        return json(200, await recommendations(decodeURIComponent(m[1]!), k));
      },
    },
    {
      method: 'POST',
      name: '/users/features',
      path: /^\/users\/features$/,
      handle: async (_m, { body }) => {
        let ids: unknown;
        try {
          ids = (JSON.parse(await body()) as { ids?: unknown }).ids;
        } catch {
          return json(400, { error: 'body must be JSON: { "ids": ["u1", ...] }' });
        }
        if (!Array.isArray(ids) || ids.length > 1000 || !ids.every((i) => typeof i === 'string')) {
          return json(400, { error: 'ids must be an array of at most 1000 strings' });
        }
        return json(200, { users: await Promise.all(ids.map((id) => userFeatures(id))) });
      },
    },
  ];
}
