/**
 * KTable.suppress (Kafka Streams' KTableSuppressProcessor, notes §4). The suppression buffer keeps
 * its own stream time sST = max timestamp of the records reaching it.
 * - untilWindowCloses: an update of window W is buffered under time W.end and emitted when
 *   `W.end <= sST - suppressDuration` (TimeWindows and sliding: grace; sessions: grace + gap);
 *   final results never carry deletes.
 * - untilTimeLimit(d): buffered under the timestamp of the FIRST buffered update (a later update
 *   of the same key keeps that time), emitted when `time <= sST - d`; deletes are forwarded.
 * - The buffer is ordered by (buffer time, serialized key); due records are evicted BEFORE the
 *   capacity is checked.
 * Emitted records carry the value and timestamp of the last buffered update.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BufferConfig,
  Serdes,
  SessionWindows,
  SlidingWindows,
  StreamsBuilder,
  StreamsError,
  Suppressed,
  TimeWindows,
  TopologyTestDriver,
  type KTable,
  type Windowed,
} from '../../../index.ts';

type WRow = [key: string, start: number, end: number, value: number | null, timestamp: number];
type Row = [key: string, value: number | string | null, timestamp: number];

function windowedSuppress(build: (builder: StreamsBuilder) => KTable<Windowed<string>, number>) {
  const builder = new StreamsBuilder();
  build(builder)
    .suppress(Suppressed.untilWindowCloses())
    .toStream()
    .to('out', { key: Serdes.windowed(Serdes.string()), value: Serdes.number() });
  const driver = new TopologyTestDriver(builder.build());
  const input = driver.createInputTopic('in', Serdes.string(), Serdes.string());
  const output = driver.createOutputTopic('out', Serdes.windowed(Serdes.string()), Serdes.number());
  const pipe = (key: string, ts: number) => input.pipeInput(key, 'v', ts);
  const read = (): WRow[] =>
    output.readRecordsToList().map((r) => [r.key!.key, r.key!.window.start, r.key!.window.end, r.value, r.timestamp]);
  return { driver, pipe, read };
}

const grouped = (builder: StreamsBuilder) =>
  builder.stream('in', { key: Serdes.string(), value: Serdes.string() }).groupByKey();

function countSuppress(suppressed: Suppressed) {
  const builder = new StreamsBuilder();
  grouped(builder)
    .count({ materialized: 'counts' })
    .suppress(suppressed)
    .toStream()
    .to('out', { key: Serdes.string(), value: Serdes.number() });
  const driver = new TopologyTestDriver(builder.build());
  const input = driver.createInputTopic('in', Serdes.string(), Serdes.string());
  const output = driver.createOutputTopic('out', Serdes.string(), Serdes.number());
  const pipe = (key: string, ts: number) => input.pipeInput(key, 'v', ts);
  const read = (): Row[] => output.readRecordsToList().map((r) => [r.key!, r.value, r.timestamp]);
  return { driver, pipe, read };
}

describe('suppress(untilWindowCloses)', () => {
  test('time windows: one final result per window once sST reaches window end + grace', () => {
    const { driver, pipe, read } = windowedSuppress((b) =>
      grouped(b).windowedBy(TimeWindows.ofSizeAndGrace(10, 5)).count(),
    );
    pipe('a', 1);
    pipe('a', 3);
    pipe('b', 4);
    pipe('a', 12);
    pipe('a', 14); // sST 14 < 10 + 5
    assert.deepEqual(read(), []);
    pipe('a', 15); // sST 15: [0,10) is final for both keys; values and timestamps of the last updates
    assert.deepEqual(read(), [
      ['a', 0, 10, 2, 3],
      ['b', 0, 10, 1, 4],
    ]);
    pipe('a', 5); // late for the aggregation: dropped there, nothing reaches suppress
    pipe('a', 24); // sST 24 < 20 + 5
    assert.deepEqual(read(), []);
    pipe('a', 25); // [10,20) final: a@12, a@14, a@15
    assert.deepEqual(read(), [['a', 10, 20, 3, 15]]);
    driver.close();
  });

  test('results due at the same time come out in serialized-key order, not arrival order', () => {
    const { driver, pipe, read } = windowedSuppress((b) => grouped(b).windowedBy(TimeWindows.ofSizeWithNoGrace(10)).count());
    pipe('b', 1);
    pipe('a', 2);
    pipe('c', 10); // sST 10: [0,10) of a and b due (buffer time 10 for both): a before b
    assert.deepEqual(read(), [
      ['a', 0, 10, 1, 2],
      ['b', 0, 10, 1, 1],
    ]);
    driver.close();
  });

  test('sliding windows: due at end + grace, one ms before the aggregation closes the window, so another result can follow', () => {
    const { driver, pipe, read } = windowedSuppress((b) =>
      grouped(b).windowedBy(SlidingWindows.ofTimeDifferenceWithNoGrace(10)).count(),
    );
    pipe('a', 5); // a [0,10] = 1
    pipe('a', 9); // a [0,10] = 2; a [6,16] = 1
    assert.deepEqual(read(), []);
    pipe('b', 10); // b [0,10] = 1; sST 10 >= 10 + 0: both [0,10] windows are emitted
    assert.deepEqual(read(), [
      ['a', 0, 10, 2, 9],
      ['b', 0, 10, 1, 10],
    ]);
    // The aggregation itself still accepts t = 10 into [0,10] (end inclusive, closed only once
    // ST > 10): a@10 updates a [0,10] to 3, which is buffered anew and is due at once.
    pipe('a', 10);
    assert.deepEqual(read(), [['a', 0, 10, 3, 10]]);
    driver.close();
  });

  test('session windows: due at end + gap + grace; retracted (merged-away) sessions emit nothing', () => {
    const { driver, pipe, read } = windowedSuppress((b) =>
      grouped(b).windowedBy(SessionWindows.ofInactivityGapWithNoGrace(5)).count(),
    );
    pipe('a', 0); // [0,0] = 1, due 5
    pipe('a', 3); // [0,0] -> null; [0,3] = 2, due 8
    pipe('a', 6); // [0,3] -> null; [0,6] = 3, due 11. sST 6: [0,0] due but a delete: dropped
    assert.deepEqual(read(), []);
    pipe('a', 20); // sST 20: [0,3] (delete, dropped) and [0,6] = 3 due
    assert.deepEqual(read(), [['a', 0, 6, 3, 6]]);
    driver.close();
  });

  test('needs a windowed aggregation upstream', () => {
    const builder = new StreamsBuilder();
    const counts = grouped(builder).count();
    assert.throws(
      () => counts.suppress(Suppressed.untilWindowCloses()),
      (e: unknown) => e instanceof StreamsError && e.code === 'INVALID_TOPOLOGY',
    );
  });

  test('a buffer that emits early is refused: only final results may come out', () => {
    assert.throws(
      () => Suppressed.untilWindowCloses(BufferConfig.maxRecords(10).emitEarlyWhenFull()),
      (e: unknown) => e instanceof StreamsError && e.code === 'INVALID_ARGUMENT',
    );
  });
});

describe('suppress(untilTimeLimit)', () => {
  test('emits the latest value of a key once sST - limit reaches the time it was first buffered', () => {
    const { driver, pipe, read } = countSuppress(Suppressed.untilTimeLimit(10));
    pipe('a', 0); // a = 1 buffered at time 0
    pipe('a', 5); // a = 2: still buffered at time 0 (the timer does not reset)
    pipe('b', 8); // b = 1 at time 8
    assert.deepEqual(read(), []);
    pipe('c', 10); // c = 1 at time 10; sST 10: a (0 <= 0) due
    assert.deepEqual(read(), [['a', 2, 5]]);
    pipe('c', 17); // c = 2; nothing due (b needs sST 18)
    assert.deepEqual(read(), []);
    pipe('c', 18); // c = 3; b due
    assert.deepEqual(read(), [['b', 1, 8]]);
    pipe('a', 19); // a = 3: a new entry at time 19
    pipe('c', 20); // c = 4; c (time 10) due with its latest value
    assert.deepEqual(read(), [['c', 4, 20]]);
    driver.close();
  });

  test('a limit of 0 passes every update through at once', () => {
    const { driver, pipe, read } = countSuppress(Suppressed.untilTimeLimit(0));
    pipe('a', 3);
    pipe('a', 1);
    assert.deepEqual(read(), [
      ['a', 1, 3],
      ['a', 2, 3], // count keeps the max timestamp of its updates
    ]);
    driver.close();
  });

  test('deletes are forwarded', () => {
    const builder = new StreamsBuilder();
    builder
      .table('t', { key: Serdes.string(), value: Serdes.string() })
      .suppress(Suppressed.untilTimeLimit(5))
      .toStream()
      .to('out', { key: Serdes.string(), value: Serdes.string() });
    const driver = new TopologyTestDriver(builder.build());
    const input = driver.createInputTopic('t', Serdes.string(), Serdes.string());
    const output = driver.createOutputTopic('out', Serdes.string(), Serdes.string());
    input.pipeInput('k', 'v1', 0);
    input.pipeInput('k', null, 1); // delete of k, buffered at time 0
    input.pipeInput('x', 'w', 6); // sST 6: k due (0 <= 1)
    assert.deepEqual(
      output.readRecordsToList().map((r) => [r.key, r.value, r.timestamp]),
      [['k', null, 1]],
    );
    driver.close();
  });

  test('a full buffer with shutDownWhenFull fails the task', () => {
    const { driver, pipe } = countSuppress(Suppressed.untilTimeLimit(5, BufferConfig.maxRecords(1)));
    pipe('a', 0);
    assert.throws(
      () => pipe('b', 1), // two records buffered, none due (needs sST 5)
      (e: unknown) => e instanceof StreamsError && e.code === 'BUFFER_FULL',
    );
    driver.close();
  });

  test('due records are evicted before the capacity is checked', () => {
    const { driver, pipe, read } = countSuppress(Suppressed.untilTimeLimit(5, BufferConfig.maxRecords(1)));
    pipe('a', 0);
    // b is buffered (2 records), then a is due (0 <= 5 - 5) and emitted: 1 record left, within capacity.
    pipe('b', 5);
    assert.deepEqual(read(), [['a', 1, 0]]);
    driver.close();
  });

  test('emitEarlyWhenFull evicts the record with the earliest buffer time', () => {
    const { driver, pipe, read } = countSuppress(Suppressed.untilTimeLimit(100, BufferConfig.maxRecords(2).emitEarlyWhenFull()));
    pipe('b', 5);
    pipe('a', 1);
    pipe('c', 6); // 3 records > 2: the oldest by buffer time is a (time 1), not b (buffered first)
    assert.deepEqual(read(), [['a', 1, 1]]);
    driver.close();
  });
});

describe('suppression buffer bounds and store', () => {
  test('maxBytes bounds the buffer by the serialized size of its entries', () => {
    // An entry of the count table: key 'a' (1 byte) + 21 bytes of header + an 8-byte count = 30 bytes.
    const { driver, pipe } = countSuppress(Suppressed.untilTimeLimit(100, BufferConfig.maxBytes(60)));
    pipe('a', 0);
    pipe('b', 1); // 60 bytes: full, not over
    pipe('a', 2); // a updated in place: still 60 bytes
    assert.throws(
      () => pipe('c', 3),
      (e: unknown) => e instanceof StreamsError && e.code === 'BUFFER_FULL',
    );
    driver.close();
  });

  test('maxBytes with emitEarlyWhenFull evicts what is due first until the buffer fits', () => {
    const { driver, pipe, read } = countSuppress(Suppressed.untilTimeLimit(100, BufferConfig.maxRecords(10).withMaxBytes(60).emitEarlyWhenFull()));
    pipe('b', 1);
    pipe('a', 0);
    pipe('c', 2); // 90 bytes > 60: a (due 100) goes first, then 60 bytes fit
    assert.deepEqual(read(), [['a', 1, 0]]);
    driver.close();
  });

  test('a full buffer stops the task even when processing errors are skipped: skipping records would not empty it', () => {
    const builder = new StreamsBuilder();
    grouped(builder)
      .count()
      .suppress(Suppressed.untilTimeLimit(100, BufferConfig.maxRecords(1)))
      .toStream()
      .to('out', { key: Serdes.string(), value: Serdes.number() });
    const driver = new TopologyTestDriver(builder.build(), { onProcessingError: () => 'continue' });
    const input = driver.createInputTopic('in', Serdes.string(), Serdes.string());
    input.pipeInput('a', 'v', 0);
    assert.throws(
      () => input.pipeInput('b', 'v', 1),
      (e: unknown) => e instanceof StreamsError && e.code === 'BUFFER_FULL',
    );
    driver.close();
  });

  test('the buffer is a store of its own with a changelog, named after the suppress node', () => {
    const builder = new StreamsBuilder();
    grouped(builder)
      .windowedBy(TimeWindows.ofSizeAndGrace(10, 2))
      .count()
      .suppress(Suppressed.untilWindowCloses(), { name: 'final-counts' })
      .toStream()
      .to('out', { key: Serdes.windowed(Serdes.string()), value: Serdes.number() });
    const description = builder.build().describe();
    const node = description.subtopologies.flatMap((s) => s.nodes).find((n) => n.name === 'final-counts');
    assert.ok(node?.kind === 'processor');
    assert.deepEqual([...node.stores], ['final-counts-store']);
    assert.ok(description.internalTopics.some((t) => t.name === 'final-counts-store-changelog'));
  });

  test('bounds are validated', () => {
    for (const make of [() => BufferConfig.maxBytes(0), () => BufferConfig.maxRecords(1.5), () => BufferConfig.unbounded().withMaxBytes(-1)]) {
      assert.throws(make, (e: unknown) => e instanceof StreamsError && e.code === 'INVALID_ARGUMENT');
    }
  });
});
