/**
 * KGroupedStream.cogroup (Kafka Streams' CogroupedKStream, KIP-150): several grouped streams of
 * different value types feed one aggregate per key, each through its own aggregator, into one
 * store; every record of every input updates the aggregate and the table emits each update.
 * Expected outputs are worked out by hand.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Serdes, SessionWindows, StreamsBuilder, TimeWindows, TopologyTestDriver, type StreamsError, type Topology } from '../../../index.ts';

const S = Serdes.string();
const N = Serdes.number();

interface Cart {
  clicks: number;
  spent: number;
}
const CartSerde = Serdes.json<Cart>();

function repartitionTopics(topology: Topology): string[] {
  return topology
    .describe()
    .internalTopics.filter((t) => t.type === 'repartition')
    .map((t) => t.name);
}

/** Clicks (strings) and purchases (numbers) into one cart per user. */
function carts(options: { rekeyPurchases?: boolean } = {}) {
  const builder = new StreamsBuilder();
  const clicks = builder.stream('clicks', { key: S, value: S }).groupByKey();
  const purchasesStream = builder.stream('purchases', { key: S, value: N });
  const purchases = options.rekeyPurchases === true ? purchasesStream.selectKey((k) => k.split('/')[0]!).groupByKey({ key: S, value: N }) : purchasesStream.groupByKey();
  clicks
    .cogroup((_user, _page: string, cart: Cart) => ({ ...cart, clicks: cart.clicks + 1 }))
    .cogroup(purchases, (_user, price: number, cart: Cart) => ({ ...cart, spent: cart.spent + price }))
    .aggregate(() => ({ clicks: 0, spent: 0 }), { materialized: { storeName: 'carts', value: CartSerde } })
    .toStream()
    .to('carts-out', { value: CartSerde });
  return builder.build();
}

describe('KGroupedStream.cogroup', () => {
  test('every record of every input updates one aggregate per key, in arrival order', () => {
    const driver = new TopologyTestDriver(carts());
    try {
      const clicks = driver.createInputTopic('clicks', S, S);
      const purchases = driver.createInputTopic('purchases', S, N);
      const out = driver.createOutputTopic('carts-out', S, CartSerde);
      clicks.pipeInput('ann', '/a', 1);
      purchases.pipeInput('ann', 10, 2);
      clicks.pipeInput('bob', '/b', 3);
      clicks.pipeInput('ann', '/c', 4);
      purchases.pipeInput('bob', 5, 5);
      assert.deepEqual(
        out.readKeyValuesToList().map((r) => [r.key, r.value]),
        [
          ['ann', { clicks: 1, spent: 0 }],
          ['ann', { clicks: 1, spent: 10 }],
          ['bob', { clicks: 1, spent: 0 }],
          ['ann', { clicks: 2, spent: 10 }],
          ['bob', { clicks: 1, spent: 5 }],
        ],
      );
      assert.deepEqual(driver.getKeyValueStore<string, Cart>('carts').get('ann'), { clicks: 2, spent: 10 });
    } finally {
      driver.close();
    }
  });

  test('no repartition for inputs keyed as they come; only the input whose key changed is repartitioned', () => {
    assert.deepEqual(repartitionTopics(carts()), []);
    const rekeyed = carts({ rekeyPurchases: true });
    assert.equal(repartitionTopics(rekeyed).length, 1);
    const driver = new TopologyTestDriver(rekeyed);
    try {
      driver.createInputTopic('purchases', S, N).pipeInput('ann/order-1', 7, 1);
      driver.createInputTopic('clicks', S, S).pipeInput('ann', '/a', 2);
      assert.deepEqual(driver.getKeyValueStore<string, Cart>('carts').get('ann'), { clicks: 1, spent: 7 });
    } finally {
      driver.close();
    }
  });

  test('windowed by tumbling windows: one aggregate per key and window, late records dropped', () => {
    const builder = new StreamsBuilder();
    const a = builder.stream('a', { key: S, value: S }).groupByKey();
    const b = builder.stream('b', { key: S, value: N }).groupByKey();
    a.cogroup((_k, _v: string, n: number) => n + 1)
      .cogroup(b, (_k, v: number, n: number) => n + v)
      .windowedBy(TimeWindows.ofSizeAndGrace(10, 0))
      .aggregate(() => 0, { materialized: { storeName: 'sums', value: N } })
      .toStream()
      .to('out', { key: Serdes.windowed(S), value: N });
    const driver = new TopologyTestDriver(builder.build());
    try {
      const ia = driver.createInputTopic('a', S, S);
      const ib = driver.createInputTopic('b', S, N);
      const out = driver.createOutputTopic('out', Serdes.windowed(S), N);
      ia.pipeInput('k', 'x', 1); // [0,10): 1
      ib.pipeInput('k', 5, 3); // [0,10): 6
      ib.pipeInput('k', 2, 12); // [10,20): 2; stream time 12 closes [0,10)
      ia.pipeInput('k', 'late', 4); // [0,10) is closed: dropped, whichever input it comes from
      assert.deepEqual(
        out.readKeyValuesToList().map((r) => [r.key!.key, r.key!.window.start, r.value]),
        [
          ['k', 0, 1],
          ['k', 0, 6],
          ['k', 10, 2],
        ],
      );
    } finally {
      driver.close();
    }
  });

  test('windowed by sessions: a record of either input that bridges two sessions merges them', () => {
    const builder = new StreamsBuilder();
    const a = builder.stream('a', { key: S, value: S }).groupByKey();
    const b = builder.stream('b', { key: S, value: N }).groupByKey();
    a.cogroup((_k, _v: string, n: number) => n + 1)
      .cogroup(b, (_k, v: number, n: number) => n + v)
      .windowedBy(SessionWindows.ofInactivityGapAndGrace(5, 20))
      .aggregate(() => 0, (_k, x, y) => x + y, { materialized: { storeName: 'sessions', value: N } })
      .toStream()
      .to('out', { key: Serdes.windowed(S), value: N });
    const driver = new TopologyTestDriver(builder.build());
    try {
      const ia = driver.createInputTopic('a', S, S);
      const ib = driver.createInputTopic('b', S, N);
      const out = driver.createOutputTopic('out', Serdes.windowed(S), N);
      ia.pipeInput('k', 'x', 0); // session [0,0] = 1
      ib.pipeInput('k', 10, 10); // session [10,10] = 10
      ia.pipeInput('k', 'y', 5); // within 5 of both: [0,10] = 1 + 10 + 1
      const rows = out.readKeyValuesToList().map((r) => [r.key!.window.start, r.key!.window.end, r.value]);
      assert.deepEqual(rows.at(-1), [0, 10, 12]);
      // The two sessions it merged were retracted (tombstones) before the merged one.
      assert.deepEqual(
        rows.filter((r) => r[2] === null),
        [
          [0, 0, null],
          [10, 10, null],
        ],
      );
    } finally {
      driver.close();
    }
  });

  test('mistakes are refused when the topology is built', () => {
    const builder = new StreamsBuilder();
    const a = builder.stream('a', { key: S, value: S }).groupByKey();
    const other = new StreamsBuilder().stream('b', { key: S, value: S }).groupByKey();
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (error) {
        return (error as StreamsError).code;
      }
      return 'no error';
    };
    assert.equal(code(() => a.cogroup('nope' as never)), 'INVALID_ARGUMENT');
    const started = a.cogroup((_k, _v: string, n: number) => n + 1);
    assert.equal(code(() => started.cogroup(a, (_k, _v, n) => n)), 'INVALID_ARGUMENT', 'the same grouped stream twice');
    assert.equal(code(() => started.cogroup(other, (_k, _v, n) => n)), 'INVALID_TOPOLOGY', 'two builders');
    assert.equal(code(() => started.aggregate('nope' as never)), 'INVALID_ARGUMENT');
  });

  test('property: the table equals a fold of the interleaved inputs, each through its aggregator', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ input: fc.constantFrom('a', 'b'), key: fc.constantFrom('k1', 'k2', 'k3'), n: fc.integer({ min: 1, max: 9 }) }), { maxLength: 60 }),
        (records) => {
          const builder = new StreamsBuilder();
          const a = builder.stream('a', { key: S, value: N }).groupByKey();
          const b = builder.stream('b', { key: S, value: S }).groupByKey();
          a.cogroup((_k, v: number, acc: string) => `${acc}+${v}`)
            .cogroup(b, (_k, v: string, acc: string) => `${acc}*${v}`)
            .aggregate(() => '', { materialized: { storeName: 'folds', value: S } });
          const driver = new TopologyTestDriver(builder.build());
          try {
            const ia = driver.createInputTopic('a', S, N);
            const ib = driver.createInputTopic('b', S, S);
            const model = new Map<string, string>();
            records.forEach((r, i) => {
              if (r.input === 'a') ia.pipeInput(r.key, r.n, i);
              else ib.pipeInput(r.key, String(r.n), i);
              model.set(r.key, `${model.get(r.key) ?? ''}${r.input === 'a' ? '+' : '*'}${r.n}`);
            });
            const store = driver.getKeyValueStore<string, string>('folds');
            for (const key of ['k1', 'k2', 'k3']) assert.equal(store.get(key), model.get(key));
          } finally {
            driver.close();
          }
        },
      ),
      { numRuns: 50 },
    );
  });
});
