/**
 * Events per second through all the personalization apps at once, on the embedded log.
 *
 *   node bench/apps.ts [--events 200k] [--users 20000] [--threads 1,2] [--no-json]
 *
 * Generates `--events` clickstream events (plus the generator's CRM profile changes) with the
 * seeded generator, writes them to `raw-events` and `profiles` before the app starts, then starts
 * the personalization StreamsApp (every app: validation, sessions, user and item features,
 * trending, also-viewed, profiles; the HTTP server on a free port) and measures the wall time
 * until the application's committed offsets reach the end of every partition it reads (raw
 * events, the validated events, every repartition topic): everything derived from the input has
 * then been processed and committed, exactly once (the apps' default). One fresh log and state directory per case.
 * Results go to bench/results/<timestamp>-apps.json.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EmbeddedLog } from '../connectors/embedded/index.ts';
import { ClickstreamGenerator } from '../apps/generator.ts';
import type { Profile } from '../apps/events.ts';
import { ingest, startPersonalization } from '../apps/runtime.ts';
import { cpuSecondsSince, machine, parseCount, si, sourceVersion, timestampForFile } from './common.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '200k' },
    users: { type: 'string', default: '20000' },
    threads: { type: 'string', default: '1,2' },
    'no-json': { type: 'boolean', default: false },
  },
});
const events = parseCount(values.events);
const users = Number(values.users);
const threadCounts = values.threads.split(',').map(Number);
const PARTITIONS = 4;

const root = mkdtempSync(join(tmpdir(), 'tributary-apps-bench-'));
// The input is generated once and copied for every case.
const input = join(root, 'input');
{
  const log = await EmbeddedLog.open({ dir: join(input, 'log'), cleanIntervalMs: 0 });
  const { app } = await startPersonalization({ log, dataDir: input, port: 0, partitions: PARTITIONS });
  void app; // created for its topics only; never started
  const generator = new ClickstreamGenerator({ seed: 42, users, sessionsPerDay: 12, startTime: Date.UTC(2026, 10, 1), invalidRate: 0.001 });
  let raw: unknown[] = [];
  let profiles: Profile[] = [];
  let produced = 0;
  while (produced < events) {
    const record = generator.nextRecord();
    if (record.topic === 'profiles') profiles.push(record.value as Profile);
    else {
      raw.push(record.value);
      produced++;
    }
    if (raw.length + profiles.length >= 10_000) {
      await ingest(log, PARTITIONS, raw, profiles);
      raw = [];
      profiles = [];
    }
  }
  await ingest(log, PARTITIONS, raw, profiles);
  await log.close();
}
console.log(`input: ${si(events)} events for ${users} users, ${PARTITIONS} partitions; machine ${JSON.stringify(machine())}`);

const results = [];
for (const threads of threadCounts) {
  const dir = join(root, `run-${threads}`);
  cpSync(input, dir, { recursive: true });
  const log = await EmbeddedLog.open({ dir: join(dir, 'log'), cleanIntervalMs: 0 });
  const { app } = await startPersonalization({ log, dataDir: dir, port: 0, partitions: PARTITIONS, threads });
  await app.start();
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  for (;;) {
    const committed = await log.committedOffsets('personalization');
    const rawEnds = await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => log.fetch({ topic: 'raw-events', partition: p }, 0, { maxRecords: 0 })));
    const rawDone = rawEnds.every((end, p) => committed.get(`raw-events:${p}`) === end.endOffset);
    let allDone = rawDone;
    if (rawDone) {
      for (const [key, offset] of committed) {
        const at = key.lastIndexOf(':');
        const end = await log.fetch({ topic: key.slice(0, at), partition: Number(key.slice(at + 1)) }, 0, { maxRecords: 0 });
        if (offset < end.endOffset) allDone = false;
      }
    }
    if (allDone) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpuSeconds = cpuSecondsSince(cpu);
  const metrics = await app.metrics();
  const recordsIn = metrics.tasks.reduce((n, t) => n + t.recordsIn, 0);
  await app.close();
  await log.close();
  rmSync(dir, { recursive: true, force: true });
  const row = { threads, guarantee: 'exactly_once_v2', events, seconds, eventsPerSecond: events / seconds, recordsProcessed: recordsIn, cpuSeconds, cpuSecondsPerMillionEvents: (cpuSeconds / events) * 1e6 };
  results.push(row);
  console.log(
    `threads ${threads}: ${si(events)} events in ${seconds.toFixed(1)} s = ${si(row.eventsPerSecond)} events/s ` +
      `(${si(recordsIn)} records processed by all tasks, ${row.cpuSecondsPerMillionEvents.toFixed(1)} CPU s per million events)`,
  );
}
rmSync(root, { recursive: true, force: true });
if (!values['no-json']) {
  const out = join(import.meta.dirname, 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, `${timestampForFile()}-apps.json`), JSON.stringify({ benchmark: 'apps', machine: machine(), source: sourceVersion(), users, results }, null, 2));
}
