/**
 * Helpers of the lake sink tests: temporary lakes, batches of readings, and reading every row of
 * a lake back with hyparquet (a Parquet reader independent of the writer's code path).
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import type { SinkBatch, SinkRecord } from '../../../../connectors/sinks/index.ts';

export interface Reading {
  readonly user: string;
  readonly seq: number;
}

/** Runs `body` with a fresh folder, removed afterwards. */
export async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-lake-'));
  try {
    await body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const HOUR = 3_600_000;
export const BASE = Date.UTC(2026, 11, 4, 5);

/** A reading record of `partition` at `offset`, at `time`. */
export function reading(partition: number, offset: number, time: number, topic = 'readings'): SinkRecord<string, Reading> {
  const user = `u${(offset * 7 + partition) % 20}`;
  return { topic, partition, offset, key: user, value: { user, seq: partition * 1_000_000 + offset }, timestamp: time };
}

/** A batch of consecutive parts (records given per partition, in offset order). */
export function batch(sequence: number, parts: Record<number, SinkRecord<string, Reading>[]>, nextOffsets: Record<number, number> = {}): SinkBatch<string, Reading> {
  const list = Object.entries(parts).map(([p, records]) => ({
    partition: Number(p),
    fromOffset: records[0]?.offset ?? nextOffsets[Number(p)] ?? 0,
    nextOffset: nextOffsets[Number(p)] ?? (records.at(-1)?.offset ?? -1) + 1,
    records,
  }));
  return { topic: 'readings', sequence, parts: list, size: list.reduce((n, p) => n + p.records.length, 0) };
}

/** Data files under `root` (relative paths, sorted), skipping hidden and `_` names as readers do. */
export function dataFiles(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.parquet') && !/^[._]/.test(e.name))
    .map((e) => join(e.parentPath, e.name).slice(root.length + 1))
    .sort();
}

/** Every file under `root`, hidden ones too (relative, sorted). */
export function allFiles(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(root.length + 1))
    .sort();
}

/** Every row of every data file, with the file's folder. */
export async function readRows(root: string): Promise<(Record<string, unknown> & { folder: string })[]> {
  const rows: (Record<string, unknown> & { folder: string })[] = [];
  for (const path of dataFiles(root)) {
    const file = await asyncBufferFromFile(join(root, path));
    const folder = path.slice(0, path.lastIndexOf('/'));
    for (const row of await parquetReadObjects({ file })) rows.push({ ...row, folder });
  }
  return rows;
}
