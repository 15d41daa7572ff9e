import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StreamsBuilder, Serdes, TopologyTestDriver, type Topology } from '../../../index.ts';

const S = Serdes.string();
const N = Serdes.number();

function repartitionTopics(topology: Topology): string[] {
  return topology.describe().internalTopics.filter((t) => t.type === 'repartition').map((t) => t.name);
}

type In = [string | null, string | null, number];
/** ('a','x',10) ('b','y',5) ('a','z',7): the second 'a' record is older than the first. */
const INPUT: In[] = [
  ['a', 'x', 10],
  ['b', 'y', 5],
  ['a', 'z', 7],
];

function pipe(driver: TopologyTestDriver, records: In[]): void {
  const input = driver.createInputTopic('in', S, S);
  for (const [k, v, ts] of records) input.pipeInput(k, v, ts);
}

describe('KStream.groupByKey', () => {
  test('count: one update per record; the result timestamp is the highest input timestamp of the key', () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: S }).groupByKey().count({ materialized: 'counts' }).toStream().to('out');
    const topology = b.build();
    // no key change upstream: no repartition topic
    assert.deepEqual(repartitionTopics(topology), []);
    const driver = new TopologyTestDriver(topology);
    pipe(driver, INPUT);
    assert.deepEqual(driver.createOutputTopic('out', S, N).readRecordsToList(), [
      { key: 'a', value: 1, timestamp: 10 },
      { key: 'b', value: 1, timestamp: 5 },
      { key: 'a', value: 2, timestamp: 10 }, // max(7, 10)
    ]);
    const store = driver.getKeyValueStore<string, number>('counts');
    assert.deepEqual(store.all(), [
      { key: 'a', value: 2 },
      { key: 'b', value: 1 },
    ]);
    driver.close();
  });

  test('reduce: the first value is the aggregate, then reducer(aggregate, value)', () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: S })
      .groupByKey()
      .reduce((agg, v) => `${agg}+${v}`, { materialized: 'reduced' })
      .toStream()
      .to('out');
    const driver = new TopologyTestDriver(b.build());
    pipe(driver, INPUT);
    assert.deepEqual(driver.createOutputTopic('out', S, S).readKeyValuesToList(), [
      { key: 'a', value: 'x' },
      { key: 'b', value: 'y' },
      { key: 'a', value: 'x+z' },
    ]);
    assert.equal(driver.getKeyValueStore<string, string>('reduced').get('a'), 'x+z');
    driver.close();
  });

  test('aggregate: initializer for a new key, then aggregator(key, value, aggregate)', () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: S })
      .groupByKey()
      .aggregate(
        () => ['init'],
        (k, v, agg) => [...agg, `${k}${v}`],
        { materialized: 'lists' },
      )
      .toStream()
      .to('out', { value: Serdes.json<string[]>() });
    const driver = new TopologyTestDriver(b.build());
    pipe(driver, INPUT);
    assert.deepEqual(driver.createOutputTopic('out', S, Serdes.json<string[]>()).readKeyValuesToList(), [
      { key: 'a', value: ['init', 'ax'] },
      { key: 'b', value: ['init', 'by'] },
      { key: 'a', value: ['init', 'ax', 'az'] },
    ]);
    assert.deepEqual(driver.getKeyValueStore<string, string[]>('lists').get('b'), ['init', 'by']);
    driver.close();
  });

  test('records with a null key or a null value are dropped and counted, for count, reduce and aggregate', () => {
    for (const agg of ['count', 'reduce', 'aggregate'] as const) {
      const b = new StreamsBuilder();
      const grouped = b.stream('in', { key: S, value: S }).groupByKey();
      const table =
        agg === 'count'
          ? grouped.count().mapValues((n) => String(n))
          : agg === 'reduce'
            ? grouped.reduce((a, v) => a + v)
            : grouped.aggregate(() => '', (_k, v, a) => a + v);
      table.toStream().to('out', { value: S });
      const driver = new TopologyTestDriver(b.build());
      pipe(driver, [
        [null, 'x', 1],
        ['a', null, 2],
        ['a', 'y', 3],
      ]);
      const expected = agg === 'count' ? '1' : 'y';
      assert.deepEqual(driver.createOutputTopic('out', S, S).readKeyValuesToList(), [{ key: 'a', value: expected }], agg);
      const dropped = driver.droppedRecords();
      assert.equal(dropped['null-key'], 1, agg);
      assert.equal(dropped['null-value'], 1, agg);
      driver.close();
    }
  });

  test('after a key change, groupByKey repartitions automatically', () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: S })
      .map((_k, v): [string, number] => [v, 1])
      .groupByKey({ key: S, value: N, name: 'by-word' })
      .count()
      .toStream()
      .to('out');
    const topology = b.build();
    assert.deepEqual(repartitionTopics(topology), ['by-word-repartition']);
    const driver = new TopologyTestDriver(topology);
    pipe(driver, [
      ['l1', 'hi', 1],
      ['l2', 'hi', 2],
    ]);
    assert.deepEqual(driver.createOutputTopic('out', S, N).readKeyValuesToList(), [
      { key: 'hi', value: 1 },
      { key: 'hi', value: 2 },
    ]);
    driver.close();
  });
});

describe('KStream.groupBy', () => {
  test('always repartitions; counts per selected key', () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: S })
      .groupBy((_k, v) => v, { key: S, name: 'colour' })
      .count({ materialized: 'per-colour' })
      .toStream()
      .to('out');
    const topology = b.build();
    assert.deepEqual(repartitionTopics(topology), ['colour-repartition']);
    const driver = new TopologyTestDriver(topology);
    pipe(driver, [
      ['u1', 'red', 1],
      ['u2', 'red', 2],
      ['u3', 'blue', 3],
    ]);
    assert.deepEqual(driver.createOutputTopic('out', S, N).readRecordsToList(), [
      { key: 'red', value: 1, timestamp: 1 },
      { key: 'red', value: 2, timestamp: 2 },
      { key: 'blue', value: 1, timestamp: 3 },
    ]);
    // the records were written to the repartition topic keyed by colour
    assert.deepEqual(driver.createOutputTopic('colour-repartition', S, S).readKeyValuesToList(), [
      { key: 'red', value: 'red' },
      { key: 'red', value: 'red' },
      { key: 'blue', value: 'blue' },
    ]);
    assert.equal(driver.getKeyValueStore<string, number>('per-colour').get('red'), 2);
    driver.close();
  });

  test('reduce and aggregate after groupBy', () => {
    const b = new StreamsBuilder();
    const grouped = b.stream('in', { key: S, value: S }).groupBy((k, _v) => (k ?? '').slice(0, 1), { key: S });
    grouped.reduce((a, v) => `${a}${v}`).toStream().to('reduced');
    grouped
      .aggregate(() => 0, (_k, v, a) => a + v.length, { materialized: { storeName: 'lengths', value: N } })
      .toStream()
      .to('lengths', { value: N });
    const driver = new TopologyTestDriver(b.build());
    pipe(driver, [
      ['a1', 'xx', 1],
      ['b1', 'y', 2],
      ['a2', 'zzz', 3],
    ]);
    assert.deepEqual(driver.createOutputTopic('reduced', S, S).readKeyValuesToList(), [
      { key: 'a', value: 'xx' },
      { key: 'b', value: 'y' },
      { key: 'a', value: 'xxzzz' },
    ]);
    assert.deepEqual(driver.createOutputTopic('lengths', S, N).readKeyValuesToList(), [
      { key: 'a', value: 2 },
      { key: 'b', value: 1 },
      { key: 'a', value: 5 },
    ]);
    driver.close();
  });

  test('a selector returning null drops the record (counted as a null key); null values are dropped too', () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: S })
      .groupBy((_k, v) => (v === 'skip' ? (null as unknown as string) : 'all'), { key: S })
      .count()
      .toStream()
      .to('out');
    const driver = new TopologyTestDriver(b.build());
    pipe(driver, [
      ['a', 'skip', 1],
      ['b', 'keep', 2],
      ['c', null, 3],
    ]);
    assert.deepEqual(driver.createOutputTopic('out', S, N).readKeyValuesToList(), [{ key: 'all', value: 1 }]);
    assert.equal(driver.droppedRecords()['null-key'], 1);
    assert.equal(driver.droppedRecords()['null-value'], 1);
    driver.close();
  });

  test('two aggregations of one named grouping share its repartition topic (as Kafka Streams reuses the repartition node)', () => {
    const b = new StreamsBuilder();
    const grouped = b.stream('in', { key: S, value: S }).groupBy((_k, v) => v, { key: S, name: 'shared' });
    grouped.count({ materialized: 'c1' });
    grouped.reduce((a, v) => a + v, { materialized: 'r1' });
    const topology = b.build();
    assert.deepEqual(repartitionTopics(topology), ['shared-repartition']);
    const driver = new TopologyTestDriver(topology);
    pipe(driver, [
      ['u1', 'red', 1],
      ['u2', 'red', 2],
    ]);
    assert.equal(driver.getKeyValueStore<string, number>('c1').get('red'), 2);
    assert.equal(driver.getKeyValueStore<string, string>('r1').get('red'), 'redred');
    driver.close();
  });

  // Kafka Streams gives each aggregation of an unnamed grouping its own repartition topic; Tributary
  // shares one per grouping, named or not: the same records, written once.
  test('two aggregations of one unnamed grouping each work and share one repartition topic', () => {
    const b = new StreamsBuilder();
    const grouped = b.stream('in', { key: S, value: S }).groupBy((_k, v) => v, { key: S });
    grouped.count({ materialized: 'c1' });
    grouped.count({ materialized: 'c2' });
    const topology = b.build();
    assert.equal(repartitionTopics(topology).length, 1);
    const driver = new TopologyTestDriver(topology);
    pipe(driver, [['u1', 'red', 1]]);
    assert.equal(driver.getKeyValueStore<string, number>('c1').get('red'), 1);
    assert.equal(driver.getKeyValueStore<string, number>('c2').get('red'), 1);
    driver.close();
  });
});
