/**
 * The aggregates behind the personalization apps: plain functions over plain objects (they are
 * stored with MessagePack), so each can be tested alone and every app's topology stays a few lines.
 *
 * Windowed counts (per user and per item, by event type) and "also viewed" are declarative feature
 * definitions (./feature-definitions.ts, sliding windows with a hop); the views here combine them with
 * the rest of each entity's state.
 */
import { readFeatures, type FeatureState } from '../features/index.ts';
import type { Event } from './events.ts';
import { countsByType, itemActivity, userActivity, type Purchase } from './feature-definitions.ts';

export type { Purchase };

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
export const MINUTE = 60_000;

// ------------------------------------------------------------------------------------------------
// Sessions

export interface SessionAgg {
  userId: string;
  start: number;
  end: number;
  events: number;
  pageViews: number;
  eventsByType: Record<string, number>;
  items: string[];
  entryPage: string | null;
  exitPage: string | null;
  /** Timestamp of the entry / exit page, so merging two sessions keeps the right ones. */
  entryAt: number;
  exitAt: number;
  referrer: string | null;
  utmSource: string | null;
  utmCampaign: string | null;
  converted: boolean;
  revenue: number;
}

export const MAX_SESSION_ITEMS = 50;

export function newSession(): SessionAgg {
  return {
    userId: '',
    start: Number.MAX_SAFE_INTEGER,
    end: 0,
    events: 0,
    pageViews: 0,
    eventsByType: {},
    items: [],
    entryPage: null,
    exitPage: null,
    entryAt: Number.MAX_SAFE_INTEGER,
    exitAt: -1,
    referrer: null,
    utmSource: null,
    utmCampaign: null,
    converted: false,
    revenue: 0,
  };
}

export function addToSession(s: SessionAgg, e: Event): SessionAgg {
  s.userId = e.userId;
  s.start = Math.min(s.start, e.timestamp);
  s.end = Math.max(s.end, e.timestamp);
  s.events++;
  s.eventsByType[e.type] = (s.eventsByType[e.type] ?? 0) + 1;
  if (e.type === 'page_view') s.pageViews++;
  if (e.itemId !== null && !s.items.includes(e.itemId) && s.items.length < MAX_SESSION_ITEMS) s.items.push(e.itemId);
  if (e.page !== null && e.timestamp < s.entryAt) {
    s.entryAt = e.timestamp;
    s.entryPage = e.page;
    // The first event's source: referrer and campaign.
    s.referrer = e.referrer;
    s.utmSource = e.utmSource;
    s.utmCampaign = e.utmCampaign;
  }
  if (e.page !== null && e.timestamp >= s.exitAt) {
    s.exitAt = e.timestamp;
    s.exitPage = e.page;
  }
  if (e.type === 'purchase') {
    s.converted = true;
    s.revenue += (e.price ?? 0) * (e.quantity ?? 1);
  }
  return s;
}

export function mergeSessions(a: SessionAgg, b: SessionAgg): SessionAgg {
  const [first, second] = a.entryAt <= b.entryAt ? [a, b] : [b, a];
  const eventsByType = { ...a.eventsByType };
  for (const [type, n] of Object.entries(b.eventsByType)) eventsByType[type] = (eventsByType[type] ?? 0) + n;
  const lastExit = a.exitAt >= b.exitAt ? a : b;
  return {
    userId: a.userId || b.userId,
    start: Math.min(a.start, b.start),
    end: Math.max(a.end, b.end),
    events: a.events + b.events,
    pageViews: a.pageViews + b.pageViews,
    eventsByType,
    items: [...new Set([...first.items, ...second.items])].slice(0, MAX_SESSION_ITEMS),
    entryPage: first.entryPage,
    exitPage: lastExit.exitPage,
    entryAt: first.entryAt,
    exitAt: lastExit.exitAt,
    referrer: first.referrer,
    utmSource: first.utmSource,
    utmCampaign: first.utmCampaign,
    converted: a.converted || b.converted,
    revenue: a.revenue + b.revenue,
  };
}

/** A closed (or live) session as served and written to the `sessions` topic. */
export interface SessionSummary {
  sessionId: string;
  userId: string;
  start: number;
  end: number;
  durationMs: number;
  pageViews: number;
  events: number;
  eventsByType: Record<string, number>;
  distinctItems: number;
  items: string[];
  entryPage: string | null;
  exitPage: string | null;
  referrer: string | null;
  utmSource: string | null;
  utmCampaign: string | null;
  converted: boolean;
  revenue: number;
  engaged: boolean;
  bounce: boolean;
}

/** GA4's rule: engaged if longer than 10 s, or with a conversion, or with 2+ page views. */
export function summarize(s: SessionAgg, engagedAfterMs = 10_000): SessionSummary {
  const durationMs = s.end - s.start;
  const engaged = durationMs > engagedAfterMs || s.converted || s.pageViews >= 2;
  return {
    sessionId: `${s.userId}-${s.start}`,
    userId: s.userId,
    start: s.start,
    end: s.end,
    durationMs,
    pageViews: s.pageViews,
    events: s.events,
    eventsByType: s.eventsByType,
    distinctItems: s.items.length,
    items: s.items,
    entryPage: s.entryPage,
    exitPage: s.exitPage,
    referrer: s.referrer,
    utmSource: s.utmSource,
    utmCampaign: s.utmCampaign,
    converted: s.converted,
    revenue: s.revenue,
    engaged,
    bounce: !engaged,
  };
}

// ------------------------------------------------------------------------------------------------
// Session splits (Universal Analytics): at local midnight, and when the campaign changes

const dateFormats = new Map<string, Intl.DateTimeFormat>();

/**
 * The local date, `YYYY-MM-DD`, of `time` in an IANA time zone (RangeError for an unknown zone).
 * Times past the end of `Date`'s range (valid event timestamps can be) count as its last instant.
 */
export function localDate(time: number, timeZone: string): string {
  let format = dateFormats.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en', { timeZone, calendar: 'gregory', numberingSystem: 'latn', year: 'numeric', month: '2-digit', day: '2-digit' });
    dateFormats.set(timeZone, format);
  }
  let year = '';
  let month = '';
  let day = '';
  for (const part of format.formatToParts(Math.min(time, 8.64e15))) {
    if (part.type === 'year') year = part.value.padStart(4, '0');
    else if (part.type === 'month') month = part.value;
    else if (part.type === 'day') day = part.value;
  }
  return `${year}-${month}-${day}`;
}

/** The calendar day before a `YYYY-MM-DD` date. */
export function previousDate(date: string): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d - 1)).toISOString().slice(0, 10);
}

/**
 * The key sessions are grouped by: the user, then `|date` (local date) and `|c<epoch>` (campaign
 * epoch) when those splits are on. Without splits it is the user id itself. Neither suffix holds a
 * `|`, so two distinct (user, date, epoch) never make one key, whatever the user id holds.
 */
export function sessionKey(userId: string, date: string | null, epoch: number | null): string {
  return userId + (date === null ? '' : `|${date}`) + (epoch === null ? '' : `|c${epoch}`);
}

/** The campaign epoch of a session key made with one, else null. */
export function epochOfSessionKey(key: string): number | null {
  const m = /\|c(\d+)$/.exec(key);
  return m === null ? null : Number(m[1]);
}

/**
 * A session's id: user and start (unique per user, even with the midnight split, since sessions of
 * one user then never overlap). With the campaign split two sessions can start at the same
 * millisecond (two events of one instant with different campaigns), so the epoch is added.
 */
export function sessionIdOf(userId: string, start: number, epoch: number | null): string {
  return epoch === null ? `${userId}-${start}` : `${userId}-${start}-c${epoch}`;
}

/** A span of a user's timeline with one campaign: from `from` to the next epoch's `from`. */
export interface CampaignEpoch {
  id: number;
  from: number;
  utmSource: string | null;
  utmCampaign: string | null;
  /** The newest event time assigned to this epoch. */
  maxAt: number;
}

/** Per user: the recent campaign epochs, sorted by `from`. */
export interface CampaignEpochs {
  next: number;
  /** The newest epoch dropped from `epochs`: events older than every kept epoch get it. */
  before: number | null;
  epochs: CampaignEpoch[];
}

const hasCampaign = (e: Event) => e.utmSource !== null || e.utmCampaign !== null;
const sameCampaign = (c: CampaignEpoch, e: Event) => c.utmSource === e.utmSource && c.utmCampaign === e.utmCampaign;

/**
 * Assigns an event to a campaign epoch of its user; sessions are then windowed per (user, epoch),
 * so no session spans two campaigns. Semantics, those of Universal Analytics: the user's current
 * campaign is the (utmSource, utmCampaign) of the last event, in event time, that carries one (it
 * persists across inactivity gaps, as UA's campaign did; events without one never change it), and
 * an event whose campaign differs from the current one starts a new session. A user's timeline
 * starts in epoch 0, with no campaign and no start, so a first campaign also starts a session
 * (UA: direct, then a campaign) and events before it, even late ones, stay out of it.
 *
 * Out-of-order events: each is placed by its event time, in the epoch whose span holds it. A late
 * event that changes the campaign is exact when no event already seen in that epoch is newer
 * (the new epoch takes the span from the event on; or, when the next epoch has the event's
 * campaign, that epoch is extended back to it, as UA would then see one campaign). When newer
 * events of that epoch were already seen they sit in sessions keyed by the epoch, which a split
 * would have to rewrite (retract and re-aggregate, which session windows cannot do); so the late
 * event joins that epoch instead, its campaign not splitting. That is the one approximation, and
 * only a campaign-bearing event arriving after a newer event of its own user can cause it; in-order
 * streams, and streams where only events without a campaign are late, get UA's sessions exactly.
 *
 * Only epochs that late events can still reach are kept: once an epoch's successor starts more
 * than `keepMs` (gap + grace) before the user's newest event, every event older than that
 * successor is late for the session windows (their stream time is at least the user's newest
 * event, as the user's events reach them in order), and such events get the id in `before`, whose
 * sessions are all closed, so the session windows drop them as late.
 */
export function assignCampaignEpoch(state: CampaignEpochs | undefined, e: Event, keepMs: number): { state: CampaignEpochs; epoch: number } {
  const t = e.timestamp;
  state ??= { next: 1, before: null, epochs: [{ id: 0, from: Number.MIN_SAFE_INTEGER, utmSource: null, utmCampaign: null, maxAt: Number.MIN_SAFE_INTEGER }] };
  const epochs = state.epochs;
  let i = epochs.length - 1;
  while (i > 0 && epochs[i]!.from > t) i--;
  // Older than every epoch kept (only once some were dropped): too late for any open session.
  if (epochs[i]!.from > t && state.before !== null) return { state, epoch: state.before };
  let epoch = epochs[i]!;
  if (hasCampaign(e) && !sameCampaign(epoch, e) && t >= epoch.maxAt) {
    const next = epochs[i + 1];
    if (next !== undefined && sameCampaign(next, e)) {
      next.from = t;
      epoch = next;
    } else {
      epoch = { id: state.next++, from: t, utmSource: e.utmSource, utmCampaign: e.utmCampaign, maxAt: t };
      epochs.splice(i + 1, 0, epoch);
    }
  }
  epoch.maxAt = Math.max(epoch.maxAt, t);
  const newest = Math.max(...epochs.map((x) => x.maxAt));
  while (epochs.length > 1 && epochs[1]!.from < newest - keepMs) state.before = epochs.shift()!.id;
  return { state, epoch: epoch.id };
}

// ------------------------------------------------------------------------------------------------
// User features

export { AFFINITY_HALF_LIFE_MS, AFFINITY_WEIGHTS } from './feature-definitions.ts';


/**
 * What the hand-written user aggregate still keeps: when the user was first and last seen (by
 * event time). Everything else a user's features hold is the `userActivity` definition's.
 */
export interface UserFeatureState {
  firstSeen: number;
  lastSeen: number;
}

export function newUserFeatures(): UserFeatureState {
  return { firstSeen: 0, lastSeen: 0 };
}

export function addToUserFeatures(f: UserFeatureState, e: Event & { tier?: string | null }): UserFeatureState {
  f.firstSeen = f.firstSeen === 0 ? e.timestamp : Math.min(f.firstSeen, e.timestamp);
  f.lastSeen = Math.max(f.lastSeen, e.timestamp);
  return f;
}

export interface UserFeatures {
  counts: Record<'1h' | '1d' | '7d', Record<string, number>>;
  purchaseSum: number;
  purchaseAvg: number;
  lastItems: string[];
  lastCategories: string[];
  categoryAffinity: Record<string, number>;
  distinctItems: number;
  lastPurchases: Purchase[];
  firstSeen: number | null;
  lastSeen: number | null;
}

/**
 * The served view of a user's state at `now` (event time), with the windowed counts of the user's
 * row of {@link userActivity}. Unknown users get the cold-start zeros.
 */
export function userFeaturesAt(f: UserFeatureState | undefined, now: number, activity: FeatureState | undefined | null): UserFeatures {
  const state = f ?? newUserFeatures();
  const counts = countsByType<'1h' | '1d' | '7d'>(userActivity, activity, now);
  const life = readFeatures(userActivity, activity, now);
  const affinity: Record<string, number> = {};
  for (const [c, v] of Object.entries(life.affinity.lifetime ?? {})) affinity[c] = Number(v.toFixed(4));
  return {
    counts,
    purchaseSum: life.purchaseSum.lifetime!,
    purchaseAvg: life.purchaseAvg.lifetime ?? 0,
    lastItems: life.lastItems.lifetime ?? [],
    lastCategories: life.lastCategories.lifetime ?? [],
    categoryAffinity: affinity,
    distinctItems: life.distinctItems.lifetime!,
    lastPurchases: life.lastPurchases.lifetime!,
    firstSeen: f === undefined ? null : state.firstSeen,
    lastSeen: f === undefined ? null : state.lastSeen,
  };
}

// ------------------------------------------------------------------------------------------------
// Session roll-ups per user

export interface SessionStats {
  sessions: number;
  totalDurationMs: number;
  converted: number;
  engaged: number;
}

export function addSessionStats(s: SessionStats, session: SessionSummary): SessionStats {
  return {
    sessions: s.sessions + 1,
    totalDurationMs: s.totalDurationMs + session.durationMs,
    converted: s.converted + (session.converted ? 1 : 0),
    engaged: s.engaged + (session.engaged ? 1 : 0),
  };
}

export function sessionRollup(s: SessionStats | undefined): { sessions: number; avgDurationMs: number; conversionRate: number } {
  if (s === undefined || s.sessions === 0) return { sessions: 0, avgDurationMs: 0, conversionRate: 0 };
  return { sessions: s.sessions, avgDurationMs: s.totalDurationMs / s.sessions, conversionRate: s.converted / s.sessions };
}

// ------------------------------------------------------------------------------------------------
// Item features and trending

export interface ItemFeatureState {
  category: string | null;
  lastSeen: number;
}

export function addToItemFeatures(f: ItemFeatureState, e: Event): ItemFeatureState {
  f.category = e.category ?? f.category;
  f.lastSeen = Math.max(f.lastSeen, e.timestamp);
  return f;
}

/** The served view of an item at `now`, with the windowed counts of its row of {@link itemActivity}. */
export function itemFeaturesAt(f: ItemFeatureState | undefined, now: number, activity: FeatureState | undefined | null) {
  const state = f ?? { category: null, lastSeen: 0 };
  const counts = countsByType<'5m' | '1h' | '1d'>(itemActivity, activity, now);
  const window = (w: '5m' | '1h' | '1d') => {
    const { page_view: views, click: clicks, purchase: purchases } = counts[w];
    return { views, clicks, purchases, ctr: views === 0 ? 0 : clicks / views };
  };
  return { category: state.category, '5m': window('5m'), '1h': window('1h'), '1d': window('1d'), lastSeen: f === undefined ? null : state.lastSeen };
}

export { TRENDING_HALF_LIFE_MS, TRENDING_K } from './feature-definitions.ts';
