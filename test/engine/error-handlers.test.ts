import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExceptionHandlerResponse, Serdes, StreamsBuilder, TopologyTestDriver, type ErrorHandlerContext, type StreamsError } from '../../index.ts';

function topology() {
  const builder = new StreamsBuilder();
  builder
    .stream('events', { key: Serdes.string(), value: Serdes.json<{ n: number; boom?: boolean }>() })
    .mapValues((v) => {
      if (v.boom) throw new Error(`cannot double ${v.n}`);
      return v.n * 2;
    })
    .to('doubled', { value: Serdes.number() });
  return builder.build();
}

test('a processing handler sees the record, the processor and the error; resume with dead-letter records goes on', () => {
  const seen: { context: ErrorHandlerContext; error: StreamsError }[] = [];
  const driver = new TopologyTestDriver(topology(), {
    processingExceptionHandler: (context, error) => {
      seen.push({ context, error });
      return ExceptionHandlerResponse.resume([{ topic: 'dlq', key: context.sourceRawKey, value: context.sourceRawValue, headers: { code: error.code } }]);
    },
  });
  const input = driver.createInputTopic('events', Serdes.string(), Serdes.json<{ n: number; boom?: boolean }>());
  input.pipeInput('a', { n: 1 }, 10);
  input.pipeInput('b', { n: 2, boom: true }, 20);
  input.pipeInput('c', { n: 3 }, 30);
  assert.deepEqual(driver.createOutputTopic('doubled', Serdes.string(), Serdes.number()).readValuesToList(), [2, 6]);
  const dead = driver.createOutputTopic('dlq', Serdes.string(), Serdes.json<unknown>()).readRecordsToList();
  assert.deepEqual(dead.map((r) => [r.key, r.value, r.timestamp, r.headers]), [['b', { n: 2, boom: true }, 20, { code: 'PROCESSING_FAILED' }]]);
  assert.equal(seen.length, 1);
  const { context, error } = seen[0]!;
  assert.equal(context.topic, 'events');
  assert.equal(context.offset, 1);
  assert.equal(context.taskId, '0_0');
  assert.match(context.processorNodeId ?? '', /MAPVALUES/);
  assert.match(error.message, /cannot double 2/);
  driver.close();
});

test('a deserialization handler decides about bytes that do not decode; fail stops as log-and-fail does', () => {
  const resumed = new TopologyTestDriver(topology(), { deserializationExceptionHandler: () => ExceptionHandlerResponse.resume() });
  const raw = resumed.createInputTopic('events', Serdes.string(), Serdes.string());
  raw.pipeInput('x', '{not json', 1);
  raw.pipeInput('y', '{"n":5}', 2);
  assert.deepEqual(resumed.createOutputTopic('doubled', Serdes.string(), Serdes.number()).readValuesToList(), [10]);
  resumed.close();

  const failing = new TopologyTestDriver(topology(), { deserializationExceptionHandler: (context) => ExceptionHandlerResponse.fail([{ topic: 'dlq', key: null, value: context.sourceRawValue }]) });
  assert.throws(() => failing.createInputTopic('events', Serdes.string(), Serdes.string()).pipeInput('x', '{not json', 1), (e: StreamsError) => e.code === 'DESERIALIZATION_FAILED');
  // fail writes nothing.
  assert.deepEqual(failing.createOutputTopic('dlq', Serdes.string(), Serdes.string()).readValuesToList(), []);
});

test("a handler's own mistakes are coded errors naming the original one", () => {
  const throwing = new TopologyTestDriver(topology(), {
    processingExceptionHandler: () => {
      throw new Error('handler bug');
    },
  });
  assert.throws(
    () => throwing.createInputTopic('events', Serdes.string(), Serdes.json<{ n: number; boom?: boolean }>()).pipeInput('b', { n: 2, boom: true }, 1),
    (e: StreamsError) => e.code === 'PROCESSING_FAILED' && /exception handler threw .*handler bug.*cannot double 2/.test(e.message),
  );
  const wrong = new TopologyTestDriver(topology(), { processingExceptionHandler: (() => 'CONTINUE') as never });
  assert.throws(
    () => wrong.createInputTopic('events', Serdes.string(), Serdes.json<{ n: number; boom?: boolean }>()).pipeInput('b', { n: 2, boom: true }, 1),
    (e: StreamsError) => e.code === 'INVALID_ARGUMENT' && /must return ExceptionHandlerResponse/.test(e.message),
  );
});

/** Events to two topics: the serde of `picky` refuses odd numbers; `big` gets n bytes of text. */
function producing() {
  const builder = new StreamsBuilder();
  const events = builder.stream('events', { key: Serdes.string(), value: Serdes.json<{ n: number }>() });
  const picky = {
    serialize(v: number) {
      if (v % 2 === 1) throw new Error(`odd: ${v}`);
      return Serdes.number().serialize(v, '');
    },
    deserialize: (b: Uint8Array) => Serdes.number().deserialize(b, ''),
  };
  events.mapValues((v) => v.n).to('picky', { value: picky });
  events.mapValues((v) => 'x'.repeat(v.n)).to('big', { value: Serdes.string() });
  return builder.build();
}

test('a production handler decides about outputs that do not serialize or are too large; the other outputs of the record stay', () => {
  const seen: { topic: string; key: unknown; value: unknown; code: string; input: number }[] = [];
  const driver = new TopologyTestDriver(producing(), {
    maxRecordBytes: 100,
    productionExceptionHandler: (context, error) => {
      seen.push({ topic: context.record.topic, key: context.record.key, value: context.record.value, code: error.code, input: context.offset });
      return ExceptionHandlerResponse.resume([{ topic: 'dlq', key: context.sourceRawKey, value: context.sourceRawValue, headers: { code: error.code } }]);
    },
  });
  const input = driver.createInputTopic('events', Serdes.string(), Serdes.json<{ n: number }>());
  input.pipeInput('a', { n: 2 }, 1);
  input.pipeInput('b', { n: 3 }, 2); // odd: picky refuses; big takes it
  input.pipeInput('c', { n: 200 }, 3); // picky takes it; 200 bytes is too large for big
  assert.deepEqual(driver.createOutputTopic('picky', Serdes.string(), Serdes.number()).readKeyValuesToList(), [
    { key: 'a', value: 2 },
    { key: 'c', value: 200 },
  ]);
  assert.deepEqual(driver.createOutputTopic('big', Serdes.string(), Serdes.string()).readKeyValuesToList().map((r) => [r.key, r.value!.length]), [
    ['a', 2],
    ['b', 3],
  ]);
  assert.deepEqual(seen.map((s) => [s.topic, s.key, typeof s.value === 'string' ? s.value.length : s.value, s.code, s.input]), [
    ['picky', 'b', 3, 'SERIALIZATION_FAILED', 1],
    ['big', 'c', 200, 'RECORD_TOO_LARGE', 2],
  ]);
  assert.deepEqual(driver.createOutputTopic('dlq', Serdes.string(), Serdes.json<unknown>()).readKeyValuesToList(), [
    { key: 'b', value: { n: 3 } },
    { key: 'c', value: { n: 200 } },
  ]);
  assert.equal(driver.droppedRecords()['production-error'], 2);
  driver.close();
});

test('without a production handler an output that cannot be produced fails, and the processing handler is not asked', () => {
  let asked = 0;
  const driver = new TopologyTestDriver(producing(), {
    maxRecordBytes: 100,
    processingExceptionHandler: () => {
      asked++;
      return ExceptionHandlerResponse.resume();
    },
  });
  const input = driver.createInputTopic('events', Serdes.string(), Serdes.json<{ n: number }>());
  assert.throws(() => input.pipeInput('b', { n: 3 }, 1), (e: StreamsError) => e.code === 'SERIALIZATION_FAILED');
  const fails = new TopologyTestDriver(producing(), { maxRecordBytes: 100, productionExceptionHandler: () => ExceptionHandlerResponse.fail() });
  assert.throws(() => fails.createInputTopic('events', Serdes.string(), Serdes.json<{ n: number }>()).pipeInput('c', { n: 200 }, 1), (e: StreamsError) => e.code === 'RECORD_TOO_LARGE');
  assert.equal(asked, 0);
});
