/**
 * Stream-stream joins (Kafka Streams' KStreamKStreamJoin, notes §2). A left record at l and a right
 * record at r with the same key join iff `l - before <= r <= l + after` (both bounds inclusive);
 * the joined record has timestamp max(l, r). In left/outer joins (ofTimeDifferenceAndGrace, i.e.
 * with the KIP-633 fix) an unmatched record waits and is emitted with a null partner only once its
 * window has closed: a left record at l when `l + after + grace < ST`, a right one at r when
 * `r + before + grace < ST` (ST = highest timestamp either side saw), checked when a record with
 * ts == ST arrives. The joiner renders `left|right` so null partners are visible.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { JoinWindows, Serdes, StreamsBuilder, TopologyTestDriver } from '../../../index.ts';

type Kind = 'inner' | 'left' | 'outer';
type Row = [key: string | null, value: string | null, timestamp: number];

function joinTopology(kind: Kind, windows: JoinWindows) {
  const builder = new StreamsBuilder();
  const left = builder.stream('left', { key: Serdes.string(), value: Serdes.string() });
  const right = builder.stream('right', { key: Serdes.string(), value: Serdes.string() });
  const joiner = (l: string | null, r: string | null) => `${l}|${r}`;
  const joined =
    kind === 'inner'
      ? left.join(right, joiner, windows)
      : kind === 'left'
        ? left.leftJoin(right, joiner, windows)
        : left.outerJoin(right, joiner, windows);
  joined.to('out', { key: Serdes.string(), value: Serdes.string() });
  const driver = new TopologyTestDriver(builder.build());
  const l = driver.createInputTopic('left', Serdes.string(), Serdes.string());
  const r = driver.createInputTopic('right', Serdes.string(), Serdes.string());
  const output = driver.createOutputTopic('out', Serdes.string(), Serdes.string());
  return {
    driver,
    L: (key: string | null, value: string, ts: number) => l.pipeInput(key, value, ts),
    R: (key: string | null, value: string, ts: number) => r.pipeInput(key, value, ts),
    read: (): Row[] => output.readRecordsToList().map((x) => [x.key, x.value, x.timestamp]),
  };
}

describe('stream-stream inner join', () => {
  test('joins within [l - d, l + d], both bounds inclusive, at timestamp max(l, r)', () => {
    const { driver, L, R, read } = joinTopology('inner', JoinWindows.ofTimeDifferenceAndGrace(10, 0));
    L('a', 'L1', 100);
    R('a', 'R1', 110); // 110 = 100 + 10: joins
    R('a', 'R2', 111); // one past: no
    R('a', 'R3', 90); // 90 = 100 - 10: joins, timestamp max(100, 90) = 100
    R('a', 'R4', 89); // no
    R('b', 'Rb', 100); // other key: no
    assert.deepEqual(read(), [
      ['a', 'L1|R1', 110],
      ['a', 'L1|R3', 100],
    ]);
    L('a', 'L2', 105); // right records in [95, 115], in timestamp order: R1@110, R2@111
    assert.deepEqual(read(), [
      ['a', 'L2|R1', 110],
      ['a', 'L2|R2', 111],
    ]);
    driver.close();
  });

  test('an unmatched record produces nothing, ever', () => {
    const { driver, L, R, read } = joinTopology('inner', JoinWindows.ofTimeDifferenceAndGrace(10, 0));
    L('a', 'L1', 100);
    R('b', 'R1', 100);
    R('z', 'far', 1000);
    assert.deepEqual(read(), []);
    driver.close();
  });

  test('a null key is dropped', () => {
    const { driver, L, R, read } = joinTopology('inner', JoinWindows.ofTimeDifferenceAndGrace(10, 0));
    L(null, 'L1', 100);
    R(null, 'R1', 100);
    assert.deepEqual(read(), []);
    assert.equal(driver.droppedRecords()['null-key'], 2);
    driver.close();
  });
});

describe('stream-stream left join', () => {
  test('an unmatched left record is emitted with null only after l + after + grace < ST; a matched one never', () => {
    const { driver, L, R, read } = joinTopology('left', JoinWindows.ofTimeDifferenceAndGrace(10, 5));
    L('a', 'L1', 100);
    L('b', 'L2', 102);
    assert.deepEqual(read(), []); // nothing eagerly
    R('a', 'R1', 108); // L1 is matched
    assert.deepEqual(read(), [['a', 'L1|R1', 108]]);
    R('c', 'Rc', 115); // ST 115: L2 window open until 102 + 10 + 5 = 117
    R('c', 'Rc', 117); // ST 117: 117 < 117 is false, still open
    assert.deepEqual(read(), []);
    R('c', 'Rc', 118); // ST 118 > 117: L2 emitted with null at its own timestamp
    assert.deepEqual(read(), [['b', 'L2|null', 102]]);
    R('c', 'Rc', 500); // L1 was matched: it never comes out with null
    assert.deepEqual(read(), []);
    driver.close();
  });

  test('a match arriving out of order within grace prevents the null result', () => {
    const { driver, L, R, read } = joinTopology('left', JoinWindows.ofTimeDifferenceAndGrace(10, 5));
    L('a', 'L1', 100);
    R('z', 'Rz', 115); // ST 115; L1 open until 100 + 10 + 5 = 115 (not < 115)
    R('a', 'R1', 110); // out of order, but L1 is still buffered: joins
    R('z', 'Rz', 200);
    assert.deepEqual(read(), [['a', 'L1|R1', 110]]);
    driver.close();
  });

  test('a left record whose window is already behind ST is emitted with null at once', () => {
    const { driver, L, R, read } = joinTopology('left', JoinWindows.ofTimeDifferenceAndGrace(10, 0));
    R('z', 'Rz', 200);
    L('a', 'L1', 150); // 150 + 10 < 200: no right record can still be in its window
    assert.deepEqual(read(), [['a', 'L1|null', 150]]);
    driver.close();
  });

  test('right records without a partner never come out of a left join', () => {
    const { driver, L, R, read } = joinTopology('left', JoinWindows.ofTimeDifferenceAndGrace(10, 0));
    R('b', 'R1', 100);
    L('z', 'Lz', 300);
    L('z', 'Lz', 400);
    assert.deepEqual(read(), [['z', 'Lz|null', 300]]);
    driver.close();
  });

  test('a left record with a null key is joined with null at once (KIP-962); a null-key right record is dropped', () => {
    const { driver, L, R, read } = joinTopology('left', JoinWindows.ofTimeDifferenceAndGrace(10, 0));
    L(null, 'L1', 100);
    R(null, 'R1', 100);
    assert.deepEqual(read(), [[null, 'L1|null', 100]]);
    driver.close();
  });
});

describe('stream-stream outer join', () => {
  test('unmatched records of both sides come out once closed, by timestamp, right before left at equal times', () => {
    const { driver, L, R, read } = joinTopology('outer', JoinWindows.ofTimeDifferenceAndGrace(10, 0));
    L('a', 'L1', 50);
    R('b', 'R1', 50);
    L('c', 'L2', 55);
    assert.deepEqual(read(), []);
    R('z', 'Rz', 61); // ST 61: entries at 50 are closed (50 + 10 < 61); L2 (55 + 10 >= 61) is not
    assert.deepEqual(read(), [
      ['b', 'null|R1', 50],
      ['a', 'L1|null', 50],
    ]);
    L('z', 'Lz', 66); // ST 66: L2 closes (65 < 66) and is emitted first; then Lz joins Rz
    assert.deepEqual(read(), [
      ['c', 'L2|null', 55],
      ['z', 'Lz|Rz', 66],
    ]);
    L('y', 'Ly', 100); // Rz and Lz were matched: nothing for them
    assert.deepEqual(read(), []);
    driver.close();
  });
});

describe('outer join: when closed windows are checked', () => {
  test('every record that brings stream time emits all pending records whose window has closed', () => {
    // Kafka Streams skips this check while `minTime + after + grace >= ST`, where minTime can be
    // the last entry its previous pass visited rather than the earliest pending one, which delays
    // results (here La until 15). Tributary has no such shortcut: at each record at stream time,
    // every closed pending record comes out. (Kafka Streams' own tests set its emit interval to 0.)
    const { driver, L, R, read } = joinTopology('outer', JoinWindows.ofTimeDifferenceAndGrace(5, 0));
    L('x', 'Lx', 4);
    L('a', 'La', 8);
    R('b', 'Rb', 9);
    R('z', 'Rz', 10); // Lx closed (4 + 5 < 10); La (13) and Rb (14) still open
    assert.deepEqual(read(), [['x', 'Lx|null', 4]]);
    R('z', 'Rz', 14); // La closed (13 < 14); Rb open (14 >= 14)
    assert.deepEqual(read(), [['a', 'La|null', 8]]);
    R('z', 'Rz', 15); // Rb closed (14 < 15)
    assert.deepEqual(read(), [['b', 'null|Rb', 9]]);
    driver.close();
  });
});

describe('asymmetric join windows: before() / after()', () => {
  // before 5, after 10: a left record at l joins right records in [l - 5, l + 10];
  // a right record at r joins left records in [r - 10, r + 5].
  const windows = () => JoinWindows.ofTimeDifferenceWithNoGrace(0).before(5).after(10);

  test('a left record joins right records from l - before to l + after', () => {
    const { driver, L, R, read } = joinTopology('inner', windows());
    L('a', 'L', 100);
    R('a', 'r94', 94);
    R('a', 'r95', 95);
    R('a', 'r110', 110);
    R('a', 'r111', 111);
    assert.deepEqual(read(), [
      ['a', 'L|r95', 100],
      ['a', 'L|r110', 110],
    ]);
    driver.close();
  });

  test('a right record joins left records from r - after to r + before', () => {
    const { driver, L, R, read } = joinTopology('inner', windows());
    R('a', 'R', 200);
    L('a', 'l189', 189);
    L('a', 'l190', 190);
    L('a', 'l205', 205);
    L('a', 'l206', 206);
    assert.deepEqual(read(), [
      ['a', 'l190|R', 200],
      ['a', 'l205|R', 205],
    ]);
    driver.close();
  });

  test('an unmatched left record waits for after (+ grace); an unmatched right record for before (+ grace)', () => {
    const { driver, L, R, read } = joinTopology('outer', windows());
    L('a', 'L', 100); // closes when 100 + 10 < ST
    R('b', 'R', 100); // closes when 100 + 5 < ST
    R('z', 'Rz', 105);
    assert.deepEqual(read(), []);
    R('z', 'Rz', 106); // ST 106 > 105: R is emitted; L (110) still open
    assert.deepEqual(read(), [['b', 'null|R', 100]]);
    R('z', 'Rz', 110);
    assert.deepEqual(read(), []);
    R('z', 'Rz', 111); // ST 111 > 110: L is emitted, and so is Rz@105 (105 + 5 < 111)
    assert.deepEqual(read(), [
      ['a', 'L|null', 100],
      ['z', 'null|Rz', 105],
    ]);
    driver.close();
  });

  test('a pending right record is emitted by the first record past r + before + grace, from either side', () => {
    // R@100 waits for before (5): closed once stream time passes 105. A LEFT record at 106 emits it
    // (Kafka Streams' shortcut would check 100 + after (10) >= 106 here and wait).
    const { driver, L, R, read } = joinTopology('outer', windows());
    R('b', 'R', 100);
    L('z', 'Lz', 106);
    assert.deepEqual(read(), [['b', 'null|R', 100]]);
    R('y', 'Ry', 106);
    assert.deepEqual(read(), []);
    driver.close();
  });
});
