/**
 * Feature serving: HTTP routes over the personalization stores. Features are computed from the
 * stored aggregates at request time (sliding windows read "now" from feature definitions), each group with
 * its freshness. Unknown users and items get cold-start defaults, never errors.
 *
 *   GET  /users/{id}/features      GET /users/{id}/session      GET /users/{id}/profile
 *   GET  /items/{id}/features      GET /trending?category=&k=    GET /recommendations/{userId}?k=
 *   POST /users/features           body { "ids": [...] }
 *   GET  /features/{definition}/{entity}?at=   (user-activity, item-activity, also-viewed)
 *   For the page (apps/page.ts), with the `log` option: GET /users/active?k=  GET /users/{id}/timeline
 *   GET /trending/categories?k=  GET /engine/history  GET /assets/uplot.js  GET /assets/uplot.css
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { partitionForKey, type HttpRoute, type Log, type StreamsApp } from '../engine/index.ts';
import { eventSerde, type Profile } from './events.ts';
import { featureRoutes, type FeatureState } from '../features/index.ts';
import { alsoViewed, alsoViewedOf, itemActivity, segmentActivity, trending as trendingDef, trendingOf, userActivity } from './feature-definitions.ts';
import { MetricsHistory } from './metrics-history.ts';
import { RecentActivity } from './recent-activity.ts';
import { describeSegment, segmentFeaturesAt, segmentOf, segmentTopItems } from './segments.ts';
import {
  itemFeaturesAt,
  localDate,
  previousDate,
  sessionIdOf,
  sessionKey,
  sessionRollup,
  summarize,
  userFeaturesAt,
  type CampaignEpochs,
  type ItemFeatureState,
  type SessionAgg,
  type SessionStats,
  type UserFeatureState,
} from './features.ts';
import { CAMPAIGN_STORE, TOPICS, type SessionSplit } from './topology.ts';

export interface ServingOptions {
  /** The clock features are computed at (default Date.now). */
  readonly now?: () => number;
  /** The session gap, to tell an open session from a closed one (default 30 minutes). */
  readonly sessionGapMs?: number;
  /** The session splits the topology runs with (they decide where the live session is stored). */
  readonly sessionSplit?: SessionSplit;
  /**
   * The log the app runs on, and the partitions of its `events` topic: with them the page's routes
   * (active users, timelines) tail that topic (see RecentActivity).
   */
  readonly log?: Log;
  readonly partitions?: number;
  /** The engine's throughput and lag history for the page's charts (default: sampled every 2 s, 10 minutes kept). */
  readonly history?: MetricsHistory;
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

  /** For a user with no history: the profile's segment and its aggregates (undefined when either is unknown). */
  async function similarUsers(id: string): Promise<{ segment: string; activity: FeatureState } | undefined> {
    const profile = await app.get<Profile>('profiles', id);
    if (profile === undefined) return undefined;
    const segment = segmentOf(profile);
    const activity = await app.get<FeatureState>(segmentActivity.name, segment);
    return activity === undefined ? undefined : { segment, activity };
  }

  async function userFeatures(id: string) {
    const at = now();
    const [state, stats, activity] = await Promise.all([
      app.get<UserFeatureState>('user-features', id),
      app.get<SessionStats>('user-session-stats', id),
      app.get<FeatureState>(userActivity.name, id),
    ]);
    // Cold start: the features of a typical user of the same segment, flagged as such.
    const similar = state === undefined ? await similarUsers(id) : undefined;
    if (similar !== undefined) {
      const { features, similarUsers } = segmentFeaturesAt(similar.segment, similar.activity, at);
      return { userId: id, coldStart: true, fromSimilarUsers: true, similarUsers, features, sessions: sessionRollup(stats), freshness: freshness(similarUsers.lastEventAt, at) };
    }
    const features = userFeaturesAt(state, at, activity);
    return {
      userId: id,
      coldStart: state === undefined,
      fromSimilarUsers: false,
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
    if (category !== null) return trendingOf(trendingDef, await app.get<FeatureState>(trendingDef.name, category), now(), k);
    const partitions = app.stores().find((s) => s.name === 'trending')?.partitions ?? 0;
    const rows = await Promise.all(Array.from({ length: partitions }, (_, p) => app.query('trending', p, { type: 'range' })));
    const all: { itemId: string; score: number }[] = [];
    for (const r of rows) if (r.status === 200) for (const row of r.body as { value: FeatureState }[]) all.push(...trendingOf(trendingDef, row.value, now(), k));
    return all.sort((a, b) => b.score - a.score).slice(0, k);
  }

  async function recommendations(userId: string, k: number) {
    const [state, activity] = await Promise.all([app.get<UserFeatureState>('user-features', userId), app.get<FeatureState>(userActivity.name, userId)]);
    if (state === undefined) {
      // Cold start: what similar users (the profile's segment) like, then what is popular.
      const similar = await similarUsers(userId);
      const items = similar === undefined ? [] : segmentTopItems(similar.activity, now(), k).map((t) => ({ ...t, reason: `popular with similar users (${describeSegment(similar.segment)})` }));
      for (const t of await trending(null, k)) if (items.length < k && !items.some((i) => i.itemId === t.itemId)) items.push({ ...t, reason: 'popular' });
      return { userId, coldStart: true, segment: similar === undefined ? null : describeSegment(similar.segment), items };
    }
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

  // The page's routes: recent activity tailed from the events topic, and the engine's history,
  // sampled while the application is RUNNING.
  const activity =
    options.log === undefined ? undefined : new RecentActivity({ log: options.log, topic: TOPICS.events, partitions: options.partitions ?? 4, serde: eventSerde });
  const history = options.history ?? new MetricsHistory(async () => (app.state === 'RUNNING' ? app.metrics() : undefined));
  app.onStateChange((next) => {
    if (next === 'RUNNING') history.start();
    else if (next === 'PENDING_SHUTDOWN' || next === 'NOT_RUNNING' || next === 'ERROR') history.stop();
  });
  if (app.state === 'RUNNING') history.start();

  /** The user's sessions still in the live store (the open one and those closed within its retention), oldest first. */
  async function timeline(id: string) {
    const at = now();
    const sessions = (await storedSessions(id))
      .map((s) => {
        const summary = summarize(s.value);
        return {
          sessionId: sessionIdOf(id, summary.start, s.epoch),
          start: summary.start,
          end: summary.end,
          pageViews: summary.pageViews,
          events: summary.events,
          eventsByType: summary.eventsByType,
          entryPage: summary.entryPage,
          exitPage: summary.exitPage,
          converted: summary.converted,
          revenue: summary.revenue,
          engaged: summary.engaged,
          open: s.window.end + gap > at,
        };
      })
      .sort((a, b) => a.start - b.start);
    if (activity !== undefined) await activity.refresh();
    return { userId: id, sessions, events: activity?.events(id) ?? [], sessionGapMs: gap, now: at };
  }

  /** Every category's top `k` trending items, categories by their top score. */
  async function trendingByCategory(k: number) {
    const partitions = app.stores().find((s) => s.name === 'trending')?.partitions ?? 0;
    const rows = await Promise.all(Array.from({ length: partitions }, (_, p) => app.query('trending', p, { type: 'range' })));
    const categories: { category: string; at: number; items: { itemId: string; score: number }[] }[] = [];
    for (const r of rows) {
      if (r.status !== 200) continue;
      for (const row of r.body as { key: string; value: FeatureState }[]) categories.push({ category: row.key, at: row.value.newest, items: trendingOf(trendingDef, row.value, now(), k) });
    }
    return categories.sort((a, b) => (b.items[0]?.score ?? 0) - (a.items[0]?.score ?? 0));
  }

  const limit = (url: URL, fallback: number) => {
    const k = Number(url.searchParams.get('k') ?? fallback);
    return Number.isSafeInteger(k) && k > 0 && k <= 100 ? k : null;
  };
  const badK = json(400, { error: 'k must be an integer from 1 to 100' });

  return [
    ...pageRoutes(),
    // Every feature definition's values as stored: GET /features/{definition}/{entity}[?at=ms].
    ...featureRoutes(app, [userActivity, itemActivity, alsoViewed, segmentActivity, trendingDef], { now }),
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
          segment: profile === undefined ? null : describeSegment(segmentOf(profile)),
          features: features.features,
          sessions: features.sessions,
          purchaseHistory: features.features.lastPurchases,
          liveSession: session.session,
          coldStart: features.coldStart,
          fromSimilarUsers: features.fromSimilarUsers,
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

  function pageRoutes(): HttpRoute[] {
    return [
      {
        method: 'GET',
        name: '/users/active',
        path: /^\/users\/active$/,
        handle: async (_m, { url }) => {
          const k = limit(url, 20);
          if (k === null) return badK;
          if (activity === undefined) return json(404, { error: 'active users need the log: servingRoutes(app, { log, partitions })' });
          await activity.refresh();
          return json(200, { users: activity.active(k), now: now() });
        },
      },
      { method: 'GET', name: '/users/{id}/timeline', path: /^\/users\/([^/]+)\/timeline$/, handle: async (m) => json(200, await timeline(decodeURIComponent(m[1]!))) },
      {
        method: 'GET',
        name: '/trending/categories',
        path: /^\/trending\/categories$/,
        handle: async (_m, { url }) => {
          const k = limit(url, 5);
          if (k === null) return badK;
          return json(200, { categories: await trendingByCategory(k) });
        },
      },
      { method: 'GET', name: '/engine/history', path: /^\/engine\/history$/, handle: async () => json(200, { intervalMs: history.intervalMs, samples: history.samples() }) },
      { method: 'GET', name: '/assets/uplot.js', path: /^\/assets\/uplot\.js$/, handle: async () => ({ status: 200, body: await asset('uPlot.iife.min.js'), contentType: 'text/javascript; charset=utf-8' }) },
      { method: 'GET', name: '/assets/uplot.css', path: /^\/assets\/uplot\.css$/, handle: async () => ({ status: 200, body: await asset('uPlot.min.css'), contentType: 'text/css; charset=utf-8' }) },
    ];
  }
}

const assets = new Map<string, Promise<string>>();

/**
 * A file of the uPlot package, served by the app itself from node_modules (read once): the page
 * then needs no network beyond the app, and no bundler.
 */
function asset(file: string): Promise<string> {
  let text = assets.get(file);
  if (text === undefined) {
    text = readFile(fileURLToPath(import.meta.resolve(`uplot/dist/${file}`)), 'utf8');
    assets.set(file, text);
  }
  return text;
}
