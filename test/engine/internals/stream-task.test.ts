import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Serdes, StreamsError, Stores, Topology, type KeyValueStore, type ProcessorContext } from '../../../index.ts';
import { StreamTask } from '../../../engine/internals/stream-task.ts';
import { createInMemoryStore, type RestorableStore } from '../../../engine/state/in-memory.ts';
import type { AnyStore } from '../../../engine/state/store.ts';

const str = Serdes.string();
const num = Serdes.number();

test('processors are initialized after the stores are restored, so init may read them; records wait for initialize()', () => {
  const seenInInit: number[] = [];
  const topology = new Topology()
    .addSource('src', { topics: ['in'], key: str, value: str })
    .addProcessor(
      'reader',
      () => ({
        init(ctx: ProcessorContext) {
          seenInInit.push(ctx.getStateStore<KeyValueStore<string, number>>('counts').approximateNumEntries());
        },
        process() {},
      }),
      'src',
    )
    .addStateStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore('counts'), str, num), 'reader');
  const [sub] = topology.subtopologies();
  const task = new StreamTask(topology, sub!, 0, {
    applicationId: 'app',
    collector: { send() {}, partitionsFor: () => 1 },
    createStore: createInMemoryStore,
    globalStores: new Map(),
    clock: () => 0,
  });
  const record = { topic: 'in', partition: 0, offset: 0, key: str.serialize('k', 'in'), value: str.serialize('v', 'in'), timestamp: 1 };
  assert.throws(
    () => task.process(record),
    (e: unknown) => e instanceof StreamsError && e.code === 'ILLEGAL_STATE',
  );
  (task.stores.get('counts') as AnyStore & RestorableStore).restore(str.serialize('a', ''), num.serialize(3, ''), 0);
  seenInInit.length = 0; // build() ran init once against its checking context
  task.initialize();
  assert.deepEqual(seenInInit, [1]);
  task.process(record);
  task.close();
});
