/**
 * The embedded log alone: append N records of ~100 bytes in batches of 1000 over several
 * partitions, read them back, reopen the log; with fsync on and off.
 *
 *   node bench/embedded-log.ts [--records 2M] [--partitions 8] [--batch 1000] [--inflight 8]
 *                              [--fsync both|on|off] [--dir /path] [--no-warmup] [--no-json] [--json-out <path>]
 *
 * Two append shapes are measured on separate topics:
 *   - serial:    one produce() of one batch at a time, each awaited (a single synchronous producer);
 *   - pipelined: up to --inflight produce() calls outstanding, one batch each, so the log's group
 *                commit writes several of them with one write + one fdatasync.
 * Reading fetches every partition of the pipelined topic from offset 0 to its end (`--batch`
 * records per fetch) and touches every key and value.
 *
 * Before measuring, every phase runs once on a throwaway log (200k records) so that the JIT is
 * warm for the first mode measured; --no-warmup skips that.
 *
 * Results are printed and written to bench/results/<timestamp>-embedded-log.json, or to --json-out
 * (bench/raw-limits.ts runs this script and reads that file).
 *
 * Target (issue 3): >= 2M records/s.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { EmbeddedLog } from '../connectors/embedded/index.ts';
import type { LogRecord } from '../index.ts';
import { RECORD_BYTES, keyIdOf, keyString, machine, parseCount, si, sourceVersion, timestampForFile, valueString } from './common.ts';

const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '2M' },
    partitions: { type: 'string', default: '8' },
    batch: { type: 'string', default: '1000' },
    inflight: { type: 'string', default: '8' },
    fsync: { type: 'string', default: 'both' },
    keys: { type: 'string', default: '100000' },
    dir: { type: 'string' },
    'no-json': { type: 'boolean', default: false },
    'no-warmup': { type: 'boolean', default: false },
    'json-out': { type: 'string' },
  },
});

const records = parseCount(args.records);
const partitions = parseCount(args.partitions);
const batchSize = parseCount(args.batch);
const inflight = parseCount(args.inflight);
const keys = parseCount(args.keys);
const modes: boolean[] = args.fsync === 'both' ? [false, true] : args.fsync === 'on' ? [true] : args.fsync === 'off' ? [false] : [];
if (modes.length === 0) throw new Error(`--fsync must be both, on or off, not ${args.fsync}`);

/**
 * Batches are built once and reused (cycling through a pool), so the timings cover the log, not
 * the making of records. The pool is large enough that the msgpack encoder sees varied data.
 */
const POOL_BATCHES = 64;
const pool: LogRecord[][] = [];
for (let b = 0, seq = 0; b < POOL_BATCHES; b++) {
  const batch: LogRecord[] = [];
  for (let i = 0; i < batchSize; i++, seq++) {
    batch.push({ key: Buffer.from(keyString(keyIdOf(seq, keys))), value: Buffer.from(valueString(seq)), timestamp: 1_700_000_000_000 + seq });
  }
  pool.push(batch);
}
let batches = Math.ceil(records / batchSize);
const batchAt = (i: number): readonly LogRecord[] => {
  const full = pool[i % POOL_BATCHES]!;
  const last = i === Math.ceil(records / batchSize) - 1 && records % batchSize !== 0;
  return last ? full.slice(0, records % batchSize) : full;
};

interface Row {
  fsync: boolean;
  phase: string;
  records: number;
  seconds: number;
  recordsPerSecond: number;
  megabytesPerSecond: number;
}

function row(fsync: boolean, phase: string, n: number, seconds: number): Row {
  return { fsync, phase, records: n, seconds, recordsPerSecond: n / seconds, megabytesPerSecond: (n * RECORD_BYTES) / seconds / 1e6 };
}

async function appendSerial(log: EmbeddedLog, topic: string): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < batches; i++) await log.produce([{ topic, partition: i % partitions, records: batchAt(i) }]);
  return (performance.now() - t0) / 1000;
}

async function appendPipelined(log: EmbeddedLog, topic: string): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < batches) {
      const i = next++;
      await log.produce([{ topic, partition: i % partitions, records: batchAt(i) }]);
    }
  };
  await Promise.all(Array.from({ length: inflight }, worker));
  return (performance.now() - t0) / 1000;
}

async function readAll(log: EmbeddedLog, topic: string): Promise<{ seconds: number; count: number }> {
  const t0 = performance.now();
  let count = 0;
  let bytes = 0;
  for (let partition = 0; partition < partitions; partition++) {
    let offset = 0;
    for (;;) {
      const r = await log.fetch({ topic, partition }, offset, { maxRecords: batchSize });
      for (const rec of r.records) bytes += rec.key!.byteLength + rec.value!.byteLength;
      count += r.records.length;
      if (r.nextOffset >= r.endOffset) break;
      offset = r.nextOffset;
    }
  }
  if (bytes !== count * RECORD_BYTES) throw new Error(`read ${bytes} bytes for ${count} records`);
  return { seconds: (performance.now() - t0) / 1000, count };
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) total += statSync(join(entry.parentPath, entry.name)).size;
  }
  return total;
}

/** Runs every phase once on a throwaway log, so the first measured mode does not pay for the JIT. */
async function warmUp(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-bench-log-warmup-'));
  try {
    const log = await EmbeddedLog.open({ dir, fsync: false });
    await log.createTopic('pipelined', { partitions, cleanupPolicy: 'delete' });
    const saved = batches;
    batches = Math.min(batches, Math.ceil(200_000 / batchSize));
    await appendSerial(log, 'pipelined');
    await appendPipelined(log, 'pipelined');
    batches = saved;
    for (let round = 0; round < 2; round++) {
      for (let partition = 0; partition < partitions; partition++) {
        for (let offset = 0; ; ) {
          const r = await log.fetch({ topic: 'pipelined', partition }, offset, { maxRecords: batchSize });
          if (r.nextOffset >= r.endOffset) break;
          offset = r.nextOffset;
        }
      }
    }
    await log.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const results: Row[] = [];
const m = machine();
console.log(`embedded log: ${si(records)} records of ${RECORD_BYTES} bytes, ${partitions} partitions, batches of ${batchSize}, ${inflight} in flight`);
console.log(`machine: ${m.nproc} cpus, ${m.cpuModel}, Node ${m.node}`);
if (!args['no-warmup']) await warmUp();
for (const fsync of modes) {
  const dir = args.dir !== undefined ? join(args.dir, `log-fsync-${fsync ? 'on' : 'off'}`) : mkdtempSync(join(tmpdir(), 'tributary-bench-log-'));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  try {
    let log = await EmbeddedLog.open({ dir, fsync });
    await log.createTopic('serial', { partitions, cleanupPolicy: 'delete' });
    await log.createTopic('pipelined', { partitions, cleanupPolicy: 'delete' });

    results.push(row(fsync, 'append, serial (1 in flight)', records, await appendSerial(log, 'serial')));
    results.push(row(fsync, `append, pipelined (${inflight} in flight)`, records, await appendPipelined(log, 'pipelined')));
    const read = await readAll(log, 'pipelined');
    if (read.count !== records) throw new Error(`read ${read.count} records, appended ${records}`);
    results.push(row(fsync, 'read (fetch, all partitions)', read.count, read.seconds));
    await log.close();

    const bytesOnDisk = dirBytes(dir);
    const t0 = performance.now();
    log = await EmbeddedLog.open({ dir, fsync });
    const reopen = (performance.now() - t0) / 1000;
    results.push(row(fsync, `reopen (recovery of ${(bytesOnDisk / 1e6).toFixed(0)} MB)`, 2 * records, reopen));
    const again = await readAll(log, 'pipelined');
    results.push(row(fsync, 'read after reopen', again.count, again.seconds));
    await log.close();
  } finally {
    if (args.dir === undefined) rmSync(dir, { recursive: true, force: true });
  }
  for (const r of results.filter((x) => x.fsync === fsync)) {
    console.log(
      `  fsync ${fsync ? 'on ' : 'off'}  ${r.phase.padEnd(40)} ${si(r.recordsPerSecond).padStart(8)} records/s  ${r.megabytesPerSecond.toFixed(0).padStart(5)} MB/s  (${r.seconds.toFixed(2)} s)`,
    );
  }
}

if (!args['no-json']) {
  const out = args['json-out'] !== undefined ? resolve(args['json-out']) : new URL(`./results/${timestampForFile()}-embedded-log.json`, import.meta.url).pathname;
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ benchmark: 'embedded-log', source: sourceVersion(), machine: m, config: { records, partitions, batchSize, inflight, keys }, results }, null, 2));
  console.log(`results: ${out}`);
}
