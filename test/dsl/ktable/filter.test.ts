import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StreamsBuilder, Serdes, TopologyTestDriver } from '../../../index.ts';

const S = Serdes.string();
const N = Serdes.number();

/**
 * people: ann 20 (adult), bob 10 (minor), ann 15 (no longer passes), bob 30 (now passes),
 * bob deleted, ann deleted (was already filtered out).
 */
const STEPS: [string, number | null, number][] = [
  ['ann', 20, 1],
  ['bob', 10, 2],
  ['ann', 15, 3],
  ['bob', 30, 4],
  ['bob', null, 5],
  ['ann', null, 6],
];

describe('KTable.filter / filterNot', () => {
  test('rows that stop passing become deletes; rows that never passed emit nothing', () => {
    const b = new StreamsBuilder();
    b.table('people', { key: S, value: N })
      .filter((_k, age) => age >= 18)
      .toStream()
      .to('out');
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('people', S, N);
    for (const [k, v, ts] of STEPS) input.pipeInput(k, v, ts);
    assert.deepEqual(driver.createOutputTopic('out', S, N).readRecordsToList(), [
      { key: 'ann', value: 20, timestamp: 1 }, // passes
      // bob 10: filtered, and bob had no row in the result: nothing (as a materialized filter in Kafka Streams)
      { key: 'ann', value: null, timestamp: 3 }, // ann 15 no longer passes: delete
      { key: 'bob', value: 30, timestamp: 4 }, // now passes
      { key: 'bob', value: null, timestamp: 5 }, // tombstone of a passing row: delete
      // ann tombstone: ann's previous row (15) was not in the result: nothing
    ]);
    driver.close();
  });

  test('filterNot keeps the rows the predicate rejects', () => {
    const b = new StreamsBuilder();
    b.table('people', { key: S, value: N })
      .filterNot((_k, age) => age >= 18)
      .toStream()
      .to('out');
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('people', S, N);
    for (const [k, v, ts] of STEPS) input.pipeInput(k, v, ts);
    assert.deepEqual(driver.createOutputTopic('out', S, N).readRecordsToList(), [
      { key: 'bob', value: 10, timestamp: 2 },
      { key: 'ann', value: 15, timestamp: 3 },
      { key: 'bob', value: null, timestamp: 4 }, // bob 30 is rejected by filterNot: delete
      { key: 'ann', value: null, timestamp: 6 }, // ann 15 was in the result: delete
    ]);
    driver.close();
  });

  test('a materialized filter is queryable and holds only the passing rows', () => {
    const b = new StreamsBuilder();
    const adults = b.table('people', { key: S, value: N }).filter((_k, age) => age >= 18, { materialized: 'adults' });
    assert.equal(adults.queryableStoreName(), 'adults');
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('people', S, N);
    const store = driver.getKeyValueStore<string, number>('adults');
    const snapshots: [string, number][][] = [];
    for (const [k, v, ts] of STEPS) {
      input.pipeInput(k, v, ts);
      snapshots.push(store.all().map((e) => [e.key, e.value]));
    }
    assert.deepEqual(snapshots, [
      [['ann', 20]],
      [['ann', 20]],
      [],
      [['bob', 30]],
      [],
      [],
    ]);
    driver.close();
  });

  test('an unmaterialized filter is not queryable', () => {
    const b = new StreamsBuilder();
    const t = b.table('people', { key: S, value: N }).filter(() => true);
    assert.equal(t.queryableStoreName(), undefined);
  });

  test('a join against an unmaterialized filter sees filtered-out rows as absent', () => {
    const b = new StreamsBuilder();
    const adults = b.table('people', { key: S, value: N }).filter((_k, age) => age >= 18);
    b.stream('visits', { key: S, value: S })
      .leftJoin(adults, (place, age) => `${place}:${age === null ? 'no-adult' : age}`)
      .to('out', { value: S });
    const driver = new TopologyTestDriver(b.build());
    const people = driver.createInputTopic('people', S, N);
    const visits = driver.createInputTopic('visits', S, S);
    people.pipeInput('ann', 20, 1);
    people.pipeInput('bob', 10, 2);
    visits.pipeInput('ann', 'zoo', 3);
    visits.pipeInput('bob', 'zoo', 4);
    assert.deepEqual(driver.createOutputTopic('out', S, S).readValuesToList(), ['zoo:20', 'zoo:no-adult']);
    driver.close();
  });
});
