import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Serdes, StreamsBuilder, TopologyTestDriver } from '../../index.ts';
import { Agg, buildFeatures, defineFeatures, feature, readFeatures, type FeatureDefinition, type FeatureState } from '../../features/index.ts';

const MIN = 60_000;
const at = (hhmm: string) => Date.parse(`2026-03-02T${hhmm}:00Z`);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function run<V>(def: FeatureDefinition<V, string, any>, records: [string, V, number][]) {
  const b = new StreamsBuilder();
  buildFeatures(b.stream('in', { key: Serdes.string(), value: Serdes.json<V>() }), def);
  const driver = new TopologyTestDriver(b.build());
  const input = driver.createInputTopic('in', Serdes.string(), Serdes.json<V>());
  for (const [k, v, t] of records) input.pipeInput(k, v, t);
  return { driver, store: driver.getKeyValueStore<string, FeatureState>(def.name) };
}

test('a 1h window slides: 20 views at 09:58 still count at 10:01 and 10:55, and are gone at 11:05', () => {
  const views = defineFeatures({
    name: 'views',
    windows: { '1h': { hop: '5m' } },
    features: { views: feature(Agg.count(), (v: string) => v) },
  });
  const { driver, store } = run(views, Array.from({ length: 20 }, (_, i): [string, string, number] => ['u1', 'view', at('09:58') + i]));
  const read = (now: string) => readFeatures(views, store.get('u1'), at(now)).views['1h'];
  assert.equal(read('10:01'), 20);
  assert.equal(read('10:55'), 20);
  // 10:58 - 1h - 5m = 09:53: the 09:55 tile is still in (never shorter than 1h).
  assert.equal(read('10:58'), 20);
  assert.equal(read('11:00'), 0);
  driver.close();
});

test('top_k keeps room for a newcomer: after 20 items seen twice, an item seen five times is in the top 20', () => {
  const also = defineFeatures({
    name: 'also',
    windows: { lifetime: 'lifetime' },
    features: { top: feature(Agg.topK(20, { capacity: 20 }), (item: string) => item) },
  });
  const records: [string, string, number][] = [];
  for (let round = 0; round < 2; round++) for (let i = 0; i < 20; i++) records.push(['x', `i${i}`, 1000 + records.length]);
  for (let i = 0; i < 5; i++) records.push(['x', 'new', 2000 + i]);
  const { driver, store } = run(also, records);
  const top = readFeatures(also, store.get('x'), 3000).top.lifetime;
  assert.equal(top.length, 20);
  assert.equal(top[0]!.item, 'new');
  assert.ok(top[0]!.count - top[0]!.error <= 5 && top[0]!.count >= 5);
  driver.close();
});

test('the entity comes from the value (repartitioned) or the key; unknown entities read empty', () => {
  const spend = defineFeatures({
    name: 'spend',
    entity: (o: { user: string; amount: number }) => o.user,
    windows: { '1d': { hop: '1h' }, all: 'lifetime' },
    features: {
      total: feature(Agg.sum(), (o: { user: string; amount: number }) => o.amount),
      avg: feature(Agg.avg(), (o: { user: string; amount: number }) => o.amount, { windows: ['all'] }),
    },
  });
  const { driver, store } = run(spend, [
    ['order-1', { user: 'u1', amount: 10 }, at('09:00')],
    ['order-2', { user: 'u1', amount: 20 }, at('10:30')],
    ['order-3', { user: 'u2', amount: 5 }, at('10:31')],
  ]);
  const u1 = readFeatures(spend, store.get('u1'), at('11:00'));
  assert.deepEqual(u1, { total: { '1d': 30, all: 30 }, avg: { all: 15 } });
  assert.deepEqual(readFeatures(spend, store.get('nobody'), at('11:00')), { total: { '1d': 0, all: 0 }, avg: { all: null } });
  // A day later only the lifetime remains.
  assert.deepEqual(readFeatures(spend, store.get('u1'), at('11:00') + 24 * 60 * MIN), { total: { '1d': 0, all: 30 }, avg: { all: 15 } });
  driver.close();
});

test('definitions are checked when declared', () => {
  const f = { n: feature(Agg.count(), (v: string) => v) };
  assert.throws(() => defineFeatures({ name: 'x', windows: { '1h': { hop: '7m' } }, features: f }), /must divide/);
  assert.throws(() => defineFeatures({ name: 'x', windows: { 'an hour': { hop: '5m' } }, features: f }), /size/);
  assert.throws(() => defineFeatures({ name: 'x', windows: { '1h': { hop: '2h' } }, features: f }), /must divide/);
  assert.throws(() => defineFeatures({ name: 'x', windows: {}, features: f }), /no window/);
  assert.throws(() => defineFeatures({ name: 'x', windows: { '1h': { hop: '5m' } }, features: { n: feature(Agg.count(), (v: string) => v, { windows: ['1d'] }) } }), /does not declare/);
  assert.throws(() => defineFeatures({ name: 'x', windows: { a: 'lifetime', b: 'lifetime' }, features: f }), /one is enough/);
  assert.throws(() => Agg.topK(0), RangeError);
  assert.throws(() => Agg.topK(5, { capacity: 2 }), /at least k/);
  assert.throws(() => Agg.approxPercentile([1.5]), RangeError);
  assert.throws(() => Agg.approxDistinct({ precision: 30 }), RangeError);
  assert.throws(() => Agg.decayedSum({ halfLifeMs: 0 }), RangeError);
  const ok = defineFeatures({ name: 'x', windows: { '90m': { size: '90m', hop: '30m' }, w: { size: 2 * 60 * MIN, hop: '1h' } }, features: f });
  assert.ok(Object.isFrozen(ok));
});
