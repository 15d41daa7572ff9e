/**
 * Shared pieces of the benchmarks: the synthetic records, the machine description and number
 * formatting. Benchmarks are run by hand (see bench/README.md), never by `npm test`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { partitionForKey, type FetchedRecord, type FetchOptions, type FetchResult, type Log, type LogRecord, type TopicPartition } from '../index.ts';

/** Key bytes + value bytes of every synthetic record. */
export const RECORD_BYTES = 100;
export const KEY_BYTES = 11;
export const VALUE_BYTES = RECORD_BYTES - KEY_BYTES;

/** `user-012345`: 11 bytes. */
export function keyString(id: number): string {
  return `user-${String(id).padStart(6, '0')}`;
}

/** A 89-byte value: a few fields the topologies look at, padded with `x`. */
export function valueString(seq: number): string {
  return `seq=${seq};page=/p/${seq % 1000};amount=${seq % 997};`.padEnd(VALUE_BYTES, 'x');
}

/** Bytes of a profile value (profileString). */
export const PROFILE_BYTES = 60;
const TIERS = ['bronze', 'silver', 'gold', 'platinum'] as const;
const REGIONS = ['eu-west', 'eu-north', 'us-east', 'us-west', 'ap-south', 'ap-east', 'sa-east'] as const;

/** Keys with a profile (the profile table of the enrichJoin topology): nine in ten, every id not divisible by 10. */
export function hasProfile(id: number): boolean {
  return id % 10 !== 0;
}

/** A 60-byte profile value: `tier=gold;region=eu-west;since=2019;` padded with `x`. */
export function profileString(id: number): string {
  return `tier=${TIERS[id % TIERS.length]};region=${REGIONS[id % REGIONS.length]};since=${2015 + (id % 10)};`.padEnd(PROFILE_BYTES, 'x');
}

/**
 * The key id of record `seq` among `keys` distinct keys: `seq * 1_000_003 mod keys`. The
 * multiplier is a prime, so for any `keys` it does not divide, every block of `keys` consecutive
 * records holds each key exactly once, and consecutive records hit keys far apart.
 */
export function keyIdOf(seq: number, keys: number): number {
  // Exact while seq < 2^53 / 1_000_003 (about 9e9 records).
  return (seq * 1_000_003) % keys;
}

/** How the key of record `seq` is chosen: keyIdOf (every key equally often), or Zipf-distributed ranks. */
export type KeyDistribution = { readonly kind: 'uniform' } | { readonly kind: 'zipf'; readonly exponent: number };

/**
 * The key id of record `seq` under a distribution. `uniform` is keyIdOf. `zipf` draws a rank r in
 * 1..keys with probability proportional to 1 / r^exponent from a hash of `seq` (deterministic: the
 * same seq gives the same key in every run and every process), then maps the rank to a key id as
 * keyIdOf maps seq (rank r is id (r - 1) * 1_000_003 mod keys), so the hot keys are spread over
 * the partitions instead of being the lowest ids.
 */
export function keyChooser(distribution: KeyDistribution, keys: number): (seq: number) => number {
  if (distribution.kind === 'uniform') return (seq) => keyIdOf(seq, keys);
  const s = distribution.exponent;
  if (!(s > 0)) throw new Error(`the Zipf exponent must be > 0, not ${s}`);
  const cdf = new Float64Array(keys);
  let total = 0;
  for (let r = 1; r <= keys; r++) cdf[r - 1] = total += r ** -s;
  for (let i = 0; i < keys; i++) cdf[i]! /= total;
  return (seq) => {
    const u = unitHash(seq);
    let lo = 0;
    let hi = keys - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! > u) hi = mid;
      else lo = mid + 1;
    }
    return keyIdOf(lo, keys);
  };
}

/** A number in [0, 1) from an integer: two rounds of a 32-bit integer mix over its low and high halves. */
function unitHash(n: number): number {
  let h = Math.imul((n >>> 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(Math.floor(n / 2 ** 32) + 0x632be5ab, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  h ^= h >>> 16;
  return (h >>> 0) / 2 ** 32;
}

export interface Machine {
  readonly nproc: number;
  readonly cpuModel: string;
  readonly node: string;
  readonly platform: string;
  readonly memoryGiB: number;
}

export function machine(): Machine {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m !== null) cpuModel = m[1]!.trim();
  } catch {
    // not Linux: os.cpus() it is
  }
  return {
    nproc: availableParallelism(),
    cpuModel,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
  };
}

/** The commit measured, and whether tracked files differ from it ("unknown" outside a git checkout). */
export function sourceVersion(): { commit: string; modifiedFiles: string[] } {
  const cwd = new URL('..', import.meta.url);
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return { commit, modifiedFiles: status.split('\n').filter(Boolean).map((line) => line.slice(3)) };
  } catch {
    return { commit: process.env.TRIBUTARY_COMMIT ?? 'unknown', modifiedFiles: [] };
  }
}

/** 1234567 -> "1.23M", 12345 -> "12.3k". */
export function si(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(0);
}

/** Parses "5M", "500k", "1000000", "1e6". */
export function parseCount(text: string): number {
  const m = /^(\d+(?:\.\d+)?(?:e\d+)?)([kKmM]?)$/.exec(text.trim());
  if (m === null) throw new Error(`not a count: ${text}`);
  const n = Number(m[1]) * (m[2] === '' ? 1 : m[2]!.toLowerCase() === 'k' ? 1e3 : 1e6);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`not a positive integer count: ${text}`);
  return n;
}

/** Seconds of CPU (user + system) of the whole process, every thread included, since `from`. */
export function cpuSecondsSince(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1e6;
}

export function timestampForFile(date = new Date()): string {
  return date.toISOString().replace(/[:.]/g, '-');
}

/**
 * Pids of the Kafka broker(s) that `node scripts/kafka.ts start` runs (from .kafka/data/*.pid),
 * or of any `kafka.Kafka` JVM (pgrep) when there is no such file. The broker is a separate process,
 * so its CPU is not in `process.cpuUsage()`: the Kafka benchmarks read it from /proc.
 */
export function kafkaBrokerPids(): number[] {
  const dataDir = new URL('../.kafka/data/', import.meta.url);
  const pids: number[] = [];
  try {
    for (const name of readdirSync(dataDir)) {
      if (!name.endsWith('.pid')) continue;
      const pid = Number(readFileSync(new URL(name, dataDir), 'utf8').trim());
      if (Number.isSafeInteger(pid) && pid > 0 && existsSync(`/proc/${pid}/stat`)) pids.push(pid);
    }
  } catch {
    // no .kafka/data: look for the JVM by its main class
  }
  if (pids.length > 0) return pids;
  try {
    return execFileSync('pgrep', ['-f', 'kafka.Kafka'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

let clockTicks: number | undefined;

/** CPU seconds (utime + stime from /proc/<pid>/stat) used so far by these processes, all threads included. */
export function processCpuSeconds(pids: readonly number[]): number {
  clockTicks ??= (() => {
    try {
      return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      return 100;
    }
  })();
  let ticks = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is field 3, utime field 14, stime field 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / clockTicks;
}

/**
 * CPU seconds all processes of the machine have used (user, nice, system, irq, softirq, steal from
 * the `cpu` line of /proc/stat), or NaN where there is no /proc/stat. Over a span, minus the
 * benchmark's own CPU, it tells how much other work competed for the CPUs.
 */
export function machineBusySeconds(): number {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = fields;
    processCpuSeconds([]); // sets clockTicks
    return (user! + nice! + system! + irq! + softirq! + (steal ?? 0)) / clockTicks!;
  } catch {
    return Number.NaN;
  }
}

/** Idle (idle + iowait) and total jiffies of all CPUs so far (the `cpu` line of /proc/stat), or undefined where there is none. */
export function machineCpuTicks(): { idle: number; total: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    return { idle: fields[3]! + fields[4]!, total: sum(fields) };
  } catch {
    return undefined;
  }
}

/** The q-quantile (0..1) of sorted numbers, nearest rank. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export type Guarantee = 'exactly_once_v2' | 'at_least_once';

/** A comma-separated list, each item parsed by `parse`. */
export function parseList<T>(text: string, parse: (item: string) => T): T[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
    .map(parse);
}

/** "exactly_once_v2,at_least_once". */
export function parseGuarantees(text: string): Guarantee[] {
  return parseList(text, (g) => {
    if (g !== 'exactly_once_v2' && g !== 'at_least_once') throw new Error(`unknown guarantee ${g}`);
    return g;
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

/** The median (the mean of the two middle values for an even count), NaN for none. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** ` (min–max)` of several values, formatted by `format`; empty for fewer than two. */
export function spread(xs: readonly number[], format: (x: number) => string): string {
  return xs.length > 1 ? ` (${format(Math.min(...xs))}–${format(Math.max(...xs))})` : '';
}

export interface LatencyStats {
  readonly count: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
}

/** Count, nearest-rank percentiles, max and mean of durations in ms (NaN for none). */
export function latencyStats(values: readonly number[]): LatencyStats {
  const sorted = Float64Array.from(values).sort();
  const list = Array.from(sorted);
  return {
    count: list.length,
    p50Ms: quantile(list, 0.5),
    p90Ms: quantile(list, 0.9),
    p99Ms: quantile(list, 0.99),
    maxMs: list.length === 0 ? Number.NaN : list[list.length - 1]!,
    meanMs: list.length === 0 ? Number.NaN : sum(list) / list.length,
  };
}

/** A log that fetches many partitions in one call (KafkaLog). */
export interface ManyFetcher {
  fetchMany(requests: readonly { tp: TopicPartition; offset: number; options?: FetchOptions }[]): Promise<FetchResult[]>;
}

/** End offsets of a topic's partitions (read-committed on Kafka: the last stable offsets). */
export async function fetchEndOffsets(log: ManyFetcher, topic: string, partitions: number): Promise<number[]> {
  const results = await log.fetchMany(Array.from({ length: partitions }, (_, partition) => ({ tp: { topic, partition }, offset: 0, options: { maxRecords: 0 } })));
  return results.map((r) => r.endOffset);
}

/**
 * Reads a topic's partitions (read-committed) from offset 0 to their end offsets at the call,
 * every partition in one fetchMany per round, at most `maxRecords` per partition per fetch; calls
 * `visit` for each record and returns how many there were (offsets also count transaction markers).
 */
export async function readTopic(
  log: ManyFetcher,
  topic: string,
  partitions: number,
  visit?: (record: FetchedRecord, partition: number) => void,
  maxRecords = Number.MAX_SAFE_INTEGER,
): Promise<number> {
  const ends = await fetchEndOffsets(log, topic, partitions);
  const offsets = new Array<number>(partitions).fill(0);
  let count = 0;
  for (;;) {
    const wanted = offsets.flatMap((offset, partition) => (offset < ends[partition]! ? [{ partition, offset }] : []));
    if (wanted.length === 0) return count;
    const results = await log.fetchMany(wanted.map((w) => ({ tp: { topic, partition: w.partition }, offset: w.offset, options: { maxRecords } })));
    results.forEach((r, i) => {
      const partition = wanted[i]!.partition;
      if (visit !== undefined) for (const record of r.records) visit(record, partition);
      count += r.records.length;
      offsets[partition] = r.nextOffset;
    });
  }
}

/**
 * Produces the synthetic records `from..records-1` (`from` defaults to 0; keyString(keyOf(seq)),
 * keyOf defaulting to keyIdOf; valueString(seq), timestamp `timestampOf(seq)`) to an existing
 * topic, each to its key's partition by Kafka's default partitioner, in batches of 1000 per
 * partition with up to 16 produce calls in flight.
 */
export async function produceInput(
  log: Log,
  topic: string,
  spec: {
    readonly records: number;
    readonly keys: number;
    readonly partitions: number;
    readonly timestampOf: (seq: number) => number;
    readonly from?: number;
    readonly keyOf?: (seq: number) => number;
  },
): Promise<void> {
  const { records, keys, partitions, timestampOf } = spec;
  const from = spec.from ?? 0;
  const keyOf = spec.keyOf ?? ((seq: number) => keyIdOf(seq, keys));
  const keyBytes = Array.from({ length: keys }, (_, id) => Buffer.from(keyString(id)));
  const keyPartition = keyBytes.map((k) => partitionForKey(k, partitions));
  await produceBatched(log, topic, partitions, records - from, (i) => {
    const seq = from + i;
    const id = keyOf(seq);
    return { partition: keyPartition[id]!, record: { key: keyBytes[id]!, value: Buffer.from(valueString(seq)), timestamp: timestampOf(seq) } };
  });
}

/**
 * Produces the profile table of enrichJoin to an existing topic: one record per key id below
 * `keys` that hasProfile, value profileString(id), every one with `timestamp`.
 */
export async function produceProfiles(log: Log, topic: string, spec: { readonly keys: number; readonly partitions: number; readonly timestamp: number }): Promise<number> {
  const ids = Array.from({ length: spec.keys }, (_, id) => id).filter(hasProfile);
  await produceBatched(log, topic, spec.partitions, ids.length, (i) => {
    const key = Buffer.from(keyString(ids[i]!));
    return { partition: partitionForKey(key, spec.partitions), record: { key, value: Buffer.from(profileString(ids[i]!)), timestamp: spec.timestamp } };
  });
  return ids.length;
}

async function produceBatched(log: Log, topic: string, partitions: number, count: number, make: (i: number) => { partition: number; record: LogRecord }): Promise<void> {
  const pending: LogRecord[][] = Array.from({ length: partitions }, () => []);
  const inFlight = new Set<Promise<unknown>>();
  const send = async (partition: number) => {
    const batch = pending[partition]!;
    pending[partition] = [];
    const p = log.produce([{ topic, partition, records: batch }]);
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    if (inFlight.size >= 16) await Promise.race(inFlight);
  };
  for (let i = 0; i < count; i++) {
    const { partition, record } = make(i);
    pending[partition]!.push(record);
    if (pending[partition]!.length === 1000) await send(partition);
  }
  for (let p = 0; p < partitions; p++) if (pending[p]!.length > 0) await send(p);
  await Promise.all(inFlight);
}
