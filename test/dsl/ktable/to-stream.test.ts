import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StreamsBuilder, Serdes, TopologyTestDriver } from '../../../index.ts';

const S = Serdes.string();
const N = Serdes.number();

describe('KTable.toStream', () => {
  test('emits the new value of every update, null for a delete, keeping key serde and timestamps', () => {
    const b = new StreamsBuilder();
    b.table('t', { key: S, value: N }).toStream().to('out');
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('t', S, N);
    input.pipeInput('a', 1, 10);
    input.pipeInput('b', 5, 11);
    input.pipeInput('a', 2, 9);
    input.pipeInput('b', null, 12);
    assert.deepEqual(driver.createOutputTopic('out', S, N).readRecordsToList(), [
      { key: 'a', value: 1, timestamp: 10 },
      { key: 'b', value: 5, timestamp: 11 },
      { key: 'a', value: 2, timestamp: 9 },
      { key: 'b', value: null, timestamp: 12 },
    ]);
    driver.close();
  });

  test('an identical update is still emitted (no de-duplication)', () => {
    const b = new StreamsBuilder();
    b.table('t', { key: S, value: N }).toStream().to('out');
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('t', S, N);
    input.pipeInput('a', 1, 1);
    input.pipeInput('a', 1, 2);
    assert.deepEqual(driver.createOutputTopic('out', S, N).readValuesToList(), [1, 1]);
    driver.close();
  });

  test('the result is a stream: stream operators apply and nulls can be filtered out', () => {
    const b = new StreamsBuilder();
    b.table('t', { key: S, value: N })
      .toStream({ name: 'changes' })
      .filter((_k, v) => v !== null)
      .mapValues((v) => (v ?? 0) + 1)
      .to('out', { value: N });
    const topology = b.build();
    assert.ok(topology.describe().subtopologies.flatMap((s) => s.nodes).some((n) => n.name === 'changes'));
    const driver = new TopologyTestDriver(topology);
    const input = driver.createInputTopic('t', S, N);
    input.pipeInput('a', 1, 1);
    input.pipeInput('a', null, 2);
    assert.deepEqual(driver.createOutputTopic('out', S, N).readKeyValuesToList(), [{ key: 'a', value: 2 }]);
    driver.close();
  });

  test('the stream is not marked as re-keyed: grouping it by key needs no repartition', () => {
    const b = new StreamsBuilder();
    b.table('t', { key: S, value: N }).toStream().groupByKey().count();
    assert.deepEqual(b.build().describe().internalTopics.filter((t) => t.type === 'repartition'), []);
  });
});
