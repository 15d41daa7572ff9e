import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Serdes, Stores, type KeyValueStore, type Serde, type SessionStore, type WindowStore, type SessionEntry, type WindowedEntry } from '../../../index.ts';
import { createInMemoryStore } from '../../../engine/state/in-memory.ts';
import { CachingWindowStore, ThreadCache } from '../../../engine/state/record-cache.ts';
import { type StoreContext } from '../../../spi.ts';

const ctx: StoreContext = { recordTimestamp: () => 0 };

function kvStore<K, V>(
  keySerde: Serde<K> = Serdes.string() as unknown as Serde<K>,
  valueSerde: Serde<V> = Serdes.json<V>(),
  context: StoreContext = ctx,
): KeyValueStore<K, V> {
  const builder = Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore('kv'), keySerde, valueSerde);
  return createInMemoryStore(builder, context) as unknown as KeyValueStore<K, V>;
}

function windowStore(retentionMs: number, windowSizeMs: number, retainDuplicates = false, context = ctx): WindowStore<string, string> {
  const builder = Stores.windowStoreBuilder(
    Stores.inMemoryWindowStore('win', retentionMs, windowSizeMs, retainDuplicates),
    Serdes.string(),
    Serdes.string(),
  );
  return createInMemoryStore(builder, context) as unknown as WindowStore<string, string>;
}

function sessionStore(retentionMs: number, context = ctx): SessionStore<string, string> {
  const builder = Stores.sessionStoreBuilder(Stores.inMemorySessionStore('sess', retentionMs), Serdes.string(), Serdes.string());
  return createInMemoryStore(builder, context) as unknown as SessionStore<string, string>;
}

/** A context recording the changelog keys it is told expired, as `key@n1,n2` (the key's string bytes, then the suffix numbers). */
function expiryRecorder(): { context: StoreContext; expired: string[]; logged: Uint8Array[] } {
  const expired: string[] = [];
  const logged: Uint8Array[] = [];
  const decode = (key: Uint8Array) => {
    const view = new DataView(key.buffer, key.byteOffset, key.byteLength);
    const n = (at: number) => view.getUint32(at) * 2 ** 32 + view.getUint32(at + 4);
    return `${Buffer.from(key.subarray(0, key.byteLength - 16)).toString()}@${n(key.byteLength - 16)},${n(key.byteLength - 8)}`;
  };
  return {
    expired,
    logged,
    context: { recordTimestamp: () => 0, logChange: (key) => logged.push(key), expired: (key) => expired.push(decode(key)) },
  };
}

/** Sessions as compact `key@[start,end]=value` strings, in the order returned. */
function sessions(entries: readonly SessionEntry<string, string>[]): string[] {
  return entries.map((e) => `${e.key.key}@[${e.key.window.start},${e.key.window.end}]=${e.value}`);
}

/** Windowed entries as `key@start=value` strings, in the order returned. */
function windows(entries: readonly WindowedEntry<string, string>[]): string[] {
  return entries.map((e) => `${e.key}@${e.window.start}=${e.value}`);
}

describe('in-memory key-value store', () => {
  test('reports its kind, name and persistence of the supplier', () => {
    const store = kvStore<string, number>();
    assert.equal(store.kind, 'key-value');
    assert.equal(store.name, 'kv');
    assert.equal(store.persistent, false);
    const persistent = createInMemoryStore(
      Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore('p'), Serdes.string(), Serdes.string()),
      ctx,
    );
    assert.equal(persistent.persistent, true);
  });

  test('get, put (overwrite) and delete', () => {
    const store = kvStore<string, number>();
    assert.equal(store.get('a'), undefined);
    store.put('a', 1);
    store.put('b', 2);
    assert.equal(store.get('a'), 1);
    store.put('a', 10);
    assert.equal(store.get('a'), 10);
    // delete returns the value it removed, then the key is gone.
    assert.equal(store.delete('a'), 10);
    assert.equal(store.get('a'), undefined);
    assert.equal(store.delete('a'), undefined);
    assert.equal(store.get('b'), 2);
  });

  test('put null deletes the row', () => {
    const store = kvStore<string, number>();
    store.put('a', 1);
    store.put('a', null);
    assert.equal(store.get('a'), undefined);
    assert.equal(store.approximateNumEntries(), 0);
    assert.deepEqual(store.all(), []);
    // Deleting a missing key is a no-op.
    store.put('missing', null);
    assert.equal(store.approximateNumEntries(), 0);
  });

  test('putIfAbsent writes only when the key is absent and returns the existing value', () => {
    const store = kvStore<string, number>();
    assert.equal(store.putIfAbsent('a', 1), undefined);
    assert.equal(store.get('a'), 1);
    assert.equal(store.putIfAbsent('a', 2), 1);
    assert.equal(store.get('a'), 1);
  });

  test('getWithTimestamp: explicit timestamp, else the current record timestamp', () => {
    let now = 500;
    const store = kvStore<string, number>(undefined, undefined, { recordTimestamp: () => now });
    store.put('a', 1, 42);
    store.put('b', 2);
    now = 900; // b was written while the record timestamp was 500
    assert.deepEqual(store.getWithTimestamp('a'), { value: 1, timestamp: 42 });
    assert.deepEqual(store.getWithTimestamp('b'), { value: 2, timestamp: 500 });
    assert.equal(store.getWithTimestamp('c'), undefined);
  });

  test('all() and range() follow serialized-key byte order, not JS string order', () => {
    const store = kvStore<string, number>();
    // UTF-8: "\uFF61" = ef bd a1, "\u{1F600}" = f0 9f 98 80, so the BMP char sorts first by bytes.
    // In UTF-16 (JS string order) "\u{1F600}" = d83d de00 < ff61, i.e. the opposite order.
    store.put('\u{1F600}', 3);
    store.put('\uFF61', 2);
    store.put('b', 1);
    store.put('a', 0);
    assert.deepEqual(
      store.all().map((kv) => kv.key),
      ['a', 'b', '\uFF61', '\u{1F600}'],
    );
  });

  test('number keys sort by their big-endian double bytes: negatives after positives', () => {
    const store = kvStore<number, string>(Serdes.number(), Serdes.string());
    // 1 = 3ff0.., 2 = 4000.., 0.5 = 3fe0.., -1 = bff0.. (sign bit set → largest first byte)
    for (const k of [-1, 2, 1, 0.5]) store.put(k, `v${k}`);
    assert.deepEqual(
      store.all().map((kv) => kv.key),
      [0.5, 1, 2, -1],
    );
  });

  test('0 and -0 are different keys (different bytes), also right after one another', () => {
    const store = kvStore<number, string>(Serdes.number(), Serdes.string());
    store.put(0, 'zero');
    assert.equal(store.get(-0), undefined);
    store.put(-0, 'minus zero');
    assert.equal(store.get(0), 'zero');
    assert.equal(store.approximateNumEntries(), 2);
  });

  test('range bounds are inclusive and optional', () => {
    const store = kvStore<string, number>();
    for (const [k, v] of [['a', 1], ['b', 2], ['c', 3], ['d', 4], ['e', 5]] as const) store.put(k, v);
    assert.deepEqual(store.range('b', 'd'), [
      { key: 'b', value: 2 },
      { key: 'c', value: 3 },
      { key: 'd', value: 4 },
    ]);
    // Bounds that are not keys themselves: "bb" < "c" <= "d" < "dd".
    assert.deepEqual(store.range('bb', 'dd').map((kv) => kv.key), ['c', 'd']);
    assert.deepEqual(store.range('d').map((kv) => kv.key), ['d', 'e']);
    assert.deepEqual(store.range(undefined, 'b').map((kv) => kv.key), ['a', 'b']);
    assert.deepEqual(store.range('x', 'z'), []);
    // A reversed range is empty.
    assert.deepEqual(store.range('d', 'b'), []);
  });

  test('prefixScan: the keys whose bytes start with the prefix, in key order', () => {
    const store = kvStore<string, number>();
    for (const [k, v] of [['ab', 1], ['a', 0], ['abc', 2], ['b', 3], ['ac', 4]] as const) store.put(k, v);
    assert.deepEqual(store.prefixScan('ab', Serdes.string()), [
      { key: 'ab', value: 1 },
      { key: 'abc', value: 2 },
    ]);
    assert.deepEqual(store.prefixScan('a', Serdes.string()).map((e) => e.key), ['a', 'ab', 'abc', 'ac']);
    store.delete('ab');
    assert.deepEqual(store.prefixScan('ab', Serdes.string()).map((e) => e.key), ['abc']);
    assert.deepEqual(store.prefixScan('z', Serdes.string()), []);
  });

  test('range/all see keys inserted after a previous iteration, in order', () => {
    const store = kvStore<string, number>();
    store.put('b', 2);
    store.put('d', 4);
    assert.deepEqual(store.all().map((kv) => kv.key), ['b', 'd']);
    store.put('c', 3);
    store.put('a', 1);
    assert.deepEqual(store.all().map((kv) => kv.key), ['a', 'b', 'c', 'd']);
    store.delete('b');
    assert.deepEqual(store.all().map((kv) => kv.key), ['a', 'c', 'd']);
  });

  test('approximateNumEntries counts rows', () => {
    const store = kvStore<string, number>();
    assert.equal(store.approximateNumEntries(), 0);
    store.put('a', 1);
    store.put('b', 1);
    store.put('a', 2); // overwrite, still 2 rows
    assert.equal(store.approximateNumEntries(), 2);
    store.delete('a');
    assert.equal(store.approximateNumEntries(), 1);
  });

  test('values are stored serialized: mutating a value read or written does not change the store', () => {
    const store = kvStore<string, { n: number; list: number[] }>();
    const written = { n: 1, list: [1] };
    store.put('a', written);
    written.n = 99; // mutate the object after writing it
    written.list.push(2);
    const read = store.get('a')!;
    assert.deepEqual(read, { n: 1, list: [1] });
    read.n = 42; // mutate the object that was read
    read.list.push(3);
    assert.deepEqual(store.get('a'), { n: 1, list: [1] });
    assert.deepEqual(store.all()[0]!.value, { n: 1, list: [1] });
  });

  test('a value the serde cannot serialize fails at the put and leaves the store unchanged', () => {
    const store = kvStore<string, string>(Serdes.string(), Serdes.string());
    store.put('a', 'ok');
    assert.throws(() => store.put('a', 5 as unknown as string), TypeError);
    assert.equal(store.get('a'), 'ok');
  });

  test('a null key is rejected with INVALID_ARGUMENT', () => {
    const store = kvStore<string, number>();
    assert.throws(() => store.put(null as unknown as string, 1), { code: 'INVALID_ARGUMENT' });
    assert.throws(() => store.get(undefined as unknown as string), { code: 'INVALID_ARGUMENT' });
  });

  test('a closed store throws ILLEGAL_STATE', () => {
    const store = kvStore<string, number>();
    store.put('a', 1);
    store.close();
    assert.throws(() => store.get('a'), { code: 'ILLEGAL_STATE' });
    assert.throws(() => store.put('a', 2), { code: 'ILLEGAL_STATE' });
    assert.throws(() => store.all(), { code: 'ILLEGAL_STATE' });
  });
});

describe('in-memory window store', () => {
  test('reports kind, window size and retention', () => {
    const store = windowStore(100, 10);
    assert.equal(store.kind, 'window');
    assert.equal(store.windowSizeMs, 10);
    assert.equal(store.retentionMs, 100);
  });

  test('fetch by key with an inclusive start range, ordered by start', () => {
    const store = windowStore(1000, 10);
    // Insert out of order; fetch must order by start.
    store.put('a', 'a30', 30);
    store.put('a', 'a0', 0);
    store.put('a', 'a20', 20);
    store.put('a', 'a10', 10);
    store.put('b', 'b10', 10);
    // [10, 20] includes both bounds.
    assert.deepEqual(store.fetch('a', 10, 20), [
      { window: { start: 10, end: 20 }, value: 'a10', timestamp: 0 },
      { window: { start: 20, end: 30 }, value: 'a20', timestamp: 0 },
    ]);
    assert.deepEqual(
      store.fetch('a', 0, 100).map((e) => e.value),
      ['a0', 'a10', 'a20', 'a30'],
    );
    // A range between starts is empty; so is an unknown key.
    assert.deepEqual(store.fetch('a', 11, 19), []);
    assert.deepEqual(store.fetch('zzz', 0, 100), []);
  });

  test('put overwrites the window with the same start; put null deletes it', () => {
    const store = windowStore(1000, 10);
    store.put('a', 'first', 10);
    store.put('a', 'second', 10);
    assert.deepEqual(store.fetch('a', 0, 100).map((e) => e.value), ['second']);
    assert.equal(store.fetchWindow('a', 10), 'second');
    store.put('a', null, 10);
    assert.equal(store.fetchWindow('a', 10), undefined);
    assert.deepEqual(store.fetch('a', 0, 100), []);
  });

  test('fetchWithTimestamp: explicit timestamp, else the record timestamp; missing window is undefined', () => {
    let now = 77;
    const store = windowStore(1000, 10, false, { recordTimestamp: () => now });
    store.put('a', 'x', 10, 15);
    store.put('a', 'y', 20);
    now = 1;
    assert.deepEqual(store.fetchWithTimestamp('a', 10), { value: 'x', timestamp: 15 });
    assert.deepEqual(store.fetchWithTimestamp('a', 20), { value: 'y', timestamp: 77 });
    assert.equal(store.fetchWithTimestamp('a', 11), undefined);
    assert.equal(store.fetchWithTimestamp('b', 10), undefined);
  });

  test('fetchAll returns every key with a start in the inclusive range', () => {
    const store = windowStore(1000, 10);
    store.put('b', 'b0', 0);
    store.put('a', 'a10', 10);
    store.put('c', 'c20', 20);
    store.put('a', 'a30', 30);
    // The interface does not fix an order across keys: compare sorted by (start, key).
    const sorted = (es: WindowedEntry<string, string>[]) =>
      windows([...es].sort((x, y) => x.window.start - y.window.start || (x.key < y.key ? -1 : x.key > y.key ? 1 : 0)));
    assert.deepEqual(sorted(store.fetchAll(10, 20)), ['a@10=a10', 'c@20=c20']);
    assert.deepEqual(sorted(store.fetchAll(0, 30)), ['b@0=b0', 'a@10=a10', 'c@20=c20', 'a@30=a30']);
    assert.deepEqual(sorted(store.all()), ['b@0=b0', 'a@10=a10', 'c@20=c20', 'a@30=a30']);
    // Each entry carries its window (end = start + size).
    assert.deepEqual(store.fetchAll(20, 20), [{ key: 'c', window: { start: 20, end: 30 }, value: 'c20', timestamp: 0 }]);
  });

  test('retention drops windows with start <= latest start - retention', () => {
    const store = windowStore(100, 10);
    store.put('a', 'a0', 0);
    store.put('a', 'a50', 50);
    store.put('a', 'a51', 51);
    store.put('a', 'a150', 150);
    // Latest start 150, retention 100: starts <= 50 are expired, 51 is the oldest kept.
    assert.deepEqual(store.fetch('a', 0, 1000).map((e) => e.window.start), [51, 150]);
    assert.equal(store.fetchWindow('a', 50), undefined);
    assert.equal(store.fetchWithTimestamp('a', 0), undefined);
    // A late put at start 50 (<= 150 - 100) is not stored; 60 is.
    store.put('b', 'b50', 50);
    store.put('b', 'b60', 60);
    assert.deepEqual(store.fetch('b', 0, 1000).map((e) => e.window.start), [60]);
  });

  test('a put to one key expires the windows of other keys for reads', () => {
    const store = windowStore(100, 10);
    store.put('a', 'a0', 0);
    store.put('a', 'a5', 5);
    assert.deepEqual(store.fetch('a', 0, 10).map((e) => e.value), ['a0', 'a5']);
    // Latest start becomes 103 via key b: starts <= 3 are expired, for every key.
    store.put('b', 'b103', 103);
    assert.deepEqual(store.fetch('a', 0, 1000).map((e) => e.value), ['a5']);
    assert.deepEqual(windows(store.fetchAll(0, 1000)).sort(), ['a@5=a5', 'b@103=b103']);
    assert.equal(store.fetchWindow('a', 0), undefined);
  });

  test('windows out of retention are dropped for every key, and each dropped row is reported by its changelog key', () => {
    const { context, expired, logged } = expiryRecorder();
    const store = windowStore(100, 10, false, context);
    store.put('a', 'a0', 0);
    store.put('a', 'a5', 5);
    store.put('c', 'c5', 5);
    store.put('b', 'b50', 50);
    assert.deepEqual(expired, []);
    // Latest start 105: starts <= 5 are out of retention; a and c are never written again.
    store.put('b', 'b105', 105);
    assert.deepEqual(expired.sort(), ['a@0,0', 'a@5,0', 'c@5,0']);
    assert.equal(logged.length, 5, 'expiry is not logged to the changelog');
    // Restoring a row that is already out of retention stores nothing and reports it.
    expired.length = 0;
    (store as unknown as { restore(k: Uint8Array, v: Uint8Array, t: number): void }).restore(logged[0]!, Serdes.string().serialize('a0', ''), 0);
    assert.deepEqual(expired, ['a@0,0']);
    assert.deepEqual(windows(store.all()), ['b@50=b50', 'b@105=b105']);
  });

  test('an expired retained duplicate is reported with its own sequence number', () => {
    const { context, expired } = expiryRecorder();
    const store = windowStore(100, 10, true, context);
    store.put('a', 'x', 0);
    store.put('a', 'y', 0);
    store.put('b', 'z', 200);
    assert.deepEqual(expired, ['a@0,1', 'a@0,2']);
  });

  test('an older put does not move the retention boundary back', () => {
    const store = windowStore(100, 10);
    store.put('a', 'x', 200);
    store.put('a', 'y', 150); // kept: 150 > 200 - 100
    store.put('a', 'z', 100); // dropped: 100 <= 200 - 100
    assert.deepEqual(store.fetch('a', 0, 1000).map((e) => e.window.start), [150, 200]);
  });

  test('retainDuplicates keeps every put for the same start, in insertion order', () => {
    const store = windowStore(1000, 10, true);
    store.put('a', 'first', 10);
    store.put('a', 'second', 10);
    store.put('a', 'early', 5);
    store.put('a', 'third', 10);
    assert.deepEqual(
      store.fetch('a', 0, 100).map((e) => `${e.window.start}:${e.value}`),
      ['5:early', '10:first', '10:second', '10:third'],
    );
    // A null put does not delete duplicates.
    store.put('a', null, 10);
    assert.equal(store.fetch('a', 10, 10).length, 3);
  });

  test('a window value is stored serialized', () => {
    const builder = Stores.windowStoreBuilder(Stores.inMemoryWindowStore('w', 100, 10), Serdes.string(), Serdes.json<{ n: number }>());
    const store = createInMemoryStore(builder, ctx) as unknown as WindowStore<string, { n: number }>;
    const value = { n: 1 };
    store.put('a', value, 0);
    value.n = 2;
    store.fetchWindow('a', 0)!.n = 3;
    assert.deepEqual(store.fetchWindow('a', 0), { n: 1 });
  });
});

describe('in-memory session store', () => {
  function seeded(): SessionStore<string, string> {
    const store = sessionStore(10_000);
    store.put({ key: 'a', window: { start: 40, end: 50 } }, 's40');
    store.put({ key: 'a', window: { start: 0, end: 10 } }, 's0');
    store.put({ key: 'a', window: { start: 20, end: 30 } }, 's20');
    store.put({ key: 'b', window: { start: 0, end: 100 } }, 'b0');
    return store;
  }

  test('reports kind and retention', () => {
    const store = sessionStore(500);
    assert.equal(store.kind, 'session');
    assert.equal(store.retentionMs, 500);
  });

  test('findSessions returns sessions with end >= earliestEnd and start <= latestStart', () => {
    const store = seeded();
    // Both bounds inclusive: [0,10] has end 10 >= 10, [40,50] has start 40 <= 40.
    assert.deepEqual(sessions(store.findSessions('a', 10, 40)), ['a@[0,10]=s0', 'a@[20,30]=s20', 'a@[40,50]=s40']);
    // One past each bound excludes the outer sessions.
    assert.deepEqual(sessions(store.findSessions('a', 11, 39)), ['a@[20,30]=s20']);
    // end >= 31 excludes [20,30]; start <= 19 excludes [40,50] → nothing overlaps.
    assert.deepEqual(sessions(store.findSessions('a', 31, 19)), []);
    // A point query finds the session containing it (how session merging looks up neighbours).
    assert.deepEqual(sessions(store.findSessions('a', 25, 25)), ['a@[20,30]=s20']);
    assert.deepEqual(sessions(store.findSessions('b', 50, 50)), ['b@[0,100]=b0']);
    assert.deepEqual(sessions(store.findSessions('zzz', 0, 1000)), []);
  });

  test('sessions are ordered by end, then start', () => {
    const store = sessionStore(10_000);
    store.put({ key: 'a', window: { start: 20, end: 30 } }, 'late-start');
    store.put({ key: 'a', window: { start: 25, end: 25 } }, 'point');
    store.put({ key: 'a', window: { start: 5, end: 30 } }, 'early-start');
    assert.deepEqual(sessions(store.fetch('a')), ['a@[25,25]=point', 'a@[5,30]=early-start', 'a@[20,30]=late-start']);
  });

  test('put replaces the value of the same session', () => {
    const store = seeded();
    store.put({ key: 'a', window: { start: 20, end: 30 } }, 'updated');
    assert.deepEqual(sessions(store.fetch('a')), ['a@[0,10]=s0', 'a@[20,30]=updated', 'a@[40,50]=s40']);
  });

  test('fetchSession finds exactly one session by start and end', () => {
    const store = seeded();
    assert.equal(store.fetchSession('a', 20, 30), 's20');
    assert.equal(store.fetchSession('a', 20, 31), undefined);
    assert.equal(store.fetchSession('a', 21, 30), undefined);
    assert.equal(store.fetchSession('b', 20, 30), undefined);
  });

  test('remove deletes one session; put null removes too', () => {
    const store = seeded();
    store.remove({ key: 'a', window: { start: 20, end: 30 } });
    assert.deepEqual(sessions(store.fetch('a')), ['a@[0,10]=s0', 'a@[40,50]=s40']);
    // Removing a session that does not exist (same key, other bounds) changes nothing.
    store.remove({ key: 'a', window: { start: 0, end: 11 } });
    store.remove({ key: 'nope', window: { start: 0, end: 10 } });
    assert.deepEqual(sessions(store.fetch('a')), ['a@[0,10]=s0', 'a@[40,50]=s40']);
    store.put({ key: 'a', window: { start: 0, end: 10 } }, null as unknown as string);
    assert.deepEqual(sessions(store.fetch('a')), ['a@[40,50]=s40']);
  });

  test('all() lists every key in key byte order', () => {
    const store = seeded();
    assert.deepEqual(sessions(store.all()), ['a@[0,10]=s0', 'a@[20,30]=s20', 'a@[40,50]=s40', 'b@[0,100]=b0']);
  });

  test('retention drops sessions with end <= latest end - retention', () => {
    const store = sessionStore(100);
    store.put({ key: 'a', window: { start: 0, end: 10 } }, 'old');
    store.put({ key: 'a', window: { start: 90, end: 100 } }, 'edge');
    store.put({ key: 'a', window: { start: 95, end: 101 } }, 'kept');
    store.put({ key: 'b', window: { start: 150, end: 200 } }, 'new');
    // Latest end 200, retention 100: ends <= 100 are expired (for every key).
    assert.deepEqual(sessions(store.fetch('a')), ['a@[95,101]=kept']);
    assert.equal(store.fetchSession('a', 0, 10), undefined);
    // A late session ending at 100 is not stored; one ending at 120 is.
    store.put({ key: 'c', window: { start: 50, end: 100 } }, 'late');
    store.put({ key: 'c', window: { start: 50, end: 120 } }, 'ok');
    assert.deepEqual(sessions(store.fetch('c')), ['c@[50,120]=ok']);
    assert.deepEqual(sessions(store.findSessions('a', 0, 1000)), ['a@[95,101]=kept']);
  });

  test('sessions out of retention are reported by their changelog key (end, start)', () => {
    const { context, expired } = expiryRecorder();
    const store = sessionStore(100, context);
    store.put({ key: 'a', window: { start: 0, end: 10 } }, 'v');
    store.put({ key: 'b', window: { start: 120, end: 130 } }, 'v');
    // Latest end 200, retention 100: ends <= 100 are out of retention.
    store.put({ key: 'c', window: { start: 150, end: 200 } }, 'v');
    assert.deepEqual(expired, ['a@10,0']);
    assert.deepEqual(sessions(store.all()), ['b@[120,130]=v', 'c@[150,200]=v']);
  });

  test('thousands of merges (the index compacts its dead entries) leave the same sessions, ends and expiries as a model', () => {
    const { context, expired } = expiryRecorder();
    const store = sessionStore(1000, context) as SessionStore<string, string> & { sessionsEndingIn(from: number, to: number): SessionEntry<string, string>[] };
    // Model: per key its one live session [start, end].
    const model = new Map<string, { start: number; end: number }>();
    for (let t = 0; t < 5000; t++) {
      const key = `k${t % 7}`;
      const previous = model.get(key);
      if (previous !== undefined) store.remove({ key, window: previous });
      const session = { start: previous?.start ?? t, end: t };
      store.put({ key, window: session }, String(t));
      model.set(key, session);
    }
    // Every key's session is still open (ends 4993..4999): nothing expired, nothing else indexed.
    assert.deepEqual(expired, []);
    assert.deepEqual(
      sessions(store.sessionsEndingIn(0, 10_000)),
      [...model].sort((a, b) => a[1].end - b[1].end).map(([key, w]) => `${key}@[${w.start},${w.end}]=${w.end}`),
    );
    // Stream time far ahead: each live session expires once, and the dead entries never do.
    store.put({ key: 'late', window: { start: 100_000, end: 100_000 } }, 'x');
    assert.deepEqual(expired.sort(), [...model].map(([key, w]) => `${key}@${w.end},${w.start}`).sort());
    assert.deepEqual(sessions(store.sessionsEndingIn(0, 1_000_000)), ['late@[100000,100000]=x']);
  });

  test('a tombstone put advances the retention boundary like any put (as InMemorySessionStore.put does)', () => {
    // Kafka's InMemorySessionStore.put updates observedStreamTime = max(observed, end) before it
    // looks at the value, so put(key, null) with a later end also expires older sessions.
    const store = sessionStore(100);
    store.put({ key: 'a', window: { start: 0, end: 10 } }, 'old');
    store.put({ key: 'b', window: { start: 300, end: 500 } }, null as unknown as string);
    // Latest end 500, retention 100: [0,10] (end 10 <= 400) is expired.
    assert.deepEqual(sessions(store.fetch('a')), []);
  });
});

test('stores keep values that own their memory, not views of a larger buffer they would keep alive', () => {
  // Serdes.string() returns slices of Node's shared 8 KiB pool: a store keeping such a slice for a
  // long-lived window or key would pin the whole slab (the soak run's memory grew this way).
  const logged: (Uint8Array | null)[] = [];
  const context: StoreContext = { recordTimestamp: () => 0, logChange: (_key, value) => logged.push(value) };
  assert.notEqual(Serdes.string().serialize('v', 't').buffer.byteLength, 1, 'the serde returns a view');
  kvStore<string, string>(Serdes.string(), Serdes.string(), context).put('k', 'v');
  windowStore(1_000, 100, false, context).put('k', 'v', 0);
  sessionStore(1_000, context).put({ key: 'k', window: { start: 0, end: 0 } }, 'v');
  assert.equal(logged.length, 3);
  for (const value of logged) assert.equal(value!.buffer.byteLength, value!.byteLength);
});

test('behind a record cache, the window store keeps values that own their memory (the cache copies nothing before a flush)', () => {
  const logged: (Uint8Array | null)[] = [];
  const context: StoreContext = { recordTimestamp: () => 0, logChange: (_key, value) => logged.push(value) };
  const inner = windowStore(1_000, 100, false, context);
  const cached = new CachingWindowStore(inner as never, new ThreadCache(1 << 20), Serdes.string() as never, Serdes.string() as never, { recordTimestamp: () => 0 });
  cached.put('k', 'v1', 0);
  cached.put('k', 'v2', 0);
  assert.equal(logged.length, 0, 'nothing below the cache before a flush');
  cached.flush();
  assert.equal(logged.length, 1);
  assert.equal(Buffer.from(logged[0]!).toString(), 'v2');
  assert.equal(logged[0]!.buffer.byteLength, logged[0]!.byteLength);
});
