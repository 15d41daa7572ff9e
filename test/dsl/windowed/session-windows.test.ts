/**
 * Session windows (Kafka Streams' KStreamSessionWindowAggregate, notes §3). A record at t joins
 * every session of its key with `end >= t - gap` and `start <= t + gap` (inclusive); they merge
 * into [min start, max end]. Merged-away sessions are retracted downstream (null value, their old
 * window key, timestamp = old end) before the merged session is emitted (timestamp = its end).
 * A record is dropped as late when the MERGED end < streamTime - grace - gap.
 * The string aggregate concatenates values and the merger concatenates aggregates, so every
 * value shows the order in which sessions were merged and records added.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EmitStrategy,
  Materialized,
  Serdes,
  SessionWindows,
  StreamsBuilder,
  TopologyTestDriver,
} from '../../../index.ts';

type Row = [key: string, start: number, end: number, value: string | number | null, timestamp: number];

function sessionConcat(windows: SessionWindows) {
  const builder = new StreamsBuilder();
  builder
    .stream('in', { key: Serdes.string(), value: Serdes.string() })
    .groupByKey()
    .windowedBy(windows)
    .aggregate(
      () => '',
      (_key, value, agg) => agg + value,
      (_key, left, right) => left + right,
      { materialized: Materialized.as('sessions', { value: Serdes.string() }) },
    )
    .toStream()
    .to('out', { key: Serdes.windowed(Serdes.string()), value: Serdes.string() });
  const driver = new TopologyTestDriver(builder.build());
  const input = driver.createInputTopic('in', Serdes.string(), Serdes.string());
  const output = driver.createOutputTopic('out', Serdes.windowed(Serdes.string()), Serdes.string());
  const pipe = (key: string, value: string, ts: number) => input.pipeInput(key, value, ts);
  const read = (): Row[] =>
    output.readRecordsToList().map((r) => [r.key!.key, r.key!.window.start, r.key!.window.end, r.value, r.timestamp]);
  const sessions = (key: string) =>
    driver
      .getSessionStore<string, string>('sessions')
      .fetch(key)
      .map((s) => [s.key.window.start, s.key.window.end, s.value]);
  return { driver, pipe, read, sessions };
}

function sessionCount(windows: SessionWindows, emit?: EmitStrategy) {
  const builder = new StreamsBuilder();
  let windowed = builder.stream('in', { key: Serdes.string(), value: Serdes.string() }).groupByKey().windowedBy(windows);
  if (emit !== undefined) windowed = windowed.emitStrategy(emit);
  windowed
    .count({ materialized: 'session-counts' })
    .toStream()
    .to('out', { key: Serdes.windowed(Serdes.string()), value: Serdes.number() });
  const driver = new TopologyTestDriver(builder.build());
  const input = driver.createInputTopic('in', Serdes.string(), Serdes.string());
  const output = driver.createOutputTopic('out', Serdes.windowed(Serdes.string()), Serdes.number());
  const pipe = (key: string, ts: number, value: string | null = 'v') => input.pipeInput(key, value, ts);
  const read = (): Row[] =>
    output.readRecordsToList().map((r) => [r.key!.key, r.key!.window.start, r.key!.window.end, r.value, r.timestamp]);
  return { driver, pipe, read };
}

describe('SessionWindows', () => {
  test('a record within the gap (inclusive) extends the session; the old session is retracted first', () => {
    const { driver, pipe, read, sessions } = sessionConcat(SessionWindows.ofInactivityGapAndGrace(5, 10));
    pipe('a', 'x', 0);
    pipe('a', 'y', 5); // 5 - 0 = gap: still the same session
    pipe('a', 'z', 11); // 11 - 5 > gap: a new session
    assert.deepEqual(read(), [
      ['a', 0, 0, 'x', 0],
      ['a', 0, 0, null, 0], // retraction of [0,0], timestamp = its end
      ['a', 0, 5, 'xy', 5],
      ['a', 11, 11, 'z', 11],
    ]);
    assert.deepEqual(sessions('a'), [
      [0, 5, 'xy'],
      [11, 11, 'z'],
    ]);
    driver.close();
  });

  test('a record bridging two sessions merges them: both retracted (by end), then the merged session', () => {
    const { driver, pipe, read, sessions } = sessionConcat(SessionWindows.ofInactivityGapAndGrace(5, 10));
    pipe('a', 'x', 0);
    pipe('a', 'z', 10); // [0,0] ends before 10 - 5: separate session
    assert.equal(read().length, 2);
    pipe('a', 'y', 5); // within the gap of both: [0,0] and [10,10] merge into [0,10]
    assert.deepEqual(read(), [
      ['a', 0, 0, null, 0],
      ['a', 10, 10, null, 10],
      // merger('' , 'x') then merger(., 'z') in end order, then the aggregator adds 'y'
      ['a', 0, 10, 'xzy', 10],
    ]);
    assert.deepEqual(sessions('a'), [[0, 10, 'xzy']]);
    const store = driver.getSessionStore<string, string>('sessions');
    assert.equal(store.fetchSession('a', 0, 10), 'xzy');
    assert.equal(store.fetchSession('a', 0, 0), undefined);
    assert.deepEqual(
      store.findSessions('a', 0, 10).map((s) => s.key.window),
      [{ start: 0, end: 10 }],
    );
    driver.close();
  });

  test('an out-of-order record inside a session retracts and re-emits the same window', () => {
    const { driver, pipe, read } = sessionConcat(SessionWindows.ofInactivityGapAndGrace(5, 10));
    pipe('a', 'x', 0);
    pipe('a', 'y', 4);
    read();
    pipe('a', 'z', 2); // merged window [0,4] differs from [2,2]: [0,4] is removed and put again
    assert.deepEqual(read(), [
      ['a', 0, 4, null, 4],
      ['a', 0, 4, 'xyz', 4],
    ]);
    driver.close();
  });

  test('a second record at the same time as a single-record session updates it without a retraction', () => {
    const { driver, pipe, read } = sessionConcat(SessionWindows.ofInactivityGapAndGrace(5, 10));
    pipe('a', 'x', 7);
    pipe('a', 'y', 7); // merged window [7,7] == [t,t]: overwritten, nothing retracted
    assert.deepEqual(read(), [
      ['a', 7, 7, 'x', 7],
      ['a', 7, 7, 'xy', 7],
    ]);
    driver.close();
  });

  test('sessions of different keys never merge', () => {
    const { driver, pipe, read, sessions } = sessionConcat(SessionWindows.ofInactivityGapAndGrace(5, 10));
    pipe('a', 'x', 0);
    pipe('b', 'y', 2);
    assert.deepEqual(read(), [
      ['a', 0, 0, 'x', 0],
      ['b', 2, 2, 'y', 2],
    ]);
    assert.deepEqual(sessions('a'), [[0, 0, 'x']]);
    assert.deepEqual(sessions('b'), [[2, 2, 'y']]);
    driver.close();
  });

  test('late means the merged session ends before streamTime - grace - gap', () => {
    const { driver, pipe, read, sessions } = sessionConcat(SessionWindows.ofInactivityGapWithNoGrace(5));
    pipe('b', 'p', 28);
    pipe('b', 'q', 30); // [28,30]; ST 30, close = 30 - 0 - 5 = 25
    pipe('b', 'r', 18); // finds nothing (needs end >= 13, start <= 23): [18,18] ends before 25 -> dropped
    assert.equal(driver.droppedRecords()['late-record'], 1);
    pipe('b', 's', 24); // 24 < 25 on its own, but it merges with [28,30] (start 28 <= 29): end 30 -> accepted
    pipe('b', 't', 19); // reaches [24,30] (start 24 <= 19 + 5): merged [19,30], accepted
    assert.deepEqual(read(), [
      ['b', 28, 28, 'p', 28],
      ['b', 28, 28, null, 28],
      ['b', 28, 30, 'pq', 30],
      ['b', 28, 30, null, 30],
      ['b', 24, 30, 'pqs', 30],
      ['b', 24, 30, null, 30],
      ['b', 19, 30, 'pqst', 30],
    ]);
    assert.equal(driver.droppedRecords()['late-record'], 1);
    assert.deepEqual(sessions('b'), [[19, 30, 'pqst']]);
    driver.close();
  });

  test('a session ending exactly at streamTime - grace - gap is not late', () => {
    const { driver, pipe, read } = sessionConcat(SessionWindows.ofInactivityGapWithNoGrace(5));
    pipe('b', 'p', 30); // close 25
    pipe('c', 'q', 25); // merged end 25, not < 25: accepted and emitted
    assert.deepEqual(read(), [
      ['b', 30, 30, 'p', 30],
      ['c', 25, 25, 'q', 25],
    ]);
    assert.equal(driver.droppedRecords()['late-record'] ?? 0, 0);
    driver.close();
  });

  test('count merges counts with the merger', () => {
    const { driver, pipe, read } = sessionCount(SessionWindows.ofInactivityGapAndGrace(5, 10));
    pipe('a', 0);
    pipe('a', 1);
    pipe('a', 10);
    pipe('a', 5); // bridges [0,1] (2) and [10,10] (1): 2 + 1 + 1 = 4
    assert.deepEqual(read(), [
      ['a', 0, 0, 1, 0],
      ['a', 0, 0, null, 0],
      ['a', 0, 1, 2, 1],
      ['a', 10, 10, 1, 10],
      ['a', 0, 1, null, 1],
      ['a', 10, 10, null, 10],
      ['a', 0, 10, 4, 10],
    ]);
    driver.close();
  });

  test('a null value is passed to the aggregator (only null keys are dropped; notes §3)', () => {
    const { driver, pipe, read } = sessionCount(SessionWindows.ofInactivityGapAndGrace(5, 10));
    pipe('a', 0);
    pipe('a', 1, null);
    assert.deepEqual(read(), [
      ['a', 0, 0, 1, 0],
      ['a', 0, 0, null, 0],
      ['a', 0, 1, 2, 1],
    ]);
    driver.close();
  });

  test('onWindowClose: each final session once, when its end < streamTime - grace - gap; merged-away sessions never', () => {
    const { driver, pipe, read } = sessionCount(SessionWindows.ofInactivityGapWithNoGrace(5), EmitStrategy.onWindowClose());
    pipe('a', 0);
    pipe('a', 3); // [0,3] = 2 (the [0,0] session was merged away and is never emitted)
    assert.deepEqual(read(), []);
    pipe('a', 20); // ST 20, close 15: [0,3] ends before 15 -> final
    assert.deepEqual(read(), [['a', 0, 3, 2, 3]]);
    pipe('a', 22); // [20,22]; close 17
    assert.deepEqual(read(), []);
    pipe('a', 30); // close 25: [20,22] = 2 is final
    assert.deepEqual(read(), [['a', 20, 22, 2, 22]]);
    driver.close();
  });
});
