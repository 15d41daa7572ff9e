/**
 * The local state's commit path alone: a persistent key-value store's writes between two commits
 * (LocalStateDb.writeRow, as PersistentKeyValueStore.put hands them over) and the commit that puts
 * them on disk with the store's digest and a changelog position. The process's CPU time (every
 * thread: LevelDB works in libuv's pool) and wall time per write, on a store that already holds
 * --keys keys, --writes distinct uniform keys per commit (what ~100 ms of countByKey writes at
 * steady state on 100k keys), median of --rounds commits after --warmup. First, what a task's
 * start costs that store: reopening it, checking its digest (verify) and loading its keys
 * (loadKeys), best of --starts.
 *
 *   node bench/state-commit.ts [--keys 100k] [--writes 20k] [--rounds 40] [--warmup 10] [--starts 5]
 *
 * Prints one line; nothing is written to bench/results (a quick check for a commit message).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LocalStateDb } from '../engine/state/local-state.ts';
import { keyString, parseCount, sourceVersion } from './common.ts';

const { values: args } = parseArgs({
  options: {
    keys: { type: 'string', default: '100k' },
    writes: { type: 'string', default: '20k' },
    rounds: { type: 'string', default: '40' },
    warmup: { type: 'string', default: '10' },
    starts: { type: 'string', default: '5' },
  },
});
const keys = parseCount(args.keys);
const writes = parseCount(args.writes);
const rounds = parseCount(args.rounds);
const warmup = parseCount(args.warmup);
const STORE = 'bench-counts';
const TOPIC = 'app-bench-counts-changelog';
const idOf = (k: number) => Buffer.from(keyString(k)).toString('latin1');
function row(n: number): { value: Uint8Array; timestamp: number } {
  const value = Buffer.allocUnsafe(8);
  value.writeDoubleBE(n);
  return { value, timestamp: 1_700_000_000_000 + n };
}

const version = sourceVersion();
const dir = mkdtempSync(join(tmpdir(), 'tributary-state-commit-'));
try {
  let db = await LocalStateDb.open(dir);
  let position = 0;
  for (let k = 0; k < keys; k++) db.writeRow(STORE, idOf(k), row(k));
  await db.commit(new Map([[TOPIC, (position += keys)]]));
  // Reopened as a task starts: the digest checked, the keys loaded with their rows' hashes.
  const start = { cpu: Number.POSITIVE_INFINITY, wall: Number.POSITIVE_INFINITY };
  for (let s = 0; s < parseCount(args.starts); s++) {
    await db.close();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    db = await LocalStateDb.open(dir);
    if ((await db.verify(STORE)) !== undefined) throw new Error('the store does not verify');
    await db.loadKeys(STORE);
    const c = process.cpuUsage(c0);
    start.cpu = Math.min(start.cpu, (c.user + c.system) / 1000);
    start.wall = Math.min(start.wall, performance.now() - t0);
  }
  let seed = 1;
  // xorshift32: the same keys in every run.
  const random = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let r = 0; r < warmup + rounds; r++) {
    const ids = new Set<number>();
    while (ids.size < Math.min(writes, keys)) ids.add(Math.floor(random() * keys));
    const rows = [...ids].map((k) => [idOf(k), row(k + r)] as const);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (const [id, value] of rows) db.writeRow(STORE, id, value);
    await db.commit(new Map([[TOPIC, (position += rows.length)]]));
    const t = performance.now() - t0;
    const c = process.cpuUsage(c0);
    if (r >= warmup) {
      cpu.push(((c.user + c.system) * 1000) / rows.length);
      wall.push((t * 1e6) / rows.length);
    }
  }
  await db.close();
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;
  console.log(
    `state commit at ${version.commit.slice(0, 7)}${version.modifiedFiles.length > 0 ? ' (modified)' : ''}: ${keys} keys, ${writes} writes per commit, median of ${rounds}: ` +
      `${median(cpu).toFixed(0)} ns CPU and ${median(wall).toFixed(0)} ns wall per write; a task's start (open, verify, loadKeys): ` +
      `${start.cpu.toFixed(0)} ms CPU, ${start.wall.toFixed(0)} ms wall`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
