/**
 * The input of the sink tests, for any target: a topic of readings `{ user, seq }` keyed by user
 * (20 users spread over the partitions by user, so the latest seq per user is known), on a fresh
 * embedded log, with the end offsets to wait for and names no earlier run used.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLog } from '../../../connectors/embedded/index.ts';
import { Serdes, type Log } from '../../../engine/index.ts';
import { SinkRunner, type Sink, type SinkRunnerOptions } from '../../../connectors/sinks/index.ts';

/** A name no earlier run used, fit for a table (lower case, underscores). */
export function unique(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

export interface Reading {
  readonly user: string;
  readonly seq: number;
}

/** Appends `n` readings (JSON values keyed by user) spread over the partitions by user; returns the next seq. */
export async function produceReadings(log: EmbeddedLog, topic: string, partitions: number, from: number, n: number, users = 20): Promise<number> {
  const byPartition = new Map<number, { key: Buffer; value: Buffer; timestamp: number }[]>();
  for (let seq = from; seq < from + n; seq++) {
    const user = `u${seq % users}`;
    const p = seq % users % partitions;
    let list = byPartition.get(p);
    if (list === undefined) byPartition.set(p, (list = []));
    list.push({ key: Buffer.from(user), value: Buffer.from(JSON.stringify({ user, seq } satisfies Reading)), timestamp: 1_700_000_000_000 + seq });
  }
  await log.produce([...byPartition].map(([partition, records]) => ({ topic, partition, records })));
  return from + n;
}

/** The end offset of each partition. */
export async function endOffsets(log: EmbeddedLog, topic: string, partitions: number): Promise<Map<number, number>> {
  const ends = await Promise.all(Array.from({ length: partitions }, (_, p) => log.fetch({ topic, partition: p }, 0, { maxRecords: 0 })));
  return new Map(ends.map((e, p) => [p, e.endOffset]));
}

/** Runs `body` on a fresh embedded log; closes the runners it tracks (also when it fails) and the log. */
export async function withEmbeddedLog(body: (log: EmbeddedLog, track: <R extends { close(): Promise<void> }>(runner: R) => R, dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-sinks-'));
  const log = await EmbeddedLog.open({ dir: join(dir, 'log'), cleanIntervalMs: 0 });
  const runners: { close(): Promise<void> }[] = [];
  try {
    await body(
      log,
      (runner) => {
        runners.push(runner);
        return runner;
      },
      dir,
    );
  } finally {
    await Promise.all(runners.map((r) => r.close().catch(() => {})));
    await log.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The latest seq per user after readings 0..n-1 of `users` users. */
export const expectedLatest = (n: number, users = 20) => new Map(Array.from({ length: Math.min(n, users) }, (_, u) => [`u${u}`, n - 1 - ((n - 1 - u) % users)]));

/** A runner of `sink` over the readings, with short waits and backoffs (tests stop servers). */
export function readingRunner(log: Log, topic: string, sink: Sink<string, Reading>, options: Partial<SinkRunnerOptions<string, Reading>> = {}) {
  return new SinkRunner<string, Reading>({
    log,
    topic,
    sink,
    keySerde: Serdes.string(),
    valueSerde: Serdes.json<Reading>(),
    batch: { maxRecords: 200, lingerMs: 20 },
    pollIntervalMs: 10,
    retry: { initialMs: 20, maxMs: 200 },
    breaker: { failureThreshold: 3, open: { initialMs: 200, maxMs: 1000 } },
    ...options,
  });
}
