/**
 * What the in-memory stores share: keys as latin1 strings of their serialized bytes (JS string order
 * is byte order, as in RocksDB), serialized values, changelog keys with u64 suffixes, and the base
 * class that serializes, logs and restores.
 */
import { StreamsError } from '../errors.ts';
import type { Serde } from '../serde.ts';
import type { StoreContext } from './store-context.ts';
import { latin1WithUint64s, owned, writeUint64 } from '../internals/bytes.ts';
import { idOfKey, keyOfId } from '../internals/key-ids.ts';

function readU64(view: DataView, at: number): number {
  return view.getUint32(at) * 2 ** 32 + view.getUint32(at + 4);
}

/** Key bytes followed by `numbers` big-endian u64s (window start, sequence...). */
export const suffixed = latin1WithUint64s;

const pairBytes = new Uint8Array(16);
let lastPair: [number, number, string] = [Number.NaN, Number.NaN, ''];

/**
 * `numbers` [a, b] as the latin1 string of their 16 bytes (two big-endian u64s): the suffix of a
 * window or session changelog key, so that `id + u64PairLatin1(a, b)` is the latin1 string of
 * `suffixed(id, [a, b])`. The last pair is kept: the keys of one window share its start.
 */
export function u64PairLatin1(a: number, b: number): string {
  if (lastPair[0] === a && lastPair[1] === b) return lastPair[2];
  writeUint64(pairBytes, 0, a);
  writeUint64(pairBytes, 8, b);
  const p = pairBytes;
  const text = String.fromCharCode(p[0]!, p[1]!, p[2]!, p[3]!, p[4]!, p[5]!, p[6]!, p[7]!, p[8]!, p[9]!, p[10]!, p[11]!, p[12]!, p[13]!, p[14]!, p[15]!);
  lastPair = [a, b, text];
  return text;
}

export function unsuffixed(data: Uint8Array, count: number): { id: string; numbers: number[] } {
  const at = data.byteLength - 8 * count;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const numbers = Array.from({ length: count }, (_, i) => readU64(view, at + 8 * i));
  return { id: Buffer.from(data.buffer, data.byteOffset, at).toString('latin1'), numbers };
}

/** Serialized key as a string whose code units are the bytes: JS string order is byte order. */
export function keyId<K>(serde: Serde<K>, key: K, store: string): string {
  if (key === null || key === undefined) {
    throw new StreamsError('INVALID_ARGUMENT', `store "${store}" cannot hold a null key`);
  }
  return idOfKey(serde, key, store);
}

export function idBytes(id: string): Uint8Array {
  return Buffer.from(id, 'latin1');
}

export interface Row {
  readonly value: Uint8Array;
  readonly timestamp: number;
}

export abstract class InMemoryStoreBase<K, V> {
  readonly name: string;
  readonly persistent: boolean;
  protected readonly keySerde: Serde<K>;
  protected readonly valueSerde: Serde<V>;
  protected readonly ctx: StoreContext;
  protected open = true;

  constructor(name: string, persistent: boolean, keySerde: Serde<K>, valueSerde: Serde<V>, ctx: StoreContext) {
    this.name = name;
    this.persistent = persistent;
    this.keySerde = keySerde;
    this.valueSerde = valueSerde;
    this.ctx = ctx;
  }

  flush(): void {}

  close(): void {
    this.open = false;
  }

  protected check(): void {
    if (!this.open) throw new StreamsError('ILLEGAL_STATE', `store "${this.name}" is closed`);
  }

  /** The last key and its id: an aggregation reads then writes the same key. */
  #lastKey: unknown = undefined;
  #lastId = '';

  protected id(key: K): string {
    // Only for primitive keys (an object key may have changed since); Object.is tells 0 from -0,
    // whose bytes differ.
    if (Object.is(key, this.#lastKey) && key !== undefined && typeof key !== 'object') return this.#lastId;
    const id = keyId(this.keySerde, key, this.name);
    this.#lastKey = key;
    this.#lastId = id;
    return id;
  }

  /** The value's bytes as the store keeps them: owning their memory (see `owned`). */
  protected encode(value: V): Uint8Array {
    return owned(this.valueSerde.serialize(value, this.name));
  }

  protected decode(bytes: Uint8Array): V {
    return this.valueSerde.deserialize(bytes, this.name);
  }

  protected decodeKey(id: string): K {
    return keyOfId(this.keySerde, id, this.name);
  }
}
