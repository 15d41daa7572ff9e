import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StreamsBuilder, Serdes, TopologyTestDriver } from '../../../index.ts';

const S = Serdes.string();
const N = Serdes.number();

describe('KTable.mapValues', () => {
  test('maps each row with (value, key); a deleted row stays deleted (the mapper is not called)', () => {
    const calls: [number, string][] = [];
    const b = new StreamsBuilder();
    b.table('t', { key: S, value: N })
      .mapValues((v, k) => {
        calls.push([v, k]);
        return `${k}=${v * 2}`;
      })
      .toStream()
      .to('out', { value: S });
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('t', S, N);
    input.pipeInput('a', 1, 10);
    input.pipeInput('a', 2, 11);
    input.pipeInput('a', null, 12);
    assert.deepEqual(driver.createOutputTopic('out', S, S).readRecordsToList(), [
      { key: 'a', value: 'a=2', timestamp: 10 },
      { key: 'a', value: 'a=4', timestamp: 11 },
      { key: 'a', value: null, timestamp: 12 },
    ]);
    // the mapper only ever sees real values (never null)
    assert.ok(calls.every(([v]) => v !== null));
    assert.ok(calls.some(([v, k]) => v === 2 && k === 'a'));
    driver.close();
  });

  test('a materialized mapValues is queryable and holds the mapped rows', () => {
    const b = new StreamsBuilder();
    const mapped = b.table('t', { key: S, value: N }).mapValues((v) => v * 100, { materialized: { storeName: 'hundreds', value: N } });
    assert.equal(mapped.queryableStoreName(), 'hundreds');
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('t', S, N);
    input.pipeInput('a', 1, 5);
    input.pipeInput('b', 2, 6);
    input.pipeInput('a', null, 7);
    const store = driver.getKeyValueStore<string, number>('hundreds');
    assert.deepEqual(store.all(), [{ key: 'b', value: 200 }]);
    assert.deepEqual(store.getWithTimestamp('b'), { value: 200, timestamp: 6 });
    driver.close();
  });

  test('an unmaterialized mapValues is read through its parent when joined', () => {
    const b = new StreamsBuilder();
    const labels = b.table('t', { key: S, value: N }).mapValues((v) => `#${v}`);
    assert.equal(labels.queryableStoreName(), undefined);
    b.stream('s', { key: S, value: S })
      .join(labels, (sv, label) => `${sv}${label}`)
      .to('out', { value: S });
    const driver = new TopologyTestDriver(b.build());
    driver.createInputTopic('t', S, N).pipeInput('a', 7, 1);
    const s = driver.createInputTopic('s', S, S);
    s.pipeInput('a', 'x', 2);
    s.pipeInput('b', 'y', 3); // no row: inner join emits nothing
    assert.deepEqual(driver.createOutputTopic('out', S, S).readKeyValuesToList(), [{ key: 'a', value: 'x#7' }]);
    driver.close();
  });

  test('mapValues can be chained with filter', () => {
    const b = new StreamsBuilder();
    b.table('t', { key: S, value: N })
      .mapValues((v) => v * 10)
      .filter((_k, v) => v > 15)
      .toStream()
      .to('out', { value: N });
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('t', S, N);
    input.pipeInput('a', 1, 1); // 10: filtered, no row before: nothing
    input.pipeInput('a', 2, 2); // 20: passes
    input.pipeInput('a', 1, 3); // 10: was 20 in the result: delete
    assert.deepEqual(driver.createOutputTopic('out', S, N).readRecordsToList(), [
      { key: 'a', value: 20, timestamp: 2 },
      { key: 'a', value: null, timestamp: 3 },
    ]);
    driver.close();
  });
});
