/**
 * The PostgreSQL server the sink suite (`npm run test:sinks`, files `*.sinks.ts`) talks to: the one
 * `npm run postgres:start` runs (127.0.0.1:PG_PORT, default 55432, user postgres, trust). Every test
 * uses fresh table and sink names, so runs do not see each other's rows.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { EmbeddedLog } from '../../../../connectors/embedded/index.ts';
import type { PostgresConnectionOptions } from '../../../../connectors/sinks/postgres/index.ts';
import { DEFAULT_PG_PORT } from '../../../../scripts/postgres-server.ts';

export const connection: PostgresConnectionOptions = {
  host: '127.0.0.1',
  port: Number(process.env.PG_PORT ?? DEFAULT_PG_PORT),
  user: 'postgres',
  database: 'postgres',
  connectTimeoutMs: 2000,
};

/** A name no earlier run used, fit for a table (lower case, underscores). */
export function unique(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

/** Runs one query on a connection of its own. */
export async function query<R extends pg.QueryResultRow = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ ...connection, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
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
