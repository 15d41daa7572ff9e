import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StreamsBuilder, Serdes, TopologyTestDriver } from '../../../index.ts';

const S = Serdes.string();
const N = Serdes.number();

describe('KStream.peek / foreach', () => {
  test('peek calls the action with (key, value) and forwards the record unchanged', () => {
    const seen: [string, number][] = [];
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: N })
      .peek((k, v) => seen.push([k, v]))
      .to('out');
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, N);
    input.pipeInput('a', 1, 5);
    input.pipeInput('b', 2, 6, { h: 'x' });
    assert.deepEqual(seen, [['a', 1], ['b', 2]]);
    assert.deepEqual(driver.createOutputTopic('out', S, N).readRecordsToList(), [
      { key: 'a', value: 1, timestamp: 5 },
      { key: 'b', value: 2, timestamp: 6, headers: { h: 'x' } },
    ]);
    driver.close();
  });

  test('peek runs before downstream operators see the record', () => {
    const order: string[] = [];
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: N })
      .peek((k) => order.push(`peek ${k}`))
      .foreach((k) => order.push(`foreach ${k}`));
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, N);
    input.pipeInput('a', 1, 0);
    input.pipeInput('b', 2, 0);
    assert.deepEqual(order, ['peek a', 'foreach a', 'peek b', 'foreach b']);
    driver.close();
  });

  test('foreach is terminal: it calls the action per record and produces nothing', () => {
    const seen: [string, number][] = [];
    const b = new StreamsBuilder();
    const result = b.stream('in', { key: S, value: N }).foreach((k, v) => {
      seen.push([k, v]);
    });
    assert.equal(result, undefined);
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, N);
    input.pipeInput('a', 1, 0);
    input.pipeInput('a', 2, 0);
    assert.deepEqual(seen, [['a', 1], ['a', 2]]);
    assert.deepEqual(driver.producedTopicNames(), []);
    driver.close();
  });
});
