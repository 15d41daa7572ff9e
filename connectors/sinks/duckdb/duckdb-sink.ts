/**
 * The embedded warehouse: a DuckDB database in one file, zero setup, the default target of
 * sessions and feature snapshots. The same model as the PostgreSQL sink: rows upserted by key (the
 * latest state) or appended (one row per record), and the consumed offsets in
 * `tributary_sink_offsets`, in the same transaction. Exactly once: a crash (even SIGKILL) between
 * the write and anything after it leaves the rows and the offsets together (DuckDB replays its
 * write-ahead log at the next open); the runner reads its position back from that table at start.
 *
 * Each write, in one transaction on the sink's own connection:
 *   1. read the stored offsets of the batch's topic;
 *   2. skip the records below them (a retry of a batch whose COMMIT landed but failed to answer);
 *   3. apply the rest: deletes and upserts coalesced per key (the last wins), or appends;
 *   4. move the offsets forward (never back), COMMIT.
 * Where PostgreSQL makes a second writer wait on a row lock, DuckDB's optimistic transactions fail
 * one of them with a conflict, which is retried like any transient error and then skips what the
 * other wrote.
 *
 * One file belongs to one process (DuckDB locks it); the sinks of a process share one instance of
 * it (./duckdb-database.ts), and `query` reads it while they run. Errors are StreamsError
 * SINK_WRITE_FAILED; parse, binder, catalog, conversion and constraint errors (bad SQL types, a
 * row that does not fit its table) do not retry, the rest (I/O, conflicts) do.
 */
import { StreamsError } from '../../../engine/index.ts';
import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import type { Sink, SinkBatch, SinkContext, SinkPositions } from '../sink.ts';
import { batchRowOps, validateTableSinkOptions, type TableSinkOptions } from '../row-mapping.ts';
import { coalesce, createOffsetsTableSql, createTableSql, readOffsetsSql, type Statement, type TableSpec } from '../table-sql.ts';
import { acquireDuckDb, releaseDuckDb } from './duckdb-database.ts';
import { applyDuckDbSql, storeOffsetsSql } from './sql.ts';

export interface DuckDbSinkOptions<K, V> extends TableSinkOptions<K, V> {
  /** The database file (created if missing), or `:memory:`. Sinks of one process writing one file share it. */
  readonly path: string;
}

/** DuckDB's error classes that trying again cannot fix: the statement or the data is wrong. */
const permanentRe = /^(Parser|Binder|Catalog|Conversion|Constraint|Invalid Input|Invalid type|Not implemented|Out of Range|Mismatch Type|Syntax|Dependency|Permission|INTERNAL|FATAL) Error/i;

/**
 * Two transactions inserting the same new key: DuckDB fails the second with a constraint error,
 * not a conflict. The sink's statements cannot duplicate a key by themselves (upserts say ON
 * CONFLICT, offsets rows too), so on the offsets table and on upserted tables it is a concurrent
 * writer (a zombie runner, two opens at once) and trying again sees its row.
 */
const concurrentInsertRe = /^Constraint Error: Duplicate key/i;

/**
 * Whether a DuckDB error may go away by trying again (see the module comment). `upserts`: the
 * statement only inserted with ON CONFLICT, so a duplicate key is a concurrent writer's.
 */
export function isRetryableDuckDbError(error: unknown, upserts = false): boolean {
  if (error instanceof StreamsError) return error.canRetry;
  const message = (error instanceof Error ? error.message : String(error)).trim();
  if (concurrentInsertRe.test(message)) return upserts || /Duplicate key "sink: /.test(message);
  return !permanentRe.test(message);
}

/**
 * @example
 * const sink = new DuckDbSink<string, Session>({
 *   name: 'sessions-warehouse',
 *   path: '.data/warehouse.duckdb',
 *   table: 'sessions',
 *   columns: { user_id: 'text', started_at: 'timestamptz', events: 'integer', pages: 'json' },
 *   key: ['user_id', 'started_at'],
 *   row: ({ value }) => value && { user_id: value.userId, started_at: new Date(value.start), events: value.count, pages: value.pages },
 * });
 * const runner = new SinkRunner({ log, topic: 'sessions', sink, keySerde: Serdes.string(), valueSerde: sessionSerde });
 * await runner.start();
 * await sink.query('SELECT count(*) AS n FROM sessions'); // [{ n: 42n }]
 */
export class DuckDbSink<K, V> implements Sink<K, V> {
  readonly name: string;
  readonly guarantee = 'exactly-once' as const;
  readonly positions = 'target' as const;
  readonly #options: DuckDbSinkOptions<K, V>;
  readonly #spec: TableSpec;
  readonly #offsetsTable: string;
  /** The writer's connection (transactions of writes), and the reader's (`query`), each opened on demand. */
  readonly #connections: { writer?: Promise<DuckDBConnection>; reader?: Promise<DuckDBConnection> } = {};
  #topic = '';
  #closed = false;

  constructor(options: DuckDbSinkOptions<K, V>) {
    const { spec, offsetsTable } = validateTableSinkOptions(options, 'DuckDB');
    if (typeof options.path !== 'string' || options.path === '') throw new StreamsError('INVALID_ARGUMENT', `sink ${options.name}: path must name the database file (or ':memory:')`);
    this.#spec = spec;
    this.#offsetsTable = offsetsTable;
    this.name = options.name;
    this.#options = options;
  }

  async open(context: SinkContext): Promise<SinkPositions> {
    this.#topic = context.topic;
    return this.#run('open', async (connection) => {
      if (this.#options.createTables !== false) {
        await this.#transaction(connection, async () => {
          await connection.run(createOffsetsTableSql(this.#offsetsTable));
          await connection.run(createTableSql(this.#spec));
        });
      }
      return this.#readOffsets(connection, context.topic);
    });
  }

  async write(batch: SinkBatch<K, V>): Promise<void> {
    const nextOffsets = new Map(batch.parts.map((p) => [p.partition, p.nextOffset]));
    await this.#run('write', (connection) =>
      this.#transaction(connection, async () => {
        const stored = await this.#readOffsets(connection, batch.topic);
        const { ops, origins } = batchRowOps(this.#options, batch, stored);
        for (const statement of applyDuckDbSql(this.#spec, coalesce(this.#spec, ops, origins))) await this.#exec(connection, statement);
        await this.#exec(connection, storeOffsetsSql(this.#offsetsTable, this.name, batch.topic, nextOffsets));
      }),
    );
  }

  /** The stored next offsets of this sink's topic (for tests and tools). */
  async storedPositions(): Promise<SinkPositions> {
    return this.#run('read offsets', (connection) => this.#readOffsets(connection, this.#topic));
  }

  /**
   * Runs a query on the sink's database and returns its rows as objects (BIGINT as bigint): the
   * file is this process's while the sink is open, so this is how the application reads it.
   */
  async query<R extends Record<string, unknown> = Record<string, unknown>>(sql: string, values: readonly unknown[] = []): Promise<R[]> {
    // A connection of its own: on the writer's, a query would run inside the write's transaction (and a failed one abort it).
    return this.#run('query', async () => (await (await this.#connect('reader')).runAndReadAll(sql, values as DuckDBValue[])).getRowObjects() as R[]);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const role of ['writer', 'reader'] as const) {
      const connection = await this.#connections[role]?.catch(() => undefined);
      delete this.#connections[role];
      if (connection === undefined) continue;
      connection.closeSync();
      await releaseDuckDb(this.#options.path);
    }
  }

  async #readOffsets(connection: DuckDBConnection, topic: string): Promise<Map<number, number>> {
    const rows = (await this.#read(connection, readOffsetsSql(this.#offsetsTable, this.name, topic))) as { partition: number; next_offset: bigint }[];
    return new Map(rows.map((r) => [r.partition, Number(r.next_offset)]));
  }

  async #transaction(connection: DuckDBConnection, body: () => Promise<void>): Promise<void> {
    await connection.run('BEGIN TRANSACTION');
    try {
      await body();
      await connection.run('COMMIT');
    } catch (error) {
      // A failed COMMIT has already rolled back; a failed statement leaves the transaction aborted until ROLLBACK.
      await connection.run('ROLLBACK').catch(() => {});
      throw error;
    }
  }

  async #exec(connection: DuckDBConnection, statement: Statement): Promise<void> {
    await connection.run(statement.text, statement.values as DuckDBValue[]);
  }

  async #read(connection: DuckDBConnection, statement: Statement): Promise<Record<string, unknown>[]> {
    return (await connection.runAndReadAll(statement.text, statement.values as DuckDBValue[])).getRowObjects();
  }

  /** Runs `body` on the sink's connection (opened on demand); wraps errors as SINK_WRITE_FAILED. */
  async #run<T>(what: string, body: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
    if (this.#closed) throw new StreamsError('ILLEGAL_STATE', `sink ${this.name} is closed`);
    try {
      return await body(await this.#connect());
    } catch (error) {
      if (error instanceof StreamsError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      throw new StreamsError('SINK_WRITE_FAILED', `sink ${this.name}: ${what} on DuckDB (${this.#options.path}) failed: ${message}`, { cause: error, canRetry: isRetryableDuckDbError(error, this.#spec.mode === 'upsert') });
    }
  }

  #connect(role: 'writer' | 'reader' = 'writer'): Promise<DuckDBConnection> {
    if (this.#connections[role] === undefined) {
      const path = this.#options.path;
      const connection = acquireDuckDb(path).then(async (instance) => {
        try {
          return await instance.connect();
        } catch (error) {
          await releaseDuckDb(path);
          throw error;
        }
      });
      // A failed open is tried again by the next call.
      connection.catch(() => this.#connections[role] === connection && delete this.#connections[role]);
      this.#connections[role] = connection;
    }
    return this.#connections[role];
  }
}
