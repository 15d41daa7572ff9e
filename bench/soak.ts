/**
 * Soak run: the personalization apps under steady load for a long time, watched from outside, to
 * show that nothing grows without bound and nothing crashes.
 *
 *   node bench/soak.ts [--minutes 30] [--rate 200] [--query-rate 1000] [--users 20000]
 *     [--backfill-events 50k] [--sample-seconds 10] [--out bench/results] [--dir <kept data dir>]
 *     [--abort-on-uncaught] [--no-json]
 *
 * Starts bench/soak-app.ts (every app, the sinks and the HTTP server on the embedded log, as `npm
 * start` runs them, but fed `--rate` raw events/s) in a child process with core dumps enabled
 * (`ulimit -c unlimited` in the shell that execs node; the child's working directory is
 * `<dir>/diag`, so a `core` core_pattern writes there) and Node's diagnostic reports on a fatal
 * error, an uncaught exception or SIGUSR2 (`--report-*`, into `<dir>/diag`; with
 * `--abort-on-uncaught`, also `--abort-on-uncaught-exception`, which turns any uncaught exception,
 * in a stream thread too, into an abort with a core). It writes `--backfill-events` at once, waits
 * until they are processed (warm-up, reported apart), then for `--minutes`:
 *
 * - reads features at `--query-rate` req/s, open loop (sent on schedule whether or not earlier
 *   requests answered; but never more than 2000 unanswered: requests beyond are counted as shed,
 *   not sent): 80% GET /users/{id}/features, 5% each /users/{id}/session,
 *   /items/{id}/features, /recommendations/{id}?k=10 and /trending?category=…;
 * - every `--sample-seconds` samples the child: RSS (/proc), the main thread's heap and event-loop
 *   delay and each stream thread's heap (its /metrics), records processed, consumer lag, store
 *   entries, open file descriptors, threads, the size of the state, log, lake and warehouse
 *   directories, the query latency of the interval (client p50/p99/max, server p99 from
 *   Server-Timing), errors, and the machine's 1-minute load average.
 *
 * Then it stops the child with SIGINT (the shutdown path is part of the test) and prints a verdict:
 * the growth of RSS, heaps, descriptors and directories over the last two thirds of the run as a
 * least-squares slope (per hour), as a share of the mean and with its t statistic (GROWS: more
 * than 10% of the mean with t > 3), crashes (exit code, signal, core files,
 * reports) and errors. The log has no retention in the apps (topics keep everything, as `npm start`
 * has them), so its directory grows with the events written: that is reported per million events,
 * not counted as unbounded growth. A summary (config, one sample per minute, slopes, verdict) goes
 * to `--out`/<timestamp>-soak.json. The data directory is removed after a clean run and kept after
 * a crash (or with `--dir`).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, get } from 'node:http';
import { DEFAULT_CATEGORIES } from '../apps/generator.ts';
import { machine, parseCount, quantile, sleep, sourceVersion, timestampForFile } from './common.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    rate: { type: 'string', default: '200' },
    'query-rate': { type: 'string', default: '1000' },
    users: { type: 'string', default: '20000' },
    'backfill-events': { type: 'string', default: '50k' },
    'sample-seconds': { type: 'string', default: '10' },
    out: { type: 'string', default: join(import.meta.dirname, 'results') },
    dir: { type: 'string' },
    'abort-on-uncaught': { type: 'boolean', default: false },
    'no-json': { type: 'boolean', default: false },
  },
});
const minutes = Number(values.minutes);
const rate = Number(values.rate);
const queryRate = Number(values['query-rate']);
const users = Number(values.users);
const backfillEvents = parseCount(values['backfill-events']);
const sampleSeconds = Number(values['sample-seconds']);

// ------------------------------------------------------------------ the child, with core dumps on

const dir = values.dir !== undefined ? resolve(values.dir) : mkdtempSync(join(tmpdir(), 'tributary-soak-'));
const diag = join(dir, 'diag');
mkdirSync(diag, { recursive: true });
const corePattern = readText('/proc/sys/kernel/core_pattern')?.trim() ?? 'unknown';
if (corePattern.startsWith('|')) {
  const program = corePattern.slice(1).split(/\s+/)[0]!;
  console.warn(`core_pattern pipes cores to ${program}${existsSync(program) ? '' : ' (missing: cores are lost; as root, point it to a file pattern, e.g. echo core > /proc/sys/kernel/core_pattern)'}`);
}
const nodeFlags = [
  '--report-on-fatalerror',
  '--report-uncaught-exception',
  '--report-on-signal',
  `--report-directory=${diag}`,
  ...(values['abort-on-uncaught'] ? ['--abort-on-uncaught-exception'] : []),
];
const script = join(import.meta.dirname, 'soak-app.ts');
// exec: the shell's pid becomes node's, so /proc/<pid> is the app's.
const child = spawn('/bin/sh', ['-c', 'ulimit -c unlimited && exec "$@"', 'sh', process.execPath, ...nodeFlags, script], {
  cwd: diag,
  env: { ...process.env, TRIBUTARY_DATA_DIR: dir, RATE: String(rate), USERS: String(users), BACKFILL_EVENTS: String(backfillEvents), MINUTES: String(minutes), PORT: '0' },
  stdio: ['ignore', 'pipe', 'pipe'],
});
const pid = child.pid!;
let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
const exit = new Promise<void>((r) => child.once('exit', (code, signal) => ((exited = { code, signal }), r())));
let stdoutTail = '';
let feed = { ingested: 0, backfilled: 0, generatorNow: 0, speed: 0 };
let stopped = false;
let base: string | undefined;
const stderrLines: string[] = [];
child.stdout!.on('data', (chunk: Buffer) => {
  stdoutTail += chunk.toString();
  const lines = stdoutTail.split('\n');
  stdoutTail = lines.pop()!;
  for (const line of lines) {
    if (line.startsWith('soak-feed ')) feed = JSON.parse(line.slice('soak-feed '.length)) as typeof feed;
    else if (line === 'stopped') stopped = true;
    else {
      const page = /^page: (http:\/\/[^/\s]+)\//.exec(line);
      if (page) base = page[1];
      console.log(`  [app] ${line}`);
    }
  }
});
child.stderr!.on('data', (chunk: Buffer) => {
  for (const line of chunk.toString().split('\n').filter(Boolean)) {
    stderrLines.push(line);
    console.log(`  [app stderr] ${line}`);
  }
});

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Bytes under a path (files only, as du --apparent-size). */
function duBytes(path: string): number {
  let total = 0;
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.size;
  for (const entry of readdirSync(path)) total += duBytes(join(path, entry));
  return total;
}

/** Samples of a Prometheus text, by metric name (labels kept as text). */
function parseMetrics(text: string): Map<string, { labels: string; value: number }[]> {
  const out = new Map<string, { labels: string; value: number }[]>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m === null) continue;
    let list = out.get(m[1]!);
    if (list === undefined) out.set(m[1]!, (list = []));
    list.push({ labels: m[2] ?? '', value: Number(m[3]) });
  }
  return out;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });
// Its own connection: behind the feature reads' queue, a scrape would wait as long as they do.
const metricsAgent = new Agent({ keepAlive: true, maxSockets: 1 });

function httpGet(path: string, timeoutMs = 10_000, via = agent): Promise<{ status: number; body: string; serverMs: number | undefined }> {
  return new Promise((resolve, reject) => {
    const req = get(`${base}${path}`, { agent: via, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        const timing = /dur=([\d.]+)/.exec(String(res.headers['server-timing'] ?? ''));
        resolve({ status: res.statusCode ?? 0, body, serverMs: timing ? Number(timing[1]) : undefined });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

// ------------------------------------------------------------------ sampling

interface Sample {
  /** Seconds since the measured phase started. */
  t: number;
  load1: number;
  rssMiB: number;
  heapMiB: number;
  externalMiB: number;
  threadHeapMiB: number;
  loopP99Ms: number;
  loopMaxMs: number;
  cpuCores: number;
  ingested: number;
  recordsIn: number;
  recordsPerSecond: number;
  lag: number;
  sinkLag: number;
  storeEntries: number;
  fds: number;
  threads: number;
  stateMiB: number;
  logMiB: number;
  lakeMiB: number;
  warehouseMiB: number;
  queries: number;
  queryErrors: number;
  /** Requests not sent (too many unanswered). */
  shed: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  serverP99Ms: number;
  threadRestarts: number;
  appState: string;
}

const sum = (m: Map<string, { value: number }[]>, name: string) => (m.get(name) ?? []).reduce((n, s) => n + s.value, 0);
const one = (m: Map<string, { value: number }[]>, name: string) => m.get(name)?.[0]?.value ?? Number.NaN;
const MiB = 2 ** 20;

/** Latencies (ms) of the requests that completed since the last sample; errors likewise. */
let interval: { latencies: number[]; server: number[]; errors: number; shed: number } = { latencies: [], server: [], errors: 0, shed: 0 };
let last: { at: number; recordsIn: number; cpu: number } | undefined;
let measuredFrom = 0;

async function sample(): Promise<Sample> {
  const status = readText(`/proc/${pid}/status`) ?? '';
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? Number.NaN);
  let fds = Number.NaN;
  try {
    fds = readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    // the child is gone
  }
  let metrics = new Map<string, { labels: string; value: number }[]>();
  try {
    metrics = parseMetrics((await httpGet('/metrics', 10_000, metricsAgent)).body);
  } catch {
    // counted below as missing values (NaN)
  }
  const now = performance.now();
  const recordsIn = sum(metrics, 'tributary_records_in_total');
  const cpu = one(metrics, 'process_cpu_seconds_total');
  const dt = last === undefined ? Number.NaN : (now - last.at) / 1000;
  const w = interval;
  interval = { latencies: [], server: [], errors: 0, shed: 0 };
  w.latencies.sort((a, b) => a - b);
  w.server.sort((a, b) => a - b);
  const s: Sample = {
    t: Math.round((now - measuredFrom) / 1000),
    load1: loadavg()[0]!,
    rssMiB: kib('VmRSS') / 1024,
    heapMiB: one(metrics, 'nodejs_heap_size_used_bytes') / MiB,
    externalMiB: one(metrics, 'nodejs_external_memory_bytes') / MiB,
    threadHeapMiB: sum(metrics, 'tributary_thread_heap_used_bytes') / MiB,
    loopP99Ms: one(metrics, 'nodejs_eventloop_lag_p99_seconds') * 1000,
    loopMaxMs: one(metrics, 'nodejs_eventloop_lag_max_seconds') * 1000,
    cpuCores: last === undefined ? Number.NaN : (cpu - last.cpu) / dt,
    ingested: feed.ingested,
    recordsIn,
    recordsPerSecond: last === undefined ? Number.NaN : (recordsIn - last.recordsIn) / dt,
    lag: sum(metrics, 'tributary_consumer_lag'),
    sinkLag: sum(metrics, 'tributary_sink_lag'),
    storeEntries: sum(metrics, 'tributary_store_entries'),
    fds,
    threads: kib('Threads'),
    stateMiB: duBytes(join(dir, 'state')) / MiB,
    logMiB: duBytes(join(dir, 'log')) / MiB,
    lakeMiB: duBytes(join(dir, 'lake')) / MiB,
    warehouseMiB: (duBytes(join(dir, 'warehouse.duckdb')) + duBytes(join(dir, 'warehouse.duckdb.wal'))) / MiB,
    queries: w.latencies.length,
    queryErrors: w.errors,
    shed: w.shed,
    p50Ms: quantile(w.latencies, 0.5),
    p99Ms: quantile(w.latencies, 0.99),
    maxMs: w.latencies.at(-1) ?? Number.NaN,
    serverP99Ms: quantile(w.server, 0.99),
    threadRestarts: sum(metrics, 'tributary_thread_restarts_total'),
    appState: /state="(\w+)"\} 1/.exec((metrics.get('tributary_state') ?? []).filter((x) => x.value === 1).map((x) => x.labels).join('') + ' 1')?.[1] ?? 'unknown',
  };
  if (Number.isFinite(recordsIn) && Number.isFinite(cpu)) last = { at: now, recordsIn, cpu };
  return s;
}

const columns: [keyof Sample, string, number, (x: number) => string][] = [
  ['t', 't s', 5, (x) => x.toFixed(0)],
  ['load1', 'load', 5, (x) => x.toFixed(1)],
  ['rssMiB', 'RSS MiB', 8, (x) => x.toFixed(0)],
  ['heapMiB', 'heap', 6, (x) => x.toFixed(0)],
  ['threadHeapMiB', 'thr heap', 8, (x) => x.toFixed(0)],
  ['loopP99Ms', 'loop p99', 8, (x) => x.toFixed(1)],
  ['cpuCores', 'cores', 5, (x) => x.toFixed(2)],
  ['ingested', 'ingested', 9, (x) => x.toFixed(0)],
  ['recordsPerSecond', 'rec/s', 6, (x) => x.toFixed(0)],
  ['lag', 'lag', 6, (x) => x.toFixed(0)],
  ['storeEntries', 'entries', 8, (x) => x.toFixed(0)],
  ['fds', 'fds', 4, (x) => x.toFixed(0)],
  ['stateMiB', 'state', 6, (x) => x.toFixed(0)],
  ['logMiB', 'log MiB', 8, (x) => x.toFixed(0)],
  ['queries', 'queries', 7, (x) => x.toFixed(0)],
  ['queryErrors', 'err', 4, (x) => x.toFixed(0)],
  ['shed', 'shed', 5, (x) => x.toFixed(0)],
  ['p99Ms', 'p99 ms', 7, (x) => x.toFixed(1)],
  ['serverP99Ms', 'srv p99', 7, (x) => x.toFixed(1)],
];
const row = (cells: string[]) => cells.map((c, i) => c.padStart(columns[i]![2])).join(' ');
const formatSample = (s: Sample) => row(columns.map(([key, , , f]) => (Number.isFinite(s[key] as number) ? f(s[key] as number) : '-')));

// ------------------------------------------------------------------ the run

const startedAt = new Date();
// Read now: the code the child runs is the code of this moment, whatever changes during the run.
const source = sourceVersion();
console.log(`soak: ${minutes} min, ${rate} events/s, ${queryRate} feature reads/s, ${users} users; data in ${dir}; core_pattern "${corePattern}"`);
await Promise.race([
  new Promise<void>((r) => {
    const wait = () => (base !== undefined && feed.ingested >= backfillEvents ? r() : setTimeout(wait, 100));
    wait();
  }),
  exit,
]);
if (exited !== undefined) throw new Error(`the app exited during startup: ${JSON.stringify(exited)}\n${stderrLines.slice(-20).join('\n')}`);

// Warm-up: the backfill processed (lag below a second of input, three samples a second apart).
const warmupStart = performance.now();
for (let calm = 0; calm < 3 && exited === undefined; ) {
  await sleep(1000);
  const m = parseMetrics((await httpGet('/metrics', 10_000, metricsAgent).catch(() => ({ body: '' }))).body);
  calm = m.has('tributary_consumer_lag') && sum(m, 'tributary_consumer_lag') <= rate ? calm + 1 : 0;
}
const warmupSeconds = (performance.now() - warmupStart) / 1000;
console.log(`warm-up: ${backfillEvents} backfill events processed in ${warmupSeconds.toFixed(1)} s; measuring for ${minutes} min`);

// Feature reads, open loop at queryRate.
let seed = 7;
const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
const pick = (n: number) => Math.floor(random() * n);
function nextPath(): string {
  const r = random();
  if (r < 0.8) return `/users/u${pick(users)}/features`;
  if (r < 0.85) return `/users/u${pick(users)}/session`;
  if (r < 0.9) return `/items/i${pick(500)}/features`;
  if (r < 0.95) return `/recommendations/u${pick(users)}?k=10`;
  return `/trending?category=${DEFAULT_CATEGORIES[pick(DEFAULT_CATEGORIES.length)]}`;
}
let queriesSent = 0;
let queriesDone = 0;
/** Requests not sent because MAX_IN_FLIGHT were unanswered. */
let queriesShed = 0;
const MAX_IN_FLIGHT = 2000;
let queryErrors = 0;
const errorKinds = new Map<string, number>();
const queryEnd = Date.now() + minutes * 60_000;
measuredFrom = performance.now();
const ingestedAtStart = feed.ingested;
const queryLoop = (async () => {
  const t0 = performance.now();
  while (Date.now() < queryEnd && exited === undefined) {
    const due = Math.floor(((performance.now() - t0) / 1000) * queryRate);
    while (queriesSent + queriesShed < due) {
      // Open loop, but bounded: past MAX_IN_FLIGHT unanswered requests the app is overloaded, and
      // queueing more would only grow this process (and its latencies) without limit.
      if (queriesSent - queriesDone >= MAX_IN_FLIGHT) {
        queriesShed++;
        interval.shed++;
        continue;
      }
      queriesSent++;
      const at = performance.now();
      httpGet(nextPath()).then(
        (res) => {
          interval.latencies.push(performance.now() - at);
          if (res.serverMs !== undefined) interval.server.push(res.serverMs);
          if (res.status !== 200) {
            interval.errors++;
            queryErrors++;
            errorKinds.set(`HTTP ${res.status}`, (errorKinds.get(`HTTP ${res.status}`) ?? 0) + 1);
          }
          queriesDone++;
        },
        (error: Error) => {
          interval.latencies.push(performance.now() - at);
          interval.errors++;
          queryErrors++;
          errorKinds.set(error.message, (errorKinds.get(error.message) ?? 0) + 1);
          queriesDone++;
        },
      );
    }
    await sleep(1);
  }
})();

const samples: Sample[] = [];
console.log(row(columns.map(([, title]) => title)));
last = undefined;
await sample(); // sets the baseline for rates
while (Date.now() < queryEnd && exited === undefined) {
  await Promise.race([sleep(Math.min(sampleSeconds * 1000, Math.max(0, queryEnd - Date.now()))), exit]);
  if (exited !== undefined) break;
  const s = await sample();
  samples.push(s);
  console.log(formatSample(s));
}
await queryLoop;
// Requests still in flight get a moment to finish before the app stops.
for (let i = 0; i < 100 && queriesDone < queriesSent; i++) await sleep(50);
const crashedDuringRun = exited !== undefined;
const ingestedAtEnd = feed.ingested;

// Shutdown (part of the test): SIGINT, then up to 60 s for the app to close everything.
const stopStart = performance.now();
if (!crashedDuringRun) child.kill('SIGINT');
const stopTimeout = await Promise.race([exit.then(() => false), sleep(60_000).then(() => true)]);
if (stopTimeout) {
  console.log('the app did not stop within 60 s of SIGINT: sending SIGUSR2 (diagnostic report), then SIGABRT (core)');
  child.kill('SIGUSR2');
  await sleep(2000);
  child.kill('SIGABRT');
  await exit;
}
const stopSeconds = (performance.now() - stopStart) / 1000;
agent.destroy();
metricsAgent.destroy();

// ------------------------------------------------------------------ verdict

const diagFiles = readdirSync(diag);
const cores = diagFiles.filter((f) => /^core/.test(f));
const reports = diagFiles.filter((f) => /^report\..*\.json$/.test(f));
// (read through a cast: TypeScript cannot see the exit handler assign it)
const ended = exited as { code: number | null; signal: NodeJS.Signals | null } | undefined;
const crashed = crashedDuringRun || stopTimeout || ended?.signal !== null || ended?.code !== 0 || !stopped || cores.length > 0 || reports.length > 0;

/** Least-squares slope of y over t (per second), its t statistic (slope / standard error) and the mean of y. */
function fit(points: [number, number][]): { slope: number; tStat: number; mean: number } {
  const n = points.length;
  const mt = points.reduce((a, [t]) => a + t, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const num = points.reduce((a, [t, y]) => a + (t - mt) * (y - my), 0);
  const den = points.reduce((a, [t]) => a + (t - mt) ** 2, 0);
  const slope = den === 0 ? 0 : num / den;
  const residuals = points.reduce((a, [t, y]) => a + (y - my - slope * (t - mt)) ** 2, 0);
  const stderr = n > 2 && den > 0 ? Math.sqrt(residuals / (n - 2) / den) : Number.NaN;
  return { slope, tStat: stderr === 0 ? (slope === 0 ? 0 : Number.POSITIVE_INFINITY) : slope / stderr, mean: my };
}
const duration = samples.at(-1)?.t ?? 0;
const tail = samples.filter((s) => s.t >= duration / 3);
const tailSeconds = tail.length > 1 ? tail.at(-1)!.t - tail[0]!.t : 0;
/** Growth over the last two thirds: per hour, and the change over that span as a share of the mean. */
const growth = (key: keyof Sample, unit: string, perHourScale = 1) => {
  const points = tail.map((s) => [s.t, s[key] as number] as [number, number]).filter(([, y]) => Number.isFinite(y));
  if (points.length < 3) return { metric: key, unit, perHour: Number.NaN, tStat: Number.NaN, mean: Number.NaN, changeOverWindow: Number.NaN };
  const { slope, tStat, mean } = fit(points);
  return { metric: key, unit, perHour: slope * 3600 * perHourScale, tStat, mean, changeOverWindow: mean === 0 ? 0 : (slope * tailSeconds) / mean };
};
/**
 * Grows: the fitted line rises by more than 10% of the mean over the last two thirds, and the
 * slope stands out of the noise (t > 3: heaps saw-tooth with GC, a small window gives steep but
 * meaningless slopes). A leak of a few percent per run is below what one run can show.
 */
const BOUND = 0.1;
const T_MIN = 3;
const watched = [
  growth('rssMiB', 'MiB/h'),
  growth('heapMiB', 'MiB/h'),
  growth('externalMiB', 'MiB/h'),
  growth('threadHeapMiB', 'MiB/h'),
  growth('fds', 'fds/h'),
  growth('threads', 'threads/h'),
  growth('stateMiB', 'MiB/h'),
  growth('warehouseMiB', 'MiB/h'),
].map((g) => ({ ...g, bounded: Number.isFinite(g.changeOverWindow) && (g.changeOverWindow <= BOUND || g.tStat < T_MIN) }));
const informational = [growth('storeEntries', 'entries/h'), growth('logMiB', 'MiB/h'), growth('lakeMiB', 'MiB/h'), growth('lag', 'records/h')];
const logFit = fit(tail.map((s) => [s.ingested, s.logMiB] as [number, number]));
const logMiBPerMillionEvents = logFit.slope * 1e6;
const all = (key: keyof Sample) => samples.map((s) => s[key] as number).filter(Number.isFinite);
const stat = (key: keyof Sample) => {
  const xs = all(key).sort((a, b) => a - b);
  return { min: xs[0] ?? Number.NaN, median: quantile(xs, 0.5), max: xs.at(-1) ?? Number.NaN };
};
const threadRestarts = samples.at(-1)?.threadRestarts ?? 0;
const notRunning = samples.filter((s) => s.appState !== 'RUNNING').length;
const grows = watched.filter((g) => !g.bounded);
const verdict = crashed ? 'CRASHED' : grows.length > 0 || queryErrors > 0 || threadRestarts > 0 || notRunning > 0 ? 'SUSPECT' : 'OK';

console.log(`\ngrowth over the last two thirds (${(tailSeconds / 60).toFixed(1)} min, ${tail.length} samples; GROWS = the fit rises by > ${BOUND * 100}% of the mean with t > ${T_MIN}):`);
for (const g of [...watched, ...informational]) {
  const mark = 'bounded' in g ? (g.bounded ? 'bounded' : 'GROWS') : '(informational)';
  console.log(`  ${g.metric.padEnd(14)} ${g.perHour.toFixed(2).padStart(10)} ${g.unit.padEnd(10)} mean ${g.mean.toFixed(1).padStart(9)}  change ${(g.changeOverWindow * 100).toFixed(1).padStart(6)}%  t ${g.tStat.toFixed(1).padStart(5)}  ${mark}`);
}
console.log(`  log directory: ${logMiBPerMillionEvents.toFixed(0)} MiB per million events written (no retention on the apps' topics)`);
const p99s = stat('p99Ms');
const srv = stat('serverP99Ms');
const allQueries = samples.reduce((n, s) => n + s.queries, 0);
console.log(
  `queries: ${allQueries} answered (${(allQueries / Math.max(1, duration)).toFixed(0)}/s), errors ${queryErrors}, not sent (over ${MAX_IN_FLIGHT} unanswered) ${queriesShed}${errorKinds.size > 0 ? ` (${[...errorKinds].map(([k, n]) => `${k}: ${n}`).join(', ')})` : ''}; ` +
    `p99 per interval: median ${p99s.median.toFixed(1)} ms, max ${p99s.max.toFixed(1)} ms; server p99 median ${srv.median.toFixed(1)} ms, max ${srv.max.toFixed(1)} ms`,
);
console.log(
  `events: ${ingestedAtEnd} written (${((ingestedAtEnd - ingestedAtStart) / Math.max(1, duration)).toFixed(0)}/s while measured), lag median ${stat('lag').median} max ${stat('lag').max}; ` +
    `thread restarts ${threadRestarts}; samples not RUNNING ${notRunning}; load average ${stat('load1').min.toFixed(1)}-${stat('load1').max.toFixed(1)}`,
);
console.log(
  `exit: ${JSON.stringify(exited)} after SIGINT in ${stopSeconds.toFixed(1)} s${stopped ? ', "stopped" printed' : ', no "stopped" line'}; cores ${cores.length}; reports ${reports.length}; ` +
    `stderr lines ${stderrLines.length}`,
);
console.log(`verdict: ${verdict}${grows.length > 0 ? ` (grows: ${grows.map((g) => g.metric).join(', ')})` : ''}`);

if (!values['no-json']) {
  mkdirSync(values.out, { recursive: true });
  const file = join(values.out, `${timestampForFile(startedAt)}-soak.json`);
  const round = (x: number, digits = 2) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : null);
  const perMinute = samples.filter((s, i) => i === samples.length - 1 || Math.floor(s.t / 60) !== Math.floor((samples[i + 1]?.t ?? 0) / 60));
  writeFileSync(
    file,
    JSON.stringify(
      {
        benchmark: 'soak',
        machine: machine(),
        source,
        startedAt: startedAt.toISOString(),
        config: { minutes, rate, queryRate, users, backfillEvents, sampleSeconds, abortOnUncaught: values['abort-on-uncaught'], nodeFlags, corePattern, generatorSpeed: round(feed.speed) },
        warmupSeconds: round(warmupSeconds, 1),
        verdict,
        crash: { crashed, exit: exited ?? null, stopSeconds: round(stopSeconds, 1), stoppedCleanly: stopped, cores, reports, stderrTail: stderrLines.slice(-10) },
        queries: { sent: queriesSent, shed: queriesShed, answered: allQueries, errors: queryErrors, errorKinds: Object.fromEntries(errorKinds), p99PerIntervalMs: p99s, serverP99PerIntervalMs: srv, p50PerIntervalMs: stat('p50Ms'), maxMs: stat('maxMs').max },
        events: { written: ingestedAtEnd, backfilled: feed.backfilled, perSecondMeasured: round((ingestedAtEnd - ingestedAtStart) / Math.max(1, duration), 1), lag: stat('lag'), recordsPerSecond: stat('recordsPerSecond') },
        threadRestarts,
        samplesNotRunning: notRunning,
        load1: stat('load1'),
        growth: { interval: { fromSeconds: tail[0]?.t ?? null, toSeconds: tail.at(-1)?.t ?? null, samples: tail.length }, bound: BOUND, watched: watched.map((g) => ({ ...g, perHour: round(g.perHour), tStat: round(g.tStat, 1), mean: round(g.mean), changeOverWindow: round(g.changeOverWindow, 4) })), informational: informational.map((g) => ({ ...g, perHour: round(g.perHour), tStat: round(g.tStat, 1), mean: round(g.mean), changeOverWindow: round(g.changeOverWindow, 4) })), logMiBPerMillionEvents: round(logMiBPerMillionEvents, 0) },
        ranges: Object.fromEntries((['rssMiB', 'heapMiB', 'externalMiB', 'threadHeapMiB', 'loopP99Ms', 'loopMaxMs', 'cpuCores', 'fds', 'threads', 'stateMiB', 'logMiB', 'storeEntries'] as const).map((k) => [k, Object.fromEntries(Object.entries(stat(k)).map(([q, v]) => [q, round(v)]))])),
        /** One sample per minute (the last of each minute). */
        samples: perMinute.map((s) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, typeof v === 'number' ? round(v) : v]))),
      },
      null,
      1,
    ),
  );
  console.log(`summary: ${file}`);
}
if (crashed || values.dir !== undefined) console.log(`data directory kept: ${dir} (diagnostics in ${diag})`);
else rmSync(dir, { recursive: true, force: true });
process.exitCode = crashed ? 1 : 0;
