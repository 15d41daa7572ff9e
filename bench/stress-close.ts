/**
 * Stress of the paths suspected of an earlier segmentation fault: LevelDB (classic-level) used
 * from stream threads while their tasks are closed. Each cycle runs an application with
 * persistent stores under load and then tears part of it down while its stores are being read:
 *
 * - processing: records of 20,000 keys produced continuously (~10k/s) into 4 partitions, counted per key
 *   into a persistent store, committed every 20 ms (so local-state batches are often in flight),
 *   with a tiny read cache (so reads go to LevelDB: prefetch multi-gets and synchronous gets);
 * - queries: up to 64 point reads of that store in flight at all times (answered on the stream
 *   threads, between batches);
 * - failures: a poison record now and then makes a stream thread fail; the application replaces
 *   it (REPLACE_THREAD), so the failed worker is terminated while it may still have LevelDB work
 *   in flight and its tasks are opened again by the new thread;
 * - shutdown: after a random 0.3-3 s the application is closed with all of the above under way.
 *
 *   node bench/stress-close.ts [--cycles 20] [--threads 2] [--poison-every-ms 400] [--seed 1]
 *
 * Run it several times with core dumps on, e.g.
 *   ulimit -c unlimited; for i in $(seq 10); do node --report-on-fatalerror bench/stress-close.ts || break; done
 * Prints one line per cycle (how long it ran, records and queries, thread replacements, final
 * state, errors seen); exits non-zero if a cycle ends in an unexpected state. A crash of the
 * process is the finding this is looking for. Stream threads import this module for its
 * `topology` export (and so does the main thread); the stress runs only when this is the script run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { isMainThread } from 'node:worker_threads';
import { EmbeddedLog } from '../connectors/embedded/index.ts';
import { Serdes, StreamsApp, StreamsBuilder, partitionForKey, type Topology } from '../index.ts';

const PARTITIONS = 4;
const KEYS = 20_000;

/** Counts per key (persistent store `counts`); a value `boom` makes the counting thread fail. */
export function topology(): Topology {
  const b = new StreamsBuilder();
  b.stream('stress-in', { key: Serdes.string(), value: Serdes.string() })
    .mapValues((v) => {
      if (v === 'boom') throw new Error('poison record');
      return v;
    })
    .groupByKey()
    .count({ materialized: 'counts' })
    .toStream()
    .to('stress-out');
  return b.build();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      cycles: { type: 'string', default: '20' },
      threads: { type: 'string', default: '2' },
      'poison-every-ms': { type: 'string', default: '400' },
      seed: { type: 'string', default: String(process.pid) },
    },
  });
  let seed = Number(values.seed) >>> 0 || 1;
  const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const poisonEveryMs = Number(values['poison-every-ms']);
  let unexpected = 0;
  for (let cycle = 1; cycle <= Number(values.cycles); cycle++) {
    const dir = mkdtempSync(join(tmpdir(), 'tributary-stress-close-'));
    const log = await EmbeddedLog.open({ dir: join(dir, 'log'), cleanIntervalMs: 0, fsync: false });
    await log.createTopic('stress-in', { partitions: PARTITIONS, cleanupPolicy: 'delete' });
    await log.createTopic('stress-out', { partitions: PARTITIONS, cleanupPolicy: 'delete' });
    const errors = new Map<string, number>();
    const note = (what: string) => errors.set(what, (errors.get(what) ?? 0) + 1);
    let replaced = 0;
    const app = new StreamsApp(
      { module: new URL(import.meta.url), export: 'topology' },
      {
        applicationId: 'stress-close',
        log,
        threads: Number(values.threads),
        stateDir: join(dir, 'state'),
        commitIntervalMs: 20,
        readCacheMaxBytes: 4096,
        processingExceptionHandler: 'log-and-fail',
        uncaughtExceptionHandler: () => {
          replaced++;
          return 'REPLACE_THREAD';
        },
        onError: (e) => note(`onError ${e.code}`),
      },
    );
    const warn = console.warn;
    console.warn = () => {}; // the poison records' warnings, one per failure
    await app.start();
    let running = true;
    let produced = 0;
    let poisonedAt = Date.now();
    const producer = (async () => {
      while (running) {
        const batches = Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: 'stress-in', partition, records: [] as { key: Buffer; value: Buffer; timestamp: number }[] }));
        for (let i = 0; i < 100; i++) {
          const key = Buffer.from(`k${Math.floor(random() * KEYS)}`);
          const poison = Date.now() - poisonedAt >= poisonEveryMs && i === 0;
          if (poison) poisonedAt = Date.now();
          batches[partitionForKey(key, PARTITIONS)]!.records.push({ key, value: Buffer.from(poison ? 'boom' : 'x'), timestamp: Date.now() });
        }
        await log.produce(batches.filter((b) => b.records.length > 0)).catch(() => note('produce failed'));
        produced += 100;
        // About 10k records/s: more than the threads process while queries hammer them, not so
        // much that the log's backlog grows large while a close waits for the threads.
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    let queries = 0;
    const reader = (async () => {
      const inFlight = new Set<Promise<unknown>>();
      while (running) {
        while (inFlight.size < 64) {
          const q = app
            .get<number>('counts', `k${Math.floor(random() * KEYS)}`)
            .then(() => queries++)
            .catch((e: { code?: string }) => note(`query ${e.code ?? 'error'}`))
            .finally(() => inFlight.delete(q));
          inFlight.add(q);
        }
        await Promise.race(inFlight);
        // A query refused at once (the application closing) settles without an event-loop turn:
        // yield, or this loop would starve everything else.
        await new Promise(setImmediate);
      }
      await Promise.allSettled(inFlight);
    })();
    const runMs = 300 + random() * 2700;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, runMs));
    // Close with the producer and the readers still going.
    const closing = app.close();
    await closing;
    running = false;
    await Promise.all([producer, reader]);
    console.warn = warn;
    await log.close();
    rmSync(dir, { recursive: true, force: true });
    const ok = app.state === 'NOT_RUNNING' || app.state === 'ERROR';
    if (!ok) unexpected++;
    console.log(
      `cycle ${cycle}: ran ${runMs.toFixed(0)} ms, closed after ${(performance.now() - t0).toFixed(0)} ms, ${produced} records, ${queries} queries answered, ` +
        `${replaced} threads replaced, state ${app.state}; ${[...errors].map(([k, n]) => `${k} x${n}`).join(', ') || 'no errors'}`,
    );
  }
  process.exitCode = unexpected > 0 ? 1 : 0;
}

// Not a top-level await: the application imports this module too (on the main thread, to plan its
// tasks), and an import of a module still evaluating would wait for the stress to end.
if (isMainThread && process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
