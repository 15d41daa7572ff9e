import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StreamsBuilder, Serdes, TopologyTestDriver } from '../../../index.ts';

const S = Serdes.string();
const N = Serdes.number();

describe('StreamsBuilder.table', () => {
  test('the store holds the latest value per key; a tombstone deletes the row', () => {
    const b = new StreamsBuilder();
    const table = b.table('t', { key: S, value: N }, 'table-store');
    assert.equal(table.queryableStoreName(), 'table-store');
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('t', S, N);
    const store = driver.getKeyValueStore<string, number>('table-store');
    input.pipeInput('a', 1, 10);
    input.pipeInput('b', 2, 11);
    assert.deepEqual(store.all(), [
      { key: 'a', value: 1 },
      { key: 'b', value: 2 },
    ]);
    input.pipeInput('a', 3, 12);
    assert.deepEqual(store.getWithTimestamp('a'), { value: 3, timestamp: 12 });
    input.pipeInput('b', null, 13);
    assert.equal(store.get('b'), undefined);
    assert.deepEqual(store.all(), [{ key: 'a', value: 3 }]);
    assert.equal(store.approximateNumEntries(), 1);
    driver.close();
  });

  test('an older record still overwrites the row (a plain table keeps the last record by arrival)', () => {
    const b = new StreamsBuilder();
    b.table('t', { key: S, value: N }, 's');
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('t', S, N);
    input.pipeInput('a', 1, 100);
    input.pipeInput('a', 2, 50);
    assert.deepEqual(driver.getKeyValueStore<string, number>('s').getWithTimestamp('a'), { value: 2, timestamp: 50 });
    driver.close();
  });

  test('toStream() shows each update, a tombstone as a null value, with the record timestamps', () => {
    const b = new StreamsBuilder();
    b.table('t', { key: S, value: N }).toStream().to('out');
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('t', S, N);
    input.pipeInput('a', 1, 10);
    input.pipeInput('a', 2, 11);
    input.pipeInput('a', null, 12);
    assert.deepEqual(driver.createOutputTopic('out', S, N).readRecordsToList(), [
      { key: 'a', value: 1, timestamp: 10 },
      { key: 'a', value: 2, timestamp: 11 },
      { key: 'a', value: null, timestamp: 12 },
    ]);
    driver.close();
  });

  test('a tombstone for a key that has no row changes nothing and emits nothing', () => {
    // This is what Kafka Streams' default (cached) table store does: a delete of an absent key is
    // not flushed downstream.
    const b = new StreamsBuilder();
    b.table('t', { key: S, value: N }, 's').toStream().to('out');
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('t', S, N);
    input.pipeInput('ghost', null, 1);
    assert.equal(driver.createOutputTopic('out', S, N).getQueueSize(), 0);
    assert.deepEqual(driver.getKeyValueStore('s').all(), []);
    driver.close();
  });

  test('a record with a null key is dropped and counted', () => {
    const b = new StreamsBuilder();
    b.table('t', { key: S, value: N }, 's').toStream().to('out');
    const driver = new TopologyTestDriver(b.build());
    driver.createInputTopic('t', S, N).pipeInput(null, 1, 1);
    assert.equal(driver.createOutputTopic('out', S, N).getQueueSize(), 0);
    assert.equal(driver.droppedRecords()['null-key'], 1);
    driver.close();
  });

  test('without a store name the table is still materialized, under a generated name', () => {
    const b = new StreamsBuilder();
    const table = b.table('t', { key: S, value: N });
    const name = table.queryableStoreName();
    assert.ok(name !== undefined);
    const driver = new TopologyTestDriver(b.build());
    driver.createInputTopic('t', S, N).pipeInput('a', 1, 0);
    assert.equal(driver.getKeyValueStore<string, number>(name).get('a'), 1);
    driver.close();
  });

  test('Materialized options: store serdes and logging', () => {
    const b = new StreamsBuilder();
    b.table('t1', { key: S, value: N }, { storeName: 'logged' });
    b.table('t2', { key: S, value: N }, { storeName: 'unlogged', logging: false, storeType: 'in-memory' });
    const changelogs = b.build().describe().internalTopics.filter((t) => t.type === 'changelog').map((t) => t.name);
    assert.deepEqual(changelogs, ['logged-changelog']);
  });

  test('a topic can be read by only one source', () => {
    const b = new StreamsBuilder();
    b.table('t', { key: S, value: N });
    assert.throws(() => b.stream('t', { key: S, value: N }), { code: 'INVALID_TOPOLOGY' });
  });
});
