import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StreamsBuilder, Serdes, type Topology } from '../../index.ts';

const S = Serdes.string();
const N = Serdes.number();

function nodeNames(topology: Topology): string[] {
  return topology
    .describe()
    .subtopologies.flatMap((s) => s.nodes.map((n) => n.name))
    .sort();
}

/** A pipeline with every kind of unnamed operator used here: filter, mapValues, groupBy (repartition), count, toStream, sink. */
function mainPipeline(b: StreamsBuilder): void {
  b.stream('words', { key: S, value: S })
    .filter((_k, v) => v !== '')
    .mapValues((v) => v.toLowerCase())
    .groupBy((_k, v) => v, { key: S })
    .count()
    .toStream()
    .to('counts', { value: N });
}

describe('operator naming', () => {
  test('unnamed operators get the same names in two builds of the same program', () => {
    const a = new StreamsBuilder();
    mainPipeline(a);
    const b = new StreamsBuilder();
    mainPipeline(b);
    const ta = a.build();
    const tb = b.build();
    assert.deepEqual(nodeNames(ta), nodeNames(tb));
    assert.equal(ta.describe().toString(), tb.describe().toString());
    // the generated names carry the operator kind
    const names = nodeNames(ta);
    for (const prefix of ['KSTREAM-SOURCE-', 'KSTREAM-FILTER-', 'KSTREAM-MAPVALUES-', 'KSTREAM-KEY-SELECT-', 'KSTREAM-COUNT-', 'KTABLE-TOSTREAM-', 'KSTREAM-SINK-']) {
      assert.ok(names.some((n) => n.startsWith(prefix)), `${prefix} in ${names.join(', ')}`);
    }
  });

  test('adding an unrelated pipeline earlier in the program renames no existing node, store or internal topic', () => {
    const a = new StreamsBuilder();
    mainPipeline(a);

    const b = new StreamsBuilder();
    // A whole other branch, added BEFORE the main pipeline, using the same operator kinds.
    // (With a global counter, as in Kafka Streams, this would shift every generated name.)
    b.stream('other', { key: S, value: S })
      .filter(() => true)
      .mapValues((v) => v)
      .groupBy((_k, v) => v, { key: S })
      .count()
      .toStream()
      .to('other-counts', { value: N });
    mainPipeline(b);

    const ta = a.build();
    const tb = b.build();
    const namesB = new Set(nodeNames(tb));
    for (const name of nodeNames(ta)) assert.ok(namesB.has(name), `node ${name} was renamed`);
    const topicsB = new Set(tb.describe().internalTopics.map((t) => t.name));
    for (const t of ta.describe().internalTopics) assert.ok(topicsB.has(t.name), `internal topic ${t.name} was renamed`);
    // and the new branch really added nodes of its own
    assert.equal(namesB.size, nodeNames(ta).length * 2);
  });

  test('adding a sibling of another kind on the same stream renames nothing', () => {
    const a = new StreamsBuilder();
    const sa = a.stream('in', { key: S, value: N });
    sa.filter((_k, v) => v > 0).to('out');

    const b = new StreamsBuilder();
    const sb = b.stream('in', { key: S, value: N });
    sb.peek(() => {}).to('peeked'); // added first, on the same parent
    sb.filter((_k, v) => v > 0).to('out');

    const namesB = new Set(nodeNames(b.build()));
    for (const name of nodeNames(a.build())) assert.ok(namesB.has(name), `node ${name} was renamed`);
  });

  test('two unnamed operators of the same kind on the same parent get distinct names', () => {
    const b = new StreamsBuilder();
    const s = b.stream('in', { key: S, value: N });
    s.filter(() => true).to('a');
    s.filter(() => false).to('b');
    const filters = nodeNames(b.build()).filter((n) => n.startsWith('KSTREAM-FILTER-'));
    assert.equal(filters.length, 2);
    assert.notEqual(filters[0], filters[1]);
  });

  test('explicit names are used for operators, stores and repartition topics', () => {
    const b = new StreamsBuilder();
    b.stream('words', { key: S, value: S, name: 'read-words' })
      .filter((_k, v) => v !== '', { name: 'non-empty' })
      .mapValues((v) => v.toLowerCase(), { name: 'lower' })
      .groupBy((_k, v) => v, { key: S, name: 'by-word' })
      .count({ name: 'count-words', materialized: 'word-counts' })
      .toStream({ name: 'count-changes' })
      .to('counts', { value: N, name: 'write-counts' });
    const topology = b.build();
    const names = nodeNames(topology);
    for (const n of ['read-words', 'non-empty', 'lower', 'by-word-key-select', 'count-words', 'count-changes', 'write-counts']) {
      assert.ok(names.includes(n), `${n} in ${names.join(', ')}`);
    }
    assert.deepEqual(
      topology.describe().internalTopics.map((t) => t.name).sort(),
      ['by-word-repartition', 'word-counts-changelog'],
    );
    const counter = topology.describe().subtopologies.flatMap((s) => s.nodes).find((n) => n.name === 'count-words');
    assert.ok(counter !== undefined && counter.kind === 'processor');
    assert.deepEqual([...counter.stores], ['word-counts']);
  });

  test('an unnamed store of a named operator is named after the operator', () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: S, value: S }).groupByKey().count({ name: 'counter' });
    const counter = b.build().describe().subtopologies.flatMap((s) => s.nodes).find((n) => n.name === 'counter');
    assert.ok(counter !== undefined && counter.kind === 'processor');
    assert.equal(counter.stores.size, 1);
    const [store] = [...counter.stores];
    assert.ok(store!.includes('counter'), store);
  });

  test('two operators with the same explicit name are DUPLICATE_NAME', () => {
    const b = new StreamsBuilder();
    const s = b.stream('in', { key: S, value: N });
    assert.throws(
      () => {
        s.filter(() => true, { name: 'same' });
        s.mapValues((v) => v, { name: 'same' });
        b.build();
      },
      { code: 'DUPLICATE_NAME', operator: 'same' },
    );
  });

  test('an explicit name that equals a source name is DUPLICATE_NAME', () => {
    const b = new StreamsBuilder();
    const s = b.stream('in', { key: S, value: N, name: 'src' });
    assert.throws(
      () => {
        s.filter(() => true, { name: 'src' });
        b.build();
      },
      { code: 'DUPLICATE_NAME' },
    );
  });

  test('two stores with the same name are DUPLICATE_NAME', () => {
    const b = new StreamsBuilder();
    const s = b.stream('in', { key: S, value: N });
    assert.throws(
      () => {
        s.groupByKey().count({ materialized: 'store' });
        s.groupByKey().reduce((a, v) => a + v, { materialized: 'store' });
        b.build();
      },
      { code: 'DUPLICATE_NAME' },
    );
  });

  test('a name with characters outside [A-Za-z0-9._-] is INVALID_ARGUMENT', () => {
    const b = new StreamsBuilder();
    const s = b.stream('in', { key: S, value: N });
    assert.throws(() => s.filter(() => true, { name: 'has space' }), { code: 'INVALID_ARGUMENT' });
    assert.throws(() => s.filter(() => true, { name: '' }), { code: 'INVALID_ARGUMENT' });
  });
});
