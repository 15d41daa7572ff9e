import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StreamsBuilder, Serdes, TopologyTestDriver } from '../../../index.ts';

const S = Serdes.string();

interface Order {
  product: string | null;
  qty: number;
}
const O = Serdes.json<Order>();

function build(left: boolean) {
  const b = new StreamsBuilder();
  const products = b.globalTable('products', { key: S, value: S }, 'products-store');
  const orders = b.stream('orders', { key: S, value: O }); // orderId -> order
  const joined = left
    ? orders.leftJoin(
        products,
        (_orderId, order) => order.product as string,
        (order, name, orderId) => `${orderId}:${order.qty}x${name ?? '?'}`,
      )
    : orders.join(
        products,
        (_orderId, order) => order.product as string,
        (order, name, orderId) => `${orderId}:${order.qty}x${name}`,
      );
  joined.to('out', { value: S });
  return b;
}

function pipeAll(left: boolean) {
  const driver = new TopologyTestDriver(build(left).build());
  const products = driver.createInputTopic('products', S, S);
  const orders = driver.createInputTopic('orders', S, O);
  orders.pipeInput('o1', { product: 'p1', qty: 1 }, 1); // p1 not yet known
  products.pipeInput('p1', 'pen', 2); // table update: no output
  orders.pipeInput('o2', { product: 'p1', qty: 2 }, 3);
  products.pipeInput('p1', 'pencil', 4);
  orders.pipeInput('o3', { product: 'p1', qty: 3 }, 5);
  products.pipeInput('p1', null, 6); // deleted
  orders.pipeInput('o4', { product: 'p1', qty: 4 }, 7);
  orders.pipeInput('o5', { product: null, qty: 5 }, 8); // the key selector returns null
  const out = driver.createOutputTopic('out', S, S).readRecordsToList();
  const dropped = driver.droppedRecords();
  driver.close();
  return { out, dropped };
}

describe('KStream-GlobalKTable join', () => {
  test('inner join: the key selector maps each record to the global key; records without a row emit nothing', () => {
    const { out, dropped } = pipeAll(false);
    // The output key is the stream's key, the timestamp the stream record's.
    assert.deepEqual(out, [
      { key: 'o2', value: 'o2:2xpen', timestamp: 3 },
      { key: 'o3', value: 'o3:3xpencil', timestamp: 5 },
    ]);
    assert.equal(dropped['null-key'], 1); // o5
  });

  test('left join: records without a row are joined with null; a null mapped key is still dropped', () => {
    const { out, dropped } = pipeAll(true);
    assert.deepEqual(out, [
      { key: 'o1', value: 'o1:1x?', timestamp: 1 },
      { key: 'o2', value: 'o2:2xpen', timestamp: 3 },
      { key: 'o3', value: 'o3:3xpencil', timestamp: 5 },
      { key: 'o4', value: 'o4:4x?', timestamp: 7 },
    ]);
    assert.equal(dropped['null-key'], 1); // o5: the record key is not null, the mapped key is
  });

  test('the key selector receives (key, value)', () => {
    const calls: unknown[][] = [];
    const b = new StreamsBuilder();
    const g = b.globalTable('g', { key: S, value: S });
    b.stream('s', { key: S, value: S }).join(
      g,
      (k, v) => {
        calls.push([k, v]);
        return v;
      },
      (v, gv) => `${v}=${gv}`,
    );
    const driver = new TopologyTestDriver(b.build());
    driver.createInputTopic('s', S, S).pipeInput('k', 'v', 0);
    assert.deepEqual(calls, [['k', 'v']]);
    driver.close();
  });

  test('the global store holds the whole topic and is readable by name', () => {
    const driver = new TopologyTestDriver(build(false).build());
    const products = driver.createInputTopic('products', S, S);
    products.pipeInput('p1', 'pen', 1);
    products.pipeInput('p2', 'cup', 2);
    products.pipeInput('p1', null, 3);
    assert.deepEqual(driver.getKeyValueStore<string, string>('products-store').all(), [{ key: 'p2', value: 'cup' }]);
    driver.close();
  });

  test('a re-keyed stream joins a global table without any repartition', () => {
    const b = new StreamsBuilder();
    const g = b.globalTable('g', { key: S, value: S });
    b.stream('s', { key: S, value: S })
      .selectKey((_k, v) => v)
      .join(g, (k) => k, (v, gv) => `${v}=${gv}`)
      .to('out', { key: S, value: S });
    const topology = b.build();
    assert.deepEqual(topology.describe().internalTopics.filter((t) => t.type === 'repartition'), []);
    assert.equal(topology.describe().globalStores.length, 1);
    const driver = new TopologyTestDriver(topology);
    driver.createInputTopic('g', S, S).pipeInput('x', 'X', 0);
    driver.createInputTopic('s', S, S).pipeInput('k', 'x', 1);
    assert.deepEqual(driver.createOutputTopic('out', S, S).readKeyValuesToList(), [{ key: 'x', value: 'x=X' }]);
    driver.close();
  });
});
