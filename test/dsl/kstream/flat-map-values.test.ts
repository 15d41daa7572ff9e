import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StreamsBuilder, Serdes, TopologyTestDriver } from '../../../index.ts';

const S = Serdes.string();

describe('KStream.flatMapValues', () => {
  test('each value becomes zero or more values under the same key, in order; callback gets (value, key)', () => {
    const calls: [string, string][] = [];
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: S })
      .flatMapValues((v, k) => {
        calls.push([v, k]);
        return v === '' ? [] : v.split(',');
      })
      .to('out', { value: S });
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, S);
    input.pipeInput('a', 'x,y', 1);
    input.pipeInput('b', '', 2);
    input.pipeInput('c', 'z', 3, { h: '1' });
    assert.deepEqual(calls, [['x,y', 'a'], ['', 'b'], ['z', 'c']]);
    assert.deepEqual(driver.createOutputTopic('out', S, S).readRecordsToList(), [
      { key: 'a', value: 'x', timestamp: 1 },
      { key: 'a', value: 'y', timestamp: 1 },
      { key: 'c', value: 'z', timestamp: 3, headers: { h: '1' } },
    ]);
    driver.close();
  });

  test('keeps the key serde and does not mark the key changed', () => {
    const b = new StreamsBuilder();
    const s = b.stream('in', { key: S, value: S }).flatMapValues((v) => [v.length]);
    assert.doesNotThrow(() => s.to('ok', { value: Serdes.number() }));
    assert.throws(() => s.to('bad', { name: 'fmv-sink' }), { code: 'MISSING_SERDE', operator: 'fmv-sink' });
    s.groupByKey({ value: Serdes.number() }).count();
    assert.deepEqual(b.build().describe().internalTopics.filter((t) => t.type === 'repartition'), []);
  });
});
