/**
 * The PostgreSQL server the sink suite (`npm run test:sinks`, files `*.sinks.ts`) talks to: the one
 * `npm run postgres:start` runs (127.0.0.1:PG_PORT, default 55432, user postgres, trust). Every test
 * uses fresh table and sink names, so runs do not see each other's rows. The log side (readings,
 * end offsets, a fresh embedded log) is ../readings.ts, re-exported here.
 */
import pg from 'pg';
import type { PostgresConnectionOptions } from '../../../../connectors/sinks/postgres/index.ts';
import { DEFAULT_PG_PORT } from '../../../../scripts/postgres-server.ts';

export const connection: PostgresConnectionOptions = {
  host: '127.0.0.1',
  port: Number(process.env.PG_PORT ?? DEFAULT_PG_PORT),
  user: 'postgres',
  database: 'postgres',
  connectTimeoutMs: 2000,
};

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

export { endOffsets, produceReadings, unique, withEmbeddedLog } from '../readings.ts';
export type { Reading } from '../readings.ts';
