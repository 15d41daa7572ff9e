/**
 * Versioned key-value stores (Kafka Streams' VersionedKeyValueStore, KIP-889): every key keeps
 * its values over time, so a reader can ask for the value "as of" a timestamp, e.g. the customer's
 * tier when the purchase happened rather than whatever arrived last.
 *
 * Semantics, as Kafka Streams' RocksDBVersionedStore:
 * - `put(key, value, ts)` adds a version valid from `ts` until the next newer version. It returns
 *   `VALID_TO_UNDEFINED` when the new version is the latest, the next version's timestamp when it
 *   went into history, and `NOT_PUT` when `ts` is older than the store's observed stream time (the
 *   largest timestamp put) minus the history retention: the write is dropped. A put at the
 *   timestamp of an existing version replaces it. A `null` value is a tombstone version.
 * - `delete(key, ts)` is `get(key, ts)` then `put(key, null, ts)`, returning the former.
 * - `get(key)` is the latest version (undefined if it is a tombstone); `get(key, asOf)` is the
 *   version with the largest timestamp `<= asOf`, undefined when that is a tombstone, when there
 *   is none, or when `asOf` is older than observed stream time minus history retention (the store
 *   no longer promises that history).
 *
 * Storage: a view over a plain key-value store of bytes (so persistence, caching, the changelog
 * and its restore are those of key-value stores). Each key's versions within the retention are
 * one row (the key's whole recent history), so the compacted changelog keeps exactly what the
 * store needs; a row drops the versions that can no longer be asked for (older than the one valid
 * at observed stream time minus retention) whenever its key is written. The observed stream time
 * is a row of its own. Kafka Streams keeps history in time segments instead; a key written once
 * and never again keeps its last versions here until it is deleted.
 */
import { StreamsError } from '../errors.ts';
import type { Serde } from '../serde.ts';
import type { AnyStore, KeyValueStore, StoreBuilder } from './store.ts';

/** `put` answer: the new version is the latest. */
export const VALID_TO_UNDEFINED = -1;
/** `put` answer: the version is older than the history retention and was not stored. */
export const NOT_PUT = Number.MIN_SAFE_INTEGER;

export interface VersionedRecord<V> {
  readonly value: V;
  readonly timestamp: number;
  /** Exclusive end of this version's validity; absent for the latest version. */
  readonly validTo?: number;
}

/** What a processor gets from `ctx.getStateStore(name)` for a versioned store. */
export interface VersionedKeyValueStore<K, V> {
  readonly kind: 'versioned';
  readonly name: string;
  readonly historyRetentionMs: number;
  put(key: K, value: V | null, timestamp: number): number;
  delete(key: K, timestamp: number): VersionedRecord<V> | undefined;
  get(key: K, asOfTimestamp?: number): VersionedRecord<V> | undefined;
}

interface Version {
  readonly timestamp: number;
  /** Serialized value; null for a tombstone. */
  readonly value: Uint8Array | null;
}

const STREAM_TIME_ROW = Uint8Array.of(0);

function rowKey(keyBytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(keyBytes.byteLength + 1);
  out[0] = 1;
  out.set(keyBytes, 1);
  return out;
}

/** [count u32] then per version [timestamp f64][length i32, -1 for a tombstone][value bytes]. */
function encodeVersions(versions: readonly Version[]): Uint8Array {
  let size = 4;
  for (const v of versions) size += 12 + (v.value?.byteLength ?? 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, versions.length);
  let at = 4;
  for (const v of versions) {
    view.setFloat64(at, v.timestamp);
    view.setInt32(at + 8, v.value === null ? -1 : v.value.byteLength);
    if (v.value !== null) out.set(v.value, at + 12);
    at += 12 + (v.value?.byteLength ?? 0);
  }
  return out;
}

function decodeVersions(data: Uint8Array): Version[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const versions: Version[] = [];
  let at = 4;
  for (let i = view.getUint32(0); i > 0; i--) {
    const timestamp = view.getFloat64(at);
    const length = view.getInt32(at + 8);
    versions.push({ timestamp, value: length < 0 ? null : data.slice(at + 12, at + 12 + length) });
    at += 12 + Math.max(0, length);
  }
  return versions;
}

/** A versioned store over `rows`, a key-value store of bytes (see the file comment). */
export class VersionedStoreView<K, V> implements VersionedKeyValueStore<K, V> {
  readonly kind = 'versioned' as const;
  readonly name: string;
  readonly historyRetentionMs: number;
  readonly #rows: KeyValueStore<Uint8Array, Uint8Array>;
  readonly #keySerde: Serde<K>;
  readonly #valueSerde: Serde<V>;
  #streamTime: number | undefined;

  constructor(rows: KeyValueStore<Uint8Array, Uint8Array>, keySerde: Serde<K>, valueSerde: Serde<V>, historyRetentionMs: number) {
    this.name = rows.name;
    this.#rows = rows;
    this.#keySerde = keySerde;
    this.#valueSerde = valueSerde;
    this.historyRetentionMs = historyRetentionMs;
  }

  /** The largest timestamp ever put (restored with the rows), or -Infinity. */
  #observed(): number {
    if (this.#streamTime === undefined) {
      const row = this.#rows.get(STREAM_TIME_ROW);
      this.#streamTime = row === undefined ? Number.NEGATIVE_INFINITY : new DataView(row.buffer, row.byteOffset, row.byteLength).getFloat64(0);
    }
    return this.#streamTime;
  }

  #row(key: K): { id: Uint8Array; versions: Version[] } {
    if (key === null || key === undefined) throw new StreamsError('INVALID_ARGUMENT', `versioned store "${this.name}" cannot hold a null key`);
    const id = rowKey(this.#keySerde.serialize(key, this.name));
    const row = this.#rows.get(id);
    return { id, versions: row === undefined ? [] : decodeVersions(row) };
  }

  put(key: K, value: V | null, timestamp: number): number {
    if (!Number.isFinite(timestamp)) throw new StreamsError('INVALID_ARGUMENT', `versioned store "${this.name}": a version needs a finite timestamp, got ${timestamp}`);
    const observed = this.#observed();
    if (timestamp > observed) {
      this.#streamTime = timestamp;
      const bytes = new Uint8Array(8);
      new DataView(bytes.buffer).setFloat64(0, timestamp);
      this.#rows.put(STREAM_TIME_ROW, bytes, timestamp);
    }
    const horizon = this.#observed() - this.historyRetentionMs;
    if (timestamp < horizon) return NOT_PUT;
    const { id, versions } = this.#row(key);
    const bytes = value === null || value === undefined ? null : this.#valueSerde.serialize(value, this.name);
    let i = versions.findIndex((v) => v.timestamp >= timestamp);
    if (i === -1) i = versions.length;
    if (versions[i]?.timestamp === timestamp) versions[i] = { timestamp, value: bytes };
    else versions.splice(i, 0, { timestamp, value: bytes });
    const validTo = i + 1 < versions.length ? versions[i + 1]!.timestamp : VALID_TO_UNDEFINED;
    // Keep the version valid at the horizon (an as-of read at the horizon needs it) and the newer ones.
    while (versions.length > 1 && versions[1]!.timestamp <= horizon) versions.shift();
    if (versions.length === 1 && versions[0]!.value === null && versions[0]!.timestamp <= horizon) versions.shift();
    this.#rows.put(id, versions.length === 0 ? null : encodeVersions(versions), timestamp);
    return validTo;
  }

  delete(key: K, timestamp: number): VersionedRecord<V> | undefined {
    const before = this.get(key, timestamp);
    this.put(key, null, timestamp);
    return before;
  }

  get(key: K, asOfTimestamp?: number): VersionedRecord<V> | undefined {
    const { versions } = this.#row(key);
    let i = versions.length - 1;
    if (asOfTimestamp !== undefined) {
      if (asOfTimestamp < this.#observed() - this.historyRetentionMs) return undefined;
      while (i >= 0 && versions[i]!.timestamp > asOfTimestamp) i--;
    }
    if (i < 0) return undefined;
    const version = versions[i]!;
    if (version.value === null) return undefined;
    const value = this.#valueSerde.deserialize(version.value, this.name);
    const next = versions[i + 1];
    return next === undefined ? { value, timestamp: version.timestamp } : { value, timestamp: version.timestamp, validTo: next.timestamp };
  }
}

/** The view processors get of a versioned store's rows (`builder.versioned` set). */
export function versionedView(rows: AnyStore, builder: StoreBuilder): VersionedKeyValueStore<unknown, unknown> {
  const spec = builder.versioned!;
  if (rows.kind !== 'key-value') throw new StreamsError('ILLEGAL_STATE', `versioned store "${builder.name}" must sit on a key-value store`);
  return new VersionedStoreView(rows as KeyValueStore<Uint8Array, Uint8Array>, spec.keySerde, spec.valueSerde, spec.historyRetentionMs);
}

/** Serdes of the rows under a versioned store: bytes as they are. */
export const rowBytesSerde: Serde<Uint8Array> = {
  serialize: (bytes) => bytes,
  deserialize: (data) => data,
};
