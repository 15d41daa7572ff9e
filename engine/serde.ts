import { Packr } from 'msgpackr';
import avro from 'avsc';
import { writeUint64 } from './internals/bytes.ts';

/**
 * Turns values into bytes and back. Serdes never see `null`: a null key or value travels as
 * "no bytes" (a tombstone) and is handled by the caller.
 *
 * @example
 * const upper: Serde<string> = {
 *   serialize: (v) => Buffer.from(v.toUpperCase()),
 *   deserialize: (b) => Buffer.from(b).toString(),
 * };
 */
export interface Serde<T> {
  serialize(value: T, topic: string): Uint8Array;
  deserialize(data: Uint8Array, topic: string): T;
}

/** The writing half of a serde: all a sink needs. A `Serde<string>` serializes any string literal type. */
export type Serializer<T> = Pick<Serde<T>, 'serialize'>;

/** A Buffer view of the same bytes (no copy), for Node's fast UTF-8 decoding. */
function view(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

// Buffer.from / toString are 2-3x faster than TextEncoder / TextDecoder for short strings (measured
// with 100k 11-character keys on Node 24).
const stringSerde: Serde<string> = {
  serialize(value) {
    if (typeof value !== 'string') throw new TypeError(`expected a string, got ${typeof value}`);
    return Buffer.from(value, 'utf8');
  },
  deserialize: (data) => view(data).toString('utf8'),
};

const numberSerde: Serde<number> = {
  serialize(value) {
    if (typeof value !== 'number') throw new TypeError(`expected a number, got ${typeof value}`);
    const out = Buffer.allocUnsafe(8);
    out.writeDoubleBE(value, 0);
    return out;
  },
  deserialize(data) {
    if (data.byteLength !== 8) throw new RangeError(`a number is 8 bytes, got ${data.byteLength}`);
    return view(data).readDoubleBE(0);
  },
};

const bytesSerde: Serde<Uint8Array> = {
  serialize(value) {
    if (!(value instanceof Uint8Array)) throw new TypeError('expected a Uint8Array');
    return value;
  },
  deserialize: (data) => data,
};

// Plain maps, not msgpackr "records": self-describing and interoperable (see
// shared/research/dependency-trial.md: records with inline definitions were no faster than JSON).
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** A windowed key as written by `Serdes.windowed`: the inner key's bytes, then start and end. */
interface WindowedKey<K> {
  readonly key: K;
  readonly window: { readonly start: number; readonly end: number };
}

function getUint64(view: DataView, at: number): number {
  return view.getUint32(at) * 2 ** 32 + view.getUint32(at + 4);
}

/** Built-in serdes. Each call returns a serde; they hold no per-call state. */
export const Serdes = {
  /** UTF-8 strings. */
  string: (): Serde<string> => stringSerde,
  /** IEEE-754 doubles, 8 bytes big-endian (the layout of Kafka's DoubleSerde). */
  number: (): Serde<number> => numberSerde,
  /** Raw bytes, passed through. */
  bytes: (): Serde<Uint8Array> => bytesSerde,
  /** JSON text in UTF-8. */
  json<T>(): Serde<T> {
    return {
      serialize(value) {
        const text = JSON.stringify(value);
        if (text === undefined) throw new TypeError(`${typeof value} has no JSON form`);
        return Buffer.from(text, 'utf8');
      },
      deserialize: (data) => JSON.parse(view(data).toString('utf8')) as T,
    };
  },
  /** MessagePack (msgpackr) with plain maps: any structured value, compact and fast. */
  msgpack<T>(): Serde<T> {
    return {
      serialize: (value) => packr.pack(value),
      deserialize: (data) => packr.unpack(data) as T,
    };
  },
  /**
   * Windowed keys (`{ key, window: { start, end } }`): the inner key's bytes followed by the window
   * start and end as 8-byte big-endian integers, so all windows of a key sort together by start.
   */
  windowed<K>(inner: Serde<K>): Serde<WindowedKey<K>> {
    return {
      serialize(value, topic) {
        const key = inner.serialize(value.key, topic);
        const out = new Uint8Array(key.byteLength + 16);
        out.set(key, 0);
        writeUint64(out, key.byteLength, value.window.start);
        writeUint64(out, key.byteLength + 8, value.window.end);
        return out;
      },
      deserialize(data, topic) {
        if (data.byteLength < 16) throw new RangeError(`a windowed key has at least 16 bytes, got ${data.byteLength}`);
        const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
        const at = data.byteLength - 16;
        return { key: inner.deserialize(data.subarray(0, at), topic), window: { start: getUint64(view, at), end: getUint64(view, at + 8) } };
      },
    };
  },
  /** Avro binary (avsc) with the given schema; values are validated when serialized. */
  avro<T>(schema: avro.Schema): Serde<T> {
    const type = avro.Type.forSchema(schema);
    return {
      serialize: (value) => type.toBuffer(value),
      deserialize: (data) => type.fromBuffer(Buffer.from(data.buffer, data.byteOffset, data.byteLength)) as T,
    };
  },
} as const;
