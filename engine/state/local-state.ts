/**
 * Local state on disk, one LevelDB database per task (classic-level). This is the only file that
 * imports the storage binding (checked by `npm run lint`).
 *
 * Why classic-level and not rocksdb-native: processors read state synchronously, per record. Both
 * bindings batch writes and multi-gets, but only classic-level has a synchronous point read
 * (`getSync`, ~200k reads/s here against ~10k/s for an awaited get; see
 * ../shared/research/dependency-trial.md). A cache miss can then be served in place instead of
 * forcing every store access to be known before the batch. Reads the runtime can foresee (the keys
 * of a batch) are still prefetched with one `getMany`.
 *
 * Layout: `s/<store>/` + changelog key -> [8-byte timestamp][value bytes], the same key and value a
 * store writes to its changelog topic; `m/position/<changelog topic>` -> the changelog offset the
 * data reflects, written in the same batch as the data.
 */
import { ClassicLevel } from 'classic-level';
import { StreamsError } from '../errors.ts';

export interface LocalRow {
  readonly value: Uint8Array;
  readonly timestamp: number;
}

const META = Buffer.from('m/position/');

function storePrefix(store: string): Buffer {
  return Buffer.from(`s/${store}/`);
}

function encodeRow(value: Uint8Array, timestamp: number): Buffer {
  const out = Buffer.allocUnsafe(8 + value.byteLength);
  out.writeUInt32BE(Math.floor(timestamp / 2 ** 32), 0);
  out.writeUInt32BE(timestamp % 2 ** 32, 4);
  out.set(value, 8);
  return out;
}

function decodeRow(data: Buffer): LocalRow {
  return { timestamp: data.readUInt32BE(0) * 2 ** 32 + data.readUInt32BE(4), value: data.subarray(8) };
}

type StoreWrites = Map<string, LocalRow | null> | undefined;

/**
 * The newest buffered write of a key (null: deleted), looking at the newest writes first. Fixed
 * parameters, not a rest array: this runs for every cache miss and prefetched key.
 */
function latest(key: string, a: StoreWrites, b: StoreWrites, c?: StoreWrites, d?: StoreWrites): LocalRow | null | undefined {
  // Not `??`: a delete (null) must hide older writes.
  let row = a?.get(key);
  if (row === undefined) row = b?.get(key);
  if (row === undefined) row = c?.get(key);
  if (row === undefined) row = d?.get(key);
  return row;
}

/** Buffered writes: store -> key (latin1) -> the row, or null for a delete; the last write of a key wins. */
type Writes = Map<string, Map<string, LocalRow | null>>;

export class LocalStateDb {
  readonly path: string;
  readonly #db: ClassicLevel<Buffer, Buffer>;
  /** Writes since the last seal. */
  #pending: Writes = new Map();
  #pendingCount = 0;
  /**
   * Writes sealed for the next commit (the state as of a transaction the stream thread committed
   * or is committing), read until they are on disk. The thread goes on writing to #pending.
   */
  #sealed: Writes | undefined;
  readonly #prefixes = new Map<string, string>();

  private constructor(path: string, db: ClassicLevel<Buffer, Buffer>) {
    this.path = path;
    this.#db = db;
  }

  /** Opens (creating) the database of one task. `cacheBytes` sizes LevelDB's own block cache. */
  static async open(path: string, cacheBytes = 2 * 1024 * 1024): Promise<LocalStateDb> {
    const db = new ClassicLevel<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer', cacheSize: cacheBytes, writeBufferSize: 1024 * 1024 });
    try {
      await db.open();
    } catch (cause) {
      const inner = (cause as { cause?: { code?: string; message?: string } }).cause;
      if (inner?.code === 'LEVEL_LOCKED') {
        throw new StreamsError(
          'STATE_LOCKED',
          `the state directory ${path} is in use by another instance of this application; give each instance its own stateDir`,
          { cause },
        );
      }
      throw new StreamsError(
        'CORRUPT_DATA',
        `cannot open the state directory ${path}: ${inner?.message ?? (cause as Error).message}; delete it to rebuild the state from the changelog`,
        { cause },
      );
    }
    return new LocalStateDb(path, db);
  }

  /** Keys are handled as latin1 strings (one char per byte) until they reach LevelDB. */
  #prefix(store: string): string {
    let prefix = this.#prefixes.get(store);
    if (prefix === undefined) this.#prefixes.set(store, (prefix = storePrefix(store).toString('latin1')));
    return prefix;
  }

  /** A row as of the last write (pending or on disk). `key` is the key's bytes as a latin1 string. */
  readSync(store: string, key: string): LocalRow | undefined {
    const buffered = latest(key, this.#pending.get(store), this.#sealed?.get(store));
    if (buffered !== undefined) return buffered ?? undefined;
    const data = this.#db.getSync(Buffer.from(this.#prefix(store) + key, 'latin1'));
    return data === undefined ? undefined : decodeRow(data);
  }

  /** Many rows in one call, for prefetching a batch's keys. */
  async readMany(store: string, keys: readonly string[]): Promise<(LocalRow | undefined)[]> {
    const prefix = this.#prefix(store);
    // The buffered writes as of the call: if they are sealed and reach the disk meanwhile, the
    // rows read may or may not include them, and these maps still have them.
    const pendingBefore = this.#pending.get(store);
    const sealedBefore = this.#sealed?.get(store);
    const found = await this.#db.getMany(keys.map((k) => Buffer.from(prefix + k, 'latin1')));
    const pending = this.#pending.get(store);
    const sealed = this.#sealed?.get(store);
    return found.map((data, i) => {
      const buffered = latest(keys[i]!, pending, sealed, pendingBefore, sealedBefore);
      if (buffered !== undefined) return buffered ?? undefined;
      return data === undefined ? undefined : decodeRow(data);
    });
  }

  /** Buffers a write (null deletes) until the next commit. `key` is the key's bytes as a latin1 string. */
  write(store: string, key: string, value: Uint8Array | null, timestamp: number): void {
    let writes = this.#pending.get(store);
    if (writes === undefined) this.#pending.set(store, (writes = new Map()));
    const size = writes.size;
    writes.set(key, value === null ? null : { value, timestamp });
    this.#pendingCount += writes.size - size;
  }

  /** Drops the buffered writes, sealed or not (their changelog records were never committed). */
  discardPending(): void {
    this.#pending = new Map();
    this.#pendingCount = 0;
    this.#sealed = undefined;
  }

  /** Keys written and not sealed. */
  get pendingWrites(): number {
    return this.#pendingCount;
  }

  /**
   * Seals the writes buffered so far for the next writeSealed (joining those sealed and not
   * written yet); later writes wait for the seal after. A stream thread seals when it starts a
   * commit and writes the sealed state once the commit succeeded, processing on in between.
   */
  seal(): void {
    if (this.#pendingCount === 0) return;
    if (this.#sealed === undefined) this.#sealed = this.#pending;
    else {
      // New maps, never the sealed ones changed: a writeSealed under way holds those.
      const joined: Writes = new Map();
      for (const [store, writes] of this.#sealed) joined.set(store, new Map(writes));
      for (const [store, writes] of this.#pending) {
        const into = joined.get(store);
        if (into === undefined) joined.set(store, writes);
        else for (const [key, row] of writes) into.set(key, row);
      }
      this.#sealed = joined;
    }
    this.#pending = new Map();
    this.#pendingCount = 0;
  }

  /** Seals and writes everything buffered, with the changelog positions it reflects. */
  async commit(positions: ReadonlyMap<string, number>): Promise<void> {
    this.seal();
    await this.writeSealed(positions);
  }

  /**
   * Writes the sealed writes and the changelog positions they reflect, in one atomic batch. The
   * writes stay readable from memory until the batch is on disk.
   */
  async writeSealed(positions: ReadonlyMap<string, number>): Promise<void> {
    const sealed = this.#sealed;
    const ops: ({ type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer })[] = [];
    for (const [store, writes] of sealed ?? []) {
      const prefix = this.#prefix(store);
      for (const [id, row] of writes) {
        const key = Buffer.from(prefix + id, 'latin1');
        ops.push(row === null ? { type: 'del', key } : { type: 'put', key, value: encodeRow(row.value, row.timestamp) });
      }
    }
    for (const [topic, offset] of positions) {
      const value = Buffer.allocUnsafe(8);
      value.writeUInt32BE(Math.floor(offset / 2 ** 32), 0);
      value.writeUInt32BE(offset % 2 ** 32, 4);
      ops.push({ type: 'put', key: Buffer.concat([META, Buffer.from(topic)]), value });
    }
    if (ops.length > 0) await this.#db.batch(ops);
    // Not cleared: a readMany under way may still look at these maps.
    if (this.#sealed === sealed) this.#sealed = undefined;
  }

  /** The changelog offset the stored data reflects, or undefined for a fresh store. */
  position(topic: string): number | undefined {
    const data = this.#db.getSync(Buffer.concat([META, Buffer.from(topic)]));
    return data === undefined ? undefined : data.readUInt32BE(0) * 2 ** 32 + data.readUInt32BE(4);
  }

  /** Every row of a store, in key order (loading at task start). */
  async *entries(store: string): AsyncGenerator<{ key: Uint8Array; row: LocalRow }> {
    const prefix = storePrefix(store);
    const end = Buffer.from(prefix);
    end[end.length - 1]! += 1;
    for await (const [key, value] of this.#db.iterator({ gte: prefix, lt: end })) {
      yield { key: key.subarray(prefix.byteLength), row: decodeRow(value) };
    }
  }

  /** Every key of a store, without values. */
  async keys(store: string): Promise<Uint8Array[]> {
    const prefix = storePrefix(store);
    const end = Buffer.from(prefix);
    end[end.length - 1]! += 1;
    const out: Uint8Array[] = [];
    for await (const key of this.#db.keys({ gte: prefix, lt: end })) out.push(key.subarray(prefix.byteLength));
    return out;
  }

  /** Deletes every row of a store and its positions (before a full restore). */
  async clear(store: string): Promise<void> {
    const prefix = storePrefix(store);
    const end = Buffer.from(prefix);
    end[end.length - 1]! += 1;
    await this.#db.clear({ gte: prefix, lt: end });
  }

  async close(): Promise<void> {
    await this.#db.close();
  }
}
