/**
 * The personalization topology: validation and re-keying, sessionization, user and item feature
 * pipelines, trending, also-viewed, and the CRM profile table. Every StreamsApp thread imports this
 * module and calls `topology()`.
 *
 *   raw-events (JSON, from HTTP ingest) --validate--> events (Avro, key userId) | events-dlq (reason)
 *   events --session windows (30 min gap)--> store `sessions` (live), topic `sessions` (closed, once)
 *   events --join profiles--> user features (store `user-features`)
 *   events --by item--> store `item-features`;  --by category--> store `trending`
 *   sessions --> store `user-session-stats`;  --item pairs--> store `also-viewed`
 *   profiles --> table `profiles`
 */
import { Serdes, type Topology } from '../engine/index.ts';
import { EmitStrategy, SessionWindows, StreamsBuilder } from '../dsl/index.ts';
import { eventSerde, profileSerde, validateEvent, type Event, type Profile } from './events.ts';
import {
  MINUTE,
  addAlsoViewed,
  addSessionStats,
  addToItemFeatures,
  addToSession,
  addToTrending,
  addToUserFeatures,
  mergeSessions,
  newSession,
  newUserFeatures,
  summarize,
  type AlsoViewed,
  type ItemFeatureState,
  type SessionStats,
  type SessionSummary,
  type Trending,
} from './features.ts';

export const TOPICS = {
  raw: 'raw-events',
  events: 'events',
  dlq: 'events-dlq',
  sessions: 'sessions',
  profiles: 'profiles',
} as const;

export interface PersonalizationOptions {
  /** Inactivity gap that ends a session (default 30 minutes, as GA4 and Snowplow). */
  readonly sessionGapMs?: number;
  /** How late an event may arrive and still join its session (default 2 minutes). */
  readonly lateEventGraceMs?: number;
}

const str = Serdes.string();

export function personalizationTopology(options: PersonalizationOptions = {}): Topology {
  const gap = options.sessionGapMs ?? 30 * MINUTE;
  const grace = options.lateEventGraceMs ?? 2 * MINUTE;
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
  events
    .groupByKey()
    .windowedBy(SessionWindows.ofInactivityGapAndGrace(gap, grace))
    .emitStrategy(EmitStrategy.onWindowClose())
    .aggregate(newSession, (_, e, s) => addToSession(s, e), (_, a, s2) => mergeSessions(a, s2), { materialized: 'sessions', name: 'sessionize' })
    .toStream()
    .filter((_, s) => s !== null)
    .map((w, s): [string, SessionSummary] => [w.key, summarize(s!)], { name: 'summarize-session' })
    .to(TOPICS.sessions, { key: str, value: Serdes.json<SessionSummary>(), name: 'sessions-sink' });

  // User features, from events enriched with the CRM profile as it is when each event arrives.
  events
    .leftJoin(profiles, (e, p) => ({ ...e, tier: p?.tier ?? null }), { name: 'with-profile' })
    .groupByKey({ key: str, value: Serdes.msgpack<Event & { tier: Profile['tier'] | null }>() })
    .aggregate(newUserFeatures, (_, e, f) => addToUserFeatures(f, e), { materialized: 'user-features', name: 'user-features' });

  // Item features and trending per category.
  const withItem = events.filter((_, e) => e.itemId !== null, { name: 'with-item' });
  withItem
    .groupBy((_, e) => e.itemId!, { key: str, value: eventSerde, name: 'by-item' })
    .aggregate((): ItemFeatureState => ({ category: null, buckets: {}, lastSeen: 0 }), (_, e, f) => addToItemFeatures(f, e), {
      materialized: 'item-features',
      name: 'item-features',
    });
  withItem
    .filter((_, e) => e.category !== null && e.type !== 'search', { name: 'with-category' })
    .groupBy((_, e) => e.category!, { key: str, value: eventSerde, name: 'by-category' })
    .aggregate((): Trending => ({ at: 0, scores: {} }), (_, e, t) => addToTrending(t, e), { materialized: 'trending', name: 'trending' });

  // From closed sessions: per-user roll-ups, and items viewed together.
  const sessions = b.stream(TOPICS.sessions, { key: str, value: Serdes.json<SessionSummary>(), name: 'closed-sessions' });
  sessions
    .groupByKey()
    .aggregate((): SessionStats => ({ sessions: 0, totalDurationMs: 0, converted: 0, engaged: 0 }), (_, s, stats) => addSessionStats(stats, s), {
      materialized: 'user-session-stats',
      name: 'session-stats',
    });
  sessions
    .flatMap((_, s) => s.items.map((item): [string, string[]] => [item, s.items.filter((o) => o !== item)]), { name: 'item-pairs' })
    .groupByKey({ key: str, value: Serdes.json<string[]>(), name: 'by-viewed-item' })
    .aggregate((): AlsoViewed => ({}), (_, others, a) => addAlsoViewed(a, others), { materialized: 'also-viewed', name: 'also-viewed' });

  return b.build();
}

/** The export every stream thread imports. */
export function topology(): Topology {
  return personalizationTopology();
}
