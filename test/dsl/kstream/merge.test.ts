import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StreamsBuilder, Serdes, TopologyTestDriver } from '../../../index.ts';

const S = Serdes.string();
const N = Serdes.number();

describe('KStream.merge', () => {
  test('the merged stream has the records of both inputs, in arrival order', () => {
    const b = new StreamsBuilder();
    const left = b.stream('left', { key: S, value: N });
    const right = b.stream('right', { key: S, value: N });
    left.merge(right).to('out');
    const driver = new TopologyTestDriver(b.build());
    const l = driver.createInputTopic('left', S, N);
    const r = driver.createInputTopic('right', S, N);
    l.pipeInput('l1', 1, 10);
    r.pipeInput('r1', 2, 5);
    l.pipeInput('l2', 3, 7);
    r.pipeInput('r2', 4, 20, { h: 'x' });
    assert.deepEqual(driver.createOutputTopic('out', S, N).readRecordsToList(), [
      { key: 'l1', value: 1, timestamp: 10 },
      { key: 'r1', value: 2, timestamp: 5 },
      { key: 'l2', value: 3, timestamp: 7 },
      { key: 'r2', value: 4, timestamp: 20, headers: { h: 'x' } },
    ]);
    driver.close();
  });

  test('merging a stream with a filtered copy of itself delivers the passing records twice', () => {
    const b = new StreamsBuilder();
    const s = b.stream('in', { key: S, value: N });
    s.merge(s.filter((_k, v) => v > 1)).to('out');
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, N);
    input.pipeInput('a', 1, 0);
    input.pipeInput('b', 2, 0);
    // a: only the unfiltered side; b: both sides
    assert.deepEqual(driver.createOutputTopic('out', S, N).readKeyValuesToList(), [
      { key: 'a', value: 1 },
      { key: 'b', value: 2 },
      { key: 'b', value: 2 },
    ]);
    driver.close();
  });

  test('if either input changed its key, a following grouping repartitions', () => {
    const b = new StreamsBuilder();
    const plain = b.stream('a', { key: S, value: N });
    const rekeyed = b.stream('b', { key: S, value: N }).selectKey((k) => k.toUpperCase());
    plain.merge(rekeyed).groupByKey({ key: S, value: N }).count();
    assert.equal(b.build().describe().internalTopics.filter((t) => t.type === 'repartition').length, 1);

    const b2 = new StreamsBuilder();
    const x = b2.stream('a', { key: S, value: N });
    const y = b2.stream('b', { key: S, value: N }).mapValues((v) => v + 1);
    x.merge(y).groupByKey().count();
    assert.deepEqual(b2.build().describe().internalTopics.filter((t) => t.type === 'repartition'), []);
  });

  test('merge takes an explicit name', () => {
    const b = new StreamsBuilder();
    const x = b.stream('a', { key: S, value: N });
    const y = b.stream('b', { key: S, value: N });
    x.merge(y, { name: 'both' }).to('out');
    const node = b.build().describe().subtopologies.flatMap((s) => s.nodes).find((n) => n.name === 'both');
    assert.ok(node !== undefined && node.kind === 'processor');
    assert.equal(node.parents.length, 2);
  });

  test('streams of two different builders cannot be merged (INVALID_TOPOLOGY)', () => {
    const b1 = new StreamsBuilder();
    const b2 = new StreamsBuilder();
    const x = b1.stream('a', { key: S, value: N });
    const y = b2.stream('b', { key: S, value: N });
    assert.throws(() => x.merge(y), { code: 'INVALID_TOPOLOGY' });
  });
});
