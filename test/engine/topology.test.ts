import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  Serdes,
  Stores,
  Topology,
  TopologyError,
  TopologyTestDriver,
  type KeyValueStore,
  type Processor,
  type ProcessorContext,
  type Serde,
  type StreamRecord,
} from '../../index.ts';

const str = Serdes.string();
const src = (topics: string | string[]) => ({ topics, key: str, value: str });
const sink = (topic: string) => ({ topic, key: str, value: str });

/** Forwards every record unchanged. */
class PassThrough implements Processor<string, string, string, string> {
  #ctx!: ProcessorContext<string, string>;
  init(ctx: ProcessorContext<string, string>): void {
    this.#ctx = ctx;
  }
  process(record: StreamRecord<string, string>): void {
    this.#ctx.forward(record);
  }
}
const passThrough = () => new PassThrough();

/** Looks up a store by name in init(), as processors that use stores do. */
function usesStore(storeName: string) {
  return (): Processor<string, string> => ({
    init(ctx: ProcessorContext) {
      ctx.getStateStore<KeyValueStore<string, string>>(storeName);
    },
    process() {},
  });
}

const kvBuilder = (name: string) => Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(name), str, str);

/** Asserts `fn` throws a TopologyError with `code`, and (when given) names `operator`. */
function throwsTopology(fn: () => unknown, code: string, operator?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TopologyError, `expected a TopologyError, got ${String(e)}`);
    assert.equal(e.code, code);
    if (operator !== undefined) {
      assert.equal(e.operator, operator);
      assert.match(e.message, new RegExp(`"${operator}"`));
    }
    return true;
  });
}

describe('Topology construction', () => {
  test('addSource/addProcessor/addSink wire parents and children', () => {
    const t = new Topology()
      .addSource('src', src('in'))
      .addProcessor('p1', passThrough, 'src')
      .addProcessor('p2', passThrough, 'src', 'p1')
      .addSink('out', sink('out-topic'), 'p1', 'p2');
    const source = t.node('src');
    assert.equal(source?.kind, 'source');
    assert.deepEqual(source.kind === 'source' && source.children, ['p1', 'p2']);
    assert.deepEqual(source.kind === 'source' && source.topics, ['in']);
    const p1 = t.node('p1');
    assert.ok(p1?.kind === 'processor');
    assert.deepEqual(p1.parents, ['src']);
    assert.deepEqual(p1.children, ['p2', 'out']);
    const snk = t.node('out');
    assert.ok(snk?.kind === 'sink');
    assert.deepEqual(snk.parents, ['p1', 'p2']);
    assert.equal(snk.topic, 'out-topic');
    assert.deepEqual(
      t.nodes().map((n) => n.name),
      ['src', 'p1', 'p2', 'out'],
    );
    assert.deepEqual(t.sourceTopics(), ['in']);
    assert.equal(t.sourceFor('in')?.name, 'src');
    assert.equal(t.sourceFor('other'), undefined);
  });

  test('a source may read several topics', () => {
    const t = new Topology().addSource('src', src(['a', 'b']));
    assert.deepEqual(t.sourceTopics(), ['a', 'b']);
    assert.equal(t.sourceFor('b')?.name, 'src');
  });

  test('addStateStore connects the store to the named processors', () => {
    const t = new Topology()
      .addSource('src', src('in'))
      .addProcessor('p1', passThrough, 'src')
      .addProcessor('p2', passThrough, 'src')
      .addStateStore(kvBuilder('store'), 'p1', 'p2');
    const p1 = t.node('p1');
    const p2 = t.node('p2');
    assert.ok(p1?.kind === 'processor' && p2?.kind === 'processor');
    assert.deepEqual([...p1.stores], ['store']);
    assert.deepEqual([...p2.stores], ['store']);
    assert.equal(t.storeBuilder('store')?.name, 'store');
  });

  test('connectProcessorAndStateStores connects stores added earlier', () => {
    const t = new Topology()
      .addSource('src', src('in'))
      .addProcessor('p', passThrough, 'src')
      .addStateStore(kvBuilder('s1'))
      .addStateStore(kvBuilder('s2'))
      .connectProcessorAndStateStores('p', 's1', 's2');
    const p = t.node('p');
    assert.ok(p?.kind === 'processor');
    assert.deepEqual([...p.stores], ['s1', 's2']);
  });

  test('addGlobalStore registers the store, its source topic and processor', () => {
    const store = kvBuilder('global-store').withLoggingDisabled();
    const t = new Topology().addGlobalStore({
      store,
      sourceName: 'global-src',
      topic: 'global-topic',
      key: str,
      value: str,
      processorName: 'global-proc',
      processor: usesStore('global-store'),
    });
    const [def] = t.globalStores();
    assert.equal(def?.store, store);
    assert.equal(def?.sourceName, 'global-src');
    assert.equal(def?.topic, 'global-topic');
    assert.equal(def?.processorName, 'global-proc');
    // A global store source is not a regular source.
    assert.deepEqual(t.sourceTopics(), []);
    assert.equal(t.nodes().length, 0);
  });
});

describe('Topology errors', () => {
  test('DUPLICATE_NAME for two nodes with the same name', () => {
    const t = new Topology().addSource('src', src('in')).addProcessor('p', passThrough, 'src');
    throwsTopology(() => t.addSource('src', src('other')), 'DUPLICATE_NAME', 'src');
    throwsTopology(() => t.addProcessor('src', passThrough, 'p'), 'DUPLICATE_NAME', 'src');
    throwsTopology(() => t.addProcessor('p', passThrough, 'src'), 'DUPLICATE_NAME', 'p');
    throwsTopology(() => t.addSink('p', sink('out'), 'src'), 'DUPLICATE_NAME', 'p');
  });

  test('DUPLICATE_NAME for a store added twice, or a node named like a global store node', () => {
    const t = new Topology().addSource('src', src('in')).addStateStore(kvBuilder('s'));
    throwsTopology(() => t.addStateStore(kvBuilder('s')), 'DUPLICATE_NAME');
    t.addGlobalStore({
      store: kvBuilder('g'),
      sourceName: 'g-src',
      topic: 'g-topic',
      key: str,
      value: str,
      processorName: 'g-proc',
      processor: usesStore('g'),
    });
    throwsTopology(() => t.addStateStore(kvBuilder('g')), 'DUPLICATE_NAME');
    throwsTopology(() => t.addProcessor('g-proc', passThrough, 'src'), 'DUPLICATE_NAME', 'g-proc');
    throwsTopology(() => t.addSource('g-src', src('x')), 'DUPLICATE_NAME', 'g-src');
    throwsTopology(
      () =>
        t.addGlobalStore({
          store: kvBuilder('s'),
          sourceName: 'g2-src',
          topic: 'g2-topic',
          key: str,
          value: str,
          processorName: 'g2-proc',
          processor: usesStore('s'),
        }),
      'DUPLICATE_NAME',
    );
  });

  test('UNKNOWN_NODE for an unknown parent, naming the node being added', () => {
    const t = new Topology().addSource('src', src('in'));
    throwsTopology(() => t.addProcessor('p', passThrough, 'nope'), 'UNKNOWN_NODE', 'p');
    throwsTopology(() => t.addProcessor('p', passThrough, 'src', 'nope'), 'UNKNOWN_NODE', 'p');
    throwsTopology(() => t.addSink('out', sink('o'), 'nope'), 'UNKNOWN_NODE', 'out');
    // Nothing half-added: "p" can still be added afterwards.
    t.addProcessor('p', passThrough, 'src');
  });

  test('UNKNOWN_NODE when connecting stores to a node that is not a processor', () => {
    const t = new Topology().addSource('src', src('in')).addStateStore(kvBuilder('s'));
    throwsTopology(() => t.connectProcessorAndStateStores('nope', 's'), 'UNKNOWN_NODE', 'nope');
    throwsTopology(() => t.connectProcessorAndStateStores('src', 's'), 'UNKNOWN_NODE', 'src');
    throwsTopology(() => t.addStateStore(kvBuilder('s2'), 'nope'), 'UNKNOWN_NODE', 'nope');
  });

  test('UNKNOWN_STORE when connecting a store that was never added', () => {
    const t = new Topology().addSource('src', src('in')).addProcessor('p', passThrough, 'src');
    throwsTopology(() => t.connectProcessorAndStateStores('p', 'missing'), 'UNKNOWN_STORE', 'p');
  });

  test('UNKNOWN_STORE from validate() when init asks for a store not in the topology', () => {
    const t = new Topology().addSource('src', src('in')).addProcessor('p', usesStore('missing'), 'src');
    throwsTopology(() => t.validate(), 'UNKNOWN_STORE', 'p');
  });

  test('MISSING_SERDE for a source or sink without serdes', () => {
    const none = undefined as unknown as Serde<string>;
    const t = new Topology().addSource('src', src('in'));
    throwsTopology(() => t.addSource('s2', { topics: 'x', key: none, value: str }), 'MISSING_SERDE', 's2');
    throwsTopology(() => t.addSource('s3', { topics: 'y', key: str, value: none }), 'MISSING_SERDE', 's3');
    throwsTopology(() => t.addSink('out', { topic: 'o', key: str, value: none }, 'src'), 'MISSING_SERDE', 'out');
    throwsTopology(
      () =>
        t.addGlobalStore({
          store: kvBuilder('g'),
          sourceName: 'g-src',
          topic: 'g',
          key: none,
          value: str,
          processorName: 'g-proc',
          processor: usesStore('g'),
        }),
      'MISSING_SERDE',
      'g-src',
    );
  });

  test('STORE_NOT_CONNECTED from validate(), naming the processor whose init asks for the store', () => {
    const t = new Topology()
      .addSource('src', src('in'))
      .addProcessor('owner', usesStore('counts'), 'src')
      .addProcessor('intruder', usesStore('counts'), 'src')
      .addStateStore(kvBuilder('counts'), 'owner');
    throwsTopology(() => t.validate(), 'STORE_NOT_CONNECTED', 'intruder');
    // Connecting it fixes the topology.
    t.connectProcessorAndStateStores('intruder', 'counts');
    assert.equal(t.validate(), t);
  });

  test('the test driver validates the topology it is given', () => {
    const t = new Topology()
      .addSource('src', src('in'))
      .addProcessor('lonely', usesStore('counts'), 'src')
      .addStateStore(kvBuilder('counts'));
    throwsTopology(() => new TopologyTestDriver(t), 'STORE_NOT_CONNECTED', 'lonely');
  });

  test('a global store is visible to every processor without connecting it', () => {
    const t = new Topology()
      .addGlobalStore({
        store: kvBuilder('g').withLoggingDisabled(),
        sourceName: 'g-src',
        topic: 'g-topic',
        key: str,
        value: str,
        processorName: 'g-proc',
        processor: usesStore('g'),
      })
      .addSource('src', src('in'))
      .addProcessor('reader', usesStore('g'), 'src');
    assert.equal(t.validate(), t);
  });

  test('a global store processor can only see its own store', () => {
    const t = new Topology()
      .addSource('src', src('in'))
      .addProcessor('p', passThrough, 'src')
      .addStateStore(kvBuilder('local'), 'p')
      .addGlobalStore({
        store: kvBuilder('g').withLoggingDisabled(),
        sourceName: 'g-src',
        topic: 'g-topic',
        key: str,
        value: str,
        processorName: 'g-proc',
        processor: usesStore('local'),
      });
    throwsTopology(() => t.validate(), 'STORE_NOT_CONNECTED', 'g-proc');
  });

  test('INVALID_TOPOLOGY for a topic read twice, a processor without parents or a sink as parent', () => {
    const t = new Topology().addSource('src', src('in')).addSink('out', sink('o'), 'src');
    throwsTopology(() => t.addSource('src2', src(['x', 'in'])), 'INVALID_TOPOLOGY', 'src2');
    throwsTopology(() => t.addProcessor('orphan', passThrough), 'INVALID_TOPOLOGY', 'orphan');
    throwsTopology(() => t.addProcessor('after-sink', passThrough, 'out'), 'INVALID_TOPOLOGY', 'after-sink');
  });

  test('INVALID_ARGUMENT for a bad node name', () => {
    const t = new Topology();
    throwsTopology(() => t.addSource('bad name', src('in')), 'INVALID_ARGUMENT');
    throwsTopology(() => t.addSource('', src('in')), 'INVALID_ARGUMENT');
  });
});

describe('Topology sub-topologies', () => {
  test('two sources joined by a shared store form one sub-topology', () => {
    const t = new Topology()
      .addSource('left-src', src('left'))
      .addSource('right-src', src('right'))
      .addProcessor('left-proc', passThrough, 'left-src')
      .addProcessor('right-proc', passThrough, 'right-src')
      .addStateStore(kvBuilder('shared'), 'left-proc', 'right-proc');
    const subs = t.subtopologies();
    assert.equal(subs.length, 1);
    assert.equal(subs[0]!.id, 0);
    assert.deepEqual(subs[0]!.sourceTopics, ['left', 'right']);
    assert.deepEqual(subs[0]!.stores, ['shared']);
    assert.deepEqual(
      subs[0]!.nodes.map((n) => n.name),
      ['left-src', 'right-src', 'left-proc', 'right-proc'],
    );
  });

  test('without the shared store the two sources are two sub-topologies', () => {
    const t = new Topology()
      .addSource('left-src', src('left'))
      .addSource('right-src', src('right'))
      .addProcessor('left-proc', passThrough, 'left-src')
      .addProcessor('right-proc', passThrough, 'right-src');
    assert.deepEqual(
      t.subtopologies().map((s) => s.sourceTopics),
      [['left'], ['right']],
    );
  });

  test('a processor with two parents merges their sub-topologies', () => {
    const t = new Topology()
      .addSource('a', src('ta'))
      .addSource('b', src('tb'))
      .addProcessor('merge', passThrough, 'a', 'b');
    assert.equal(t.subtopologies().length, 1);
    assert.deepEqual(t.subtopologies()[0]!.sourceTopics, ['ta', 'tb']);
  });

  test('a sink to topic X and a source of X are two sub-topologies', () => {
    const t = new Topology()
      .addSource('in-src', src('in'))
      .addSink('to-x', sink('X'), 'in-src')
      .addSource('x-src', src('X'))
      .addProcessor('x-proc', passThrough, 'x-src')
      .addSink('to-out', sink('out'), 'x-proc');
    const subs = t.subtopologies();
    assert.equal(subs.length, 2);
    assert.deepEqual(
      subs.map((s) => ({ id: s.id, sources: s.sourceTopics, sinks: s.sinkTopics, nodes: s.nodes.map((n) => n.name) })),
      [
        { id: 0, sources: ['in'], sinks: ['X'], nodes: ['in-src', 'to-x'] },
        { id: 1, sources: ['X'], sinks: ['out'], nodes: ['x-src', 'x-proc', 'to-out'] },
      ],
    );
  });

  test('sub-topologies are recomputed after the topology changes', () => {
    const t = new Topology()
      .addSource('a', src('ta'))
      .addProcessor('pa', passThrough, 'a')
      .addSource('b', src('tb'))
      .addProcessor('pb', passThrough, 'b')
      .addStateStore(kvBuilder('s'), 'pa');
    assert.equal(t.subtopologies().length, 2);
    t.connectProcessorAndStateStores('pb', 's');
    assert.equal(t.subtopologies().length, 1);
  });
});

describe('Topology describe()', () => {
  test('lists sources, processors with stores, sinks and the changelog of a logged store', () => {
    const t = new Topology()
      .addSource('src', src('in'))
      .addProcessor('proc', passThrough, 'src')
      .addStateStore(kvBuilder('counts'), 'proc')
      .addSink('snk', sink('out'), 'proc');
    // Kafka Streams' layout: arrows to children (-->) and from parents (<--); a changelog of a
    // key-value store is compacted.
    assert.equal(
      t.describe().toString(),
      [
        'Topologies:',
        '   Sub-topology: 0',
        '    Source: src (topics: [in])',
        '      --> proc',
        '    Processor: proc (stores: [counts])',
        '      --> snk',
        '      <-- src',
        '    Sink: snk (topic: out)',
        '      <-- proc',
        '',
        'Internal topics:',
        '    changelog: counts-changelog (cleanup.policy=compact)',
      ].join('\n'),
    );
  });

  test('window and session changelogs are compact,delete; unlogged stores have none', () => {
    const t = new Topology()
      .addSource('src', src('in'))
      .addProcessor('proc', passThrough, 'src')
      .addStateStore(Stores.windowStoreBuilder(Stores.persistentWindowStore('win', 100, 10), str, str), 'proc')
      .addStateStore(Stores.sessionStoreBuilder(Stores.persistentSessionStore('sess', 100), str, str), 'proc')
      .addStateStore(kvBuilder('quiet').withLoggingDisabled(), 'proc');
    assert.deepEqual(t.internalTopics(), [
      { name: 'win-changelog', type: 'changelog', cleanupPolicy: 'compact,delete' },
      { name: 'sess-changelog', type: 'changelog', cleanupPolicy: 'compact,delete' },
    ]);
    const text = t.describe().toString();
    assert.match(text, /Processor: proc \(stores: \[win, sess, quiet\]\)/);
    assert.match(text, /changelog: win-changelog \(cleanup\.policy=compact,delete\)/);
    assert.match(text, /changelog: sess-changelog \(cleanup\.policy=compact,delete\)/);
    assert.doesNotMatch(text, /quiet-changelog/);
  });

  test('two sub-topologies, a leaf processor and a global store', () => {
    const t = new Topology()
      .addSource('a', src('ta'))
      .addSink('a-out', sink('X'), 'a')
      .addSource('x', src('X'))
      .addProcessor('leaf', passThrough, 'x')
      .addGlobalStore({
        store: kvBuilder('g').withLoggingDisabled(),
        sourceName: 'g-src',
        topic: 'g-topic',
        key: str,
        value: str,
        processorName: 'g-proc',
        processor: usesStore('g'),
      });
    // Global sub-topologies are numbered after the regular ones; no logged store → no internal topics.
    assert.equal(
      t.describe().toString(),
      [
        'Topologies:',
        '   Sub-topology: 0',
        '    Source: a (topics: [ta])',
        '      --> a-out',
        '    Sink: a-out (topic: X)',
        '      <-- a',
        '',
        '   Sub-topology: 1',
        '    Source: x (topics: [X])',
        '      --> leaf',
        '    Processor: leaf (stores: [])',
        '      --> none',
        '      <-- x',
        '',
        '  Sub-topology: 2 for global store (will not generate tasks)',
        '    Source: g-src (topics: [g-topic])',
        '      --> g-proc',
        '    Processor: g-proc (stores: [g])',
        '      <-- g-src',
        '',
      ].join('\n'),
    );
    const d = t.describe();
    assert.deepEqual(d.globalStores, [{ id: 2, store: 'g', source: 'g-src', topic: 'g-topic', processor: 'g-proc' }]);
    assert.equal(d.subtopologies.length, 2);
  });

  test('a sink with a topic extractor is described as such', () => {
    const t = new Topology()
      .addSource('src', src('in'))
      .addSink('dyn', { topic: (k: string) => `t-${k}`, key: str, value: str }, 'src');
    assert.match(t.describe().toString(), /Sink: dyn \(topic extractor\)/);
  });
});
