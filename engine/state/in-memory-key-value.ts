/** In-memory key-value store: rows by serialized key, a sorted key list built on demand for ranges. */
import { addSorted, deleteVia, firstAtLeast, idsWithPrefix, putIfAbsentVia, removeSorted } from './store.ts';
import type { Serializer } from '../serde.ts';
import type { KeyValue, KeyValueStore, ValueAndTimestamp } from './store.ts';
import type { RestorableStore } from './store-context.ts';
import { InMemoryStoreBase, idBytes, type Row } from './in-memory-base.ts';
import { owned } from '../internals/bytes.ts';

export class InMemoryKeyValueStore<K, V> extends InMemoryStoreBase<K, V> implements KeyValueStore<K, V>, RestorableStore {
  readonly kind = 'key-value' as const;
  readonly #rows = new Map<string, Row>();
  #sorted: string[] | null = null;

  get(key: K): V | undefined {
    return this.getWithTimestamp(key)?.value;
  }

  getWithTimestamp(key: K): ValueAndTimestamp<V> | undefined {
    this.check();
    const row = this.#rows.get(this.id(key));
    return row === undefined ? undefined : { value: this.decode(row.value), timestamp: row.timestamp };
  }

  put(key: K, value: V | null, timestamp?: number): void {
    this.check();
    const id = this.id(key);
    const bytes = value === null || value === undefined ? null : this.encode(value);
    const ts = timestamp ?? this.ctx.recordTimestamp();
    this.#apply(id, bytes, ts);
    this.ctx.logChange?.(idBytes(id), bytes, ts);
  }

  restore(key: Uint8Array, value: Uint8Array | null, timestamp: number): void {
    this.#apply(Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1'), value === null ? null : owned(value), timestamp);
  }

  #apply(id: string, value: Uint8Array | null, timestamp: number): void {
    if (value === null) {
      if (this.#rows.delete(id)) removeSorted(this.#sorted, id);
      return;
    }
    if (!this.#rows.has(id)) addSorted(this.#sorted, id);
    this.#rows.set(id, { value, timestamp });
  }

  putIfAbsent(key: K, value: V, timestamp?: number): V | undefined {
    return putIfAbsentVia(this, key, value, timestamp);
  }

  delete(key: K): V | undefined {
    return deleteVia(this, key);
  }

  range(from?: K, to?: K, limit = Number.POSITIVE_INFINITY): KeyValue<K, V>[] {
    this.check();
    const hi = to === undefined ? undefined : this.id(to);
    const keys = this.#keys();
    const out: KeyValue<K, V>[] = [];
    for (let i = from === undefined ? 0 : firstAtLeast(keys, this.id(from)); i < keys.length && out.length < limit; i++) {
      const id = keys[i]!;
      if (hi !== undefined && id > hi) break;
      out.push({ key: this.decodeKey(id), value: this.decode(this.#rows.get(id)!.value) });
    }
    return out;
  }

  prefixScan<P>(prefix: P, prefixSerializer: Serializer<P>): KeyValue<K, V>[] {
    this.check();
    const bytes = prefixSerializer.serialize(prefix, this.name);
    const out: KeyValue<K, V>[] = [];
    for (const id of idsWithPrefix(this.#keys(), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1'))) {
      out.push({ key: this.decodeKey(id), value: this.decode(this.#rows.get(id)!.value) });
    }
    return out;
  }

  all(): KeyValue<K, V>[] {
    return this.range();
  }

  approximateNumEntries(): number {
    return this.#rows.size;
  }

  #keys(): string[] {
    this.#sorted ??= [...this.#rows.keys()].sort();
    return this.#sorted;
  }
}
