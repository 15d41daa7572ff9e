import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StreamsBuilder, Serdes, TopologyTestDriver } from '../../../index.ts';

const S = Serdes.string();
const N = Serdes.number();

/** in(string, number) -> op -> out */
function run(build: (b: StreamsBuilder) => void, input: [string | null, number | null, number, Record<string, string>?][]) {
  const b = new StreamsBuilder();
  build(b);
  const driver = new TopologyTestDriver(b.build());
  const topic = driver.createInputTopic('in', S, N);
  for (const [k, v, ts, h] of input) topic.pipeInput(k, v, ts, h);
  const out = driver.createOutputTopic('out', S, N).readRecordsToList();
  driver.close();
  return out;
}

describe('KStream.filter / filterNot', () => {
  test('filter keeps exactly the records whose predicate holds, in order', () => {
    const out = run(
      (b) => b.stream('in', { key: S, value: N }).filter((_k, v) => v > 10).to('out'),
      [['a', 5, 1], ['b', 11, 2], ['c', 10, 3], ['d', 100, 4]],
    );
    // 5 and 10 fail (> 10 is strict), 11 and 100 pass.
    assert.deepEqual(out, [
      { key: 'b', value: 11, timestamp: 2 },
      { key: 'd', value: 100, timestamp: 4 },
    ]);
  });

  test('filterNot keeps exactly the records whose predicate fails', () => {
    const out = run(
      (b) => b.stream('in', { key: S, value: N }).filterNot((_k, v) => v > 10).to('out'),
      [['a', 5, 1], ['b', 11, 2], ['c', 10, 3]],
    );
    assert.deepEqual(out, [
      { key: 'a', value: 5, timestamp: 1 },
      { key: 'c', value: 10, timestamp: 3 },
    ]);
  });

  test('the predicate receives (key, value) and can filter on the key', () => {
    const seen: [string, number][] = [];
    const out = run(
      (b) =>
        b
          .stream('in', { key: S, value: N })
          .filter((k, v) => {
            seen.push([k, v]);
            return k.startsWith('x');
          })
          .to('out'),
      [['xa', 1, 0], ['ya', 2, 0], ['xb', 3, 0]],
    );
    assert.deepEqual(seen, [['xa', 1], ['ya', 2], ['xb', 3]]);
    assert.deepEqual(out.map((r) => r.key), ['xa', 'xb']);
  });

  test('a passing record keeps its timestamp and headers unchanged', () => {
    const out = run((b) => b.stream('in', { key: S, value: N }).filter(() => true).to('out'), [['k', 7, 1234, { trace: 't-1' }]]);
    assert.deepEqual(out, [{ key: 'k', value: 7, timestamp: 1234, headers: { trace: 't-1' } }]);
  });

  test('records with null keys or values are not dropped by filter itself: the predicate decides', () => {
    // Kafka Streams' filter hands null keys/values to the predicate; only stateful operators drop them.
    const out = run(
      (b) =>
        b
          .stream('in', { key: S, value: N })
          .filter((k, v) => k === null || v === null)
          .to('out'),
      [[null, 1, 1], ['a', null, 2], ['b', 3, 3]],
    );
    assert.deepEqual(out, [
      { key: null, value: 1, timestamp: 1 },
      { key: 'a', value: null, timestamp: 2 },
    ]);
  });

  test('one stream can feed two filters; each sees every record', () => {
    const b = new StreamsBuilder();
    const s = b.stream('in', { key: S, value: N });
    s.filter((_k, v) => v % 2 === 0).to('even');
    s.filterNot((_k, v) => v % 2 === 0).to('odd');
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, N);
    for (const [i, v] of [1, 2, 3, 4].entries()) input.pipeInput(`k${i}`, v, i);
    assert.deepEqual(driver.createOutputTopic('even', S, N).readValuesToList(), [2, 4]);
    assert.deepEqual(driver.createOutputTopic('odd', S, N).readValuesToList(), [1, 3]);
    driver.close();
  });

  test('a type-guard predicate narrows the value type (compile-time) and filters at run time', () => {
    const b = new StreamsBuilder();
    const json = Serdes.json<string | number>();
    b.stream('in', { key: S, value: json })
      .filter((_k, v): v is number => typeof v === 'number')
      .mapValues((v) => v * 2) // would not compile if v were string | number
      .to('out', { value: N });
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, json);
    input.pipeInput('a', 'text', 0);
    input.pipeInput('b', 21, 1);
    assert.deepEqual(driver.createOutputTopic('out', S, N).readKeyValuesToList(), [{ key: 'b', value: 42 }]);
    driver.close();
  });
});
