/**
 * Where the personalization apps' streams leave the engine (issue 17): each is a SinkRunner (its
 * own position per partition, batching, retries, a circuit breaker, backpressure: see
 * connectors/sinks/sink-runner.ts), exactly once into its target.
 *
 *   events         -> the lake: Parquet files by event date and hour (<data>/lake/events/)
 *   sessions       -> the warehouse, table `sessions` (one row per closed session)
 *   user-features  -> the warehouse, table `user_features` (the latest snapshot per user)
 *   user-features  -> the hot cache (Redis, `features:<user>`), with TRIBUTARY_CACHE=redis
 *   profiles       -> the hot cache (Redis, `profile:<user>`), with TRIBUTARY_CACHE=redis
 *
 * The warehouse is DuckDB in one file (<data>/warehouse.duckdb) by default, PostgreSQL with
 * TRIBUTARY_WAREHOUSE=postgres (PGHOST, PG_PORT or PGPORT, PGUSER, PGPASSWORD, PGDATABASE; the
 * project's server: `npm run postgres:start`). The cache is off by default; TRIBUTARY_CACHE=redis
 * uses REDIS_HOST / REDIS_PORT (the project's server: `npm run redis:start`).
 */
import { join } from 'node:path';
import { Serdes, StreamsError, type Log, type Serde } from '../engine/index.ts';
import { SinkRunner, type Sink, type SinkRecord } from '../connectors/sinks/index.ts';
import { DuckDbSink } from '../connectors/sinks/duckdb/index.ts';
import { PostgresSink } from '../connectors/sinks/postgres/index.ts';
import { RedisSink } from '../connectors/sinks/redis/index.ts';
import { ParquetLakeSink } from '../connectors/sinks/lake/index.ts';
import { eventSerde, profileSerde, type Event, type Profile } from './events.ts';
import { eventLakeColumns, eventLakeRow } from './feature-backfill.ts';
import type { SessionSummary, UserFeatures } from './features.ts';
import { TOPICS } from './topology.ts';

export interface SinkSettings {
  readonly warehouse: 'duckdb' | 'postgres';
  readonly cache: 'none' | 'redis';
}

/** TRIBUTARY_WAREHOUSE (duckdb | postgres) and TRIBUTARY_CACHE (none | redis), checked. */
export function sinkSettingsFromEnv(env: NodeJS.ProcessEnv): SinkSettings {
  const warehouse = env['TRIBUTARY_WAREHOUSE'] ?? 'duckdb';
  const cache = env['TRIBUTARY_CACHE'] ?? 'none';
  if (warehouse !== 'duckdb' && warehouse !== 'postgres') throw new StreamsError('INVALID_ARGUMENT', `TRIBUTARY_WAREHOUSE must be duckdb or postgres, got "${warehouse}"`);
  if (cache !== 'none' && cache !== 'redis') throw new StreamsError('INVALID_ARGUMENT', `TRIBUTARY_CACHE must be none or redis, got "${cache}"`);
  return { warehouse, cache };
}

/** A snapshot of a user's served features, as the apps write them to `user-features`. */
export interface FeatureSnapshot {
  readonly userId: string;
  /** Event time the snapshot is as of (the user's latest event). */
  readonly at: number;
  readonly features: UserFeatures;
}

export const featureSnapshotSerde: Serde<FeatureSnapshot> = Serdes.json<FeatureSnapshot>();

/** The lake's columns: the event's (shared with the backfill, apps/feature-backfill.ts) and where it was read. */
const eventColumns = { ...eventLakeColumns, src_partition: 'INT32', src_offset: 'INT64' } as const;

const sessionColumns = {
  session_id: 'text',
  user_id: 'text',
  started_at: 'timestamptz',
  ended_at: 'timestamptz',
  duration_ms: 'bigint',
  page_views: 'integer',
  events: 'integer',
  events_by_type: 'json',
  distinct_items: 'integer',
  entry_page: 'text',
  exit_page: 'text',
  referrer: 'text',
  utm_source: 'text',
  utm_campaign: 'text',
  converted: 'boolean',
  revenue: 'double precision',
  engaged: 'boolean',
  bounce: 'boolean',
};

function sessionRow({ value: s }: SinkRecord<string, SessionSummary>) {
  if (s === null) return undefined;
  return {
    session_id: s.sessionId,
    user_id: s.userId,
    started_at: new Date(s.start),
    ended_at: new Date(s.end),
    duration_ms: s.durationMs,
    page_views: s.pageViews,
    events: s.events,
    events_by_type: s.eventsByType,
    distinct_items: s.distinctItems,
    entry_page: s.entryPage,
    exit_page: s.exitPage,
    referrer: s.referrer,
    utm_source: s.utmSource,
    utm_campaign: s.utmCampaign,
    converted: s.converted,
    revenue: s.revenue,
    engaged: s.engaged,
    bounce: s.bounce,
  };
}

const featureColumns = { user_id: 'text', as_of: 'timestamptz', features: 'json' };

function featureRow({ key, value }: SinkRecord<string, FeatureSnapshot>) {
  return value === null ? undefined : { user_id: key ?? value.userId, as_of: new Date(value.at), features: value.features };
}

export interface PersonalizationSinks {
  readonly runners: readonly SinkRunner<unknown, unknown>[];
  /** Files the lake has written, for the progress line. */
  readonly lakeFiles: () => number;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** The sinks of `npm start`, not yet started. */
export function personalizationSinks(log: Log, dataDir: string, settings: SinkSettings): PersonalizationSinks {
  const str = Serdes.string();
  const lakeSink = new ParquetLakeSink<string, Event, typeof eventColumns>({
    name: 'events-lake',
    dir: join(dataDir, 'lake'),
    prefix: 'events',
    columns: eventColumns,
    row: ({ value: e, partition, offset }) => e && { ...eventLakeRow(e), src_partition: partition, src_offset: offset },
    time: ({ value, timestamp }) => value?.timestamp ?? timestamp,
    // Files within 5 minutes of their first event; row groups small enough to keep encoding pauses short.
    rollMs: 5 * 60_000,
    rowGroupRows: 10_000,
  });
  const table = <V>(name: string, tableName: string, columns: Record<string, string>, key: string[], row: (r: SinkRecord<string, V>) => Record<string, unknown> | undefined): Sink<string, V> => {
    const options = { name, table: tableName, columns, key, row };
    if (settings.warehouse === 'postgres') {
      const port = Number(process.env['PG_PORT'] ?? process.env['PGPORT'] ?? 55432);
      return new PostgresSink<string, V>({
        ...options,
        columns: Object.fromEntries(Object.entries(columns).map(([c, t]) => [c, t === 'json' ? 'jsonb' : t])),
        connection: {
          host: process.env['PGHOST'] ?? '127.0.0.1',
          port,
          user: process.env['PGUSER'] ?? 'postgres',
          database: process.env['PGDATABASE'] ?? 'postgres',
          ...(process.env['PGPASSWORD'] !== undefined && { password: process.env['PGPASSWORD'] }),
        },
      });
    }
    return new DuckDbSink<string, V>({ ...options, path: join(dataDir, 'warehouse.duckdb') });
  };
  const batch = { maxRecords: 5000, lingerMs: 1000 };
  const runners: SinkRunner<string, unknown>[] = [
    new SinkRunner({ log, topic: TOPICS.events, sink: lakeSink, keySerde: str, valueSerde: eventSerde, batch }) as SinkRunner<string, unknown>,
    new SinkRunner({ log, topic: TOPICS.sessions, sink: table('sessions-warehouse', 'sessions', sessionColumns, ['session_id'], sessionRow), keySerde: str, valueSerde: Serdes.json<SessionSummary>(), batch }) as SinkRunner<string, unknown>,
    new SinkRunner({ log, topic: TOPICS.features, sink: table('features-warehouse', 'user_features', featureColumns, ['user_id'], featureRow), keySerde: str, valueSerde: featureSnapshotSerde, batch }) as SinkRunner<string, unknown>,
  ];
  if (settings.cache === 'redis') {
    const connection = { host: process.env['REDIS_HOST'] ?? '127.0.0.1', port: Number(process.env['REDIS_PORT'] ?? 56379) };
    runners.push(
      new SinkRunner({
        log,
        topic: TOPICS.features,
        sink: new RedisSink<string, FeatureSnapshot>({ name: 'features-cache', connection, keyPrefix: 'features:', ttlMs: 30 * 60_000, maxKeys: 50_000 }),
        keySerde: str,
        valueSerde: featureSnapshotSerde,
      }) as SinkRunner<string, unknown>,
      new SinkRunner({
        log,
        topic: TOPICS.profiles,
        sink: new RedisSink<string, Profile>({ name: 'profiles-cache', connection, keyPrefix: 'profile:', ttlMs: 30 * 60_000, maxKeys: 50_000 }),
        keySerde: str,
        valueSerde: profileSerde,
      }) as SinkRunner<string, unknown>,
    );
  }
  return {
    runners: runners as SinkRunner<unknown, unknown>[],
    lakeFiles: () => lakeSink.filesWritten,
    async start() {
      await Promise.all(runners.map((r) => r.start()));
    },
    async close() {
      await Promise.all(runners.map((r) => r.close()));
    },
  };
}
