/**
 * The hot cache: Redis holding the latest value of each recently active key (a user's profile and
 * features, read by web servers in a millisecond), with a TTL refreshed on every update, bounded
 * to the active set, and deleted by tombstones.
 *
 * Per key: a string of JSON (`format: 'json'`, default; SET ... PX) or a hash of fields
 * (`format: 'hash'`; DEL, HSET, PEXPIRE: the hash is the latest state, not a merge). Beside them,
 * two keys the sink owns:
 *   - `<namespace>:active`, a sorted set of the cached keys by the time of their last write (µs), kept
 *     at most `maxKeys` long: past it, the least recently written keys are deleted (and entries
 *     older than the TTL, whose values have expired, dropped);
 *   - `<namespace>:offsets:<topic>`, a hash of partition -> next offset.
 *
 * Guarantee: exactly-once, positions in the target. Each batch is one MULTI/EXEC that writes the
 * values, the index and the offsets together, guarded by WATCH on the offsets (a second runner of
 * the same sink, or a retry of a batch whose EXEC landed but whose answer was lost, sees the moved
 * offsets, and the records below them are skipped). Why not the log's positions (idempotent, as
 * upserts replayed converge)? Because a cache can lose its data: a Redis restarted without
 * persistence, or with the last second of an append-only file lost, loses the offsets with the
 * values, and the runner replays from the older offsets (or from the start of the log), so the
 * cache is never behind its positions; with the positions in the log, it would stay empty.
 * Redis does not roll back a transaction whose command fails at run time: the sink issues only
 * commands that cannot fail on the keys it owns (their types are checked at open).
 *
 * One connection, opened on demand, never reconnected by the client (no offline queue, no resent
 * commands: a half-sent transaction must not be replayed by anyone but the runner); on any
 * connection error it is dropped and the runner's retries open a new one. Errors are StreamsError
 * SINK_WRITE_FAILED; connection errors and the transient replies (OOM, LOADING, READONLY, BUSY,
 * MISCONF...) retry, other replies (a wrong type, a wrong password) do not.
 */
import { Redis } from 'ioredis';
import { StreamsError } from '../../../engine/index.ts';
import type { Sink, SinkBatch, SinkContext, SinkPositions, SinkRecord } from '../sink.ts';
import { coalesceCacheOps, planCacheOps, trimIndexScript, type CacheMapping, type CacheOp } from './cache-writes.ts';

export interface RedisConnectionOptions {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 6379. */
  readonly port?: number;
  readonly username?: string;
  readonly password?: string;
  /** Default 0. */
  readonly db?: number;
  /** Give up connecting after this long (default 2 s). */
  readonly connectTimeoutMs?: number;
  /** Give up on a command after this long (default 5 s): a hung server is a failure too. */
  readonly commandTimeoutMs?: number;
}

export interface RedisSinkOptions<K, V> {
  /** Names the sink; its index and offsets keys are named after it. */
  readonly name: string;
  readonly connection: RedisConnectionOptions;
  /** Prepended to every cached key (e.g. `profile:`). Default ''. */
  readonly keyPrefix?: string;
  /** The cache key of a record (after the prefix). Default: the record's key, if it is a string or a number. */
  key?(record: SinkRecord<K, V>): string;
  /** What to cache for a record (JSON, or the fields of a hash); undefined skips the record. Default: the record's value. Tombstones never come here: they delete. */
  value?(record: SinkRecord<K, V>): unknown;
  /** `json` (default): a string of JSON per key. `hash`: a hash of the value's fields (strings as they are, numbers as text, the rest as JSON). */
  readonly format?: 'json' | 'hash';
  /** How long a key lives after its last update (ms). Required: a cache of the active set. */
  readonly ttlMs: number;
  /** The most keys cached; past it the least recently updated go (default 100,000). */
  readonly maxKeys?: number;
  /** Where the sink's own keys live (default `tributary:cache:<name>`): `<namespace>:active`, `<namespace>:offsets:<topic>`. */
  readonly namespace?: string;
}

const transientReplies = /^(OOM|LOADING|READONLY|BUSY|MISCONF|TRYAGAIN|MASTERDOWN|CLUSTERDOWN)\b/;

/** Whether a Redis error may go away by trying again (see the module comment). */
export function isRetryableRedisError(error: unknown): boolean {
  if (error instanceof StreamsError) return error.canRetry;
  const e = error as { name?: unknown; message?: unknown } | null;
  if (e?.name === 'ReplyError') return transientReplies.test(String(e.message));
  // Connection refused or lost, timeouts, a client closed under us.
  return true;
}

function defaultKey(record: SinkRecord<unknown, unknown>): string {
  if (typeof record.key === 'string') return record.key;
  if (typeof record.key === 'number' || typeof record.key === 'bigint') return String(record.key);
  throw new Error(`the record's key is ${record.key === null ? 'null' : typeof record.key}: give key(record)`);
}

/**
 * @example
 * const cache = new RedisSink<string, Profile>({
 *   name: 'profiles-cache',
 *   connection: { host: '127.0.0.1', port: 6379 },
 *   keyPrefix: 'profile:',
 *   ttlMs: 30 * 60_000,      // active users: updated in the last 30 minutes
 *   maxKeys: 50_000,         // and at most the 50,000 most recent
 * });
 * const runner = new SinkRunner({ log, topic: 'user-profiles', sink: cache, keySerde: Serdes.string(), valueSerde: profileSerde });
 * // a web server: JSON.parse(await redis.get('profile:u42'))
 */
export class RedisSink<K, V> implements Sink<K, V> {
  readonly name: string;
  readonly guarantee = 'exactly-once' as const;
  readonly positions = 'target' as const;
  readonly #options: RedisSinkOptions<K, V>;
  readonly #mapping: CacheMapping<K, V>;
  readonly #ttlMs: number;
  readonly #maxKeys: number;
  readonly #indexKey: string;
  readonly #namespace: string;
  #client: Redis | undefined;
  #topic = '';
  #evicted = 0;
  /** The last index score given (µs): scores only grow, so "least recently written" has no ties. */
  #lastScore = 0;
  #closed = false;

  constructor(options: RedisSinkOptions<K, V>) {
    if (typeof options.name !== 'string' || options.name === '') throw new StreamsError('INVALID_ARGUMENT', 'a Redis sink needs a name (its index and offsets keys are named after it)');
    const bad = (what: string) => new StreamsError('INVALID_ARGUMENT', `sink ${options.name}: ${what}`);
    if (options.connection === undefined) throw bad('connection options are required');
    if (!Number.isInteger(options.ttlMs) || options.ttlMs < 1) throw bad(`ttlMs must be a positive integer (ms), got ${String(options.ttlMs)}`);
    const maxKeys = options.maxKeys ?? 100_000;
    if (!Number.isInteger(maxKeys) || maxKeys < 1) throw bad(`maxKeys must be a positive integer, got ${String(options.maxKeys)}`);
    const format = options.format ?? 'json';
    if (format !== 'json' && format !== 'hash') throw bad(`format must be 'json' or 'hash', got ${String(options.format)}`);
    for (const fn of ['key', 'value'] as const) if (options[fn] !== undefined && typeof options[fn] !== 'function') throw bad(`${fn}(record) must be a function`);
    const keyPrefix = options.keyPrefix ?? '';
    if (typeof keyPrefix !== 'string') throw bad('keyPrefix must be a string');
    this.#namespace = options.namespace ?? `tributary:cache:${options.name}`;
    if (typeof this.#namespace !== 'string' || this.#namespace === '') throw bad('namespace must be a non-empty string');
    this.name = options.name;
    this.#options = options;
    this.#ttlMs = options.ttlMs;
    this.#maxKeys = maxKeys;
    this.#indexKey = `${this.#namespace}:active`;
    this.#mapping = {
      name: options.name,
      keyPrefix,
      format,
      key: options.key ?? (defaultKey as (record: SinkRecord<K, V>) => string),
      value: options.value ?? ((record) => record.value),
    };
  }

  /** Keys deleted to keep the cache within `maxKeys`, by this sink since it was created. */
  get evictedKeys(): number {
    return this.#evicted;
  }

  async open(context: SinkContext): Promise<SinkPositions> {
    this.#topic = context.topic;
    return this.#run('open', async (client) => {
      // The sink's own keys must have their types: a transaction does not roll back a command that fails on a wrong type.
      for (const [key, type] of [[this.#indexKey, 'zset'], [this.#offsetsKey(context.topic), 'hash']] as const) {
        const found = await client.type(key);
        if (found !== 'none' && found !== type) throw new StreamsError('SINK_WRITE_FAILED', `sink ${this.name}: key ${key} holds a ${found}, not a ${type}: choose another namespace`, { canRetry: false });
      }
      return this.#readOffsets(client, context.topic);
    });
  }

  async write(batch: SinkBatch<K, V>): Promise<void> {
    const planned = planCacheOps(this.#mapping, batch);
    const offsetsKey = this.#offsetsKey(batch.topic);
    await this.#run('write', async (client) => {
      await client.watch(offsetsKey);
      const stored = await this.#readOffsets(client, batch.topic);
      const ops = coalesceCacheOps(planned, stored);
      const now = Date.now();
      // Index scores are write times in µs, one apart in write order (keys of one batch, or of two batches in one ms, do not tie).
      let score = Math.max(now * 1000, this.#lastScore + 1);
      const tx = client.multi();
      for (const op of ops) this.#queue(tx, op, score++);
      this.#lastScore = score;
      tx.eval(trimIndexScript, 1, this.#indexKey, this.#maxKeys, (now - this.#ttlMs) * 1000, this.#ttlMs);
      const next = batch.parts.flatMap((p) => [String(p.partition), String(Math.max(p.nextOffset, stored.get(p.partition) ?? 0))]);
      if (next.length > 0) tx.hset(offsetsKey, ...next);
      const results = await tx.exec();
      // WATCH saw the offsets move: another runner of this sink wrote meanwhile. Trying again skips what it wrote.
      if (results === null) throw new StreamsError('SINK_WRITE_FAILED', `sink ${this.name}: the offsets in ${offsetsKey} changed during the write (another runner of this sink?)`, { canRetry: true });
      const failed = results.find(([error]) => error !== null);
      if (failed !== undefined) throw failed[0];
      this.#evicted += Number(results.at(next.length > 0 ? -2 : -1)?.[1] ?? 0);
    });
  }

  /** The stored next offsets of this sink's topic (for tests and tools). */
  async storedPositions(): Promise<SinkPositions> {
    return this.#run('read offsets', (client) => this.#readOffsets(client, this.#topic));
  }

  async close(): Promise<void> {
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    if (client !== undefined) await client.quit().catch(() => client.disconnect());
  }

  #offsetsKey(topic: string): string {
    return `${this.#namespace}:offsets:${topic}`;
  }

  #queue(tx: ReturnType<Redis['multi']>, op: CacheOp, score: number): void {
    if (op.kind === 'delete') {
      tx.del(op.key).zrem(this.#indexKey, op.key);
      return;
    }
    if (op.value.format === 'json') {
      tx.set(op.key, op.value.text, 'PX', this.#ttlMs);
    } else {
      tx.del(op.key);
      const fields = Object.entries(op.value.fields).flat();
      if (fields.length > 0) tx.hset(op.key, ...fields).pexpire(op.key, this.#ttlMs);
    }
    tx.zadd(this.#indexKey, score, op.key);
  }

  async #readOffsets(client: Redis, topic: string): Promise<Map<number, number>> {
    const stored = await client.hgetall(this.#offsetsKey(topic));
    return new Map(Object.entries(stored).map(([p, next]) => [Number(p), Number(next)]));
  }

  /** Runs `body` on the connection (opened on demand); wraps errors as SINK_WRITE_FAILED and drops a connection that may be broken. */
  async #run<T>(what: string, body: (client: Redis) => Promise<T>): Promise<T> {
    if (this.#closed) throw new StreamsError('ILLEGAL_STATE', `sink ${this.name} is closed`);
    let client: Redis | undefined;
    try {
      client = await this.#connect();
      return await body(client);
    } catch (error) {
      // Whatever failed, the connection may hold a WATCH: start the next try on a fresh one.
      if (client !== undefined && this.#client === client) {
        this.#client = undefined;
        client.disconnect();
      }
      if (error instanceof StreamsError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      const c = this.#options.connection;
      throw new StreamsError('SINK_WRITE_FAILED', `sink ${this.name}: ${what} on Redis ${c.host ?? '127.0.0.1'}:${c.port ?? 6379} failed: ${message}`, { cause: error, canRetry: isRetryableRedisError(error) });
    }
  }

  async #connect(): Promise<Redis> {
    if (this.#client !== undefined) return this.#client;
    const c = this.#options.connection;
    const client = new Redis({
      host: c.host ?? '127.0.0.1',
      port: c.port ?? 6379,
      ...(c.username !== undefined && { username: c.username }),
      ...(c.password !== undefined && { password: c.password }),
      db: c.db ?? 0,
      connectionName: `tributary-sink-${this.name}`,
      connectTimeout: c.connectTimeoutMs ?? 2000,
      commandTimeout: c.commandTimeoutMs ?? 5000,
      lazyConnect: true,
      // The runner retries, on a new connection: the client must neither queue, resend nor reconnect on its own.
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    // Without a listener, a connection lost between writes would be reported as unhandled; the next write fails and reconnects.
    client.on('error', () => {});
    client.on('end', () => {
      if (this.#client === client) this.#client = undefined;
    });
    try {
      await client.connect();
    } catch (error) {
      client.disconnect();
      throw error;
    }
    this.#client = client;
    return client;
  }
}
