/**
 * Property test of the record cache (KIP-63) against the uncached run as the model: a count per
 * key and a count per key and 10 ms tumbling window run over random input on one task, once
 * without a cache and once with a random budget (tiny budgets evict on every write) and flushes
 * at random points (the commits). Then:
 * - per output key, the cached run's values are a subsequence of the uncached run's, each with the
 *   same timestamp, and both end on the same value (what a commit leaves is never stale);
 * - the stores hold the same rows and the changelogs end on the same value per key;
 * - with room for every key and no commit before the end, each key is emitted and logged once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Serdes, StreamsBuilder, TimeWindows, type Topology, type Windowed } from '../../../index.ts';
import { StreamTask, type OutputRecord } from '../../../engine/internals/stream-task.ts';
import { createInMemoryStore } from '../../../engine/state/in-memory.ts';
import { ThreadCache } from '../../../engine/state/record-cache.ts';

const NUM_RUNS = Number(process.env.TRIBUTARY_CACHE_RUNS ?? 200);
const str = Serdes.string();
const num = Serdes.number();

function topology(windowed: boolean): Topology {
  const b = new StreamsBuilder();
  const grouped = b.stream('in', { key: str, value: str }).groupByKey();
  if (windowed) {
    grouped
      .windowedBy(TimeWindows.ofSizeWithNoGrace(10))
      .count({ materialized: 'counts' })
      .toStream()
      .map((k: Windowed<string>, v) => [`${k.key}@${k.window.start}`, v] as const)
      .to('out', { key: str, value: num });
  } else {
    grouped.count({ materialized: 'counts' }).toStream().to('out', { key: str, value: num });
  }
  return b.build();
}

type Step = { kind: 'record'; key: string; ts: number } | { kind: 'commit' };

interface Run {
  readonly outputs: { key: string; value: number; timestamp: number }[];
  /** Changelog records per changelog key (latin1), in order. */
  readonly changelog: Map<string, (string | null)[]>;
  readonly rows: string[];
  readonly cache?: ThreadCache;
}

function run(windowed: boolean, steps: readonly Step[], cacheBytes: number | undefined): Run {
  const topo = topology(windowed);
  const sub = topo.subtopologies()[0]!;
  const outputs: Run['outputs'] = [];
  const changelog = new Map<string, (string | null)[]>();
  const cache = cacheBytes === undefined ? undefined : new ThreadCache(cacheBytes);
  const task = new StreamTask(topo, sub, 0, {
    applicationId: 'cache',
    collector: {
      send: (r: OutputRecord) => outputs.push({ key: str.deserialize(r.key!, 'out'), value: num.deserialize(r.value!, 'out'), timestamp: r.timestamp }),
      partitionsFor: () => 1,
    },
    createStore: (builder, ctx) =>
      createInMemoryStore(builder, {
        recordTimestamp: () => ctx.recordTimestamp(),
        logChange: (key, value) => {
          const id = Buffer.from(key).toString('latin1');
          changelog.set(id, [...(changelog.get(id) ?? []), value === null ? null : Buffer.from(value).toString('hex')]);
        },
      }),
    globalStores: new Map(),
    clock: () => 0,
    ...(cache !== undefined && { recordCache: cache }),
  });
  task.initialize();
  let offset = 0;
  for (const step of steps) {
    if (step.kind === 'commit') task.flush();
    else task.process({ topic: 'in', partition: 0, offset: offset++, key: str.serialize(step.key, 'in'), value: str.serialize('v', 'in'), timestamp: step.ts });
  }
  task.flush();
  const store = task.stores.get('counts')!;
  const rows = store.kind === 'window' ? store.all().map((r) => `${String(r.key)}@${r.window.start}=${String(r.value)}@${r.timestamp}`) : store.kind === 'key-value' ? store.all().map((r) => `${String(r.key)}=${String(r.value)}`) : [];
  task.close();
  return { outputs, changelog, rows: rows.sort(), ...(cache !== undefined && { cache }) };
}

const stepsArb = fc.array(
  fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('record' as const), key: fc.constantFrom('a', 'b', 'c', 'd', 'e'), ts: fc.integer({ min: 0, max: 60 }) }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'commit' as const }) },
  ),
  { maxLength: 80 },
);

function byKey(outputs: Run['outputs']): Map<string, { value: number; timestamp: number }[]> {
  const out = new Map<string, { value: number; timestamp: number }[]>();
  for (const o of outputs) out.set(o.key, [...(out.get(o.key) ?? []), { value: o.value, timestamp: o.timestamp }]);
  return out;
}

for (const windowed of [false, true]) {
  const what = windowed ? 'a windowed count' : 'a count';
  test(`${what} with the record cache: outputs a subsequence of every update ending on the same value, same stores and changelog ends`, () => {
    fc.assert(
      fc.property(stepsArb, fc.integer({ min: 1, max: 2000 }), (steps, budget) => {
        const model = run(windowed, steps, undefined);
        const cached = run(windowed, steps, budget);
        const all = byKey(model.outputs);
        const some = byKey(cached.outputs);
        assert.deepEqual([...some.keys()].sort(), [...all.keys()].sort(), 'the same keys are emitted');
        for (const [key, updates] of all) {
          const emitted = some.get(key)!;
          let i = 0;
          for (const e of emitted) {
            while (i < updates.length && (updates[i]!.value !== e.value || updates[i]!.timestamp !== e.timestamp)) i++;
            assert.ok(i < updates.length, `${key}: ${JSON.stringify(e)} is not among the updates ${JSON.stringify(updates)} (in order)`);
            i++;
          }
          assert.deepEqual(emitted.at(-1), updates.at(-1), `${key}: the last value`);
        }
        assert.deepEqual(cached.rows, model.rows, 'the stores');
        assert.deepEqual(
          new Map([...cached.changelog].map(([k, v]) => [k, v.at(-1)])),
          new Map([...model.changelog].map(([k, v]) => [k, v.at(-1)])),
          'the changelogs end on the same value per key',
        );
        assert.ok(cached.cache!.bytes <= budget, 'the cache stays within its budget');
      }),
      { numRuns: NUM_RUNS },
    );
  });
}

test('with room for every key and no commit before the end, each key (and window) is emitted and logged once, with its last value', () => {
  const steps: Step[] = [];
  for (let i = 0; i < 200; i++) steps.push({ kind: 'record', key: 'abcde'[i % 5]!, ts: i % 7 });
  for (const windowed of [false, true]) {
    const model = run(windowed, steps, undefined);
    const cached = run(windowed, steps, 1 << 20);
    const keys = new Set(model.outputs.map((o) => o.key));
    assert.equal(cached.outputs.length, keys.size);
    for (const [, values] of cached.changelog) assert.equal(values.length, 1);
    assert.deepEqual(
      cached.outputs.map((o) => `${o.key}=${o.value}`).sort(),
      [...byKey(model.outputs)].map(([k, v]) => `${k}=${v.at(-1)!.value}`).sort(),
    );
    assert.equal(cached.cache!.evicted, 0);
  }
});

test('a budget smaller than one entry evicts at every write: every update goes through, as without a cache', () => {
  const steps: Step[] = Array.from({ length: 50 }, (_, i) => ({ kind: 'record', key: 'abc'[i % 3]!, ts: i }));
  const model = run(false, steps, undefined);
  const cached = run(false, steps, 1);
  assert.deepEqual(cached.outputs, model.outputs);
  assert.equal(cached.cache!.bytes, 0);
});
