/**
 * Sliding windows (Kafka Streams' KStreamSlidingWindowAggregate, notes §1): windows [start, start + d]
 * with BOTH ends inclusive. For records at timestamps T of a key the windows are
 *   L(t) = [t - d, t] (or the combined [0, d] while t < d), for each t in T, and
 *   [t + 1, t + 1 + d] for each t in T with another record u, t < u <= t + 1 + d;
 * a window holds the records with start <= ts <= end, and its timestamp is the max record ts.
 * The aggregate below collects the record timestamps, so a window's value shows its records
 * in the order they were aggregated.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EmitStrategy,
  Materialized,
  Serdes,
  SlidingWindows,
  StreamsBuilder,
  TopologyTestDriver,
} from '../../../index.ts';

type Row = [key: string, start: number, end: number, value: number[] | null, timestamp: number];

function slidingCollect(windows: SlidingWindows, emit?: EmitStrategy) {
  const builder = new StreamsBuilder();
  let windowed = builder.stream('in', { key: Serdes.string(), value: Serdes.number() }).groupByKey().windowedBy(windows);
  if (emit !== undefined) windowed = windowed.emitStrategy(emit);
  windowed
    .aggregate(
      (): number[] => [],
      (_key, value, agg) => [...agg, value],
      { materialized: Materialized.as('sliding', { value: Serdes.json<number[]>() }) },
    )
    .toStream()
    .to('out', { key: Serdes.windowed(Serdes.string()), value: Serdes.json<number[]>() });
  const driver = new TopologyTestDriver(builder.build());
  const input = driver.createInputTopic('in', Serdes.string(), Serdes.number());
  // The value is the record timestamp, so window contents are easy to read.
  const pipe = (key: string, ts: number) => input.pipeInput(key, ts, ts);
  const output = driver.createOutputTopic('out', Serdes.windowed(Serdes.string()), Serdes.json<number[]>());
  const read = (): Row[] =>
    output.readRecordsToList().map((r) => [r.key!.key, r.key!.window.start, r.key!.window.end, r.value, r.timestamp]);
  const store = (): Row[] =>
    driver
      .getWindowStore<string, number[]>('sliding')
      .all()
      .map((e) => [e.key, e.window.start, e.window.end, e.value, e.timestamp]);
  return { driver, input, pipe, read, store };
}

describe('SlidingWindows', () => {
  test('in order: a left window per record, the right window of the previous record once a record falls in it', () => {
    const { driver, pipe, read } = slidingCollect(SlidingWindows.ofTimeDifferenceWithNoGrace(10));
    pipe('a', 5); // t < d: its left window is the combined [0, 10]
    pipe('a', 12); // right window of 5 is [6, 16] (12 is in it); left window [2, 12] holds 5 and 12
    pipe('a', 30); // nothing within 10 before it: just [20, 30]; 12's right window [13, 23] stays empty
    assert.deepEqual(read(), [
      ['a', 0, 10, [5], 5],
      ['a', 6, 16, [12], 12],
      ['a', 2, 12, [5, 12], 12],
      ['a', 20, 30, [30], 30],
    ]);
    driver.close();
  });

  test('records before d share the combined window [0, d]', () => {
    const { driver, pipe, read } = slidingCollect(SlidingWindows.ofTimeDifferenceWithNoGrace(10));
    pipe('a', 3);
    pipe('a', 7); // 3's right window [4, 14] gets 7; the combined [0, 10] gets 7 too
    assert.deepEqual(read(), [
      ['a', 0, 10, [3], 3],
      ['a', 4, 14, [7], 7],
      ['a', 0, 10, [3, 7], 7],
    ]);
    driver.close();
  });

  test('window bounds are inclusive: a record exactly d after another shares its left window', () => {
    const { driver, pipe, read } = slidingCollect(SlidingWindows.ofTimeDifferenceWithNoGrace(10));
    pipe('a', 20); // [10, 20]
    pipe('a', 30); // left window [20, 30] holds 20 (inclusive start) and 30; 20's right window [21, 31] holds 30
    assert.deepEqual(read(), [
      ['a', 10, 20, [20], 20],
      ['a', 21, 31, [30], 30],
      ['a', 20, 30, [20, 30], 30],
    ]);
    driver.close();
  });

  test('a second record at the same timestamp only updates the existing windows', () => {
    const { driver, pipe, read } = slidingCollect(SlidingWindows.ofTimeDifferenceWithNoGrace(10));
    pipe('a', 15);
    pipe('a', 15);
    assert.deepEqual(read(), [
      ['a', 5, 15, [15], 15],
      ['a', 5, 15, [15, 15], 15],
    ]);
    driver.close();
  });

  test('out of order within grace: existing windows updated, then its left window, then its right window copied from later records', () => {
    const { driver, pipe, read, store } = slidingCollect(SlidingWindows.ofTimeDifferenceAndGrace(10, 20));
    pipe('a', 15);
    pipe('a', 20);
    read();
    pipe('a', 12);
    // Windows holding 12: [10, 20] and [5, 15] (updated, latest start first); its left window
    // [2, 12] is new; its right window [13, 23] holds exactly the later records 15 and 20 (copied,
    // not aggregated with 12), timestamp 20.
    assert.deepEqual(read(), [
      ['a', 10, 20, [15, 20, 12], 20],
      ['a', 5, 15, [15, 12], 15],
      ['a', 2, 12, [12], 12],
      ['a', 13, 23, [15, 20], 20],
    ]);
    // Reference model for T = {15, 20, 12}: L(15) = [5,15], L(20) = [10,20], L(12) = [2,12],
    // right windows [16,26] (of 15: 20 falls in it) and [13,23] (of 12); 20 has no later record.
    assert.deepEqual(store(), [
      ['a', 2, 12, [12], 12],
      ['a', 5, 15, [15, 12], 15],
      ['a', 10, 20, [15, 20, 12], 20],
      ['a', 13, 23, [15, 20], 20],
      ['a', 16, 26, [20], 20],
    ]);
    driver.close();
  });

  test('a record is late only when even its left window closed (t + d < streamTime - grace); windows already closed are skipped', () => {
    const { driver, pipe, read } = slidingCollect(SlidingWindows.ofTimeDifferenceWithNoGrace(10));
    pipe('a', 30); // ST 30, close 30
    pipe('a', 15); // 15 + 10 = 25 < 30: late, dropped
    assert.equal(driver.droppedRecords()['late-record'], 1);
    pipe('a', 20); // 20 + 10 = 30, not < 30: accepted
    // [20, 30] (end 30 >= close 30) gets 20; 20's own left window [10, 20] is already closed
    // (end 20 < 30) and is not created; its right window [21, 31] holds 30.
    assert.deepEqual(read(), [
      ['a', 20, 30, [30], 30],
      ['a', 20, 30, [30, 20], 30],
      ['a', 21, 31, [30], 30],
    ]);
    driver.close();
  });

  test('a null value is dropped and counted as null-value', () => {
    const { driver, input, read } = slidingCollect(SlidingWindows.ofTimeDifferenceWithNoGrace(10));
    input.pipeInput('a', null, 5);
    assert.deepEqual(read(), []);
    assert.equal(driver.droppedRecords()['null-value'], 1);
    driver.close();
  });

  test('onWindowClose: a window [s, e] is emitted once streamTime - grace > e, by start then key', () => {
    const { driver, pipe, read } = slidingCollect(SlidingWindows.ofTimeDifferenceWithNoGrace(10), EmitStrategy.onWindowClose());
    pipe('a', 5); // [0, 10] = {5}
    pipe('a', 10); // [0, 10] = {5, 10}; 5's right window [6, 16] = {10}
    assert.deepEqual(read(), []); // ST 10: [0, 10] still accepts records at 10 (end inclusive)
    pipe('b', 11); // b: [1, 11]. ST 11 > 10: a's [0, 10] is final
    assert.deepEqual(read(), [['a', 0, 10, [5, 10], 10]]);
    pipe('a', 27); // a: [17, 27]. ST 27 closes every window ending before 27: b's [1, 11], a's [6, 16]
    assert.deepEqual(read(), [
      ['b', 1, 11, [11], 11],
      ['a', 6, 16, [10], 10],
    ]);
    driver.close();
  });
});
