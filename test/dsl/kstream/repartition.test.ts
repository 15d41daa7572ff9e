import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StreamsBuilder, Serdes, TopologyTestDriver, type StreamPartitioner } from '../../../index.ts';

const S = Serdes.string();
const N = Serdes.number();

describe('KStream.repartition', () => {
  test('writes the stream to an internal topic named after the operator and reads it back unchanged', () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: N })
      .selectKey((_k, v) => `k${v}`)
      .repartition({ name: 'by-value', key: S })
      .to('out');
    const topology = b.build();
    const internal = topology.describe().internalTopics.filter((t) => t.type === 'repartition');
    assert.deepEqual(
      internal.map((t) => [t.name, t.cleanupPolicy]),
      [['by-value-repartition', 'delete']],
    );
    const driver = new TopologyTestDriver(topology);
    const input = driver.createInputTopic('in', S, N);
    input.pipeInput('a', 1, 10);
    input.pipeInput('b', 2, 20, { h: 'x' });
    const expected = [
      { key: 'k1', value: 1, timestamp: 10 },
      { key: 'k2', value: 2, timestamp: 20, headers: { h: 'x' } },
    ];
    // The records pass through the internal topic (visible to the driver) and then reach the sink.
    assert.deepEqual(driver.createOutputTopic('by-value-repartition', S, N).readRecordsToList(), expected);
    assert.deepEqual(driver.createOutputTopic('out', S, N).readRecordsToList(), expected);
    driver.close();
  });

  test('the repartition splits the topology into two sub-topologies joined only by the topic', () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: N }).repartition({ name: 'r' }).to('out');
    const subs = b.build().describe().subtopologies;
    assert.equal(subs.length, 2);
    assert.deepEqual(subs[0]!.sinkTopics, ['r-repartition']);
    assert.deepEqual(subs[1]!.sourceTopics, ['r-repartition']);
    assert.deepEqual(subs[1]!.sinkTopics, ['out']);
  });

  test('numberOfPartitions is recorded on the internal topic; without it the count is left open', () => {
    const b = new StreamsBuilder();
    const s = b.stream('in', { key: S, value: N });
    s.repartition({ name: 'fixed', numberOfPartitions: 6 }).to('o1');
    s.repartition({ name: 'free' }).to('o2');
    const topics = new Map(b.build().describe().internalTopics.map((t) => [t.name, t]));
    assert.equal(topics.get('fixed-repartition')?.numPartitions, 6);
    assert.equal(topics.get('free-repartition')?.numPartitions, undefined);
  });

  test('a custom partitioner is asked for each record written to the internal topic', () => {
    const calls: [string, string, number, number][] = [];
    const partitioner: StreamPartitioner<string, number> = (topic, key, value, n) => {
      calls.push([topic, key, value, n]);
      return 0;
    };
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: N }).repartition({ name: 'p', partitioner }).to('out');
    const driver = new TopologyTestDriver(b.build());
    driver.createInputTopic('in', S, N).pipeInput('a', 1, 0);
    // the test driver has one partition per topic
    assert.deepEqual(calls, [['p-repartition', 'a', 1, 1]]);
    assert.deepEqual(driver.takeOutput('p-repartition').map((r) => r.partition), [0]);
    assert.deepEqual(driver.createOutputTopic('out', S, N).readValuesToList(), [1]);
    driver.close();
  });

  test('after map without serdes the internal topic still round-trips structured values (fallback serde)', () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: N })
      .map((k, v) => [{ id: k }, { n: v, tags: ['x'] }] as const)
      .repartition({ name: 'obj' })
      .map((k, v) => [k.id, v.n + v.tags.length] as const)
      .to('out', { key: S, value: N });
    const driver = new TopologyTestDriver(b.build());
    driver.createInputTopic('in', S, N).pipeInput('a', 41, 0);
    assert.deepEqual(driver.createOutputTopic('out', S, N).readKeyValuesToList(), [{ key: 'a', value: 42 }]);
    driver.close();
  });

  test('a grouping right after repartition does not repartition again', () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: N })
      .selectKey((_k, v) => String(v))
      .repartition({ name: 'once', key: S, value: N })
      .groupByKey()
      .count();
    assert.deepEqual(
      b.build().describe().internalTopics.filter((t) => t.type === 'repartition').map((t) => t.name),
      ['once-repartition'],
    );
  });
});
