/**
 * Shared pieces of the benchmarks: the synthetic records, the machine description and number
 * formatting. Benchmarks are run by hand (see bench/README.md), never by `npm test`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
