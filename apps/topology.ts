/**
 * The personalization topology: validation and re-keying, sessionization, user and item feature
 * pipelines, trending, also-viewed, and the CRM profile table. Every StreamsApp thread imports this
 * module and calls `topology()`.
 *
 *   raw-events (JSON, from HTTP ingest) --validate--> events (Avro, key userId) | events-dlq (reason)
 *   events --session windows (30 min gap)--> store `sessions` (live), topic `sessions` (closed, once)
 *     (with session splits: events --key user|date|cN--> repartition (by user) --session windows-->)
 *   events --join profiles--> user features (store `user-features`)
 *     and the feature definition userActivity (store `user-activity`: counts by type over sliding
 *     1h/1d/7d, purchase sum and average, distinct items, last purchases with the tier)
 *   events --by item--> store `item-features`, definition itemActivity (store `item-activity`: 5m/1h/1d)
 *   events --by category--> definition trending (store `trending`: decayed top 50 per category)
 *   sessions --> store `user-session-stats`;  --item pairs--> definition alsoViewed (store `also-viewed`)
 *   profiles --> table `profiles`
 */
import {
  Serdes,
  Stores,
  TopologyError,
  partitionForKey,
  type KeyValueStore,
  type Processor,
  type ProcessorContext,
  type StreamRecord,
  type Topology,
} from '../engine/index.ts';
import { EmitStrategy, SessionWindows, StreamsBuilder } from '../dsl/index.ts';
import { buildFeatures } from '../features/index.ts';
import { alsoViewed, itemActivity, segmentActivity, trending, userActivity, type SegmentEvent } from './feature-definitions.ts';
import { eventSerde, profileSerde, validateEvent, type Event, type Profile } from './events.ts';
import {
  MINUTE,
  addSessionStats,
  addToItemFeatures,
  addToSession,
  addToUserFeatures,
  assignCampaignEpoch,
  epochOfSessionKey,
  localDate,
  mergeSessions,
  newSession,
  newUserFeatures,
  sessionIdOf,
  sessionKey,
  summarize,
  userFeaturesAt,
  type CampaignEpochs,
  type ItemFeatureState,
  type SessionStats,
  type SessionSummary,
} from './features.ts';
import { segmentOf } from './segments.ts';

export const TOPICS = {
  raw: 'raw-events',
  events: 'events',
  dlq: 'events-dlq',
  sessions: 'sessions',
  profiles: 'profiles',
  /** A snapshot of each user's served features after each of their events (for the warehouse and the cache). */
  features: 'user-feature-snapshots',
} as const;

export interface PersonalizationOptions {
  /** Inactivity gap that ends a session (default 30 minutes, as GA4 and Snowplow). */
  readonly sessionGapMs?: number;
  /** How late an event may arrive and still join its session (default 2 minutes). */
  readonly lateEventGraceMs?: number;
  /** Universal Analytics' extra session ends, both off by default (GA4 semantics). */
  readonly sessionSplit?: SessionSplit;
}

export interface SessionSplit {
  /** A session never spans midnight in this IANA time zone (UA: the view's time zone). */
  readonly midnight?: { readonly timeZone: string };
  /** An event with a utmSource or utmCampaign other than the user's current one starts a session. */
  readonly onCampaignChange?: boolean;
}

/** The store of each user's campaign epochs (with `sessionSplit.onCampaignChange`). */
export const CAMPAIGN_STORE = 'session-campaigns';

const str = Serdes.string();

/** Checks an IANA time zone name (as Intl knows them): the name, or INVALID_ARGUMENT naming the operator. */
function checkTimeZone(timeZone: unknown, what = 'sessionSplit.midnight.timeZone'): string {
  try {
    if (typeof timeZone !== 'string' || timeZone === '') throw new RangeError('not a string');
    localDate(0, timeZone);
    return timeZone;
  } catch {
    throw new TopologyError('INVALID_ARGUMENT', `${what} must be an IANA time zone, got ${JSON.stringify(timeZone)}`, 'sessionize');
  }
}

/**
 * The session splits from the environment, which is how they reach every stream thread (each
 * imports this module and calls `topology()`): SESSION_SPLIT_TIMEZONE (an IANA zone; unset or
 * empty: no midnight split), SESSION_SPLIT_ON_CAMPAIGN (`1` on; unset, empty or `0` off).
 */
export function sessionSplitFromEnv(env: Readonly<Record<string, string | undefined>>): SessionSplit {
  const zone = env.SESSION_SPLIT_TIMEZONE ?? '';
  const campaign = env.SESSION_SPLIT_ON_CAMPAIGN ?? '';
  if (!['', '0', '1'].includes(campaign)) {
    throw new TopologyError('INVALID_ARGUMENT', `SESSION_SPLIT_ON_CAMPAIGN must be 1 or 0, got ${JSON.stringify(campaign)}`, 'sessionize');
  }
  return { ...(zone !== '' && { midnight: { timeZone: checkTimeZone(zone, 'SESSION_SPLIT_TIMEZONE') } }), ...(campaign === '1' && { onCampaignChange: true }) };
}

/**
 * Re-keys each event for sessionization: user, then its local date and its campaign epoch when
 * those splits are on (the epochs kept per user in {@link CAMPAIGN_STORE}).
 */
class SessionKeyer implements Processor<string, Event, string, Event> {
  readonly #timeZone: string | null;
  readonly #campaigns: boolean;
  readonly #keepMs: number;
  #ctx!: ProcessorContext<string, Event>;
  #store: KeyValueStore<string, CampaignEpochs> | undefined;

  constructor(timeZone: string | null, campaigns: boolean, keepMs: number) {
    this.#timeZone = timeZone;
    this.#campaigns = campaigns;
    this.#keepMs = keepMs;
  }

  init(ctx: ProcessorContext<string, Event>): void {
    this.#ctx = ctx;
    if (this.#campaigns) this.#store = ctx.getStateStore(CAMPAIGN_STORE);
  }

  process(record: StreamRecord<string, Event>): void {
    const e = record.value;
    let epoch: number | null = null;
    if (this.#store !== undefined) {
      const assigned = assignCampaignEpoch(this.#store.get(e.userId), e, this.#keepMs);
      this.#store.put(e.userId, assigned.state);
      epoch = assigned.epoch;
    }
    const date = this.#timeZone === null ? null : localDate(e.timestamp, this.#timeZone);
    this.#ctx.forward({ ...record, key: sessionKey(e.userId, date, epoch) });
  }
}

export function personalizationTopology(options: PersonalizationOptions = {}): Topology {
  const gap = options.sessionGapMs ?? 30 * MINUTE;
  const grace = options.lateEventGraceMs ?? 2 * MINUTE;
  const timeZone = options.sessionSplit?.midnight === undefined ? null : checkTimeZone(options.sessionSplit.midnight.timeZone);
  const campaigns = options.sessionSplit?.onCampaignChange === true;
  const b = new StreamsBuilder();

  // Validation: valid events are re-keyed by user and written as Avro; the rest go to the DLQ
  // with the reason.
  const checked = b
    .stream(TOPICS.raw, { key: str, value: Serdes.json<unknown>() })
    .mapValues((raw) => ({ raw, result: validateEvent(raw) }), { name: 'validate' });
  const routes = checked
    .split({ name: 'validation-' })
    .branch((_, v) => v.result.ok, { name: 'valid' })
    .defaultBranch({ name: 'invalid' });
  routes['validation-valid']!
    .mapValues((v) => (v.result as { ok: true; event: Event }).event)
    .selectKey((_, e) => e.userId, { name: 'key-by-user' })
    .to(TOPICS.events, { key: str, value: eventSerde, name: 'events-sink' });
  routes['validation-invalid']!
    .mapValues((v) => ({ event: v.raw, ...(v.result as { ok: false; rejection: object }).rejection }))
    .to(TOPICS.dlq, { value: Serdes.json<unknown>(), name: 'dlq-sink' });

  const events = b.stream(TOPICS.events, { key: str, value: eventSerde, name: 'events' });
  const profiles = b.table(TOPICS.profiles, { key: str, value: profileSerde, name: 'profiles' }, 'profiles');

  // Sessionization: the store holds live sessions; each closed session is written once.
  // With splits, sessions are windowed per composite key (user|date|cN, see sessionKey): a session
  // then never spans local midnight or two campaigns. The re-keyed events go through a repartition
  // topic partitioned by user, so all of a user's sessions stay in the user's partition (the live
  // session route reads them there) and reach the session windows in the order they were keyed
  // (which the campaign epochs rely on: see assignCampaignEpoch).
  let keyed = events;
  if (timeZone !== null || campaigns) {
    if (campaigns) b.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(CAMPAIGN_STORE), str, Serdes.msgpack<CampaignEpochs>()));
    keyed = events
      .process(() => new SessionKeyer(timeZone, campaigns, gap + grace), { name: 'session-key', stores: campaigns ? [CAMPAIGN_STORE] : [] })
      .repartition({
        name: 'sessions-by-user',
        key: str,
        value: eventSerde,
        partitioner: (_topic, _key, e, n) => partitionForKey(Buffer.from(e.userId), n),
      });
  }
  keyed
    .groupByKey()
    .windowedBy(SessionWindows.ofInactivityGapAndGrace(gap, grace))
    .emitStrategy(EmitStrategy.onWindowClose())
    .aggregate(newSession, (_, e, s) => addToSession(s, e), (_, a, s2) => mergeSessions(a, s2), { materialized: 'sessions', name: 'sessionize' })
    .toStream()
    .filter((_, s) => s !== null)
    .map(
      (w, s): [string, SessionSummary] => [s!.userId, { ...summarize(s!), sessionId: sessionIdOf(s!.userId, s!.start, epochOfSessionKey(w.key)) }],
      { name: 'summarize-session' },
    )
    .to(TOPICS.sessions, { key: str, value: Serdes.json<SessionSummary>(), name: 'sessions-sink' });

  // User features, from events enriched with the CRM profile as it is when each event arrives.
  const withTier = events.leftJoin(profiles, (e, p) => ({ ...e, tier: p?.tier ?? null }), { name: 'with-profile' });
  const userFeatureTable = withTier
    .groupByKey({ key: str, value: Serdes.msgpack<Event & { tier: Profile['tier'] | null }>() })
    .aggregate(newUserFeatures, (_, e, f) => addToUserFeatures(f, e), { materialized: 'user-features', name: 'user-features' });
  // Counts by event type over sliding windows, purchases, distinct items (keyed by user already:
  // no repartition); each update, with the user's other features, is a snapshot for the sinks.
  buildFeatures(withTier, userActivity)
    .toStream({ name: 'user-activity-changes' })
    .filter((_, a) => a !== null, { name: 'user-activity-updates' })
    .join(userFeatureTable, (a, f, userId) => ({ userId, at: f.lastSeen ?? 0, features: userFeaturesAt(f, f.lastSeen ?? 0, a) }), { name: 'user-feature-snapshots' })
    .to(TOPICS.features, { key: str, value: Serdes.json<unknown>(), name: 'user-feature-snapshots-sink' });

  // Item features and trending per category.
  const withItem = events.filter((_, e) => e.itemId !== null, { name: 'with-item' });
  buildFeatures(withItem, itemActivity);
  withItem
    .groupBy((_, e) => e.itemId!, { key: str, value: eventSerde, name: 'by-item' })
    .aggregate((): ItemFeatureState => ({ category: null, lastSeen: 0 }), (_, e, f) => addToItemFeatures(f, e), {
      materialized: 'item-features',
      name: 'item-features',
    });
  // Trending per category: a feature definition (decayed top 50 by Space-Saving).
  buildFeatures(
    withItem.filter((_, e) => e.category !== null && e.type !== 'search', { name: 'with-category' }),
    trending,
  );

  // Cold start (apps/segments.ts): per segment of similar users (country, tier, signup channel, from
  // the profile as of each event), the same aggregates summed over the segment's users.
  buildFeatures(
    events.join(profiles, (e, p): SegmentEvent => ({ event: e, segment: segmentOf(p) }), { name: 'with-segment' }),
    segmentActivity,
  );

  // From closed sessions: per-user roll-ups, and items viewed together.
  const sessions = b.stream(TOPICS.sessions, { key: str, value: Serdes.json<SessionSummary>(), name: 'closed-sessions' });
  sessions
    .groupByKey()
    .aggregate((): SessionStats => ({ sessions: 0, totalDurationMs: 0, converted: 0, engaged: 0 }), (_, s, stats) => addSessionStats(stats, s), {
      materialized: 'user-session-stats',
      name: 'session-stats',
    });
  buildFeatures(
    sessions.flatMap((_, s) => s.items.map((item): [string, string[]] => [item, s.items.filter((o) => o !== item)]), { name: 'item-pairs' }),
    alsoViewed,
  );

  return b.build();
}

/** The export every stream thread imports; the session splits come from the environment. */
export function topology(): Topology {
  return personalizationTopology({ sessionSplit: sessionSplitFromEnv(process.env) });
}
