import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StreamsBuilder, Serdes, TopologyTestDriver, type TestRecord } from '../../../index.ts';

const S = Serdes.string();
const N = Serdes.number();

type Step = ['order' | 'price', string | null, number | null, number];

/** orders: item -> quantity (stream); prices: item -> unit price (table). */
const STEPS: Step[] = [
  ['order', 'apple', 2, 1], // 1 no price yet
  ['price', 'apple', 3, 2], // 2 table update: never an output by itself
  ['order', 'apple', 4, 3], // 3 4 * 3
  ['price', 'apple', 5, 4], // 4
  ['order', 'apple', 1, 1], // 5 out-of-order stream record: joins the CURRENT row (5), keeps its own ts
  ['price', 'apple', null, 6], // 6 price deleted
  ['order', 'apple', 2, 7], // 7 no price any more
  ['order', 'pear', 1, 8], // 8 never priced
];

function run(left: boolean): TestRecord<string, string>[][] {
  const b = new StreamsBuilder();
  const prices = b.table('prices', { key: S, value: N });
  const orders = b.stream('orders', { key: S, value: N });
  const joined = left
    ? orders.leftJoin(prices, (qty, price, item) => `${item}:${price === null ? 'n/a' : qty * price}`)
    : orders.join(prices, (qty, price, item) => `${item}:${qty * price}`);
  joined.to('out', { value: S });
  const driver = new TopologyTestDriver(b.build());
  const o = driver.createInputTopic('orders', S, N);
  const p = driver.createInputTopic('prices', S, N);
  const out = driver.createOutputTopic('out', S, S);
  const perStep: TestRecord<string, string>[][] = [];
  for (const [topic, k, v, ts] of STEPS) {
    (topic === 'order' ? o : p).pipeInput(k, v, ts);
    perStep.push(out.readRecordsToList());
  }
  driver.close();
  return perStep;
}

const rec = (key: string, value: string, timestamp: number) => ({ key, value, timestamp });

describe('KStream-KTable join', () => {
  test('inner join: each stream record joins the table row as of its arrival; table updates emit nothing', () => {
    assert.deepEqual(run(false), [
      [], // 1 no row: no output
      [], // 2 table update
      [rec('apple', 'apple:12', 3)],
      [], // 4 table update
      [rec('apple', 'apple:5', 1)], // the current row, the stream record's timestamp
      [], // 6 table delete
      [], // 7 no row
      [], // 8 no row
    ]);
  });

  test('left join: a stream record without a row is joined with null', () => {
    assert.deepEqual(run(true), [
      [rec('apple', 'apple:n/a', 1)],
      [],
      [rec('apple', 'apple:12', 3)],
      [],
      [rec('apple', 'apple:5', 1)],
      [],
      [rec('apple', 'apple:n/a', 7)],
      [rec('pear', 'pear:n/a', 8)],
    ]);
  });

  test('stream records with a null value are dropped (join and leftJoin) and counted', () => {
    for (const left of [false, true]) {
      const b = new StreamsBuilder();
      const prices = b.table('prices', { key: S, value: N });
      const orders = b.stream('orders', { key: S, value: N });
      (left ? orders.leftJoin(prices, (q, p) => `${q}/${p}`) : orders.join(prices, (q, p) => `${q}/${p}`)).to('out', { value: S });
      const driver = new TopologyTestDriver(b.build());
      driver.createInputTopic('prices', S, N).pipeInput('apple', 3, 0);
      driver.createInputTopic('orders', S, N).pipeInput('apple', null, 1);
      assert.equal(driver.createOutputTopic('out', S, S).getQueueSize(), 0, `left=${left}`);
      assert.equal(driver.droppedRecords()['null-value'], 1, `left=${left}`);
      driver.close();
    }
  });

  test('a null stream key: the inner join drops it (counted); the left join emits it joined with null (KIP-962)', () => {
    const b = new StreamsBuilder();
    const prices = b.table('prices', { key: S, value: N });
    const orders = b.stream('orders', { key: S, value: N });
    orders.join(prices, (q, p) => `${q}/${p}`).to('inner', { value: S });
    orders.leftJoin(prices, (q, p) => `${q}/${p}`).to('left', { value: S });
    const driver = new TopologyTestDriver(b.build());
    driver.createInputTopic('orders', S, N).pipeInput(null, 2, 1);
    assert.equal(driver.createOutputTopic('inner', S, S).getQueueSize(), 0);
    assert.deepEqual(driver.createOutputTopic('left', S, S).readRecordsToList(), [{ key: null, value: '2/null', timestamp: 1 }]);
    assert.equal(driver.droppedRecords()['null-key'], 1);
    driver.close();
  });

  test('the joiner receives (streamValue, tableValue, key)', () => {
    const calls: unknown[][] = [];
    const b = new StreamsBuilder();
    const t = b.table('t', { key: S, value: S });
    b.stream('s', { key: S, value: N }).join(t, (sv, tv, k) => {
      calls.push([sv, tv, k]);
      return 0;
    });
    const driver = new TopologyTestDriver(b.build());
    driver.createInputTopic('t', S, S).pipeInput('k', 'row', 0);
    driver.createInputTopic('s', S, N).pipeInput('k', 42, 1);
    assert.deepEqual(calls, [[42, 'row', 'k']]);
    driver.close();
  });

  test('a re-keyed stream is repartitioned before the join and joins on the new key', () => {
    const b = new StreamsBuilder();
    const prices = b.table('prices', { key: S, value: N });
    b.stream('orders', { key: S, value: S }) // orderId -> item
      .selectKey((_orderId, item) => item)
      .join(prices, (item, price) => `${item}@${price}`, { key: S, value: S })
      .to('out', { value: S });
    const topology = b.build();
    assert.equal(topology.describe().internalTopics.filter((t) => t.type === 'repartition').length, 1);
    const driver = new TopologyTestDriver(topology);
    driver.createInputTopic('prices', S, N).pipeInput('apple', 3, 0);
    driver.createInputTopic('orders', S, S).pipeInput('order-1', 'apple', 1);
    assert.deepEqual(driver.createOutputTopic('out', S, S).readRecordsToList(), [{ key: 'apple', value: 'apple@3', timestamp: 1 }]);
    driver.close();
  });

  test('the stream and the table are declared co-partitioned; no repartition without a key change', () => {
    const b = new StreamsBuilder();
    const prices = b.table('prices', { key: S, value: N });
    b.stream('orders', { key: S, value: N }).join(prices, (q, p) => q * p);
    const topology = b.build();
    assert.deepEqual(topology.describe().internalTopics.filter((t) => t.type === 'repartition'), []);
    assert.deepEqual(topology.copartitionGroups().map((g) => [...g].sort()), [['orders', 'prices']]);
  });
});
