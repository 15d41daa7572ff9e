/**
 * `npm start`: the personalization apps end to end on the embedded log. A seeded generator plays a
 * clickstream in real time (after replaying the last hours quickly, so features have history),
 * the apps turn it into sessions and features, and the HTTP server serves them. Progress is
 * printed every few seconds. Ctrl-C stops; a second start resumes from the same data directory.
 *
 *   PORT (default 8080), TRIBUTARY_DATA_DIR (default .data/personalization), SEED (default 42),
 *   USERS (default 20000), BACKFILL_HOURS (default 6), SESSION_SPLIT_TIMEZONE (an IANA zone: sessions
 *   also end at midnight there; unset: off), SESSION_SPLIT_ON_CAMPAIGN (1: sessions also end when the
 *   campaign changes). The stream threads read the last two themselves (apps/topology.ts).
 *   TRIBUTARY_WAREHOUSE (duckdb, default, or postgres) and TRIBUTARY_CACHE (none, default, or redis):
 *   where the sinks write (apps/sinks.ts).
 */
import { resolve } from 'node:path';
import { EmbeddedLog } from '../connectors/embedded/index.ts';
import { ClickstreamGenerator } from './generator.ts';
import { feedAtWallClock, startPersonalization } from './runtime.ts';
import { sinkSettingsFromEnv } from './sinks.ts';
import { TOPICS } from './topology.ts';

const env = (name: string, fallback: number) => {
  const n = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number`);
  return n;
};
const dir = resolve(process.env.TRIBUTARY_DATA_DIR ?? '.data/personalization');
const log = await EmbeddedLog.open({ dir: resolve(dir, 'log'), cleanIntervalMs: env('CLEAN_INTERVAL_MS', 30_000) });
const settings = sinkSettingsFromEnv(process.env);
const { app, sinks, partitions, sessionSplit } = await startPersonalization({ log, dataDir: dir, port: env('PORT', 8080), sinks: settings });
const splits = [sessionSplit.midnight && `at midnight (${sessionSplit.midnight.timeZone})`, sessionSplit.onCampaignChange && 'on a campaign change'].filter(Boolean);
if (splits.length > 0) console.log(`sessions also end ${splits.join(' and ')}`);
app.onStateChange((next, previous) => console.log(`state: ${previous} -> ${next}`));
await app.start();
await sinks.start();
console.log(`sinks: events -> Parquet lake in ${dir}/lake; sessions and feature snapshots -> ${settings.warehouse === 'duckdb' ? `DuckDB ${dir}/warehouse.duckdb` : 'PostgreSQL'}${settings.cache === 'redis' ? '; features and profiles -> Redis' : ''}`);

// The generator resumes where the last run stopped: it starts after the newest event in the log.
const ends = await Promise.all(Array.from({ length: partitions }, (_, p) => log.fetch({ topic: TOPICS.raw, partition: p }, 0, { maxRecords: 0 })));
const resumed = ends.some((e) => e.endOffset > 0);
const backfillMs = env('BACKFILL_HOURS', 6) * 3_600_000;
const generator = new ClickstreamGenerator({
  seed: env('SEED', 42) + (resumed ? Date.now() % 1_000_000 : 0),
  users: env('USERS', 20000),
  sessionsPerDay: 12,
  startTime: Date.now() - (resumed ? 0 : backfillMs),
  invalidRate: 0.001,
});

const base = `http://${app.httpAddress!.host}:${app.httpAddress!.port}`;
console.log(`personalization is running on the embedded log in ${dir}
  page:             ${base}/
  user features:    ${base}/users/u1/features     session: ${base}/users/u1/session
  profile:          ${base}/users/u1/profile      recommendations: ${base}/recommendations/u1?k=10
  item features:    ${base}/items/i1/features     trending: ${base}/trending?category=books
  metrics:          ${base}/metrics               health: ${base}/health
Ctrl-C to stop.`);

const feed = feedAtWallClock(log, partitions, generator);

let last = { at: Date.now(), ingested: 0 };
const report = setInterval(async () => {
  if (app.state !== 'RUNNING') return;
  const { tasks } = await app.metrics();
  const lag = tasks.reduce((n, t) => n + t.lag, 0);
  const sessions = await Promise.all(Array.from({ length: partitions }, (_, p) => log.fetch({ topic: TOPICS.sessions, partition: p }, 0, { maxRecords: 0 })));
  const dlq = (await log.fetch({ topic: TOPICS.dlq, partition: 0 }, 0, { maxRecords: 0 })).endOffset;
  const now = Date.now();
  const ingested = feed.ingested();
  const rate = ((ingested - last.ingested) * 1000) / (now - last.at);
  last = { at: now, ingested };
  const behind = Math.max(0, Math.round((now - generator.now) / 1000));
  console.log(
    `events: ${ingested} (${rate.toFixed(0)}/s, generator ${behind > 5 ? `${behind}s behind real time` : 'live'}), lag ${lag}, ` +
      `sessions closed ${sessions.reduce((n, s) => n + s.endOffset, 0)}, dead-lettered ${dlq}, lake files ${sinks.lakeFiles()}, sinks ${sinks.runners.map((r) => `${r.name} ${r.state.toLowerCase()} lag ${r.status().lag}`).join(', ')}`,
  );
}, 3000);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(report);
  await feed.stop();
  await app.close();
  await sinks.close();
  await log.close();
  console.log('stopped');
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
