import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StreamsBuilder, Serdes, TopologyTestDriver, type KTable, type TestRecord } from '../../../index.ts';

const S = Serdes.string();

type Side = 'L' | 'R';
type Step = [Side, string, string | null, number];

/**
 * One sequence for all three join kinds, with updates and tombstones on both sides
 * and out-of-order timestamps. Expected outputs below follow ks-notes §7:
 * result ts = max(this record ts, other row ts) when the other row exists, else this record's ts.
 */
const STEPS: Step[] = [
  ['L', 'k', 'l1', 10], // 1
  ['R', 'k', 'r1', 5], //  2
  ['L', 'k', 'l2', 7], //  3
  ['R', 'k', 'r2', 20], // 4
  ['L', 'k', null, 21], // 5 left tombstone, right row r2 present
  ['R', 'k', 'r3', 22], // 6 left absent
  ['L', 'k', 'l3', 23], // 7
  ['R', 'k', null, 24], // 8 right tombstone, left row l3 present
  ['L', 'k', null, 25], // 9 left tombstone, right absent
  ['L', 'm', 'x', 30], // 10 only-left key
  ['L', 'm', null, 31], // 11
  ['R', 'n', 'y', 32], // 12 only-right key
  ['R', 'n', null, 33], // 13
  ['R', 'z', null, 40], // 14 tombstone of a key neither side has
];

const joiner = (l: string | null, r: string | null) => `${l}/${r}`;

function run(join: (l: KTable<string, string>, r: KTable<string, string>) => KTable<string, string>, materialized?: string) {
  const b = new StreamsBuilder();
  const left = b.table('left', { key: S, value: S }, 'left-store');
  const right = b.table('right', { key: S, value: S }, 'right-store');
  join(left, right).toStream().to('out', { value: S });
  const driver = new TopologyTestDriver(b.build());
  const l = driver.createInputTopic('left', S, S);
  const r = driver.createInputTopic('right', S, S);
  const out = driver.createOutputTopic('out', S, S);
  const perStep: TestRecord<string, string>[][] = [];
  const snapshots: [string, string][][] = [];
  for (const [side, k, v, ts] of STEPS) {
    (side === 'L' ? l : r).pipeInput(k, v, ts);
    perStep.push(out.readRecordsToList());
    if (materialized !== undefined) snapshots.push(driver.getKeyValueStore<string, string>(materialized).all().map((e) => [e.key, e.value]));
  }
  driver.close();
  return { perStep, snapshots };
}

const rec = (key: string, value: string | null, timestamp: number) => ({ key, value, timestamp });

describe('KTable-KTable join', () => {
  test('inner join: a row exists while both sides have one', () => {
    const { perStep } = run((l, r) => l.join(r, joiner));
    assert.deepEqual(perStep, [
      [], // 1 no right row
      [rec('k', 'l1/r1', 10)], // 2 max(5, 10)
      [rec('k', 'l2/r1', 7)], // 3 max(7, 5)
      [rec('k', 'l2/r2', 20)], // 4
      [rec('k', null, 21)], // 5 left deleted while right present: delete
      [], // 6 no left row
      [rec('k', 'l3/r3', 23)], // 7
      [rec('k', null, 24)], // 8 right deleted while left present: delete, max(24, 23)
      [], // 9 right absent
      [], // 10 only left
      [], // 11
      [], // 12 only right
      [], // 13
      [], // 14
    ]);
  });

  test('left join: a row exists while the left side has one; the right side may be null', () => {
    const { perStep } = run((l, r) => l.leftJoin(r, joiner));
    assert.deepEqual(perStep, [
      [rec('k', 'l1/null', 10)], // 1
      [rec('k', 'l1/r1', 10)], // 2
      [rec('k', 'l2/r1', 7)], // 3
      [rec('k', 'l2/r2', 20)], // 4
      [rec('k', null, 21)], // 5 left deleted: delete
      [], // 6 right update without a left row: nothing
      [rec('k', 'l3/r3', 23)], // 7
      [rec('k', 'l3/null', 24)], // 8 right deleted: the left row remains, joined with null
      [rec('k', null, 25)], // 9 left deleted (right absent): delete
      [rec('m', 'x/null', 30)], // 10
      [rec('m', null, 31)], // 11
      [], // 12 only right: nothing
      [], // 13
      [], // 14
    ]);
  });

  test('outer join: a row exists while either side has one', () => {
    const { perStep } = run((l, r) => l.outerJoin(r, joiner));
    assert.deepEqual(perStep, [
      [rec('k', 'l1/null', 10)], // 1
      [rec('k', 'l1/r1', 10)], // 2
      [rec('k', 'l2/r1', 7)], // 3
      [rec('k', 'l2/r2', 20)], // 4
      [rec('k', 'null/r2', 21)], // 5 left deleted, right remains
      [rec('k', 'null/r3', 22)], // 6
      [rec('k', 'l3/r3', 23)], // 7
      [rec('k', 'l3/null', 24)], // 8 right deleted, left remains
      [rec('k', null, 25)], // 9 both gone: delete
      [rec('m', 'x/null', 30)], // 10
      [rec('m', null, 31)], // 11
      [rec('n', 'null/y', 32)], // 12
      [rec('n', null, 33)], // 13
      [], // 14 neither side ever had z
    ]);
  });

  test('the joiner always receives (leftValue, rightValue, key), whichever side changed', () => {
    const calls: [string | null, string | null, string][] = [];
    const b = new StreamsBuilder();
    const left = b.table('left', { key: S, value: S });
    const right = b.table('right', { key: S, value: S });
    left.join(right, (lv, rv, key) => {
      calls.push([lv, rv, key]);
      return 'x';
    });
    const driver = new TopologyTestDriver(b.build());
    driver.createInputTopic('left', S, S).pipeInput('k', 'L', 1);
    driver.createInputTopic('right', S, S).pipeInput('k', 'R', 2); // triggered by the right side
    driver.createInputTopic('left', S, S).pipeInput('k', 'L2', 3); // triggered by the left side
    // Every call has the left value first and the right value second. (The implementation may
    // also join the replaced row, for the old value of the change, so calls are not counted.)
    assert.ok(calls.length >= 2);
    for (const [lv, rv, key] of calls) {
      assert.ok(lv?.startsWith('L') && rv?.startsWith('R') && key === 'k', JSON.stringify([lv, rv, key]));
    }
    assert.deepEqual(calls[0], ['L', 'R', 'k']);
    assert.ok(calls.some(([lv]) => lv === 'L2'));
    driver.close();
  });

  test('a materialized join result is queryable and tracks the joined rows', () => {
    const { snapshots } = run((l, r) => l.leftJoin(r, joiner, { materialized: { storeName: 'joined', value: S } }), 'joined');
    assert.deepEqual(snapshots, [
      [['k', 'l1/null']],
      [['k', 'l1/r1']],
      [['k', 'l2/r1']],
      [['k', 'l2/r2']],
      [],
      [],
      [['k', 'l3/r3']],
      [['k', 'l3/null']],
      [],
      [['m', 'x/null']],
      [],
      [],
      [],
      [],
    ]);
  });

  test('a stream joined with an unmaterialized join result reads both sides at lookup time', () => {
    const b = new StreamsBuilder();
    const left = b.table('left', { key: S, value: S });
    const right = b.table('right', { key: S, value: S });
    const joined = left.join(right, joiner);
    b.stream('s', { key: S, value: S })
      .leftJoin(joined, (sv, jv) => `${sv}:${jv}`)
      .to('out', { value: S });
    const driver = new TopologyTestDriver(b.build());
    const s = driver.createInputTopic('s', S, S);
    driver.createInputTopic('left', S, S).pipeInput('k', 'l', 1);
    s.pipeInput('k', 'a', 2); // only left: the inner join has no row
    driver.createInputTopic('right', S, S).pipeInput('k', 'r', 3);
    s.pipeInput('k', 'b', 4);
    assert.deepEqual(driver.createOutputTopic('out', S, S).readValuesToList(), ['a:null', 'b:l/r']);
    driver.close();
  });

  test('the two tables are declared co-partitioned', () => {
    const b = new StreamsBuilder();
    b.table('left', { key: S, value: S }).join(b.table('right', { key: S, value: S }), joiner);
    const groups = b.build().copartitionGroups().map((g) => [...g].sort());
    assert.deepEqual(groups, [['left', 'right']]);
  });
});
