import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StreamsBuilder, Serdes, TopologyTestDriver, type StreamPartitioner } from '../../../index.ts';

const S = Serdes.string();
const N = Serdes.number();

describe('KStream.to', () => {
  test('writes every record to a static topic with the source serdes', () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: N }).to('out');
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, N);
    input.pipeInput('a', 1, 3);
    input.pipeInput('b', null, 4); // a null value is written as a tombstone
    input.pipeInput(null, 2, 5, { h: 'x' });
    assert.deepEqual(driver.createOutputTopic('out', S, N).readRecordsToList(), [
      { key: 'a', value: 1, timestamp: 3 },
      { key: 'b', value: null, timestamp: 4 },
      { key: null, value: 2, timestamp: 5, headers: { h: 'x' } },
    ]);
    driver.close();
  });

  test('explicit serdes override the inferred ones', () => {
    const b = new StreamsBuilder();
    const upper = { serialize: (v: string) => new TextEncoder().encode(v.toUpperCase()), deserialize: (d: Uint8Array) => new TextDecoder().decode(d) };
    b.stream('in', { key: S, value: S }).to('out', { value: upper });
    const driver = new TopologyTestDriver(b.build());
    driver.createInputTopic('in', S, S).pipeInput('k', 'abc', 0);
    assert.deepEqual(driver.createOutputTopic('out', S, S).readKeyValuesToList(), [{ key: 'k', value: 'ABC' }]);
    driver.close();
  });

  test('a topic extractor picks the topic per record from (key, value, context)', () => {
    const contexts: unknown[] = [];
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: N }).to((k, v, ctx) => {
      contexts.push(ctx);
      return v % 2 === 0 ? `even-${k}` : 'odd';
    });
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, N);
    input.pipeInput('a', 2, 1);
    input.pipeInput('b', 3, 2);
    input.pipeInput('a', 4, 3);
    assert.deepEqual(driver.createOutputTopic('even-a', S, N).readValuesToList(), [2, 4]);
    assert.deepEqual(driver.createOutputTopic('odd', S, N).readValuesToList(), [3]);
    assert.deepEqual(driver.producedTopicNames().sort(), ['even-a', 'odd']);
    // the context points at the source record
    assert.deepEqual(contexts, [
      { topic: 'in', partition: 0, offset: 0 },
      { topic: 'in', partition: 0, offset: 1 },
      { topic: 'in', partition: 0, offset: 2 },
    ]);
    driver.close();
  });

  describe('MISSING_SERDE', () => {
    test('after map without serdes, to() fails naming the sink', () => {
      const b = new StreamsBuilder();
      const mapped = b.stream('in', { key: S, value: N }).map((k, v) => [k, v] as const);
      assert.throws(() => mapped.to('out', { name: 'my-sink' }), { code: 'MISSING_SERDE', operator: 'my-sink' });
      // only the value serde given: still missing the key serde
      assert.throws(() => mapped.to('out', { name: 'my-sink-2', value: N }), { code: 'MISSING_SERDE', operator: 'my-sink-2' });
      // only the key serde given: still missing the value serde
      assert.throws(() => mapped.to('out', { name: 'my-sink-3', key: S }), { code: 'MISSING_SERDE', operator: 'my-sink-3' });
      // both given: fine
      assert.doesNotThrow(() => mapped.to('out', { name: 'my-sink-4', key: S, value: N }));
    });

    test('with a topic extractor too; an unnamed sink gets a generated name in the error', () => {
      const b = new StreamsBuilder();
      const mapped = b.stream('in', { key: S, value: N }).map((k, v) => [k, v] as const);
      assert.throws(
        () => mapped.to(() => 'x'),
        (e: unknown) => {
          const err = e as { code?: string; operator?: string };
          return err.code === 'MISSING_SERDE' && typeof err.operator === 'string' && err.operator.startsWith('KSTREAM-SINK-');
        },
      );
    });
  });

  describe('partitioner', () => {
    test('is called with (topic, key, value, partition count) and its partition is used', () => {
      const calls: [string, string, number, number][] = [];
      const partitioner: StreamPartitioner<string, number> = (topic, key, value, n) => {
        calls.push([topic, key, value, n]);
        return 0;
      };
      const b = new StreamsBuilder();
      b.stream('in', { key: S, value: N }).to('out', { partitioner });
      const driver = new TopologyTestDriver(b.build());
      const input = driver.createInputTopic('in', S, N);
      input.pipeInput('a', 1, 0);
      input.pipeInput('b', 2, 0);
      assert.deepEqual(calls, [['out', 'a', 1, 1], ['out', 'b', 2, 1]]);
      assert.deepEqual(driver.takeOutput('out').map((r) => r.partition), [0, 0]);
      driver.close();
    });

    test('returning undefined falls back to the default partitioning', () => {
      const b = new StreamsBuilder();
      b.stream('in', { key: S, value: N }).to('out', { partitioner: () => undefined });
      const driver = new TopologyTestDriver(b.build());
      driver.createInputTopic('in', S, N).pipeInput('a', 1, 0);
      assert.deepEqual(driver.takeOutput('out').map((r) => r.partition), [undefined]);
      driver.close();
    });

    test('a partition outside [0, count) is an error', () => {
      const b = new StreamsBuilder();
      b.stream('in', { key: S, value: N }).to('out', { partitioner: () => 1 }); // only partition 0 exists
      const driver = new TopologyTestDriver(b.build());
      const input = driver.createInputTopic('in', S, N);
      assert.throws(() => input.pipeInput('a', 1, 0), { code: 'INVALID_ARGUMENT' });
      assert.equal(driver.peekOutputSize('out'), 0);
      driver.close();
    });
  });

  test('a value the sink serde cannot encode fails with SERIALIZATION_FAILED', () => {
    const b = new StreamsBuilder();
    // The declared types say string, but the mapper smuggles a number through.
    b.stream('in', { key: S, value: S })
      .mapValues((v) => (v === 'bad' ? (1 as unknown as string) : v))
      .to('out', { value: S });
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, S);
    input.pipeInput('a', 'ok', 0);
    assert.throws(() => input.pipeInput('b', 'bad', 0), { code: 'SERIALIZATION_FAILED' });
    driver.close();
  });
});
