/**
 * Feature-read latency of the personalization apps under HTTP load, while they ingest.
 *
 *   node bench/serving.ts [--rate 1000] [--seconds 20] [--users 20000] [--backfill-hours 6] [--settle-seconds 0]
 *
 * Starts `apps/main.ts` (the npm start job: generator, every app, HTTP server) in a child process
 * on a fresh data directory, waits until its backfill is processed, then sends GET
 * /users/{id}/features for random users at a fixed rate (open loop: a request is sent on schedule
 * whether or not earlier ones have answered, so queueing shows up in the latency) and reports
 * p50/p90/p99/max. If `wrk` is installed it also measures the saturated throughput (16 connections,
 * random users). Results go to bench/results/<timestamp>-serving.json.
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Agent, get } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '20' },
    users: { type: 'string', default: '20000' },
    'backfill-hours': { type: 'string', default: '6' },
    /** Extra wait after the backfill is processed, before measuring. */
    'settle-seconds': { type: 'string', default: '0' },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const users = Number(values.users);

const dir = mkdtempSync(join(tmpdir(), 'tributary-serving-bench-'));
const main = fileURLToPath(new URL('../apps/main.ts', import.meta.url));
const child = spawn(process.execPath, [main], {
  env: { ...process.env, PORT: '0', TRIBUTARY_DATA_DIR: dir, USERS: String(users), BACKFILL_HOURS: values['backfill-hours'] },
  stdio: ['ignore', 'pipe', 'inherit'],
});
let out = '';
const base = await new Promise<string>((resolve, reject) => {
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    const m = /page: +(http:\/\/[^/\s]+)\//.exec(out);
    if (m) resolve(m[1]!);
  });
  child.once('exit', (code) => reject(new Error(`apps/main.ts exited with ${code}`)));
});
// Wait for the backfill to be processed: three progress lines in a row (9 s) report "lag 0"
// (one line alone can be sampled between two bursts of repartitioned work).
const started = Date.now();
await new Promise<void>((resolve) => {
  const check = () => {
    const lines = out.split('\n').filter((l) => l.startsWith('events:'));
    if (lines.length >= 3 && lines.slice(-3).every((l) => /lag 0,/.test(l))) resolve();
    else setTimeout(check, 500);
  };
  check();
});
const backfillSeconds = (Date.now() - started) / 1000;
await new Promise((r) => setTimeout(r, Number(values['settle-seconds']) * 1000));
const ingested = Number(/events: (\d+)/.exec(out.split('\n').filter((l) => l.startsWith('events:')).at(-1) ?? '')?.[1] ?? 0);
console.log(`backfill of ${ingested} events processed in ${backfillSeconds.toFixed(1)} s; measuring ${rate} req/s for ${seconds} s`);

let seed = 7;
const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
// node:http with a keep-alive pool: fetch (undici) costs the client far more per request.
const agent = new Agent({ keepAlive: true, maxSockets: 64 });
const latencies: number[] = [];
/** The server's own time per request (its Server-Timing header): arrival to response. */
const serverTimes: number[] = [];
// The client shares the machine: its own event-loop delay is part of what it measures.
const clientLoop = monitorEventLoopDelay({ resolution: 1 });
clientLoop.enable();
let errors = 0;
const total = rate * seconds;
const t0 = performance.now();
await new Promise<void>((resolve) => {
  let sent = 0;
  let done = 0;
  const tick = () => {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
    while (sent < due) {
      sent++;
      const at = performance.now();
      const finish = () => {
        latencies.push(performance.now() - at);
        if (++done === total) resolve();
      };
      get(`${base}/users/u${Math.floor(random() * users)}/features`, { agent }, (res) => {
        if (res.statusCode !== 200) errors++;
        const timing = /dur=([\d.]+)/.exec(String(res.headers['server-timing'] ?? ''));
        if (timing) serverTimes.push(Number(timing[1]));
        res.resume();
        res.on('end', finish);
      }).on('error', () => {
        errors++;
        finish();
      });
    }
    if (sent < total) setTimeout(tick, 1);
  };
  tick();
});
clientLoop.disable();
latencies.sort((a, b) => a - b);
serverTimes.sort((a, b) => a - b);
const pctOf = (list: number[], p: number) => list[Math.min(list.length - 1, Math.floor((p / 100) * list.length))] ?? NaN;
const pct = (p: number) => pctOf(latencies, p);
const server = { p50: pctOf(serverTimes, 50), p90: pctOf(serverTimes, 90), p99: pctOf(serverTimes, 99), max: serverTimes.at(-1) ?? NaN };
const clientLoopDelay = { p50: clientLoop.percentile(50) / 1e6, p99: clientLoop.percentile(99) / 1e6, max: clientLoop.max / 1e6 };
const achieved = total / ((performance.now() - t0) / 1000);
const fixedRate = { rate, seconds, requests: total, achievedRate: achieved, errors, p50: pct(50), p90: pct(90), p99: pct(99), max: latencies.at(-1)!, server, clientLoopDelay };
const show = (x: { p50: number; p90?: number; p99: number; max: number }) =>
  `p50 ${x.p50.toFixed(2)} ms,${x.p90 === undefined ? '' : ` p90 ${x.p90.toFixed(2)} ms,`} p99 ${x.p99.toFixed(2)} ms, max ${x.max.toFixed(1)} ms`;
console.log(`fixed rate ${rate} req/s (client-observed): ${show(fixedRate)}, errors ${errors}`);
console.log(`  server time (Server-Timing): ${show(server)}`);
console.log(`  client event-loop delay: ${show(clientLoopDelay)}`);

let wrk: string | undefined;
try {
  const script = join(dir, 'random-user.lua');
  writeFileSync(script, `math.randomseed(7)\nrequest = function() return wrk.format("GET", "/users/u" .. math.random(0, ${users - 1}) .. "/features") end\n`);
  wrk = execFileSync('wrk', ['-t2', '-c16', '-d10s', '--latency', '-s', script, base], { encoding: 'utf8' });
  console.log(wrk);
} catch {
  console.log('wrk not installed: saturated throughput not measured (apt-get install wrk)');
}
agent.destroy();
child.kill('SIGINT');
await new Promise((r) => child.once('exit', r));
rmSync(dir, { recursive: true, force: true });
const results = join(import.meta.dirname, 'results');
mkdirSync(results, { recursive: true });
writeFileSync(
  join(results, `${new Date().toISOString().replace(/[:.]/g, '-')}-serving.json`),
  JSON.stringify({ benchmark: 'serving', machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version }, users, backfillEvents: ingested, backfillSeconds, fixedRate, wrk }, null, 2),
);
