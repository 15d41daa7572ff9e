import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StreamsBuilder, Serdes, TopologyTestDriver } from '../../../index.ts';

const S = Serdes.string();
const N = Serdes.number();

describe('KStream.mapValues', () => {
  test('maps the value with (value, key); key, timestamp and headers are unchanged', () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: N })
      .mapValues((v, k) => `${k}=${v * 2}`)
      .to('out', { value: S });
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, N);
    input.pipeInput('a', 1, 10);
    input.pipeInput('b', 5, 3, { h: '1' });
    assert.deepEqual(driver.createOutputTopic('out', S, S).readRecordsToList(), [
      { key: 'a', value: 'a=2', timestamp: 10 },
      { key: 'b', value: 'b=10', timestamp: 3, headers: { h: '1' } },
    ]);
    driver.close();
  });

  test('the key serde is kept (only the value serde must be given downstream)', () => {
    const b = new StreamsBuilder();
    const mapped = b.stream('in', { key: S, value: N }).mapValues((v) => String(v));
    // No key serde passed: it is inherited from the source.
    assert.doesNotThrow(() => mapped.to('ok', { value: S }));
    // The value type changed, so the value serde is unknown.
    assert.throws(() => mapped.to('bad', { name: 'bad-sink' }), { code: 'MISSING_SERDE', operator: 'bad-sink' });
  });

  test('mapValues does not change the key: a following groupByKey does not repartition', () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: N })
      .mapValues((v) => v + 1)
      .groupByKey({ value: N })
      .count();
    assert.deepEqual(
      b.build().describe().internalTopics.filter((t) => t.type === 'repartition'),
      [],
    );
  });

  test('a null value is handed to the mapper (not dropped)', () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: N })
      .mapValues((v) => (v === null ? 'none' : 'some'))
      .to('out', { value: S });
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, N);
    input.pipeInput('a', null, 0);
    input.pipeInput('b', 1, 0);
    assert.deepEqual(driver.createOutputTopic('out', S, S).readValuesToList(), ['none', 'some']);
    driver.close();
  });
});
