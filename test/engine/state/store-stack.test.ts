import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Serdes, Stores, type KeyValueStore, type WindowStore } from '../../../index.ts';
import { LocalStateDb } from '../../../engine/state/local-state.ts';
import { buildStoreStack } from '../../../engine/state/store-stack.ts';

const str = Serdes.string();
const num = Serdes.number();

test('the changelog layer gets every change as key and value bytes; without it nothing is logged', () => {
  const logged: [string, number | null, number][] = [];
  const builder = Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore('kv'), str, num);
  const { store, persistent } = buildStoreStack(builder, () => 42, { changelog: (k, v, ts) => void logged.push([str.deserialize(k, ''), v === null ? null : num.deserialize(v, ''), ts]) });
  const kv = store as unknown as KeyValueStore<string, number>;
  kv.put('a', 1);
  kv.put('a', 2);
  kv.delete('a');
  assert.equal(persistent, false);
  assert.deepEqual(logged, [
    ['a', 1, 42],
    ['a', 2, 42],
    ['a', null, 42],
  ]);
  const quiet = buildStoreStack(builder, () => 0).store as unknown as KeyValueStore<string, number>;
  quiet.put('b', 1);
  assert.equal(quiet.get('b'), 1);
});

test('a persistent key-value store on a task database: puts and restored records reach the database', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-stack-'));
  const db = await LocalStateDb.open(dir);
  try {
    const builder = Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore('kv'), str, num);
    const logged: Uint8Array[] = [];
    const stack = buildStoreStack(builder, () => 7, { changelog: (k) => void logged.push(k), local: { db, cacheBytes: 1024 } });
    assert.equal(stack.persistent, true);
    (stack.store as unknown as KeyValueStore<string, number>).put('x', 1);
    stack.restore(str.serialize('y', ''), num.serialize(2, ''), 5);
    await db.commit(new Map([['kv-changelog', 2]]));
    assert.deepEqual((await db.keys('kv')).map((k) => str.deserialize(k, '')).sort(), ['x', 'y']);
    // Restored records are not logged again; the put was.
    assert.deepEqual(logged.map((k) => str.deserialize(k, '')), ['x']);
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a window store mirrors its rows into the task database, drops expired ones there too, and reloads them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-stack-'));
  let db = await LocalStateDb.open(dir);
  try {
    // Retention 100 ms, windows of 10 ms.
    const builder = Stores.windowStoreBuilder(Stores.persistentWindowStore('win', 100, 10), str, str);
    const stack = buildStoreStack(builder, () => 0, { local: { db, cacheBytes: 0 } });
    const win = stack.store as unknown as WindowStore<string, string>;
    win.put('old', 'v', 0);
    win.put('new', 'v', 50);
    await db.commit(new Map([['win-changelog', 2]]));
    assert.equal((await db.keys('win')).length, 2);
    // Stream time 140 is past the first window's retention (it ended at 10): it leaves memory and the database.
    win.put('newer', 'v', 140);
    await db.commit(new Map([['win-changelog', 3]]));
    assert.equal((await db.keys('win')).length, 2);
    await db.close();
    db = await LocalStateDb.open(dir);
    const rows = [];
    for await (const entry of db.entries('win')) rows.push(entry);
    const again = buildStoreStack(builder, () => 0, { local: { db, rows, cacheBytes: 0 } }).store as unknown as WindowStore<string, string>;
    assert.deepEqual([...again.fetch('newer', 0, 1000)].map((e) => e.value), ['v']);
    assert.deepEqual([...again.fetch('old', 0, 1000)], []);
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
