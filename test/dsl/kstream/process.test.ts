import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  StreamsBuilder,
  Serdes,
  Stores,
  TopologyTestDriver,
  type KeyValueStore,
  type Processor,
  type ProcessorContext,
  type StreamRecord,
} from '../../../index.ts';

const S = Serdes.string();
const N = Serdes.number();

/** Counts records per key in the store `storeName` and forwards (key, running count). */
class Counter implements Processor<string, string, string, number> {
  readonly #storeName: string;
  #ctx!: ProcessorContext<string, number>;
  #store!: KeyValueStore<string, number>;

  constructor(storeName: string) {
    this.#storeName = storeName;
  }

  init(ctx: ProcessorContext<string, number>): void {
    this.#ctx = ctx;
    this.#store = ctx.getStateStore<KeyValueStore<string, number>>(this.#storeName);
  }

  process(record: StreamRecord<string, string>): void {
    const n = (this.#store.get(record.key) ?? 0) + 1;
    this.#store.put(record.key, n);
    this.#ctx.forward({ key: record.key, value: n, timestamp: record.timestamp });
  }
}

function countsStore(name = 'counts') {
  return Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(name), S, N);
}

describe('KStream.process', () => {
  test('a processor with a store added by addStateStore and connected by name', () => {
    const b = new StreamsBuilder();
    b.addStateStore(countsStore());
    b.stream('in', { key: S, value: S })
      .process(() => new Counter('counts'), 'counts')
      .to('out', { key: S, value: N });
    const topology = b.build();
    const node = topology.describe().subtopologies.flatMap((s) => s.nodes).find((n) => n.kind === 'processor');
    assert.ok(node !== undefined && node.kind === 'processor');
    assert.deepEqual([...node.stores], ['counts']);
    const driver = new TopologyTestDriver(topology);
    const input = driver.createInputTopic('in', S, S);
    input.pipeInput('a', 'x', 1);
    input.pipeInput('b', 'x', 2);
    input.pipeInput('a', 'x', 3);
    assert.deepEqual(driver.createOutputTopic('out', S, N).readRecordsToList(), [
      { key: 'a', value: 1, timestamp: 1 },
      { key: 'b', value: 1, timestamp: 2 },
      { key: 'a', value: 2, timestamp: 3 },
    ]);
    assert.deepEqual(driver.getKeyValueStore<string, number>('counts').all(), [
      { key: 'a', value: 2 },
      { key: 'b', value: 1 },
    ]);
    driver.close();
  });

  test('the options form names the processor and connects the stores', () => {
    const b = new StreamsBuilder();
    b.addStateStore(countsStore());
    b.stream('in', { key: S, value: S })
      .process(() => new Counter('counts'), { name: 'counter', stores: ['counts'] })
      .to('out', { key: S, value: N });
    const node = b.build().describe().subtopologies.flatMap((s) => s.nodes).find((n) => n.name === 'counter');
    assert.ok(node !== undefined && node.kind === 'processor');
    assert.deepEqual([...node.stores], ['counts']);
  });

  test('each task gets a fresh processor from the supplier', () => {
    let made = 0;
    const b = new StreamsBuilder();
    b.addStateStore(countsStore());
    b.stream('in', { key: S, value: S }).process(() => {
      made++;
      return new Counter('counts');
    }, 'counts');
    const topology = b.build();
    const before = made;
    const d1 = new TopologyTestDriver(topology);
    const d2 = new TopologyTestDriver(topology);
    assert.ok(made >= before + 2, 'each driver builds its own processor');
    // and state is not shared between them
    d1.createInputTopic('in', S, S).pipeInput('a', 'x', 0);
    assert.equal(d1.getKeyValueStore<string, number>('counts').get('a'), 1);
    assert.equal(d2.getKeyValueStore<string, number>('counts').get('a'), undefined);
    d1.close();
    d2.close();
  });

  test('naming a store that does not exist is UNKNOWN_STORE', () => {
    const b = new StreamsBuilder();
    const s = b.stream('in', { key: S, value: S });
    assert.throws(
      () => {
        s.process(() => new Counter('nope'), { name: 'p', stores: ['nope'] });
        b.build();
      },
      { code: 'UNKNOWN_STORE', operator: 'p' },
    );
  });

  test('a processor that uses a store it was not connected to fails at build() with STORE_NOT_CONNECTED', () => {
    const b = new StreamsBuilder();
    b.addStateStore(countsStore());
    b.stream('in', { key: S, value: S }).process(() => new Counter('counts'), { name: 'unconnected' });
    assert.throws(() => b.build(), { code: 'STORE_NOT_CONNECTED', operator: 'unconnected' });
  });

  test('a processor connected to another store than the one it uses also fails at build()', () => {
    const b = new StreamsBuilder();
    b.addStateStore(countsStore('counts'));
    b.addStateStore(countsStore('other'));
    b.stream('in', { key: S, value: S }).process(() => new Counter('counts'), { name: 'wrong', stores: ['other'] });
    assert.throws(() => b.build(), { code: 'STORE_NOT_CONNECTED', operator: 'wrong' });
  });

  test('a processor that asks for a store missing from the topology fails at build() with UNKNOWN_STORE', () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: S }).process(() => new Counter('ghost'), { name: 'asks-ghost' });
    assert.throws(() => b.build(), { code: 'UNKNOWN_STORE', operator: 'asks-ghost' });
  });

  test('adding two stores with the same name is DUPLICATE_NAME', () => {
    const b = new StreamsBuilder();
    b.addStateStore(countsStore('dup'));
    assert.throws(() => b.addStateStore(countsStore('dup')), { code: 'DUPLICATE_NAME' });
  });

  test('one store can be shared by two processors (same sub-topology)', () => {
    const b = new StreamsBuilder();
    b.addStateStore(countsStore());
    b.stream('in1', { key: S, value: S }).process(() => new Counter('counts'), 'counts').to('out', { key: S, value: N });
    b.stream('in2', { key: S, value: S }).process(() => new Counter('counts'), 'counts').to('out', { key: S, value: N });
    const topology = b.build();
    assert.equal(topology.describe().subtopologies.length, 1);
    const driver = new TopologyTestDriver(topology);
    driver.createInputTopic('in1', S, S).pipeInput('a', 'x', 0);
    driver.createInputTopic('in2', S, S).pipeInput('a', 'x', 1);
    assert.deepEqual(driver.createOutputTopic('out', S, N).readValuesToList(), [1, 2]);
    driver.close();
  });

  test('the result of process() has no serdes and counts as a key change', () => {
    const b = new StreamsBuilder();
    b.addStateStore(countsStore());
    const out = b.stream('in', { key: S, value: S }).process(() => new Counter('counts'), 'counts');
    assert.throws(() => out.to('x', { name: 'p-sink' }), { code: 'MISSING_SERDE', operator: 'p-sink' });
    out.groupByKey({ key: S, value: N }).count();
    assert.equal(b.build().describe().internalTopics.filter((t) => t.type === 'repartition').length, 1);
  });
});
