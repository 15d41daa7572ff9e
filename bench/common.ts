/**
 * Shared pieces of the benchmarks: the synthetic records, the machine description and number
 * formatting. Benchmarks are run by hand (see bench/README.md), never by `npm test`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';

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

/**
 * The key id of record `seq` among `keys` distinct keys: `seq * 1_000_003 mod keys`. The
 * multiplier is a prime, so for any `keys` it does not divide, every block of `keys` consecutive
 * records holds each key exactly once, and consecutive records hit keys far apart.
 */
export function keyIdOf(seq: number, keys: number): number {
  // Exact while seq < 2^53 / 1_000_003 (about 9e9 records).
  return (seq * 1_000_003) % keys;
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

/** The q-quantile (0..1) of sorted numbers, nearest rank. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
