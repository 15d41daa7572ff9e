import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StreamsBuilder, Serdes, TopologyTestDriver } from '../../../index.ts';

const S = Serdes.string();
const N = Serdes.number();

describe('KStream.split', () => {
  test('each record goes to the first branch whose predicate holds; the rest to the default branch', () => {
    const b = new StreamsBuilder();
    const branches = b
      .stream('in', { key: S, value: N })
      .split({ name: 'num-' })
      .branch((_k, v) => v < 0, { name: 'neg' })
      .branch((_k, v) => v < 10, { name: 'small' }) // also true for negatives, but "neg" comes first
      .defaultBranch({ name: 'big' });
    assert.deepEqual(Object.keys(branches).sort(), ['num-big', 'num-neg', 'num-small']);
    branches['num-neg']!.to('neg');
    branches['num-small']!.to('small');
    branches['num-big']!.to('big');
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, N);
    input.pipeInput('a', -5, 1);
    input.pipeInput('b', 3, 2);
    input.pipeInput('c', 10, 3, { h: 'x' });
    input.pipeInput('d', 0, 4);
    assert.deepEqual(driver.createOutputTopic('neg', S, N).readRecordsToList(), [{ key: 'a', value: -5, timestamp: 1 }]);
    assert.deepEqual(driver.createOutputTopic('small', S, N).readRecordsToList(), [
      { key: 'b', value: 3, timestamp: 2 },
      { key: 'd', value: 0, timestamp: 4 },
    ]);
    assert.deepEqual(driver.createOutputTopic('big', S, N).readRecordsToList(), [{ key: 'c', value: 10, timestamp: 3, headers: { h: 'x' } }]);
    driver.close();
  });

  test('noDefaultBranch drops records no predicate takes', () => {
    const b = new StreamsBuilder();
    const branches = b
      .stream('in', { key: S, value: N })
      .split({ name: 's-' })
      .branch((_k, v) => v === 1)
      .branch((_k, v) => v === 2)
      .noDefaultBranch();
    // unnamed branches are numbered from 1, in the order they were added
    assert.deepEqual(Object.keys(branches).sort(), ['s-1', 's-2']);
    branches['s-1']!.to('one');
    branches['s-2']!.to('two');
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, N);
    for (const v of [1, 2, 3, 2]) input.pipeInput('k', v, 0);
    assert.deepEqual(driver.createOutputTopic('one', S, N).readValuesToList(), [1]);
    assert.deepEqual(driver.createOutputTopic('two', S, N).readValuesToList(), [2, 2]);
    assert.deepEqual(driver.producedTopicNames().sort(), ['one', 'two']); // 3 went nowhere
    driver.close();
  });

  test('an unnamed default branch is prefix + "0"; an unnamed split gets a generated prefix', () => {
    const b = new StreamsBuilder();
    const branches = b
      .stream('in', { key: S, value: N })
      .split()
      .branch((_k, v) => v > 0)
      .defaultBranch();
    const keys = Object.keys(branches).sort();
    assert.equal(keys.length, 2);
    const prefix = keys[0]!.slice(0, -1);
    assert.match(prefix, /^KSTREAM-BRANCH-/);
    assert.deepEqual(keys, [`${prefix}0`, `${prefix}1`]);
  });

  test('a predicate is not evaluated for a record an earlier branch took', () => {
    const calls: string[] = [];
    const b = new StreamsBuilder();
    const branches = b
      .stream('in', { key: S, value: N })
      .split({ name: 'p-' })
      .branch((k) => (calls.push(`first ${k}`), k === 'a'))
      .branch((k) => (calls.push(`second ${k}`), true))
      .noDefaultBranch();
    branches['p-1']!.to('x');
    branches['p-2']!.to('y');
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, N);
    input.pipeInput('a', 1, 0);
    input.pipeInput('b', 1, 0);
    assert.deepEqual(calls, ['first a', 'first b', 'second b']);
    driver.close();
  });
});
