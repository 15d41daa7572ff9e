import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StreamsBuilder, Serdes, TopologyTestDriver } from '../../../index.ts';

const S = Serdes.string();
const N = Serdes.number();

describe('KStream.toTable', () => {
  test('the table holds the latest value per key; a null value deletes the row', () => {
    const b = new StreamsBuilder();
    const table = b.stream('in', { key: S, value: N }).toTable({ materialized: 'latest' });
    assert.equal(table.queryableStoreName(), 'latest');
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, N);
    input.pipeInput('a', 1, 10);
    input.pipeInput('b', 2, 11);
    input.pipeInput('a', 3, 12);
    input.pipeInput('b', null, 13);
    const store = driver.getKeyValueStore<string, number>('latest');
    assert.equal(store.get('a'), 3);
    assert.equal(store.get('b'), undefined);
    assert.deepEqual(store.all(), [{ key: 'a', value: 3 }]);
    // the row keeps the timestamp of the record that wrote it
    assert.deepEqual(store.getWithTimestamp('a'), { value: 3, timestamp: 12 });
    driver.close();
  });

  test('toStream() of the table emits every update, and a tombstone for a deleted row', () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: N }).toTable().toStream().to('out');
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, N);
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

  test('records with a null key are dropped and counted', () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: N }).toTable({ materialized: 't' }).toStream().to('out');
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, N);
    input.pipeInput(null, 1, 0);
    input.pipeInput('a', 2, 0);
    assert.deepEqual(driver.createOutputTopic('out', S, N).readKeyValuesToList(), [{ key: 'a', value: 2 }]);
    assert.equal(driver.droppedRecords()['null-key'], 1);
    assert.deepEqual(driver.getKeyValueStore('t').all(), [{ key: 'a', value: 2 }]);
    driver.close();
  });

  test('without a key change there is no repartition topic; after selectKey there is one', () => {
    const b1 = new StreamsBuilder();
    b1.stream('in', { key: S, value: N }).toTable();
    assert.deepEqual(b1.build().describe().internalTopics.filter((t) => t.type === 'repartition'), []);

    const b2 = new StreamsBuilder();
    b2.stream('in', { key: S, value: N })
      .selectKey((_k, v) => String(v % 2))
      .toTable({ materialized: 'by-parity' });
    const topology = b2.build();
    assert.equal(topology.describe().internalTopics.filter((t) => t.type === 'repartition').length, 1);
    const driver = new TopologyTestDriver(topology);
    const input = driver.createInputTopic('in', S, N);
    input.pipeInput('x', 1, 0);
    input.pipeInput('y', 2, 0);
    input.pipeInput('z', 3, 0);
    // rows keyed by the new key: "1" was written by 1 then 3
    const store = driver.getKeyValueStore<string, number>('by-parity');
    assert.equal(store.get('1'), 3);
    assert.equal(store.get('0'), 2);
    driver.close();
  });

  test('the store keeps a changelog topic unless logging is disabled', () => {
    const b = new StreamsBuilder();
    const s = b.stream('in', { key: S, value: N });
    s.toTable({ materialized: 'logged' });
    s.filter(() => true).toTable({ materialized: { storeName: 'unlogged', logging: false } });
    const changelogs = b.build().describe().internalTopics.filter((t) => t.type === 'changelog').map((t) => t.name);
    assert.deepEqual(changelogs, ['logged-changelog']);
  });
});
