import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Serdes, type Serde } from '../../index.ts';

const TOPIC = 'topic';

function roundTrip<T>(serde: Serde<T>, value: T): T {
  return serde.deserialize(serde.serialize(value, TOPIC), TOPIC);
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Unsigned lexicographic comparison of byte arrays, as RocksDB and the in-memory stores order keys. */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

describe('Serdes.string', () => {
  test('round-trips ASCII, the empty string and non-BMP characters', () => {
    for (const s of ['hello', '', 'héllo wörld', '日本語', '\u{1F600} emoji']) {
      assert.equal(roundTrip(Serdes.string(), s), s);
    }
  });

  test('writes UTF-8', () => {
    // "é" is U+00E9, two bytes in UTF-8: c3 a9.
    assert.equal(hex(Serdes.string().serialize('aé', TOPIC)), '61c3a9');
  });

  test('rejects a non-string on serialize', () => {
    assert.throws(() => Serdes.string().serialize(42 as unknown as string, TOPIC), TypeError);
  });
});

describe('Serdes.number', () => {
  test('round-trips integers, fractions, negatives, extremes and NaN', () => {
    for (const n of [0, 1, -1, 3.25, -1e-300, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, Infinity, -Infinity]) {
      assert.equal(roundTrip(Serdes.number(), n), n);
    }
    assert.ok(Number.isNaN(roundTrip(Serdes.number(), NaN)));
  });

  test('is an 8-byte big-endian IEEE-754 double', () => {
    // 1.0 = sign 0, exponent 0x3ff, mantissa 0 → 3f f0 00 00 00 00 00 00.
    assert.equal(hex(Serdes.number().serialize(1, TOPIC)), '3ff0000000000000');
    // -2.0 = sign 1, exponent 0x400 → c0 00 ...
    assert.equal(hex(Serdes.number().serialize(-2, TOPIC)), 'c000000000000000');
  });

  test('reads a number from a view that does not start at offset 0 of its buffer', () => {
    // 3 junk bytes, then the 8 bytes of 1.0: a subarray shares the buffer with byteOffset 3.
    const backing = new Uint8Array([9, 9, 9, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 7]);
    assert.equal(Serdes.number().deserialize(backing.subarray(3, 11), TOPIC), 1);
  });

  test('fails on input that is not 8 bytes', () => {
    assert.throws(() => Serdes.number().deserialize(new Uint8Array([1, 2, 3]), TOPIC), RangeError);
    assert.throws(() => Serdes.number().deserialize(new Uint8Array(9), TOPIC), RangeError);
    assert.throws(() => Serdes.number().deserialize(new Uint8Array(0), TOPIC), RangeError);
  });

  test('rejects a non-number on serialize', () => {
    assert.throws(() => Serdes.number().serialize('1' as unknown as number, TOPIC), TypeError);
  });
});

describe('Serdes.bytes', () => {
  test('passes bytes through unchanged', () => {
    const data = new Uint8Array([0, 1, 254, 255]);
    assert.deepEqual([...roundTrip(Serdes.bytes(), data)], [0, 1, 254, 255]);
    assert.equal(roundTrip(Serdes.bytes(), new Uint8Array(0)).byteLength, 0);
  });

  test('rejects a non-Uint8Array on serialize', () => {
    assert.throws(() => Serdes.bytes().serialize([1, 2] as unknown as Uint8Array, TOPIC), TypeError);
  });
});

describe('Serdes.json', () => {
  test('round-trips nested objects, arrays and scalars', () => {
    const serde = Serdes.json<unknown>();
    const value = { a: 1, b: [true, null, 'x'], c: { d: -2.5 } };
    assert.deepEqual(roundTrip(serde, value), value);
    assert.equal(roundTrip(serde, 'str'), 'str');
    assert.equal(roundTrip(serde, 7), 7);
    assert.deepEqual(roundTrip(serde, []), []);
  });

  test('writes JSON text in UTF-8', () => {
    assert.equal(Buffer.from(Serdes.json().serialize({ k: 'é' }, TOPIC)).toString('utf8'), '{"k":"é"}');
  });

  test('fails on invalid JSON', () => {
    const serde = Serdes.json<unknown>();
    assert.throws(() => serde.deserialize(Buffer.from('{"a":'), TOPIC), SyntaxError);
    assert.throws(() => serde.deserialize(Buffer.from('not json'), TOPIC), SyntaxError);
  });
});

describe('Serdes.msgpack', () => {
  test('round-trips nested objects, arrays, strings and numbers', () => {
    const serde = Serdes.msgpack<unknown>();
    const value = { id: 42, name: 'x', tags: ['a', 'b'], nested: { f: 1.5, n: null, t: true }, big: 2 ** 40 };
    assert.deepEqual(roundTrip(serde, value), value);
    assert.equal(roundTrip(serde, 'plain'), 'plain');
    assert.equal(roundTrip(serde, -7), -7);
  });

  test('decodes maps as plain objects', () => {
    const decoded = roundTrip(Serdes.msgpack<Record<string, number>>(), { a: 1 });
    assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
  });

  test('fails on truncated input', () => {
    const serde = Serdes.msgpack<unknown>();
    const bytes = serde.serialize({ name: 'a long enough string' }, TOPIC);
    assert.throws(() => serde.deserialize(bytes.subarray(0, bytes.byteLength - 5), TOPIC));
  });
});

describe('Serdes.avro', () => {
  const schema = {
    type: 'record' as const,
    name: 'User',
    fields: [
      { name: 'id', type: 'long' },
      { name: 'name', type: 'string' },
      { name: 'email', type: ['null', 'string'], default: null },
    ],
  };
  interface User {
    id: number;
    name: string;
    email: string | null;
  }

  test('round-trips a record', () => {
    const serde = Serdes.avro<User>(schema);
    // avsc decodes into an instance of a generated record class; compare its fields.
    assert.deepEqual({ ...roundTrip(serde, { id: 1, name: 'ann', email: null }) }, { id: 1, name: 'ann', email: null });
    assert.deepEqual({ ...roundTrip(serde, { id: -5, name: '', email: 'a@b' }) }, { id: -5, name: '', email: 'a@b' });
  });

  test('writes Avro binary', () => {
    // id 1 → zigzag 2 → 02; name "ab" → length 2 zigzag 4 → 04 61 62; email null → union branch 0 → 00.
    assert.equal(hex(Serdes.avro<User>(schema).serialize({ id: 1, name: 'ab', email: null }, TOPIC)), '0204616200');
  });

  test('fails to serialize a value that does not match the schema', () => {
    const serde = Serdes.avro<User>(schema);
    assert.throws(() => serde.serialize({ id: 'x', name: 'a', email: null } as unknown as User, TOPIC));
    assert.throws(() => serde.serialize({ id: 1 } as unknown as User, TOPIC));
  });

  test('fails to deserialize truncated data', () => {
    const serde = Serdes.avro<User>(schema);
    const bytes = serde.serialize({ id: 1, name: 'abcdef', email: 'x@y' }, TOPIC);
    assert.throws(() => serde.deserialize(bytes.subarray(0, 3), TOPIC));
  });

  test('deserializes from a view into a larger buffer', () => {
    const serde = Serdes.avro<User>(schema);
    const bytes = serde.serialize({ id: 3, name: 'z', email: null }, TOPIC);
    const backing = new Uint8Array(bytes.byteLength + 4);
    backing.set(bytes, 2);
    assert.deepEqual({ ...serde.deserialize(backing.subarray(2, 2 + bytes.byteLength), TOPIC) }, { id: 3, name: 'z', email: null });
  });
});

describe('Serdes.windowed', () => {
  test('round-trips a windowed key', () => {
    const serde = Serdes.windowed(Serdes.string());
    const value = { key: 'user-1', window: { start: 1_700_000_000_000, end: 1_700_000_060_000 } };
    assert.deepEqual(roundTrip(serde, value), value);
    const empty = { key: '', window: { start: 0, end: 0 } };
    assert.deepEqual(roundTrip(serde, empty), empty);
  });

  test('round-trips with a non-string inner serde', () => {
    const serde = Serdes.windowed(Serdes.json<{ id: number }>());
    const value = { key: { id: 9 }, window: { start: 2 ** 33 + 5, end: Number.MAX_SAFE_INTEGER } };
    assert.deepEqual(roundTrip(serde, value), value);
  });

  test('is the inner key bytes, then start and end as 8-byte big-endian integers', () => {
    const bytes = Serdes.windowed(Serdes.string()).serialize({ key: 'k', window: { start: 1, end: 2 ** 32 + 2 } }, TOPIC);
    // "k" = 6b; start 1 = 00..01; end 2^32+2 = 00 00 00 01 00 00 00 02.
    assert.equal(hex(bytes), '6b' + '0000000000000001' + '0000000100000002');
  });

  test('windows of one key sort together, by start', () => {
    const serde = Serdes.windowed(Serdes.string());
    const ser = (start: number) => serde.serialize({ key: 'a', window: { start, end: start + 10 } }, TOPIC);
    // 255 vs 256 differ in the low byte only after a carry: byte order must still match numeric order.
    assert.ok(compareBytes(ser(255), ser(256)) < 0);
    assert.ok(compareBytes(ser(0), ser(2 ** 32)) < 0);
    assert.ok(compareBytes(ser(2 ** 32 - 1), ser(2 ** 32)) < 0);
  });

  test('fails on input shorter than 16 bytes', () => {
    assert.throws(() => Serdes.windowed(Serdes.string()).deserialize(new Uint8Array(15), TOPIC), RangeError);
  });

  test('a failure of the inner serde propagates', () => {
    // inner number serde needs 8 bytes; 3 key bytes + 16 window bytes leaves 3 for the key.
    const bytes = new Uint8Array(19);
    assert.throws(() => Serdes.windowed(Serdes.number()).deserialize(bytes, TOPIC), RangeError);
  });
});
