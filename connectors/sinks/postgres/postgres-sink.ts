/**
 * The PostgreSQL warehouse sink: rows upserted by key (the latest state: sessions, feature
 * snapshots keyed by entity id) or appended (one row per record), and the consumed offsets in
 * `tributary_sink_offsets`, in the same database transaction. Exactly once: a crash between the
 * write and anything after it leaves the rows and the offsets together; the runner reads its
 * position back from that table at start.
 *
 * Each write, in one transaction:
 *   1. make sure the batch's partitions have an offsets row, and lock them (SELECT ... FOR UPDATE):
 *      a second runner of the same sink waits here;
 *   2. skip the records below the stored offsets (a retry of a batch whose COMMIT landed but whose
 *      answer was lost, or what another runner wrote meanwhile);
 *   3. apply the rest: deletes (tombstones, when `deleteKey` is given) and upserts coalesced per key
 *      (the last wins), or appends; in statements of at most 65,535 parameters;
 *   4. move the offsets forward (GREATEST: never back), COMMIT.
 *
 * One connection (`pg.Client`), opened on demand and dropped on any connection-level error; the
 * runner's retries reconnect. Errors are StreamsError SINK_WRITE_FAILED with `canRetry` from the
 * SQLSTATE class: connection, resources, operator intervention, transaction rollback (08, 53, 57,
 * 40...) and network errors retry; data, constraint and schema errors (22, 23, 42...) do not.
 */
import pg from 'pg';
import { StreamsError } from '../../../engine/index.ts';
import type { Sink, SinkBatch, SinkContext, SinkPositions } from '../sink.ts';
import { batchRowOps, validateTableSinkOptions, type TableSinkOptions } from '../row-mapping.ts';
import {
  applySql,
  coalesce,
  createOffsetsTableSql,
  createTableSql,
  ensureOffsetRowsSql,
  lockOffsetsSql,
  readOffsetsSql,
  storeOffsetsSql,
  type TableSpec,
} from './sql.ts';

export interface PostgresConnectionOptions {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 5432. */
  readonly port?: number;
  /** Default `postgres`. */
  readonly user?: string;
  readonly password?: string;
  /** Default `postgres`. */
  readonly database?: string;
  /** A `postgres://` URL instead of the fields above. */
  readonly connectionString?: string;
  /** Give up connecting after this long (default 5 s). */
  readonly connectTimeoutMs?: number;
  /** Give up on a statement after this long, server and client side (default 30 s): a hung server is a failure too. */
  readonly statementTimeoutMs?: number;
}

export interface PostgresSinkOptions<K, V> extends TableSinkOptions<K, V> {
  readonly connection: PostgresConnectionOptions;
}

const retryableClasses = new Set(['08', '40', '53', '55', '57', '58', 'XX']);
const retryableErrno = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);

/** Whether a driver error may go away by trying again (see the module comment). */
export function isRetryablePostgresError(error: unknown): boolean {
  if (error instanceof StreamsError) return error.canRetry;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return retryableClasses.has(code.slice(0, 2));
  if (typeof code === 'string' && retryableErrno.has(code)) return true;
  // Errors of the driver without a code: "Connection terminated unexpectedly", query timeouts, a client closed under us.
  return true;
}

/**
 * @example
 * const sink = new PostgresSink<string, Session>({
 *   name: 'sessions-warehouse',
 *   connection: { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'analytics' },
 *   table: 'sessions',
 *   columns: { user_id: 'text', started_at: 'timestamptz', events: 'integer', pages: 'jsonb' },
 *   key: ['user_id', 'started_at'],
 *   row: ({ value }) => value && { user_id: value.userId, started_at: new Date(value.start), events: value.count, pages: value.pages },
 * });
 * const runner = new SinkRunner({ log, topic: 'sessions', sink, keySerde: Serdes.string(), valueSerde: sessionSerde });
 */
export class PostgresSink<K, V> implements Sink<K, V> {
  readonly name: string;
  readonly guarantee = 'exactly-once' as const;
  readonly positions = 'target' as const;
  readonly #options: PostgresSinkOptions<K, V>;
  readonly #spec: TableSpec;
  readonly #offsetsTable: string;
  #client: pg.Client | undefined;
  #topic = '';
  #closed = false;

  constructor(options: PostgresSinkOptions<K, V>) {
    const { spec, offsetsTable } = validateTableSinkOptions(options, 'PostgreSQL');
    if (options.connection === undefined) throw new StreamsError('INVALID_ARGUMENT', `sink ${options.name}: connection options are required`);
    this.#spec = spec;
    this.#offsetsTable = offsetsTable;
    this.name = options.name;
    this.#options = options;
  }

  async open(context: SinkContext): Promise<SinkPositions> {
    this.#topic = context.topic;
    return this.#run('open', async (client) => {
      if (this.#options.createTables !== false) {
        // Two sessions creating one table at once can fail (23505 on pg_type): one at a time.
        await client.query('BEGIN');
        try {
          await client.query(`SELECT pg_advisory_xact_lock(hashtext('tributary_sink_ddl'))`);
          await client.query(createOffsetsTableSql(this.#offsetsTable));
          await client.query(createTableSql(this.#spec));
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => {});
          throw error;
        }
      }
      const { rows } = await client.query<{ partition: number; next_offset: string }>(readOffsetsSql(this.#offsetsTable, this.name, context.topic));
      return new Map(rows.map((r) => [r.partition, Number(r.next_offset)]));
    });
  }

  async write(batch: SinkBatch<K, V>): Promise<void> {
    const partitions = batch.parts.map((p) => p.partition);
    const nextOffsets = new Map(batch.parts.map((p) => [p.partition, p.nextOffset]));
    await this.#run('write', async (client) => {
      await client.query('BEGIN');
      try {
        await client.query(ensureOffsetRowsSql(this.#offsetsTable, this.name, batch.topic, partitions));
        const { rows } = await client.query<{ partition: number; next_offset: string }>(lockOffsetsSql(this.#offsetsTable, this.name, batch.topic, partitions));
        const stored = new Map(rows.map((r) => [r.partition, Number(r.next_offset)]));
        const { ops, origins } = batchRowOps(this.#options, batch, stored);
        for (const statement of applySql(this.#spec, coalesce(this.#spec, ops, origins))) await client.query(statement.text, statement.values);
        await client.query(storeOffsetsSql(this.#offsetsTable, this.name, batch.topic, nextOffsets));
        await client.query('COMMIT');
      } catch (error) {
        // A broken connection rolls back by itself; on a live one, say so (failures ignored: #run drops it).
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      }
    });
  }

  /** The stored next offsets of this sink's topic (for tests and tools). */
  async storedPositions(): Promise<SinkPositions> {
    return this.#run('read offsets', async (client) => {
      const { rows } = await client.query<{ partition: number; next_offset: string }>(readOffsetsSql(this.#offsetsTable, this.name, this.#topic));
      return new Map(rows.map((r) => [r.partition, Number(r.next_offset)]));
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => {});
  }

  /** Runs `body` on the connection (opened on demand); wraps errors as SINK_WRITE_FAILED and drops a connection that may be broken. */
  async #run<T>(what: string, body: (client: pg.Client) => Promise<T>): Promise<T> {
    if (this.#closed) throw new StreamsError('ILLEGAL_STATE', `sink ${this.name} is closed`);
    let client: pg.Client | undefined;
    try {
      client = await this.#connect();
      return await body(client);
    } catch (error) {
      if (error instanceof StreamsError && error.code !== 'SINK_WRITE_FAILED') throw error;
      const canRetry = isRetryablePostgresError(error);
      if (canRetry && client !== undefined && this.#client === client) {
        this.#client = undefined;
        void client.end().catch(() => {});
      }
      if (error instanceof StreamsError) throw error;
      const code = (error as { code?: unknown }).code;
      const message = error instanceof Error ? error.message : String(error);
      throw new StreamsError('SINK_WRITE_FAILED', `sink ${this.name}: ${what} on PostgreSQL failed${code ? ` (${String(code)})` : ''}: ${message}`, { cause: error, canRetry });
    }
  }

  async #connect(): Promise<pg.Client> {
    if (this.#client !== undefined) return this.#client;
    const c = this.#options.connection;
    const timeout = c.statementTimeoutMs ?? 30_000;
    const client = new pg.Client({
      ...(c.connectionString !== undefined
        ? { connectionString: c.connectionString }
        : { host: c.host ?? '127.0.0.1', port: c.port ?? 5432, user: c.user ?? 'postgres', database: c.database ?? 'postgres', ...(c.password !== undefined && { password: c.password }) }),
      connectionTimeoutMillis: c.connectTimeoutMs ?? 5000,
      statement_timeout: timeout,
      query_timeout: timeout + 5000,
      application_name: `tributary-sink-${this.name}`.slice(0, 63),
      keepAlive: true,
    });
    // Without a listener, a connection lost between queries would crash the process; the next query fails and reconnects.
    client.on('error', () => {
      if (this.#client === client) this.#client = undefined;
      void client.end().catch(() => {});
    });
    try {
      await client.connect();
    } catch (error) {
      void client.end().catch(() => {});
      throw error;
    }
    this.#client = client;
    return client;
  }
}
