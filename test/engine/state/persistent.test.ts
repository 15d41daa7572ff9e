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
  store = new PersistentKeyValueStore('counts', str, num, ctx, db, await db.keys('counts'), 40);
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
