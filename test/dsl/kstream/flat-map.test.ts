import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StreamsBuilder, Serdes, TopologyTestDriver } from '../../../index.ts';

const S = Serdes.string();
const N = Serdes.number();

describe('KStream.flatMap', () => {
  test('each record becomes zero, one or many records, in the order the mapper yields them', () => {
    const b = new StreamsBuilder();
    // "a b c" -> (a,1) (b,1) (c,1); "" -> nothing
    b.stream('in', { key: S, value: S })
      .flatMap((_k, v) => v.split(' ').filter((w) => w !== '').map((w) => [w, w.length] as const))
      .to('out', { key: S, value: N });
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, S);
    input.pipeInput('line1', 'to be or', 5);
    input.pipeInput('line2', '', 6);
    input.pipeInput('line3', 'x', 7, { h: 'v' });
    assert.deepEqual(driver.createOutputTopic('out', S, N).readRecordsToList(), [
      // every output of one input keeps the input's timestamp (and headers)
      { key: 'to', value: 2, timestamp: 5 },
      { key: 'be', value: 2, timestamp: 5 },
      { key: 'or', value: 2, timestamp: 5 },
      { key: 'x', value: 1, timestamp: 7, headers: { h: 'v' } },
    ]);
    driver.close();
  });

  test('the mapper may return any iterable, e.g. a generator', () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: N })
      .flatMap(function* (k, v) {
        for (let i = 0; i < v; i++) yield [`${k}${i}`, i] as const;
      })
      .to('out', { key: S, value: N });
    const driver = new TopologyTestDriver(b.build());
    driver.createInputTopic('in', S, N).pipeInput('k', 3, 0);
    assert.deepEqual(driver.createOutputTopic('out', S, N).readKeyValuesToList(), [
      { key: 'k0', value: 0 },
      { key: 'k1', value: 1 },
      { key: 'k2', value: 2 },
    ]);
    driver.close();
  });

  test('flatMap forgets the serdes and marks the key changed', () => {
    const b = new StreamsBuilder();
    const s = b.stream('in', { key: S, value: S }).flatMap((k, v) => [[k, v] as const]);
    assert.throws(() => s.to('out', { name: 'fm-sink' }), { code: 'MISSING_SERDE', operator: 'fm-sink' });
    s.groupByKey({ key: S, value: S }).count();
    assert.equal(b.build().describe().internalTopics.filter((t) => t.type === 'repartition').length, 1);
  });
});
