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
