import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StoreSnapshots, type SnapshotSource } from '../../../engine/runtime/store-snapshots.ts';
import { SnapshotPublisher } from '../../../engine/runtime/thread/snapshot-publisher.ts';
import { createInMemoryStore } from '../../../engine/state/in-memory.ts';
import { Stores } from '../../../engine/state/stores.ts';
import { Serdes } from '../../../engine/serde.ts';
import type { AnyStore, StoreBuilder } from '../../../engine/state/store.ts';

const str = Serdes.string();
const id = (key: string) => Buffer.from(key).toString('latin1');
const bytes = (text: string) => Buffer.from(text);

/** The main thread's snapshots and one "stream thread" publishing to them (both on this thread). */
function setup(maxBytes = 1 << 20, stores = ['counts']) {
  const snapshots = new StoreSnapshots(stores, maxBytes);
  const source = snapshots.connect();
  const publisher = new SnapshotPublisher(source.workerPort, source.published, stores);
  const read = (key: string, partition = 0, from: SnapshotSource = source, store = 'counts') => {
    const row = snapshots.read(from, store, partition, id(key));
    if (row === undefined) return 'not published';
    if (!row.found) return 'absent';
    return row.value === undefined ? 'evicted' : Buffer.from(row.value).toString();
  };
  const close = () => {
    snapshots.disconnect(source);
    source.workerPort.close();
  };
  return { snapshots, source, publisher, read, close };
}

function storeWith(rows: Record<string, string>): { store: AnyStore; builder: StoreBuilder } {
  const builder = Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore('counts'), str, str) as unknown as StoreBuilder;
  const store = createInMemoryStore(builder, { recordTimestamp: () => 7 }) as AnyStore;
  for (const [k, v] of Object.entries(rows)) (store as { put(k: string, v: string): void }).put(k, v);
  return { store, builder };
}

test('a read right after a publication sees it, in the same turn of the event loop (no wait for the channel)', () => {
  const { publisher, read, close } = setup();
  try {
    assert.equal(read('a'), 'not published', 'before the task is opened, the stream thread answers');
    publisher.open(0, [storeWith({ a: '1' })]);
    assert.equal(read('a'), '1');
    assert.equal(read('b'), 'absent');
    publisher.changed('counts', 0, bytes('a'), bytes('2'), 10);
    publisher.changed('counts', 0, bytes('b'), bytes('5'), 11);
    // Changes not published yet (no commit started) are not seen.
    assert.equal(read('a'), '1');
    publisher.publish();
    assert.equal(read('a'), '2');
    assert.equal(read('b'), '5');
    publisher.changed('counts', 0, bytes('a'), null, 12);
    publisher.publish();
    assert.equal(read('a'), 'absent', 'a delete removes the key');
  } finally {
    close();
  }
});

test('a key updated many times between two publications is sent once, with its last value and timestamp', () => {
  const { snapshots, source, publisher, close } = setup();
  try {
    publisher.open(0, [storeWith({})]);
    for (let i = 0; i < 100; i++) publisher.changed('counts', 0, bytes('k'), bytes(String(i)), i);
    publisher.publish();
    const row = snapshots.read(source, 'counts', 0, id('k'));
    assert.deepEqual(row?.found === true && { value: Buffer.from(row.value!).toString(), timestamp: row.timestamp }, { value: '99', timestamp: 99 });
  } finally {
    close();
  }
});

test('values stay within maxBytes (least recently read out first); every key stays known', () => {
  const maxBytes = 20_000;
  const { snapshots, publisher, read, close } = setup(maxBytes);
  try {
    publisher.open(0, [storeWith({})]);
    const value = 'x'.repeat(100);
    for (let batch = 0; batch < 10; batch++) {
      for (let i = 0; i < 100; i++) publisher.changed('counts', 0, bytes(`k${batch * 100 + i}`), bytes(`${value}${batch * 100 + i}`), 1);
      publisher.publish();
      assert.equal(read('k0') === 'absent', false);
      assert.ok(snapshots.stats().bytes <= maxBytes, `${snapshots.stats().bytes} bytes held`);
    }
    const stats = snapshots.stats();
    assert.equal(stats.keys, 1000);
    assert.ok(stats.values < 1000 && stats.values > 50, `${stats.values} values held`);
    assert.equal(read('k999'), `${value}999`, 'the newest values are held');
    assert.equal(read('k1'), 'evicted', 'an old value is evicted: the stream thread answers for it');
    // k0 was read after every publication: the most recently used, so still here.
    assert.equal(read('k0'), `${value}0`);
  } finally {
    close();
  }
});

test('a task reopened (restarted or moved) replaces its rows; a thread closing a task another one took over leaves it', () => {
  const snapshots = new StoreSnapshots(['counts'], 1 << 20);
  const a = snapshots.connect();
  const b = snapshots.connect();
  const publisherA = new SnapshotPublisher(a.workerPort, a.published, ['counts']);
  const publisherB = new SnapshotPublisher(b.workerPort, b.published, ['counts']);
  const read = (from: SnapshotSource, key: string) => {
    const row = snapshots.read(from, 'counts', 0, id(key));
    return row === undefined ? 'not published' : row.found ? Buffer.from(row.value!).toString() : 'absent';
  };
  try {
    publisherA.open(0, [storeWith({ gone: '1', kept: '1' })]);
    assert.equal(read(a, 'gone'), '1');
    // The task moves to thread b, restored without "gone" (say, deleted in the commit it left with).
    publisherB.open(0, [storeWith({ kept: '2' })]);
    assert.equal(read(b, 'kept'), '2');
    assert.equal(read(b, 'gone'), 'absent');
    assert.equal(read(a, 'kept'), 'not published', 'the thread that let the task go no longer answers for it');
    // Thread a's late close and changes do not touch b's rows.
    publisherA.changed('counts', 0, bytes('kept'), bytes('stale'), 1);
    publisherA.publish();
    publisherA.close(0, ['counts']);
    assert.equal(read(b, 'kept'), '2');
    // A thread that stops or fails: its rows are dropped.
    snapshots.disconnect(b);
    assert.equal(read(b, 'kept'), 'not published');
    assert.equal(snapshots.stats().keys, 0);
  } finally {
    snapshots.disconnect(a);
    snapshots.disconnect(b);
    a.workerPort.close();
    b.workerPort.close();
  }
});

test('only the published stores are sent', () => {
  const { publisher, snapshots, close } = setup(1 << 20, ['other']);
  try {
    assert.equal(publisher.publishes('counts'), false);
    publisher.open(0, [storeWith({ a: '1' })]);
    assert.equal(snapshots.stats().partitions, 0);
  } finally {
    close();
  }
});
