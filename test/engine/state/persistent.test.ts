import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStateDb } from '../../../engine/state/local-state.ts';
import { PersistentKeyValueStore } from '../../../engine/state/persistent.ts';
import { Serdes } from '../../../index.ts';

const str = Serdes.string();
const num = Serdes.number();

test('a persistent key-value store reads through a bounded cache, commits with its position, and reopens with the same rows', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-persistent-'));
  const logged: [string, number | null][] = [];
  const ctx = {
    recordTimestamp: () => 7,
    logChange: (key: Uint8Array, value: Uint8Array | null) => logged.push([Buffer.from(key).toString(), value === null ? null : num.deserialize(value, '')]),
  };
  let db = await LocalStateDb.open(dir);
  // A cache of ~2 entries: most reads must go to the database.
  let store = new PersistentKeyValueStore('counts', str, num, ctx, db, [], 40);
  for (let i = 0; i < 20; i++) store.put(`k${String(i).padStart(2, '0')}`, i);
  store.delete('k05');
  assert.equal(store.get('k03'), 3, 'an uncommitted write is readable (pending batch)');
  assert.equal(store.get('k05'), undefined);
  assert.equal(store.approximateNumEntries(), 19);
  assert.deepEqual(logged.at(-1), ['k05', null]);
  await db.commit(new Map([['app-counts-changelog', 21]]));
  // Reads after eviction come from disk.
  const missesBefore = store.misses;
  assert.equal(store.get('k01'), 1);
  assert.ok(store.misses > missesBefore);
  assert.deepEqual(store.range('k10', 'k12').map((r) => [r.key, r.value]), [
    ['k10', 10],
    ['k11', 11],
    ['k12', 12],
  ]);
  assert.deepEqual(store.getWithTimestamp('k02'), { value: 2, timestamp: 7 });
  store.put('k19', 190);
  // Not committed: lost on reopen, as after a crash before the commit.
  await db.close();

  db = await LocalStateDb.open(dir);
  assert.equal(db.position('app-counts-changelog'), 21);
  store = new PersistentKeyValueStore('counts', str, num, ctx, db, await db.loadKeys('counts'), 40);
  assert.equal(store.approximateNumEntries(), 19);
  assert.equal(store.get('k19'), 19, 'the uncommitted write did not reach the disk');
  assert.equal(store.get('k05'), undefined);
  // Prefetch loads values with one multi-get; later gets are cache hits.
  await store.prefetch([str.serialize('k07', ''), str.serialize('k08', ''), str.serialize('nope', '')]);
  const hits = store.hits;
  assert.equal(store.get('k07'), 7);
  assert.equal(store.get('k08'), 8);
  assert.equal(store.hits, hits + 2);
  // A key that does not exist costs no read at all.
  const misses = store.misses;
  assert.equal(store.get('absent'), undefined);
  assert.equal(store.misses, misses);
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a second open of a state directory in use fails with STATE_LOCKED', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-persistent-'));
  const db = await LocalStateDb.open(dir);
  await assert.rejects(LocalStateDb.open(dir), { code: 'STATE_LOCKED' });
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

test('writes sealed at a commit reach the disk with its position; writes after the seal wait for the next one, and both stay readable meanwhile', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-persistent-'));
  const row = (n: number) => new Uint8Array([n]);
  const read = (db: LocalStateDb, key: string) => db.readSync('s', key)?.value[0];
  let db = await LocalStateDb.open(dir);
  db.write('s', 'a', row(1), 1);
  db.write('s', 'b', row(2), 1);
  db.seal();
  assert.equal(db.pendingWrites, 0, 'sealed writes are no longer pending');
  // The thread processes on while the transaction commits.
  db.write('s', 'a', row(10), 2);
  db.write('s', 'c', row(3), 2);
  db.write('s', 'b', null, 2);
  assert.equal(db.pendingWrites, 3);
  assert.equal(read(db, 'a'), 10, 'the newest write wins over the sealed one');
  assert.equal(read(db, 'b'), undefined, 'a delete after the seal hides the sealed row');
  const prefetched = db.readMany('s', ['a', 'b', 'c']);
  const writing = db.writeSealed(new Map([['changelog', 2]]));
  assert.deepEqual((await prefetched).map((r) => r?.value[0]), [10, undefined, 3]);
  await writing;
  assert.equal(read(db, 'a'), 10);
  await db.close();

  // Only the sealed writes and their position are on disk.
  db = await LocalStateDb.open(dir);
  assert.equal(db.position('changelog'), 2);
  assert.equal(read(db, 'a'), 1);
  assert.equal(read(db, 'b'), 2);
  assert.equal(read(db, 'c'), undefined);
  // A failed commit: sealed and pending writes are both dropped.
  db.write('s', 'a', row(5), 3);
  db.seal();
  db.write('s', 'd', row(6), 3);
  db.discardPending();
  assert.equal(read(db, 'a'), 1);
  assert.equal(read(db, 'd'), undefined);
  // Sealing twice before a write joins both seals (newest wins).
  db.write('s', 'a', row(7), 4);
  db.seal();
  db.write('s', 'a', row(8), 4);
  db.write('s', 'e', row(9), 4);
  db.seal();
  await db.writeSealed(new Map([['changelog', 4]]));
  await db.close();
  db = await LocalStateDb.open(dir);
  assert.equal(db.position('changelog'), 4);
  assert.equal(read(db, 'a'), 8);
  assert.equal(read(db, 'e'), 9);
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a persistent store tells 0 from -0 (different key bytes), also right after one another', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-persistent-'));
  const db = await LocalStateDb.open(dir);
  const store = new PersistentKeyValueStore('n', num, str, { recordTimestamp: () => 0 }, db, [], 1024);
  store.put(0, 'zero');
  assert.equal(store.get(-0), undefined);
  store.put(-0, 'minus zero');
  assert.equal(store.get(0), 'zero');
  assert.equal(store.approximateNumEntries(), 2);
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

test('prefixScan finds the keys whose bytes start with the prefix, in key order, also after a reopen', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-persistent-'));
  let db = await LocalStateDb.open(dir);
  let store = new PersistentKeyValueStore('p', str, num, { recordTimestamp: () => 0 }, db, [], 1024);
  for (const [k, v] of [['ab', 1], ['a', 0], ['abc', 2], ['b', 3], ['ac', 4], ['aa', 5]] as const) store.put(k, v);
  store.delete('ac');
  assert.deepEqual(store.prefixScan('ab', str), [{ key: 'ab', value: 1 }, { key: 'abc', value: 2 }]);
  assert.deepEqual(store.prefixScan('a', str).map((e) => e.key), ['a', 'aa', 'ab', 'abc']);
  assert.deepEqual(store.prefixScan('z', str), []);
  await db.commit(new Map([['app-p-changelog', 6]]));
  await db.close();
  // Reopened with a cache too small for the rows: the scan reads the values from disk.
  db = await LocalStateDb.open(dir);
  store = new PersistentKeyValueStore('p', str, num, { recordTimestamp: () => 0 }, db, await db.loadKeys('p'), 8);
  assert.deepEqual(store.prefixScan('ab', str), [{ key: 'ab', value: 1 }, { key: 'abc', value: 2 }]);
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

test('property: range and prefixScan stay in key order through interleaved puts and deletes (both key-value stores)', async () => {
  const fc = (await import('fast-check')).default;
  const { createInMemoryStore } = await import('../../../engine/state/in-memory.ts');
  const { Stores } = await import('../../../index.ts');
  const dir = mkdtempSync(join(tmpdir(), 'tributary-persistent-'));
  const db = await LocalStateDb.open(dir);
  const keys = fc.constantFrom('a', 'ab', 'abc', 'b', 'ba', 'c', 'ca', 'cab');
  const op = fc.oneof(
    fc.record({ kind: fc.constant('put' as const), key: keys, value: fc.integer() }),
    fc.record({ kind: fc.constant('delete' as const), key: keys }),
    fc.record({ kind: fc.constant('scan' as const), key: keys }),
  );
  let run = 0;
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const persistent = new PersistentKeyValueStore(`p${run++}`, str, num, { recordTimestamp: () => 0 }, db, [], 1 << 20);
      const memory = createInMemoryStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore('m'), str, num), { recordTimestamp: () => 0 }) as unknown as typeof persistent;
      const model = new Map<string, number>();
      for (const o of ops) {
        for (const store of [persistent, memory]) {
          if (o.kind === 'put') store.put(o.key, o.value);
          else if (o.kind === 'delete') store.delete(o.key);
        }
        if (o.kind === 'put') model.set(o.key, o.value);
        else if (o.kind === 'delete') model.delete(o.key);
        else {
          const sorted = [...model].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)).map(([key, value]) => ({ key, value }));
          for (const store of [persistent, memory]) {
            assert.deepEqual(store.all(), sorted);
            assert.deepEqual(store.prefixScan(o.key, str), sorted.filter((e) => e.key.startsWith(o.key)));
            assert.deepEqual(store.range(o.key), sorted.filter((e) => e.key >= o.key));
          }
        }
      }
    }),
    { numRuns: 200 },
  );
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

test('stores loaded with loadRows or loadKeys, or not at all, and a logged store: their digests move by the hashes of the rows they replace, and they verify after reopen', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-persistent-'));
  const fc = (await import('fast-check')).default;
  const keys = fc.constantFrom('a', 'b', 'c', 'd');
  const op = fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('put' as const), key: keys, value: fc.integer({ min: 0, max: 255 }) }), weight: 4 },
    { arbitrary: fc.record({ kind: fc.constant('delete' as const), key: keys }), weight: 3 },
    { arbitrary: fc.constant({ kind: 'seal' as const }), weight: 2 },
    { arbitrary: fc.constant({ kind: 'write' as const }), weight: 2 },
    { arbitrary: fc.constant({ kind: 'start' as const }), weight: 2 },
    { arbitrary: fc.constant({ kind: 'discard' as const }), weight: 1 },
    { arbitrary: fc.constant({ kind: 'reopen' as const }), weight: 1 },
  );
  const rowsOf = async (store: string) =>
    (await db.loadRows(store)).map(({ key, row }) => [Buffer.from(key).toString('latin1'), row.value[0]!, row.timestamp] as const);
  let run = 0;
  let db = await LocalStateDb.open(dir);
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 10, maxLength: 40, size: 'max' }), async (ops) => {
      // The same writes to a store loaded with loadRows, one loaded with loadKeys, one that is
      // not (its hashes are read at its first commit), and a logged store (loaded with loadRows,
      // written with logRow as a window store does: each write names the row object it replaces,
      // which is skipped if both are sealed together).
      const [loaded, keyed, plain, logged] = [`l${run}`, `k${run}`, `p${run}`, `g${run++}`];
      const stores = [loaded, keyed, plain, logged];
      await db.loadRows(loaded);
      await db.loadKeys(keyed);
      await db.loadRows(logged);
      const current = new Map<string, { value: Uint8Array; timestamp: number; supersededAt: number }>();
      type Rows = Map<string, readonly [number, number] | null>;
      let pending: Rows = new Map();
      let sealed: Rows | undefined;
      const disk = new Map<string, readonly [number, number]>();
      const apply = (rows: Rows | undefined) => {
        for (const [key, row] of rows ?? []) {
          if (row === null) disk.delete(key);
          else disk.set(key, row);
        }
      };
      // A write started and not awaited ('start'; awaited by the next write, discard or reopen):
      // the sealed writes it took. A seal meanwhile joins them with the pending ones, which the
      // next write then writes again.
      let started: { done: Promise<void>; rows: Rows | undefined; joined: boolean } | undefined;
      const settle = async () => {
        if (started === undefined) return;
        await started.done;
        apply(started.rows);
        if (!started.joined) sealed = undefined;
        started = undefined;
      };
      let time = 0;
      for (const o of ops) {
        time++;
        if (o.kind === 'put' || o.kind === 'delete') {
          const value = o.kind === 'put' ? new Uint8Array([o.value]) : null;
          for (const store of [loaded, keyed, plain]) db.write(store, o.key, value, time);
          const row = value === null ? null : { value, timestamp: time, supersededAt: -1 };
          db.logRow(logged, o.key, row, current.get(o.key));
          if (row === null) current.delete(o.key);
          else current.set(o.key, row);
          pending.set(o.key, o.kind === 'put' ? [o.value, time] : null);
        } else if (o.kind === 'seal') {
          db.seal();
          if (pending.size > 0 && started !== undefined) started.joined = true;
          sealed = new Map([...(sealed ?? []), ...pending]);
          pending = new Map();
        } else if (o.kind === 'write') {
          await settle();
          await db.writeSealed(new Map([['changelog', time]]));
          apply(sealed);
          sealed = undefined;
        } else if (o.kind === 'start') {
          await settle();
          started = { done: db.writeSealed(new Map([['changelog', time]])), rows: sealed, joined: false };
        } else if (o.kind === 'discard') {
          await settle();
          db.discardPending();
          pending = new Map();
          sealed = undefined;
          // The runtime gives the tasks up after a discard: their stores start again from the
          // rows on disk (the writes discarded are replayed from the changelog).
          current.clear();
          for (const { key, row } of await db.loadRows(logged)) current.set(Buffer.from(key).toString('latin1'), { ...row, supersededAt: -1 });
        } else {
          await settle();
          await db.close();
          db = await LocalStateDb.open(dir);
          pending = new Map();
          sealed = undefined;
          for (const store of stores) assert.equal(await db.verify(store), undefined);
          await db.loadRows(loaded);
          await db.loadKeys(keyed);
          // The store holds new row objects after a restart (restored from the rows on disk).
          current.clear();
          for (const { key, row } of await db.loadRows(logged)) current.set(Buffer.from(key).toString('latin1'), { ...row, supersededAt: -1 });
        }
      }
      await settle();
      await db.commit(new Map([['changelog', time + 1]]));
      apply(new Map([...(sealed ?? []), ...pending]));
      await db.close();
      db = await LocalStateDb.open(dir);
      for (const store of stores) assert.equal(await db.verify(store), undefined);
      const expected = [...disk].sort(([x], [y]) => (x < y ? -1 : 1)).map(([key, [value, ts]]) => [key, value, ts] as const);
      for (const store of stores) assert.deepEqual(await rowsOf(store), expected);
    }),
    { numRuns: 200 },
  );
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

test('values read from the cache: strings and numbers read again are equal, an object a reader changes is not changed for the next', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-persistent-'));
  const db = await LocalStateDb.open(dir);
  const texts = new PersistentKeyValueStore('t', str, str, { recordTimestamp: () => 0 }, db, [], 1 << 20);
  texts.put('a', 'x'.repeat(100));
  assert.equal(texts.get('a'), 'x'.repeat(100));
  assert.equal(texts.get('a'), 'x'.repeat(100));
  texts.put('a', 'y');
  assert.equal(texts.get('a'), 'y', 'a put replaces what was decoded');
  const counts = new PersistentKeyValueStore('n', str, num, { recordTimestamp: () => 0 }, db, [], 1 << 20);
  counts.put('z', -0);
  assert.ok(Object.is(counts.get('z'), -0) && Object.is(counts.get('z'), -0));
  const objects = new PersistentKeyValueStore('o', str, Serdes.json<{ n: number }>(), { recordTimestamp: () => 0 }, db, [], 1 << 20);
  objects.put('k', { n: 1 });
  objects.get('k')!.n = 2;
  assert.deepEqual(objects.get('k'), { n: 1 });
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});
