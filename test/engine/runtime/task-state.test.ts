import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Serdes, Stores, Topology, type Processor, type SessionStore, type WindowStore } from '../../../index.ts';
import type { RestorableStore } from '../../../engine/state/in-memory.ts';
import { prepareStores } from '../../../engine/runtime/task-state.ts';

const str = Serdes.string();
const nothing = (): Processor<string, string> => ({ process() {} });

function topology(): Topology {
  return new Topology()
    .addSource('src', { topics: 'in', key: str, value: str })
    .addProcessor('proc', nothing, 'src')
    .addStateStore(Stores.windowStoreBuilder(Stores.persistentWindowStore('win', 100, 10), str, str), 'proc')
    .addStateStore(Stores.sessionStoreBuilder(Stores.persistentSessionStore('sess', 100), str, str), 'proc');
}

/** Both changelogs at `offset`: a store without a position is rebuilt from its changelog at open. */
const positions = (offset: number) =>
  new Map([
    ['app-win-changelog', offset],
    ['app-sess-changelog', offset],
  ]);

async function open(dir: string, t: Topology) {
  const changelogs = { win: 'app-win-changelog', sess: 'app-sess-changelog' };
  const prepared = await prepareStores({
    stateDir: dir,
    applicationId: 'app',
    taskId: '0_0',
    topology: t,
    storeNames: ['win', 'sess'],
    changelogs,
    changelogEnds: new Map([
      ['app-win-changelog', 1000],
      ['app-sess-changelog', 1000],
    ]),
    cacheBytesPerStore: 1024,
    warn: (message) => assert.fail(message),
  });
  const logged: Uint8Array[] = [];
  const changelog = (key: Uint8Array) => void logged.push(key);
  const win = prepared.createStore(t.storeBuilder('win')!, () => 0, changelog) as unknown as WindowStore<string, string> & RestorableStore;
  const sess = prepared.createStore(t.storeBuilder('sess')!, () => 0, changelog) as unknown as SessionStore<string, string> & RestorableStore;
  return { prepared, db: prepared.db!, win, sess, logged };
}

test('the local copy of a window or session store drops what falls out of retention, also for keys never written again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-task-state-'));
  const t = topology();
  let s = await open(dir, t);
  for (let i = 0; i < 50; i++) {
    s.win.put(`user-${i}`, 'v', 0);
    s.sess.put({ key: `user-${i}`, window: { start: 0, end: 5 } }, 'v');
  }
  await s.db.commit(positions(100));
  assert.equal((await s.db.keys('win')).length, 50);
  assert.equal((await s.db.keys('sess')).length, 50);
  // Stream time moves on with one other key: every earlier window and session expires.
  s.win.put('late', 'v', 500);
  s.sess.put({ key: 'late', window: { start: 500, end: 500 } }, 'v');
  await s.db.commit(positions(102));
  assert.equal((await s.db.keys('win')).length, 1, 'expired windows are deleted from disk');
  assert.equal((await s.db.keys('sess')).length, 1, 'expired sessions are deleted from disk');
  // A changelog record replayed after its window expired is not kept on disk either.
  s.prepared.restore(s.win, s.logged[0]!, str.serialize('v', ''), 0);
  await s.db.commit(positions(103));
  assert.deepEqual((await s.db.keys('win')).map((k) => Buffer.from(k.subarray(0, 4)).toString()), ['late']);
  await s.db.close();

  // Reopened: only the live rows come back.
  s = await open(dir, t);
  assert.deepEqual(s.win.all().map((e) => e.key), ['late']);
  assert.deepEqual(s.sess.all().map((e) => e.key.key), ['late']);
  await s.db.close();
  rmSync(dir, { recursive: true, force: true });
});
