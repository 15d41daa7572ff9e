/**
 * Tumbling and hopping windows (Kafka Streams' KStreamWindowAggregate, notes §4):
 * window [start, start + size) with end exclusive, starts aligned to multiples of the advance,
 * a window is closed once `end <= streamTime - grace`, stream time = max timestamp the aggregation saw.
 * Every expected output below is computed by hand from those rules.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EmitStrategy,
  Materialized,
  Serdes,
  StreamsBuilder,
  TimeWindows,
  TopologyTestDriver,
} from '../../../index.ts';

type Row = [key: string, start: number, end: number, value: number | string | null, timestamp: number];

function windowedCount(windows: TimeWindows, emit?: EmitStrategy) {
  const builder = new StreamsBuilder();
  let windowed = builder.stream('in', { key: Serdes.string(), value: Serdes.string() }).groupByKey().windowedBy(windows);
  if (emit !== undefined) windowed = windowed.emitStrategy(emit);
  windowed
    .count({ materialized: 'counts' })
    .toStream()
    .to('out', { key: Serdes.windowed(Serdes.string()), value: Serdes.number() });
  const driver = new TopologyTestDriver(builder.build());
  const input = driver.createInputTopic('in', Serdes.string(), Serdes.string());
  const output = driver.createOutputTopic('out', Serdes.windowed(Serdes.string()), Serdes.number());
  const pipe = (key: string | null, ts: number, value: string | null = 'v') => input.pipeInput(key, value, ts);
  const read = (): Row[] =>
    output.readRecordsToList().map((r) => [r.key!.key, r.key!.window.start, r.key!.window.end, r.value, r.timestamp]);
  return { driver, pipe, read };
}

describe('TimeWindows: tumbling', () => {
  test('each record counts in the one epoch-aligned window [start, start + size) that holds it; end is exclusive', () => {
    const { driver, pipe, read } = windowedCount(TimeWindows.ofSizeWithNoGrace(10));
    pipe('a', 3);
    pipe('b', 5);
    pipe('a', 9);
    pipe('a', 10); // 10 is the exclusive end of [0,10): it opens [10,20)
    pipe('a', 19);
    pipe('a', 20);
    assert.deepEqual(read(), [
      ['a', 0, 10, 1, 3],
      ['b', 0, 10, 1, 5],
      ['a', 0, 10, 2, 9], // timestamp = max record timestamp in the window
      ['a', 10, 20, 1, 10],
      ['a', 10, 20, 2, 19],
      ['a', 20, 30, 1, 20],
    ]);
    driver.close();
  });

  test('window starts are multiples of the size counted from the epoch, not from the first record', () => {
    const { driver, pipe, read } = windowedCount(TimeWindows.ofSizeWithNoGrace(7));
    pipe('a', 15); // 15 = 2*7 + 1 -> [14, 21)
    pipe('a', 20);
    pipe('a', 21); // 21 = 3*7 -> [21, 28)
    assert.deepEqual(read(), [
      ['a', 14, 21, 1, 15],
      ['a', 14, 21, 2, 20],
      ['a', 21, 28, 1, 21],
    ]);
    driver.close();
  });

  test('an out-of-order record keeps the window timestamp at the max record timestamp', () => {
    const { driver, pipe, read } = windowedCount(TimeWindows.ofSizeAndGrace(10, 100));
    pipe('a', 8);
    pipe('a', 2);
    assert.deepEqual(read(), [
      ['a', 0, 10, 1, 8],
      ['a', 0, 10, 2, 8],
    ]);
    driver.close();
  });

  test('a record within grace still updates its window; one past it is dropped and counted as late-record', () => {
    const { driver, pipe, read } = windowedCount(TimeWindows.ofSizeAndGrace(10, 5));
    pipe('a', 3); // ST 3
    pipe('a', 14); // ST 14, close = 9: [0,10) still open (10 > 9)
    pipe('a', 4); // -> [0,10) = 2, ts max(4, 3) = 4
    pipe('a', 15); // ST 15, close = 10: [0,10) is now closed (end 10 <= 10)
    pipe('a', 6); // late: dropped
    pipe('a', 12); // out of order but [10,20) is open: 3, ts stays 15
    assert.deepEqual(read(), [
      ['a', 0, 10, 1, 3],
      ['a', 10, 20, 1, 14],
      ['a', 0, 10, 2, 4],
      ['a', 10, 20, 2, 15],
      ['a', 10, 20, 3, 15],
    ]);
    assert.equal(driver.droppedRecords()['late-record'], 1);
    // retention = size + grace = 15, latest window start 10: both windows are still kept.
    const store = driver.getWindowStore<string, number>('counts');
    assert.deepEqual(
      store.all().map((e) => [e.key, e.window.start, e.window.end, e.value, e.timestamp]),
      [
        ['a', 0, 10, 2, 4],
        ['a', 10, 20, 3, 15],
      ],
    );
    assert.equal(store.fetchWindow('a', 0), 2);
    driver.close();
  });

  test('a late record does not move stream time', () => {
    const { driver, pipe, read } = windowedCount(TimeWindows.ofSizeWithNoGrace(10));
    pipe('a', 25); // ST 25, close 25
    pipe('a', 3); // late
    pipe('a', 24); // [20,30) still open: ST is still 25, not moved back or forward by the late record
    assert.deepEqual(read(), [
      ['a', 20, 30, 1, 25],
      ['a', 20, 30, 2, 25],
    ]);
    assert.equal(driver.droppedRecords()['late-record'], 1);
    driver.close();
  });

  test('a null key is dropped and counted as null-key', () => {
    const { driver, pipe, read } = windowedCount(TimeWindows.ofSizeWithNoGrace(10));
    pipe(null, 1);
    assert.deepEqual(read(), []);
    assert.equal(driver.droppedRecords()['null-key'], 1);
    driver.close();
  });

  test('a null value is aggregated like any other value (only null keys are dropped; notes §4)', () => {
    const { driver, pipe, read } = windowedCount(TimeWindows.ofSizeWithNoGrace(10));
    pipe('a', 1);
    pipe('a', 2, null);
    assert.deepEqual(read(), [
      ['a', 0, 10, 1, 1],
      ['a', 0, 10, 2, 2],
    ]);
    driver.close();
  });

  test('aggregate folds the values in arrival order', () => {
    const builder = new StreamsBuilder();
    builder
      .stream('in', { key: Serdes.string(), value: Serdes.string() })
      .groupByKey()
      .windowedBy(TimeWindows.ofSizeAndGrace(10, 10))
      .aggregate(
        () => '',
        (_key, value, agg) => agg + value,
        { materialized: Materialized.as('agg', { value: Serdes.string() }) },
      )
      .toStream()
      .to('out', { key: Serdes.windowed(Serdes.string()), value: Serdes.string() });
    const driver = new TopologyTestDriver(builder.build());
    const input = driver.createInputTopic('in', Serdes.string(), Serdes.string());
    const output = driver.createOutputTopic('out', Serdes.windowed(Serdes.string()), Serdes.string());
    input.pipeInput('a', 'x', 7);
    input.pipeInput('a', 'y', 2);
    input.pipeInput('a', 'z', 11);
    assert.deepEqual(
      output.readRecordsToList().map((r) => [r.key!.window.start, r.value, r.timestamp]),
      [
        [0, 'x', 7],
        [0, 'xy', 7],
        [10, 'z', 11],
      ],
    );
    driver.close();
  });
});

describe('TimeWindows: hopping', () => {
  test('a record updates every window [k*advance, k*advance + size) holding it, by ascending start; no negative starts', () => {
    const { driver, pipe, read } = windowedCount(TimeWindows.ofSizeAndGrace(10, 100).advanceBy(5));
    pipe('a', 3); // windows holding 3 with start in (3-10, 3] and start >= 0: 0
    pipe('a', 7); // starts in (-3, 7]: 0, 5
    pipe('a', 12); // starts in (2, 12]: 5, 10
    pipe('a', 10); // starts in (0, 10]: 5, 10 (not 0: [0,10) ends before 10)
    assert.deepEqual(read(), [
      ['a', 0, 10, 1, 3],
      ['a', 0, 10, 2, 7],
      ['a', 5, 15, 1, 7],
      ['a', 5, 15, 2, 12],
      ['a', 10, 20, 1, 12],
      ['a', 5, 15, 3, 12],
      ['a', 10, 20, 2, 12],
    ]);
    driver.close();
  });

  test('an advance that does not divide the size: starts stay multiples of the advance', () => {
    const { driver, pipe, read } = windowedCount(TimeWindows.ofSizeAndGrace(10, 100).advanceBy(4));
    pipe('a', 9); // multiples of 4 in (-1, 9]: 0, 4, 8
    pipe('b', 13); // multiples of 4 in (3, 13]: 4, 8, 12
    assert.deepEqual(read(), [
      ['a', 0, 10, 1, 9],
      ['a', 4, 14, 1, 9],
      ['a', 8, 18, 1, 9],
      ['b', 4, 14, 1, 13],
      ['b', 8, 18, 1, 13],
      ['b', 12, 22, 1, 13],
    ]);
    driver.close();
  });

  test('a late record still updates its open windows; each closed window counts one late-record drop', () => {
    const { driver, pipe, read } = windowedCount(TimeWindows.ofSizeWithNoGrace(10).advanceBy(5));
    pipe('a', 12); // [5,15), [10,20); ST 12, close 12
    pipe('a', 7); // [0,10): end 10 <= 12 -> dropped; [5,15): open -> 2
    assert.deepEqual(read(), [
      ['a', 5, 15, 1, 12],
      ['a', 10, 20, 1, 12],
      ['a', 5, 15, 2, 12],
    ]);
    assert.equal(driver.droppedRecords()['late-record'], 1);
    driver.close();
  });
});

describe('TimeWindows: EmitStrategy.onWindowClose', () => {
  test('each window is emitted once, with its final value, when end <= streamTime - grace', () => {
    const { driver, pipe, read } = windowedCount(TimeWindows.ofSizeAndGrace(10, 2), EmitStrategy.onWindowClose());
    pipe('b', 3);
    pipe('a', 1);
    pipe('a', 11); // ST 11, close 9: [0,10) still open
    assert.deepEqual(read(), []);
    pipe('a', 12); // close 10: [0,10) closes; all keys, by start then key bytes ('a' < 'b')
    assert.deepEqual(read(), [
      ['a', 0, 10, 1, 1],
      ['b', 0, 10, 1, 3],
    ]);
    pipe('a', 5); // late for [0,10): dropped, nothing emitted again
    pipe('a', 13); // close 11: no window ends in (10, 11]
    pipe('a', 21); // close 19
    assert.deepEqual(read(), []);
    assert.equal(driver.droppedRecords()['late-record'], 1);
    pipe('a', 22); // close 20: [10,20) closes with a = 3 (11, 12, 13), timestamp 13
    assert.deepEqual(read(), [['a', 10, 20, 3, 13]]);
    pipe('b', 32); // close 30: a's [20,30) = 2 (21, 22) closes
    assert.deepEqual(read(), [['a', 20, 30, 2, 22]]);
    driver.close();
  });

  test('with no grace, a window is emitted by the first record at its end time', () => {
    // size 10, grace 0: a@10 makes close = 10 = end of [0,10), so [0,10) is final and emitted.
    // The store retention is size + grace = 10 and its latest window start is 10, so
    // [0,10) starts exactly at storeTime - retention. Kafka Streams' emit-on-close store
    // (time-first window schema) still returns it: AbstractDualSchemaRocksDBSegmentedBytesStore
    // .getActualFrom uses `observedStreamTime - retentionPeriod` without the `+ 1` for that schema,
    // precisely so that emit-on-close works when retention = size + grace.
    const { driver, pipe, read } = windowedCount(TimeWindows.ofSizeWithNoGrace(10), EmitStrategy.onWindowClose());
    pipe('a', 5);
    assert.deepEqual(read(), []);
    pipe('a', 10);
    assert.deepEqual(read(), [['a', 0, 10, 1, 5]]);
    pipe('a', 25); // close 25: [10,20) (a@10) is final; [20,30) is not
    assert.deepEqual(read(), [['a', 10, 20, 1, 10]]);
    driver.close();
  });

  test('hopping windows are each emitted once, by ascending start', () => {
    // grace 3 (not a multiple of the advance) keeps every window inside the store's retention
    // (size + grace = 13 after the latest start) when it closes.
    const { driver, pipe, read } = windowedCount(TimeWindows.ofSizeAndGrace(10, 3).advanceBy(5), EmitStrategy.onWindowClose());
    pipe('a', 7); // [0,10), [5,15)
    pipe('a', 12); // [5,15), [10,20); ST 12, close 9
    assert.deepEqual(read(), []);
    pipe('a', 13); // close 10: [0,10) = 1 (a@7)
    assert.deepEqual(read(), [['a', 0, 10, 1, 7]]);
    pipe('a', 18); // [10,20), [15,25); close 15: [5,15) = 3 (7, 12, 13)
    assert.deepEqual(read(), [['a', 5, 15, 3, 13]]);
    pipe('a', 23); // close 20: [10,20) = 3 (12, 13, 18)
    assert.deepEqual(read(), [['a', 10, 20, 3, 18]]);
    driver.close();
  });
});
