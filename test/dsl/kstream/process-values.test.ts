/**
 * KStream.processValues (Kafka Streams' KStreamImpl.processValues with a FixedKeyProcessor): the
 * processor sees FixedKeyRecords and can only forward those, so the key never changes; the result
 * keeps the key serde, drops the value serde, and keeps the upstream "key changed" flag (no
 * repartition of its own, but one that an earlier selectKey asked for is still due).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  FixedKeyRecord,
  StreamsBuilder,
  StreamsError,
  Serdes,
  Stores,
  TopologyTestDriver,
  type FixedKeyProcessor,
  type FixedKeyProcessorContext,
  type KeyValueStore,
  type Topology,
} from '../../../index.ts';

const S = Serdes.string();
const N = Serdes.number();

function repartitionTopics(topology: Topology): string[] {
  return topology
    .describe()
    .internalTopics.filter((t) => t.type === 'repartition')
    .map((t) => t.name);
}

/** Forwards the length of each value, keeping key and timestamp. */
class Length implements FixedKeyProcessor<string, string, number> {
  #ctx!: FixedKeyProcessorContext<string, number>;
  init(ctx: FixedKeyProcessorContext<string, number>): void {
    this.#ctx = ctx;
  }
  process(record: FixedKeyRecord<string, string>): void {
    this.#ctx.forward(record.withValue(record.value.length));
  }
}

/** Running count per key in store `seen`, forwarded as the value. */
class RunningCount implements FixedKeyProcessor<string, string, number> {
  #ctx!: FixedKeyProcessorContext<string, number>;
  #store!: KeyValueStore<string, number>;
  init(ctx: FixedKeyProcessorContext<string, number>): void {
    this.#ctx = ctx;
    this.#store = ctx.getStateStore('seen');
  }
  process(record: FixedKeyRecord<string, string>): void {
    const n = (this.#store.get(record.key) ?? 0) + 1;
    this.#store.put(record.key, n);
    this.#ctx.forward(record.withValue(n));
  }
}

describe('KStream.processValues', () => {
  test('the processor changes values; key and timestamp are kept, and so is the key serde', () => {
    const b = new StreamsBuilder();
    // No key serde given to to(): the stream still knows it is a string.
    b.stream('in', { key: S, value: S }).processValues(() => new Length()).to('out', { value: N });
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, S);
    input.pipeInput('a', 'xyz', 5);
    input.pipeInput('b', '', 7);
    assert.deepEqual(driver.createOutputTopic('out', S, N).readRecordsToList(), [
      { key: 'a', value: 3, timestamp: 5 },
      { key: 'b', value: 0, timestamp: 7 },
    ]);
    driver.close();
  });

  test('the value serde is not inherited: to() without one is MISSING_SERDE', () => {
    const b = new StreamsBuilder();
    const out = b.stream('in', { key: S, value: S }).processValues(() => new Length());
    assert.throws(() => out.to('out', { name: 'pv-sink' }), { code: 'MISSING_SERDE', operator: 'pv-sink' });
  });

  test('followed by groupByKey: no repartition topic, one sub-topology (process() would repartition)', () => {
    const fixed = new StreamsBuilder();
    fixed
      .stream('in', { key: S, value: S })
      .processValues(() => new Length())
      .groupByKey({ value: N })
      .reduce((a, v) => a + v, { materialized: 'sums' })
      .toStream()
      .to('out', { value: N });
    const topology = fixed.build();
    assert.deepEqual(repartitionTopics(topology), []);
    assert.equal(topology.describe().subtopologies.length, 1);
    const driver = new TopologyTestDriver(topology);
    const input = driver.createInputTopic('in', S, S);
    input.pipeInput('a', 'xy', 1);
    input.pipeInput('a', 'xyz', 2);
    input.pipeInput('b', 'x', 3);
    assert.deepEqual(driver.createOutputTopic('out', S, N).readKeyValuesToList(), [
      { key: 'a', value: 2 },
      { key: 'a', value: 5 },
      { key: 'b', value: 1 },
    ]);
    driver.close();

    // The same with process(): the key may have changed, so the grouping repartitions.
    const free = new StreamsBuilder();
    free
      .stream('in', { key: S, value: S })
      .process<string, number>(() => ({
        process(r) {
          void r;
        },
      }))
      .groupByKey({ key: S, value: N })
      .count();
    assert.equal(repartitionTopics(free.build()).length, 1);
  });

  test('a join after processValues needs no repartition either', () => {
    const b = new StreamsBuilder();
    const table = b.table('t', { key: S, value: S });
    b.stream('in', { key: S, value: S })
      .processValues(() => new Length())
      .join(table, (n, t) => `${t}:${n}`)
      .to('out', { value: S });
    const topology = b.build();
    assert.deepEqual(repartitionTopics(topology), []);
    const driver = new TopologyTestDriver(topology);
    driver.createInputTopic('t', S, S).pipeInput('a', 'A', 0);
    driver.createInputTopic('in', S, S).pipeInput('a', 'four', 1);
    assert.deepEqual(driver.createOutputTopic('out', S, S).readKeyValuesToList(), [{ key: 'a', value: 'A:4' }]);
    driver.close();
  });

  test('after a key change upstream, the grouping still repartitions (processValues does not undo it)', () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: S })
      .selectKey((_, v) => v)
      .processValues(() => new Length())
      .groupByKey({ name: 'by-value', key: S, value: N })
      .count();
    assert.deepEqual(repartitionTopics(b.build()), ['by-value-repartition']);
  });

  test('stores: named after the supplier, or in the options form with a processor name', () => {
    for (const form of ['names', 'options'] as const) {
      const b = new StreamsBuilder();
      b.addStateStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore('seen'), S, N));
      const s = b.stream('in', { key: S, value: S });
      const out =
        form === 'names' ? s.processValues(() => new RunningCount(), 'seen') : s.processValues(() => new RunningCount(), { name: 'running', stores: ['seen'] });
      out.to('out', { value: N });
      const topology = b.build();
      const node = topology
        .describe()
        .subtopologies.flatMap((st) => st.nodes)
        .find((n) => n.kind === 'processor');
      assert.ok(node !== undefined && node.kind === 'processor');
      assert.deepEqual([...node.stores], ['seen']);
      if (form === 'options') assert.equal(node.name, 'running');
      else assert.match(node.name, /^KSTREAM-PROCESSVALUES-/);
      const driver = new TopologyTestDriver(topology);
      const input = driver.createInputTopic('in', S, S);
      input.pipeInput('a', 'x', 1);
      input.pipeInput('b', 'x', 2);
      input.pipeInput('a', 'x', 3);
      assert.deepEqual(driver.createOutputTopic('out', S, N).readValuesToList(), [1, 1, 2]);
      driver.close();
    }
  });

  test('a processor that uses an unconnected store fails at build() with STORE_NOT_CONNECTED', () => {
    const b = new StreamsBuilder();
    b.addStateStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore('seen'), S, N));
    b.stream('in', { key: S, value: S }).processValues(() => new RunningCount(), { name: 'unconnected' });
    assert.throws(() => b.build(), { code: 'STORE_NOT_CONNECTED', operator: 'unconnected' });
  });

  test('withTimestamp and withHeaders change only those; a record kept back is forwarded later with its own key', () => {
    /** Holds each key's first record and forwards it, restamped, when the key's second record comes. */
    class Pairs implements FixedKeyProcessor<string, string, string> {
      #ctx!: FixedKeyProcessorContext<string, string>;
      readonly #held = new Map<string, FixedKeyRecord<string, string>>();
      init(ctx: FixedKeyProcessorContext<string, string>): void {
        this.#ctx = ctx;
      }
      process(record: FixedKeyRecord<string, string>): void {
        const first = this.#held.get(record.key);
        if (first === undefined) {
          this.#held.set(record.key, record);
          return;
        }
        this.#held.delete(record.key);
        this.#ctx.forward(first.withValue(`${first.value}+${record.value}`).withTimestamp(record.timestamp).withHeaders({ pair: 'yes' }));
      }
    }
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: S }).processValues(() => new Pairs()).to('out', { value: S });
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, S);
    input.pipeInput('a', '1', 10);
    input.pipeInput('b', '2', 11);
    input.pipeInput('a', '3', 12);
    input.pipeInput('b', '4', 13);
    assert.deepEqual(driver.createOutputTopic('out', S, S).readRecordsToList(), [
      { key: 'a', value: '1+3', timestamp: 12, headers: { pair: 'yes' } },
      { key: 'b', value: '2+4', timestamp: 13, headers: { pair: 'yes' } },
    ]);
    driver.close();
  });

  test('forwarding anything but a FixedKeyRecord (a new key) is refused with INVALID_ARGUMENT', () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: S })
      .processValues<string>(() => {
        let ctx!: FixedKeyProcessorContext<string, string>;
        return {
          init: (c) => (ctx = c),
          // The types refuse a plain record; a cast gets past them, not past the check.
          process: (r) => ctx.forward({ key: r.value, value: r.value, timestamp: r.timestamp } as unknown as FixedKeyRecord<string, string>),
        };
      }, { name: 'rekey' })
      .to('out', { value: S });
    const driver = new TopologyTestDriver(b.build());
    assert.throws(
      () => driver.createInputTopic('in', S, S).pipeInput('a', 'b', 1),
      (e: unknown) => e instanceof StreamsError && e.code === 'INVALID_ARGUMENT' && /rekey/.test(e.message),
    );
    assert.ok(driver.createOutputTopic('out', S, S).isEmpty());
    driver.close();
  });

  test('a FixedKeyRecord cannot be made outside processValues()', () => {
    const Ctor = FixedKeyRecord as unknown as new (...args: unknown[]) => unknown;
    assert.throws(() => new Ctor(Symbol('tributary.internal'), 'k', 'v', 0, undefined), { code: 'INVALID_ARGUMENT' });
  });

  test('a supplier that is not a function is INVALID_ARGUMENT', () => {
    const b = new StreamsBuilder();
    const s = b.stream('in', { key: S, value: S });
    assert.throws(() => s.processValues(undefined as never), { code: 'INVALID_ARGUMENT' });
  });
});
