import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StreamsBuilder, Serdes, TopologyTestDriver, type Serde, type TestRecord } from '../../../index.ts';

const S = Serdes.string();
const N = Serdes.number();
const J = Serdes.json<string[]>();

/** users: user -> region. u1 joins eu, u2 joins eu, u1 moves to us, u1 re-sent in us, u2 leaves. */
const MOVES: [string, string | null, number][] = [
  ['u1', 'eu', 1],
  ['u2', 'eu', 2],
  ['u1', 'us', 3],
  ['u1', 'us', 4],
  ['u2', null, 5],
];

const rec = <V>(key: string, value: V | null, timestamp: number) => ({ key, value, timestamp });

function runPerStep<V>(
  build: (b: StreamsBuilder) => void,
  steps: [string, unknown, number][],
  valueSerde: Serde<V>,
  inputValue: Serde<unknown>,
): TestRecord<string, V>[][] {
  const b = new StreamsBuilder();
  build(b);
  const driver = new TopologyTestDriver(b.build());
  const input = driver.createInputTopic('users', S, inputValue);
  const out = driver.createOutputTopic('out', S, valueSerde);
  const perStep: TestRecord<string, V>[][] = [];
  for (const [k, v, ts] of steps) {
    input.pipeInput(k, v, ts);
    perStep.push(out.readRecordsToList());
  }
  driver.close();
  return perStep;
}

describe('KTable.groupBy + aggregation', () => {
  test('always goes through a repartition topic (named after the grouping)', () => {
    const b = new StreamsBuilder();
    b.table('users', { key: S, value: S })
      .groupBy((user, region) => [region, user] as const, { key: S, value: S, name: 'by-region' })
      .count();
    const repartition = b.build().describe().internalTopics.filter((t) => t.type === 'repartition').map((t) => t.name);
    assert.deepEqual(repartition, ['by-region-repartition']);
  });

  test('count: moving a row subtracts from the old group then adds to the new one; a same-group update is ONE output', () => {
    const perStep = runPerStep<number>(
      (b) =>
        b.table('users', { key: S, value: S })
          .groupBy((user, region) => [region, user] as const, { key: S, value: S })
          .count({ materialized: 'per-region' })
          .toStream()
          .to('out'),
      MOVES,
      N,
      S as Serde<unknown>,
    );
    assert.deepEqual(perStep, [
      [rec('eu', 1, 1)],
      [rec('eu', 2, 2)],
      // u1 eu -> us: subtract from eu first (ts max(3, 2)), then add to us
      [rec('eu', 1, 3), rec('us', 1, 3)],
      // u1 us -> us (KIP-904): subtract and add travel together: one update, never the intermediate 0
      [rec('us', 1, 4)],
      // u2 deleted: subtracted from eu; a count of 0 stays a row (count never deletes)
      [rec('eu', 0, 5)],
    ]);
  });

  test('the count store holds the current counts', () => {
    const b = new StreamsBuilder();
    b.table('users', { key: S, value: S })
      .groupBy((user, region) => [region, user] as const, { key: S, value: S })
      .count({ materialized: 'per-region' });
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('users', S, S);
    for (const [k, v, ts] of MOVES) input.pipeInput(k, v, ts);
    assert.deepEqual(driver.getKeyValueStore<string, number>('per-region').all(), [
      { key: 'eu', value: 0 },
      { key: 'us', value: 1 },
    ]);
    driver.close();
  });

  test('aggregate(init, adder, subtractor): subtractor runs before adder, per group', () => {
    const calls: string[] = [];
    const perStep = runPerStep<string[]>(
      (b) =>
        b.table('users', { key: S, value: S })
          .groupBy((user, region) => [region, user] as const, { key: S, value: S })
          .aggregate(
            () => [] as string[],
            (region, user, agg) => (calls.push(`add ${region} ${user}`), [...agg, user]),
            (region, user, agg) => (calls.push(`sub ${region} ${user}`), agg.filter((u) => u !== user)),
            { materialized: { storeName: 'members', value: J } },
          )
          .toStream()
          .to('out', { value: J }),
      MOVES,
      J,
      S as Serde<unknown>,
    );
    assert.deepEqual(perStep, [
      [rec('eu', ['u1'], 1)],
      [rec('eu', ['u1', 'u2'], 2)],
      [rec('eu', ['u2'], 3), rec('us', ['u1'], 3)],
      [rec('us', ['u1'], 4)], // one output; with add-before-subtract it would be [] (u1 added twice, then removed)
      [rec('eu', [], 5)], // an empty aggregate is not a delete
    ]);
    assert.deepEqual(calls, [
      'add eu u1',
      'add eu u2',
      'sub eu u1',
      'add us u1',
      'sub us u1',
      'add us u1',
      'sub eu u2',
    ]);
  });

  describe('reduce(adder, subtractor)', () => {
    interface Score {
      team: string;
      score: number;
    }
    const SC = Serdes.json<Score>();
    const steps: [string, Score | null, number][] = [
      ['p1', { team: 'x', score: 10 }, 1],
      ['p2', { team: 'x', score: 5 }, 2],
      ['p1', { team: 'x', score: 7 }, 3], // same team, new score
      ['p1', { team: 'y', score: 7 }, 4], // moves to y
      ['p2', null, 5], // leaves x
      ['p3', { team: 'x', score: 4 }, 6], // x starts again
    ];

    test('sums per team; the first value of a group is its aggregate; a subtractor returning null deletes the group', () => {
      const perStep = runPerStep<number>(
        (b) =>
          b.table('users', { key: S, value: SC })
            .groupBy((_p, s) => [s.team, s.score] as const, { key: S, value: N })
            .reduce(
              (agg, v) => agg + v,
              // returning null removes the group's row
              (agg, v) => (agg - v === 0 ? (null as unknown as number) : agg - v),
              { materialized: 'team-totals' },
            )
            .toStream()
            .to('out'),
        steps,
        N,
        SC as Serde<unknown>,
      );
      assert.deepEqual(perStep, [
        [rec('x', 10, 1)], // first value as is
        [rec('x', 15, 2)],
        [rec('x', 12, 3)], // 15 - 10 + 7, one output
        [rec('x', 5, 4), rec('y', 7, 4)], // 12 - 7; y starts at 7
        [rec('x', null, 5)], // 5 - 5 = 0 -> subtractor returned null -> the group is deleted
        [rec('x', 4, 6)], // a new first value
      ]);
    });

    test('a subtractor returning 0 keeps the row', () => {
      const perStep = runPerStep<number>(
        (b) =>
          b.table('users', { key: S, value: SC })
            .groupBy((_p, s) => [s.team, s.score] as const, { key: S, value: N })
            .reduce(
              (agg, v) => agg + v,
              (agg, v) => agg - v,
            )
            .toStream()
            .to('out'),
        steps.slice(0, 5),
        N,
        SC as Serde<unknown>,
      );
      assert.deepEqual(perStep.at(-1), [rec('x', 0, 5)]);
    });
  });

  // Kafka Streams (KTableRepartitionMap) only forwards (key, value) pairs whose key AND value are non-null.
  test('a row whose grouping key is null contributes nothing to any group', () => {
    const b = new StreamsBuilder();
    b.table('users', { key: S, value: S })
      .groupBy((user, region) => [region === 'none' ? (null as unknown as string) : region, user] as const, { key: S, value: S })
      .count({ materialized: 'c' })
      .toStream()
      .to('out');
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('users', S, S);
    input.pipeInput('u1', 'none', 1); // null grouping key
    input.pipeInput('u3', 'eu', 2);
    input.pipeInput('u1', 'eu', 3); // from "no group" to eu: only an add
    assert.deepEqual(driver.createOutputTopic('out', S, N).readKeyValuesToList(), [
      { key: 'eu', value: 1 },
      { key: 'eu', value: 2 },
    ]);
    driver.close();
  });

  test('a row whose grouping value is null contributes nothing to any group', () => {
    const b = new StreamsBuilder();
    b.table('users', { key: S, value: S })
      .groupBy((user, region) => [region, region === 'anon' ? (null as unknown as string) : user] as const, { key: S, value: S })
      .count({ materialized: 'c' })
      .toStream()
      .to('out');
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('users', S, S);
    input.pipeInput('u2', 'anon', 1); // pair ("anon", null): skipped
    input.pipeInput('u3', 'eu', 2);
    assert.deepEqual(driver.createOutputTopic('out', S, N).readKeyValuesToList(), [{ key: 'eu', value: 1 }]);
    assert.deepEqual(driver.getKeyValueStore<string, number>('c').all(), [{ key: 'eu', value: 1 }]);
    driver.close();
  });
});
