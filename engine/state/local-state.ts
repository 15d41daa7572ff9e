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
 * data reflects, written in the same batch as the data; `m/digest/<store>` -> the store's row count
 * and a checksum over its rows, also in that batch. LevelDB (as classic-level opens it, without
 * paranoid checks) recovers a damaged write-ahead log by skipping what it cannot read, silently:
 * `verify()` recomputes the digest from the rows at open and tells the caller when they disagree.
 */
import { crc32 } from 'node:zlib';
import { ClassicLevel } from 'classic-level';
import { StreamsError } from '../errors.ts';

export interface LocalRow {
  readonly value: Uint8Array;
  readonly timestamp: number;
}

const META = Buffer.from('m/position/');
const DIGEST = Buffer.from('m/digest/');

/** A store's row count and the sum (mod 2^32) of the CRC-32 of each stored key and row. */
interface Digest {
  count: number;
  sum: number;
}

function rowHash(key: Buffer, row: Buffer): number {
  return crc32(row, crc32(key));
}

function digestKey(store: string): Buffer {
  return Buffer.concat([DIGEST, Buffer.from(store)]);
}

function encodeDigest(d: Digest): Buffer {
  const out = Buffer.allocUnsafe(12);
  out.writeUInt32BE(Math.floor(d.count / 2 ** 32), 0);
  out.writeUInt32BE(d.count % 2 ** 32, 4);
  out.writeUInt32BE(d.sum, 8);
  return out;
}

function decodeDigest(data: Buffer): Digest {
  return { count: data.readUInt32BE(0) * 2 ** 32 + data.readUInt32BE(4), sum: data.readUInt32BE(8) };
}

function storePrefix(store: string): Buffer {
  return Buffer.from(`s/${store}/`);
}

/** The key range of a store's rows: its prefix, and the first key past every key with it. */
function storeRange(store: string): { gte: Buffer; lt: Buffer } {
  const gte = storePrefix(store);
  const lt = Buffer.from(gte);
  lt[lt.length - 1]! += 1;
  return { gte, lt };
}

function decodeRow(data: Buffer): LocalRow {
  return { timestamp: data.readUInt32BE(0) * 2 ** 32 + data.readUInt32BE(4), value: data.subarray(8) };
}

type StoreWrites = Map<string, LocalRow | null> | undefined;

/**
 * A row of a logged store (see logRow) as the store and the mirror share it. `supersededAt` is
 * the mirror's: the seal generation in which the store replaced or dropped the row (the stores
 * start it at -1 so that every row has one shape; absent also means "not yet").
 */
interface LoggedRow extends LocalRow {
  supersededAt?: number;
}

/**
 * The writes of a logged store since a seal, in order: a key may be there more than once, and
 * only the rows not superseded within the same seal reach the disk.
 */
interface Logged {
  readonly ids: string[];
  readonly rows: (LoggedRow | null)[];
}

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

type ChainedBatch = ReturnType<ClassicLevel<Buffer, Buffer>['batch']>;

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
  /**
   * The same for logged stores (logRow): their writes since the last seal, and those sealed, with
   * the generation they were sealed in (#sealedUpTo). #generation counts the seals.
   */
  #logged = new Map<string, Logged>();
  #sealedLogged: Map<string, Logged> | undefined;
  #sealedUpTo = -1;
  #generation = 0;
  readonly #prefixes = new Map<string, string>();
  /** The digest of each store's rows on disk, once known (read or computed). */
  readonly #digests = new Map<string, Digest>();
  /**
   * The hash (rowHash) of each row on disk, by store and key: a store's digest then moves by what
   * each write replaces without reading it. Known from loadRows and loadKeys at task start, or
   * read at a store's first commit.
   */
  readonly #hashes = new Map<string, Map<string, number>>();
  /** writeSealed calls, one after the other (each digest builds on the previous one). */
  #writing: Promise<void> = Promise.resolve();

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
    this.writeRow(store, key, value === null ? null : { value, timestamp });
  }

  /** `write` of a row object the caller hands over (and does not change afterwards); null deletes. */
  writeRow(store: string, key: string, row: LocalRow | null): void {
    let writes = this.#pending.get(store);
    if (writes === undefined) this.#pending.set(store, (writes = new Map()));
    const size = writes.size;
    writes.set(key, row);
    this.#pendingCount += writes.size - size;
  }

  /**
   * Buffers a write of a logged store: a window or session store, which holds all its rows in
   * memory and never reads them back through the database (readSync and readMany do not see these
   * writes). Cheaper than writeRow, which keys every write in a map: the write is appended, and
   * `replaced`, the row (of an earlier logRow) this write replaces or deletes, is marked, so that
   * when both are sealed together only the later one is written.
   */
  logRow(store: string, key: string, row: LocalRow | null, replaced?: LocalRow): void {
    if (replaced !== undefined) {
      const r = replaced as LoggedRow;
      if (!(r.supersededAt! >= 0)) r.supersededAt = this.#generation;
    }
    let log = this.#logged.get(store);
    if (log === undefined) this.#logged.set(store, (log = { ids: [], rows: [] }));
    log.ids.push(key);
    log.rows.push(row);
    this.#pendingCount++;
  }

  /** Drops the buffered writes, sealed or not (their changelog records were never committed). */
  discardPending(): void {
    this.#pending = new Map();
    this.#logged = new Map();
    this.#pendingCount = 0;
    this.#sealed = undefined;
    this.#sealedLogged = undefined;
  }

  /** Writes buffered and not sealed (keys of writeRow, every call of logRow). */
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
    if (this.#sealedLogged === undefined) this.#sealedLogged = this.#logged;
    else {
      const joined = new Map<string, Logged>();
      for (const [store, log] of this.#sealedLogged) joined.set(store, { ids: [...log.ids], rows: [...log.rows] });
      for (const [store, log] of this.#logged) {
        const into = joined.get(store);
        if (into === undefined) joined.set(store, log);
        else {
          for (const id of log.ids) into.ids.push(id);
          for (const row of log.rows) into.rows.push(row);
        }
      }
      this.#sealedLogged = joined;
    }
    this.#logged = new Map();
    // A row superseded in this generation or before is superseded by a write sealed now.
    this.#sealedUpTo = this.#generation++;
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
  writeSealed(positions: ReadonlyMap<string, number>): Promise<void> {
    const sealed = this.#sealed;
    const sealedLogged = this.#sealedLogged;
    const upTo = this.#sealedUpTo;
    const done = this.#writing.then(() => this.#writeSealed(sealed, sealedLogged, upTo, positions));
    this.#writing = done.catch(() => {});
    return done;
  }

  async #writeSealed(sealed: Writes | undefined, logged: Map<string, Logged> | undefined, upTo: number, positions: ReadonlyMap<string, number>): Promise<void> {
    // Every store's hashes are known before the batch is built (a store never loaded reads its
    // rows once, here): the batch then goes to LevelDB op by op, with no await in between.
    for (const store of [...(sealed?.keys() ?? []), ...(logged?.keys() ?? [])]) if (!this.#hashes.has(store)) this.#hashes.set(store, await this.#diskHashes(store));
    const batch = this.#db.batch();
    try {
      for (const [store, writes] of sealed ?? []) this.#putWrites(store, writes, batch);
      for (const [store, log] of logged ?? []) this.#putLogged(store, log, upTo, batch);
      for (const [topic, offset] of positions) {
        const value = Buffer.allocUnsafe(8);
        value.writeUInt32BE(Math.floor(offset / 2 ** 32), 0);
        value.writeUInt32BE(offset % 2 ** 32, 4);
        batch.put(Buffer.concat([META, Buffer.from(topic)]), value);
      }
    } catch (error) {
      await batch.close();
      throw error;
    }
    if (batch.length > 0) await batch.write();
    else await batch.close();
    // Not cleared: a readMany under way may still look at these maps.
    if (this.#sealed === sealed) this.#sealed = undefined;
    if (this.#sealedLogged === logged) this.#sealedLogged = undefined;
  }

  /**
   * Adds to `batch` a store's writes (each key's row) and its digest. Rows go through LevelDB's
   * chained batch: each op goes into the native batch as it is added, about a third less CPU per
   * op than an array batch that first copies every op object in JS.
   */
  #putWrites(store: string, writes: ReadonlyMap<string, LocalRow | null>, batch: ChainedBatch): void {
    const w = this.#rowWriter(store, batch);
    for (const [id, row] of writes) w.put(id, row);
    w.done();
  }

  /** The same for a logged store: its writes in order, but a row superseded within the seal (generation <= upTo) is skipped. */
  #putLogged(store: string, log: Logged, upTo: number, batch: ChainedBatch): void {
    const w = this.#rowWriter(store, batch);
    const { ids, rows } = log;
    for (let i = 0; i < ids.length; i++) {
      const row = rows[i]!;
      if (row !== null) {
        const at = row.supersededAt;
        if (at !== undefined && at >= 0 && at <= upTo) continue;
      }
      w.put(ids[i]!, row);
    }
    w.done();
  }

  /**
   * Writes rows of one store into `batch`, moving the store's digest by the hash of each row
   * written and of the row it replaces, known from the hash of each of the store's rows on disk
   * (#hashes) without a read; `done` adds the digest. A delete of a key with no row on disk writes
   * nothing.
   */
  #rowWriter(store: string, batch: ChainedBatch): { put(id: string, row: LocalRow | null): void; done(): void } {
    const hashes = this.#hashes.get(store)!;
    const prefix = this.#prefix(store);
    const digest = { ...this.#digest(store) };
    const prefixBytes = Buffer.from(prefix, 'latin1');
    return {
      put(id, row) {
        const before = hashes.get(id);
        if (before !== undefined) {
          digest.count -= 1;
          digest.sum = (digest.sum - before) >>> 0;
        }
        if (row === null) {
          if (before === undefined) return;
          hashes.delete(id);
          batch.del(Buffer.from(prefix + id, 'latin1'));
          return;
        }
        // Key and row in one buffer: one allocation, and one CRC-32 over both (the CRC of a
        // concatenation is the CRC of its second part continued from the first's, as rowHash).
        const k = prefixBytes.byteLength + id.length;
        const data = Buffer.allocUnsafe(k + 8 + row.value.byteLength);
        data.set(prefixBytes, 0);
        data.write(id, prefixBytes.byteLength, 'latin1');
        data.writeUInt32BE(Math.floor(row.timestamp / 2 ** 32), k);
        data.writeUInt32BE(row.timestamp % 2 ** 32, k + 4);
        data.set(row.value, k + 8);
        // As a signed int: a small integer, not a boxed number, for every row held (the digest is mod 2^32).
        const hash = crc32(data) | 0;
        hashes.set(id, hash);
        batch.put(data.subarray(0, k), data.subarray(k));
        digest.count += 1;
        digest.sum = (digest.sum + hash) >>> 0;
      },
      done: () => {
        this.#digests.set(store, digest);
        batch.put(digestKey(store), encodeDigest(digest));
      },
    };
  }

  /** The hash (rowHash) of each of a store's rows on disk, by key. */
  async #diskHashes(store: string): Promise<Map<string, number>> {
    const range = storeRange(store);
    const prefix = range.gte;
    const hashes = new Map<string, number>();
    for await (const [key, value] of this.#db.iterator(range)) {
      hashes.set(key.toString('latin1', prefix.byteLength), rowHash(key, value) | 0);
    }
    return hashes;
  }

  /** The digest of a store's rows as last written (zero for a store never written). */
  #digest(store: string): Digest {
    let digest = this.#digests.get(store);
    if (digest === undefined) {
      const data = this.#db.getSync(digestKey(store));
      this.#digests.set(store, (digest = data === undefined ? { count: 0, sum: 0 } : decodeDigest(data)));
    }
    return digest;
  }

  /**
   * Reads every row of a store and compares them with the digest written with them. Returns what
   * is wrong (rows lost or changed since they were written), or undefined when they agree. A
   * store written before digests existed has none and is taken as it is. A damaged table file
   * makes the read throw. The hashes read are kept when they agree (as loadKeys would keep them):
   * a task's start then reads a key-value store's rows once, not twice.
   */
  async verify(store: string): Promise<string | undefined> {
    const data = this.#db.getSync(digestKey(store));
    if (data === undefined) return undefined;
    const expected = decodeDigest(data);
    const hashes = await this.#diskHashes(store);
    // The digest's sum is mod 2^32, so the hashes kept as signed ints add up to it as well.
    const actual = { count: hashes.size, sum: 0 };
    for (const hash of hashes.values()) actual.sum = (actual.sum + hash) >>> 0;
    if (actual.count === expected.count && actual.sum === expected.sum) {
      // Nothing is buffered before a task's stores are loaded, so these are the rows' hashes.
      if (this.#pendingCount === 0 && this.#sealed === undefined && this.#sealedLogged === undefined) this.#hashes.set(store, hashes);
      return undefined;
    }
    return actual.count === expected.count
      ? `store "${store}" has ${actual.count} rows as written, but their checksum differs`
      : `store "${store}" has ${actual.count} rows, ${expected.count} were written`;
  }

  /** The changelog offset the stored data reflects, or undefined for a fresh store. */
  position(topic: string): number | undefined {
    const data = this.#db.getSync(Buffer.concat([META, Buffer.from(topic)]));
    return data === undefined ? undefined : data.readUInt32BE(0) * 2 ** 32 + data.readUInt32BE(4);
  }

  /** Every row of a store, in key order (loading at task start). */
  async *entries(store: string): AsyncGenerator<{ key: Uint8Array; row: LocalRow }> {
    const range = storeRange(store);
    const prefix = range.gte;
    for await (const [key, value] of this.#db.iterator(range)) {
      yield { key: key.subarray(prefix.byteLength), row: decodeRow(value) };
    }
  }

  /**
   * Every row of a window or session store, in key order, to hold in memory (loading at task
   * start). From then on the database keeps the hash of each of the store's rows on disk: such a
   * store's writes move its digest without reading the rows they replace, and a delete of a key
   * with no row on disk is not written.
   */
  async loadRows(store: string): Promise<{ key: Uint8Array; row: LocalRow }[]> {
    const range = storeRange(store);
    const prefix = range.gte;
    const rows: { key: Uint8Array; row: LocalRow }[] = [];
    const hashes = new Map<string, number>();
    for await (const [key, value] of this.#db.iterator(range)) {
      const own = key.subarray(prefix.byteLength);
      hashes.set(own.toString('latin1'), rowHash(key, value) | 0);
      rows.push({ key: own, row: decodeRow(value) });
    }
    // Writes buffered before the load (none at task start) are not on disk yet either.
    this.#hashes.set(store, hashes);
    return rows;
  }

  /**
   * Every key of a key-value store, as latin1 strings (loading at task start; the store keeps them
   * in memory). Like loadRows, from then on the database keeps the hash of each of its rows.
   */
  async loadKeys(store: string): Promise<string[]> {
    // Known already when verify read them (and nothing was written since).
    let hashes = this.#hashes.get(store);
    if (hashes === undefined) this.#hashes.set(store, (hashes = await this.#diskHashes(store)));
    return [...hashes.keys()];
  }

  /** Every key of a store, without values. */
  async keys(store: string): Promise<Uint8Array[]> {
    const range = storeRange(store);
    const prefix = range.gte;
    const out: Uint8Array[] = [];
    for await (const key of this.#db.keys(range)) out.push(key.subarray(prefix.byteLength));
    return out;
  }

  /** Deletes every row of a store and its positions (before a full restore). */
  async clear(store: string): Promise<void> {
    await this.#db.clear(storeRange(store));
    await this.#db.del(digestKey(store));
    this.#digests.set(store, { count: 0, sum: 0 });
    this.#hashes.get(store)?.clear();
  }

  async close(): Promise<void> {
    await this.#db.close();
  }
}
