/** Key ids: the latin1 string of a key's serialized bytes, with a shortcut for ASCII string keys. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Serdes } from '../../../index.ts';
import { idOfKey, keyOfId } from '../../../engine/internals/key-ids.ts';

const latin1Of = (bytes: Uint8Array): string => Buffer.from(bytes).toString('latin1');

test('a string key has the id of its UTF-8 bytes and comes back from it, ASCII or not', () => {
  const str = Serdes.string();
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' })), (key) => {
      const id = idOfKey(str, key, 't');
      assert.equal(id, latin1Of(str.serialize(key, 't')));
      assert.equal(keyOfId(str, id, 't'), str.deserialize(Buffer.from(id, 'latin1'), 't'));
    }),
  );
  assert.equal(idOfKey(str, 'user-000042', 't'), 'user-000042');
  assert.equal(idOfKey(str, 'é', 't'), '\u00c3\u00a9');
  assert.equal(keyOfId(str, '\u00c3\u00a9', 't'), 'é');
});

test('other serdes go through their bytes', () => {
  const num = Serdes.number();
  fc.assert(
    fc.property(fc.double({ noNaN: true }), (key) => {
      const id = idOfKey(num, key, 't');
      assert.equal(id, latin1Of(num.serialize(key, 't')));
      assert.ok(Object.is(keyOfId(num, id, 't'), key));
    }),
  );
  // A custom serde that is not the built-in string serde is never bypassed, even for strings.
  const upper = { serialize: (v: string) => Buffer.from(v.toUpperCase()), deserialize: (b: Uint8Array) => Buffer.from(b).toString().toLowerCase() };
  assert.equal(idOfKey(upper, 'abc', 't'), 'ABC');
  assert.equal(keyOfId(upper, 'ABC', 't'), 'abc');
});

test('a non-string key under the string serde still fails as the serde fails', () => {
  assert.throws(() => idOfKey(Serdes.string(), 42 as unknown as string, 't'), TypeError);
});
