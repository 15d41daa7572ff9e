/**
 * The process bench/soak.ts watches: the personalization apps as `npm start` runs them (every app,
 * the lake and warehouse sinks, the HTTP server, on the embedded log), fed at a fixed rate instead
 * of at the generator's wall clock. Not meant to be run by hand (`node bench/soak-app.ts` works,
 * Ctrl-C stops it).
 *
 *   TRIBUTARY_DATA_DIR (required), RATE (raw events/s, default 200), USERS (default 20000),
 *   BACKFILL_EVENTS (written at once before the steady feed, default 50000), MINUTES (how long the
 *   feed is expected to last, default 30), SEED (default 42), PORT (default 0: any free port).
 *
 * Why a fixed rate: at the wall clock the generator's rate follows its day/night cycle (about 24
 * events/s on average for 20,000 users), so a soak would load the apps differently depending on
 * the hour. Here the generator's clock runs faster than the wall clock, by whatever factor gives
 * RATE events/s; it starts in the past, so that it reaches about the present when the run ends
 * (event times are never far in the future; windows, sessions and retention follow stream time).
 *
 * Prints the page URL line of apps/main.ts, then one `soak-feed {json}` line per second (events
 * written, generator clock), and `stopped` after SIGINT or SIGTERM once everything is closed.
 */
import { resolve } from 'node:path';
import { EmbeddedLog } from '../connectors/embedded/index.ts';
import type { Profile } from '../apps/events.ts';
import { ClickstreamGenerator } from '../apps/generator.ts';
import { ingest, startPersonalization } from '../apps/runtime.ts';

const env = (name: string, fallback: number) => {
  const n = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number`);
  return n;
};
if (process.env.TRIBUTARY_DATA_DIR === undefined) throw new Error('TRIBUTARY_DATA_DIR is required');
const dir = resolve(process.env.TRIBUTARY_DATA_DIR);
const rate = env('RATE', 200);
const users = env('USERS', 20000);
const backfill = env('BACKFILL_EVENTS', 50_000);
const minutes = env('MINUTES', 30);

/** Raw events per second the generator makes on average (over its day/night cycle) for 20,000 users at 12 sessions a day. */
const NATURAL_RATE_PER_20K_USERS = 23.9;
const speed = rate / ((NATURAL_RATE_PER_20K_USERS * users) / 20000);

const log = await EmbeddedLog.open({ dir: resolve(dir, 'log'), cleanIntervalMs: 30_000 });
const { app, sinks, partitions } = await startPersonalization({ log, dataDir: dir, port: env('PORT', 0), sinks: { warehouse: 'duckdb', cache: 'none' } });
app.onStateChange((next, previous) => console.log(`state: ${previous} -> ${next}`));
await app.start();
await sinks.start();
const generator = new ClickstreamGenerator({
  seed: env('SEED', 42),
  users,
  sessionsPerDay: 12,
  startTime: Math.round(Date.now() - ((backfill + rate * minutes * 60) / rate) * speed * 1000),
  invalidRate: 0.001,
});
console.log(`page: http://${app.httpAddress!.host}:${app.httpAddress!.port}/`);

let ingested = 0;
/** Takes raw events (and the profiles among them) from the generator until `count` raw events are taken. */
async function feed(count: number): Promise<void> {
  const raw: unknown[] = [];
  const profiles: Profile[] = [];
  while (raw.length < count) {
    const record = generator.nextRecord();
    if (record.topic === 'profiles') profiles.push(record.value as Profile);
    else raw.push(record.value);
  }
  await ingest(log, partitions, raw, profiles);
  ingested += raw.length;
}

while (ingested < backfill) await feed(Math.min(10_000, backfill - ingested));
const backfilled = ingested;

// Steady feed: every 100 ms, what is due at `rate` since the feed started (a slow write is caught
// up by the next tick, at most 5000 events at a time).
const started = performance.now();
let busy = false;
const timer = setInterval(async () => {
  if (busy) return;
  busy = true;
  try {
    const due = backfilled + Math.floor(((performance.now() - started) / 1000) * rate) - ingested;
    if (due > 0) await feed(Math.min(5000, due));
  } finally {
    busy = false;
  }
}, 100);
const status = setInterval(() => console.log(`soak-feed ${JSON.stringify({ ingested, backfilled, generatorNow: generator.now, speed })}`), 1000);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(timer);
  clearInterval(status);
  while (busy) await new Promise((r) => setTimeout(r, 10));
  await app.close();
  await sinks.close();
  await log.close();
  console.log('stopped');
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
