import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StreamsBuilder, Serdes, TopologyTestDriver } from '../../../index.ts';

const S = Serdes.string();
const N = Serdes.number();

describe('KStream.map', () => {
  test('maps each record to a new key and value; timestamps and headers are kept', () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: N })
      .map((k, v) => [`${k}:${v}`, v * 10] as const)
      .to('out', { key: S, value: N });
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, N);
    input.pipeInput('a', 1, 100);
    input.pipeInput('b', 2, 50, { h: 'x' });
    assert.deepEqual(driver.createOutputTopic('out', S, N).readRecordsToList(), [
      { key: 'a:1', value: 10, timestamp: 100 },
      { key: 'b:2', value: 20, timestamp: 50, headers: { h: 'x' } },
    ]);
    driver.close();
  });

  test('the mapper may change both types', () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: S })
      .map((k, v) => [v.length, { from: k, text: v }] as const)
      .to('out', { key: N, value: Serdes.json<{ from: string; text: string }>() });
    const driver = new TopologyTestDriver(b.build());
    driver.createInputTopic('in', S, S).pipeInput('k', 'hello', 0);
    assert.deepEqual(driver.createOutputTopic('out', N, Serdes.json<{ from: string; text: string }>()).readKeyValuesToList(), [
      { key: 5, value: { from: 'k', text: 'hello' } },
    ]);
    driver.close();
  });

  test('map forgets the serdes: a sink without serdes after map is MISSING_SERDE', () => {
    const b = new StreamsBuilder();
    const mapped = b.stream('in', { key: S, value: S }).map((k, v) => [k, v] as const);
    assert.throws(() => mapped.to('out', { name: 'sink-after-map' }), { code: 'MISSING_SERDE', operator: 'sink-after-map' });
  });

  test('map marks the key as changed: a following groupByKey aggregation repartitions', () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: S })
      .map((_k, v) => [v, v] as const)
      .groupByKey({ key: S, value: S })
      .count();
    const repartition = b.build().describe().internalTopics.filter((t) => t.type === 'repartition');
    assert.equal(repartition.length, 1);
  });

  test('the mapper is called once per record, in order, with (key, value)', () => {
    const calls: [string, number][] = [];
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: N })
      .map((k, v) => {
        calls.push([k, v]);
        return [k, v] as const;
      })
      .to('out', { key: S, value: N });
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, N);
    input.pipeInput('x', 1, 0);
    input.pipeInput('y', 2, 0);
    assert.deepEqual(calls, [['x', 1], ['y', 2]]);
    driver.close();
  });
});
