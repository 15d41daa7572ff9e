/**
 * Runs the personalization apps on a log: creates the topics, starts the StreamsApp with the
 * serving routes and the page, and the lake sink. `apps/main.ts` (npm start) adds the generator.
 */
import { join } from 'node:path';
import { StreamsApp, partitionForKey, type Log, type LogRecord } from '../engine/index.ts';
import { profileSerde, type Profile } from './events.ts';
import type { ClickstreamGenerator } from './generator.ts';
import { registerSinkMetrics } from '../connectors/sinks/index.ts';
import { personalizationSinks, type SinkSettings } from './sinks.ts';
import { PAGE } from './page.ts';
import { servingRoutes } from './serving.ts';
import { CAMPAIGN_STORE, TOPICS, sessionSplitFromEnv } from './topology.ts';
import { alsoViewed, itemActivity, segmentActivity, trending, userActivity } from './feature-definitions.ts';

/**
 * The stores the serving routes read by key (apps/serving.ts): the main thread answers those reads
 * from point-read snapshots instead of asking the stream threads (StreamsApp's `querySnapshots`).
 */
export const POINT_READ_STORES: readonly string[] = ['profiles', 'user-features', 'user-session-stats', 'item-features', userActivity.name, itemActivity.name, alsoViewed.name, segmentActivity.name, trending.name];

export interface PersonalizationRuntimeOptions {
  readonly log: Log;
  readonly dataDir: string;
  readonly port: number;
  readonly partitions?: number;
  readonly threads?: number;
  /** Warehouse and cache (default: DuckDB, no cache; see apps/sinks.ts and sinkSettingsFromEnv). */
  readonly sinks?: SinkSettings;
}

export async function startPersonalization(options: PersonalizationRuntimeOptions) {
  const { log } = options;
  // The stream threads read the session splits from the environment too (see topology()).
  const sessionSplit = sessionSplitFromEnv(process.env);
  const partitions = options.partitions ?? 4;
  const existing = await log.topics();
  const topics: [string, number, 'delete' | 'compact'][] = [
    [TOPICS.raw, partitions, 'delete'],
    [TOPICS.events, partitions, 'delete'],
    [TOPICS.dlq, 1, 'delete'],
    [TOPICS.sessions, partitions, 'delete'],
    [TOPICS.profiles, partitions, 'compact'],
    [TOPICS.features, partitions, 'delete'],
  ];
  for (const [name, n, cleanupPolicy] of topics) if (!existing.has(name)) await log.createTopic(name, { partitions: n, cleanupPolicy });

  const app = new StreamsApp(
    { module: new URL('./topology.ts', import.meta.url) },
    {
      applicationId: 'personalization',
      log,
      stateDir: join(options.dataDir, 'state'),
      ...(options.threads !== undefined && { threads: options.threads }),
      querySnapshots: { stores: [...POINT_READ_STORES, ...(sessionSplit.onCampaignChange === true ? [CAMPAIGN_STORE] : [])] },
      http: {
        port: options.port,
        routes: (self) => [
          ...servingRoutes(self, { sessionSplit, log, partitions }),
          { method: 'GET', path: /^\/$/, handle: async () => ({ status: 200, body: PAGE, contentType: 'text/html; charset=utf-8' }) },
        ],
      },
    },
  );
  // The sinks start after the app (main.ts) and close before the log; their metrics are on /metrics.
  const sinks = personalizationSinks(log, options.dataDir, options.sinks ?? { warehouse: 'duckdb', cache: 'none' });
  registerSinkMetrics(app.metricsRegistry, sinks.runners);
  return { app, sinks, partitions, sessionSplit };
}

/** Writes raw events (JSON, keyed by user) and profile changes (Avro) to their topics. */
export async function ingest(log: Log, partitions: number, raw: readonly unknown[], profiles: readonly Profile[]): Promise<void> {
  const byPartition = new Map<string, LogRecord[]>();
  const add = (topic: string, key: string, value: Uint8Array, timestamp: number) => {
    const keyBytes = Buffer.from(key);
    const id = `${topic}:${partitionForKey(keyBytes, partitions)}`;
    let list = byPartition.get(id);
    if (list === undefined) byPartition.set(id, (list = []));
    list.push({ key: keyBytes, value, timestamp });
  };
  for (const r of raw) {
    const event = r as { userId?: unknown; timestamp?: unknown };
    const key = typeof event.userId === 'string' ? event.userId : 'unknown';
    const timestamp = typeof event.timestamp === 'number' && event.timestamp >= 0 ? event.timestamp : Date.now();
    add(TOPICS.raw, key, Buffer.from(JSON.stringify(r)), timestamp);
  }
  for (const p of profiles) add(TOPICS.profiles, p.userId, profileSerde.serialize(p, TOPICS.profiles), p.updatedAt);
  await log.produce(
    [...byPartition].map(([id, records]) => {
      const at = id.lastIndexOf(':');
      return { topic: id.slice(0, at), partition: Number(id.slice(at + 1)), records };
    }),
  );
}

/**
 * Keeps `generator` at the wall clock: every 100 ms, writes the records whose time has come (at
 * most 5000 while catching up), profiles before events as the generator requires. `ingested` counts
 * the raw events written; `stop` waits for a write in progress.
 */
export function feedAtWallClock(log: Log, partitions: number, generator: ClickstreamGenerator): { ingested(): number; stop(): Promise<void> } {
  let ingested = 0;
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      const raw: unknown[] = [];
      const profiles: Profile[] = [];
      while (raw.length + profiles.length < 5000 && generator.now <= Date.now()) {
        const record = generator.nextRecord();
        if (record.topic === 'profiles') profiles.push(record.value as Profile);
        else raw.push(record.value);
      }
      if (raw.length + profiles.length > 0) await ingest(log, partitions, raw, profiles);
      ingested += raw.length;
    } finally {
      busy = false;
    }
  }, 100);
  return {
    ingested: () => ingested,
    async stop() {
      clearInterval(timer);
      while (busy) await new Promise((r) => setTimeout(r, 10));
    },
  };
}
