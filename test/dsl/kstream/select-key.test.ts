import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StreamsBuilder, Serdes, TopologyTestDriver } from '../../../index.ts';

const S = Serdes.string();
const N = Serdes.number();

describe('KStream.selectKey', () => {
  test('replaces the key with mapper(key, value); value, timestamp and headers are unchanged', () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: N })
      .selectKey((k, v) => `${k}-${v}`)
      .to('out', { key: S });
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, N);
    input.pipeInput('a', 1, 9);
    input.pipeInput('b', 2, 8, { h: 'x' });
    assert.deepEqual(driver.createOutputTopic('out', S, N).readRecordsToList(), [
      { key: 'a-1', value: 1, timestamp: 9 },
      { key: 'b-2', value: 2, timestamp: 8, headers: { h: 'x' } },
    ]);
    driver.close();
  });

  test('the value serde is kept; the key serde is not', () => {
    const b = new StreamsBuilder();
    const s = b.stream('in', { key: S, value: N }).selectKey((_k, v) => v);
    assert.doesNotThrow(() => s.to('ok', { key: N }));
    assert.throws(() => s.to('bad', { name: 'sk-sink' }), { code: 'MISSING_SERDE', operator: 'sk-sink' });
  });

  test('a grouping after selectKey goes through a repartition topic, and records are regrouped by the new key', () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: S })
      .selectKey((_k, v) => v)
      .groupByKey({ key: S, value: S })
      .count()
      .toStream()
      .to('out');
    const topology = b.build();
    assert.equal(topology.describe().internalTopics.filter((t) => t.type === 'repartition').length, 1);
    const driver = new TopologyTestDriver(topology);
    const input = driver.createInputTopic('in', S, S);
    input.pipeInput('u1', 'red', 1);
    input.pipeInput('u2', 'red', 2);
    input.pipeInput('u3', 'blue', 3);
    // counts per colour, not per user
    assert.deepEqual(driver.createOutputTopic('out', S, N).readKeyValuesToList(), [
      { key: 'red', value: 1 },
      { key: 'red', value: 2 },
      { key: 'blue', value: 1 },
    ]);
    driver.close();
  });
});
