import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Materialized, Serdes, StreamsBuilder, Stores, Topology, TopologyTestDriver, type KeyValueStore, type Processor, type ProcessorContext, type StreamRecord } from '../../../index.ts';

const str = Serdes.string();
const num = Serdes.number();

/** Words of each sentence counted; one sentence may update a word twice. */
function wordCount(materialized?: Materialized<string, number>) {
  const b = new StreamsBuilder();
  b.stream('sentences', { key: str, value: str })
    .flatMapValues((v) => v.split(' '))
    .selectKey((_, w) => w)
    .groupByKey({ key: str, value: str })
    .count({ materialized: materialized ?? 'counts' })
    .toStream()
    .to('counts-out', { key: str, value: num });
  return b.build();
}

test('the driver emits every update by default; with cacheMaxBytes, the updates one input record makes to a key come out once', () => {
  for (const [config, expected] of [
    [{}, ['hello=1', 'hello=2', 'world=1', 'hello=3']],
    [{ cacheMaxBytes: 1 << 20 }, ['hello=2', 'world=1', 'hello=3']],
  ] as const) {
    const driver = new TopologyTestDriver(wordCount(), config);
    const input = driver.createInputTopic('sentences', str, str);
    const output = driver.createOutputTopic('counts-out', str, num);
    input.pipeInput('s', 'hello hello world', 1);
    input.pipeInput('s', 'hello', 2);
    assert.deepEqual(output.readKeyValuesToList().map((kv) => `${kv.key}=${kv.value}`), expected);
    assert.equal(driver.getKeyValueStore<string, number>('counts').get('hello'), 3);
    driver.close();
  }
});

test('Materialized.withCachingDisabled() turns the cache off for one store', () => {
  const driver = new TopologyTestDriver(wordCount(Materialized.withCachingDisabled(Materialized.as<string, number>('counts'))), { cacheMaxBytes: 1 << 20 });
  driver.createInputTopic('sentences', str, str).pipeInput('s', 'hello hello', 1);
  assert.deepEqual(driver.createOutputTopic('counts-out', str, num).readValuesToList(), [1, 2]);
  driver.close();
});

test('a table aggregation behind the cache: one update per group and input record, with the old value of the last flush', () => {
  const b = new StreamsBuilder();
  b.table('rows', { key: str, value: str })
    .groupBy((k, v) => [v, k] as const, { key: str, value: str })
    .count({ materialized: 'per-value' })
    .toStream()
    .to('per-value-out', { key: str, value: num });
  const driver = new TopologyTestDriver(b.build(), { cacheMaxBytes: 1 << 20 });
  const rows = driver.createInputTopic('rows', str, str);
  const out = driver.createOutputTopic('per-value-out', str, num);
  rows.pipeInput('a', 'x', 1);
  rows.pipeInput('b', 'x', 2);
  rows.pipeInput('a', 'y', 3);
  rows.pipeInput('b', null, 4);
  assert.deepEqual(out.readKeyValuesToList().map((kv) => `${kv.key}=${kv.value}`), ['x=1', 'x=2', 'x=1', 'y=1', 'x=0']);
  driver.close();
});

/** Writes every record's value under its key and forwards nothing. */
class Writer implements Processor<string, string, never, never> {
  #store!: KeyValueStore<string, string>;
  init(ctx: ProcessorContext<never, never>): void {
    this.#store = ctx.getStateStore('latest');
  }
  process(record: StreamRecord<string, string>): void {
    this.#store.put(record.key, record.value);
  }
}

test('a Processor API store with withCachingEnabled(): reads see the latest write at once; what reaches the store below is flushed per input record', () => {
  const topology = new Topology()
    .addSource('in', { topics: 'in', key: str, value: str })
    .addProcessor('writer', () => new Writer(), 'in')
    .addStateStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore('latest'), str, str).withCachingEnabled(), 'writer');
  assert.equal(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore('x'), str, str).cachingEnabled, false, 'off by default for builders');
  const driver = new TopologyTestDriver(topology, { cacheMaxBytes: 1 << 20 });
  const input = driver.createInputTopic('in', str, str);
  input.pipeInput('k', 'v1', 1);
  input.pipeInput('k', 'v2', 2);
  const store = driver.getKeyValueStore<string, string>('latest');
  assert.equal(store.get('k'), 'v2');
  assert.deepEqual(store.all(), [{ key: 'k', value: 'v2' }]);
  driver.close();
});
