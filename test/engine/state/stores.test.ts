import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Serdes, Stores, StreamsError, type Serde } from '../../../index.ts';

const badNames = ['', 'has space', 'a/b', 'ünïcode', 'colon:name'];

describe('Stores suppliers', () => {
  test('key-value suppliers describe the store', () => {
    assert.deepEqual(Stores.persistentKeyValueStore('counts'), { name: 'counts', kind: 'key-value', persistent: true });
    assert.deepEqual(Stores.inMemoryKeyValueStore('counts'), { name: 'counts', kind: 'key-value', persistent: false });
  });

  test('window suppliers carry size, retention and duplicates', () => {
    assert.deepEqual(Stores.persistentWindowStore('w', 100, 10), {
      name: 'w',
      kind: 'window',
      persistent: true,
      retentionMs: 100,
      windowSizeMs: 10,
      retainDuplicates: false,
    });
    assert.deepEqual(Stores.inMemoryWindowStore('w', 100, 10, true), {
      name: 'w',
      kind: 'window',
      persistent: false,
      retentionMs: 100,
      windowSizeMs: 10,
      retainDuplicates: true,
    });
  });

  test('session suppliers carry retention', () => {
    assert.deepEqual(Stores.persistentSessionStore('s', 50), { name: 's', kind: 'session', persistent: true, retentionMs: 50 });
    assert.deepEqual(Stores.inMemorySessionStore('s', 0), { name: 's', kind: 'session', persistent: false, retentionMs: 0 });
  });

  test('names may use letters, digits, ".", "_" and "-"', () => {
    assert.equal(Stores.inMemoryKeyValueStore('My.store_01-x').name, 'My.store_01-x');
  });

  test('bad names are rejected with INVALID_ARGUMENT by every supplier', () => {
    for (const name of badNames) {
      const makers = [
        () => Stores.persistentKeyValueStore(name),
        () => Stores.inMemoryKeyValueStore(name),
        () => Stores.persistentWindowStore(name, 100, 10),
        () => Stores.inMemoryWindowStore(name, 100, 10),
        () => Stores.persistentSessionStore(name, 100),
        () => Stores.inMemorySessionStore(name, 100),
      ];
      for (const make of makers) {
        assert.throws(make, (e: unknown) => e instanceof StreamsError && e.code === 'INVALID_ARGUMENT', `name ${JSON.stringify(name)}`);
      }
    }
    assert.throws(() => Stores.inMemoryKeyValueStore(undefined as unknown as string), { code: 'INVALID_ARGUMENT' });
  });

  test('a window size below 1 ms is rejected with INVALID_WINDOW', () => {
    for (const make of [Stores.persistentWindowStore, Stores.inMemoryWindowStore]) {
      assert.throws(() => make('w', 100, 0), { code: 'INVALID_WINDOW' });
      assert.throws(() => make('w', 100, -5), { code: 'INVALID_WINDOW' });
      assert.throws(() => make('w', 100, 1.5), { code: 'INVALID_WINDOW' });
      assert.throws(() => make('w', 100, NaN), { code: 'INVALID_WINDOW' });
    }
  });

  test('a retention shorter than the window size is rejected with INVALID_WINDOW; equal is fine', () => {
    for (const make of [Stores.persistentWindowStore, Stores.inMemoryWindowStore]) {
      assert.throws(() => make('w', 9, 10), { code: 'INVALID_WINDOW' });
      assert.equal(make('w', 10, 10).retentionMs, 10);
    }
  });

  test('a negative or fractional session retention is rejected with INVALID_WINDOW', () => {
    for (const make of [Stores.persistentSessionStore, Stores.inMemorySessionStore]) {
      assert.throws(() => make('s', -1), { code: 'INVALID_WINDOW' });
      assert.throws(() => make('s', 0.5), { code: 'INVALID_WINDOW' });
      assert.throws(() => make('s', Infinity), { code: 'INVALID_WINDOW' });
    }
  });
});

describe('Stores builders', () => {
  test('a builder carries the supplier and serdes, with logging on by default', () => {
    const supplier = Stores.persistentKeyValueStore('counts');
    const keySerde = Serdes.string();
    const valueSerde = Serdes.number();
    const builder = Stores.keyValueStoreBuilder(supplier, keySerde, valueSerde);
    assert.equal(builder.name, 'counts');
    assert.equal(builder.supplier, supplier);
    assert.equal(builder.keySerde, keySerde);
    assert.equal(builder.valueSerde, valueSerde);
    assert.equal(builder.loggingEnabled, true);
  });

  test('withLoggingDisabled/withLoggingEnabled return new builders and leave the original unchanged', () => {
    const builder = Stores.windowStoreBuilder(Stores.inMemoryWindowStore('w', 100, 10), Serdes.string(), Serdes.string());
    const off = builder.withLoggingDisabled();
    assert.equal(off.loggingEnabled, false);
    assert.equal(builder.loggingEnabled, true);
    assert.equal(off.name, 'w');
    assert.equal(off.supplier, builder.supplier);
    const on = off.withLoggingEnabled();
    assert.equal(on.loggingEnabled, true);
    assert.equal(off.loggingEnabled, false);
  });

  test('a builder of the wrong kind for its supplier is rejected with INVALID_ARGUMENT', () => {
    const kv = Stores.inMemoryKeyValueStore('kv');
    const win = Stores.inMemoryWindowStore('w', 100, 10);
    const sess = Stores.inMemorySessionStore('s', 100);
    const s = Serdes.string();
    assert.throws(() => Stores.windowStoreBuilder(kv, s, s), { code: 'INVALID_ARGUMENT' });
    assert.throws(() => Stores.sessionStoreBuilder(kv, s, s), { code: 'INVALID_ARGUMENT' });
    assert.throws(() => Stores.keyValueStoreBuilder(win, s, s), { code: 'INVALID_ARGUMENT' });
    assert.throws(() => Stores.sessionStoreBuilder(win, s, s), { code: 'INVALID_ARGUMENT' });
    assert.throws(() => Stores.keyValueStoreBuilder(sess, s, s), { code: 'INVALID_ARGUMENT' });
    assert.throws(() => Stores.windowStoreBuilder(sess, s, s), { code: 'INVALID_ARGUMENT' });
    // The matching kinds are accepted.
    assert.equal(Stores.keyValueStoreBuilder(kv, s, s).supplier.kind, 'key-value');
    assert.equal(Stores.windowStoreBuilder(win, s, s).supplier.kind, 'window');
    assert.equal(Stores.sessionStoreBuilder(sess, s, s).supplier.kind, 'session');
  });

  test('a missing serde is rejected with MISSING_SERDE', () => {
    const kv = Stores.inMemoryKeyValueStore('kv');
    const none = undefined as unknown as Serde<string>;
    assert.throws(() => Stores.keyValueStoreBuilder(kv, none, Serdes.string()), { code: 'MISSING_SERDE' });
    assert.throws(() => Stores.keyValueStoreBuilder(kv, Serdes.string(), none), { code: 'MISSING_SERDE' });
  });
});
