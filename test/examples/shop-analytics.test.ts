import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Serdes, TopologyTestDriver } from '../../index.ts';
import { buildShopTopology, type Click, type Item, type Order, type Profile } from '../../examples/shop-analytics.ts';

/**
 * Runs the example that uses every DSL operator on a small hand-made input and checks each output
 * against values worked out by hand (the reasoning is in the comments).
 */
test('the every-operator example topology runs under the driver with hand-checked results', () => {
  const driver = new TopologyTestDriver(buildShopTopology());
  const str = Serdes.string();
  const clicks = driver.createInputTopic('clicks', str, Serdes.json<Click>());
  const orders = driver.createInputTopic('orders', str, Serdes.json<Order>());
  const profiles = driver.createInputTopic('profiles', str, Serdes.json<Profile>());
  const items = driver.createInputTopic('items', str, Serdes.json<Item>());
  const out = (topic: string) => driver.createOutputTopic(topic, str, str).readKeyValuesToList();
  const outNum = (topic: string) => driver.createOutputTopic(topic, str, Serdes.number()).readKeyValuesToList();

  profiles.pipeInput('u1', { name: 'Ann', tier: 'gold' }, 0);
  profiles.pipeInput('u2', { name: 'Bob', tier: 'basic' }, 0);
  items.pipeInput('i1', { category: 'books', price: 10 }, 0);
  items.pipeInput('i2', { category: 'toys', price: 5 }, 0);
  clicks.pipeInput('u1', { userId: 'u1', itemId: 'i1', type: 'view', tags: ['A', 'b'] }, 1_000);
  clicks.pipeInput('u1', { userId: 'u1', itemId: 'i9', type: 'bot', tags: ['x'] }, 1_500);
  clicks.pipeInput('u2', { userId: 'u2', itemId: 'i2', type: 'view', tags: ['a'] }, 2_000);
  clicks.pipeInput('u1', { userId: 'u1', itemId: 'i1', type: 'cart', tags: [] }, 3_000);
  orders.pipeInput('o1', { userId: 'u1', itemId: 'i1', amount: 30 }, 4_000);
  clicks.pipeInput('u2', { userId: 'u2', itemId: 'i2', type: 'cart', tags: [] }, 5_000);
  profiles.pipeInput('u2', { name: 'Bob', tier: 'gold' }, 6_000);
  clicks.pipeInput('u1', { userId: 'u1', itemId: 'i2', type: 'view', tags: [] }, 70_000);
  orders.pipeInput('o2', { userId: 'u3', itemId: 'i2', amount: 5 }, 1_000_000);

  // Views' tags, lower-cased, counted per tag (the bot click is filtered out).
  assert.deepEqual(outNum('tag-counts'), [
    { key: 'a', value: 1 },
    { key: 'b', value: 1 },
    { key: 'a', value: 2 },
  ]);
  // Minute windows with 10 s grace close at stream time 70 000: one final count per user.
  assert.deepEqual(outNum('views-per-minute'), [
    { key: 'u1@0', value: 1 },
    { key: 'u2@0', value: 1 },
  ]);
  // Views left-joined with profiles, merged with carts inner-joined with profiles, in arrival order.
  assert.deepEqual(out('enriched-clicks'), [
    { key: 'u1', value: 'i1:gold' },
    { key: 'u2', value: 'i2:basic' },
    { key: 'u1', value: 'i1:gold:cart' },
    { key: 'u2', value: 'i2:basic:cart' },
    { key: 'u1', value: 'i2:gold' },
  ]);
  // Global-table joins route each view to its item's category topic.
  assert.deepEqual(out('category-books'), [{ key: 'u1', value: 'books' }]);
  assert.deepEqual(out('category-toys'), [
    { key: 'u2', value: 'toys' },
    { key: 'u1', value: 'toys' },
  ]);
  // u1's cart (3 000) meets its order (4 000); u2's cart waits until the order at 1 000 000
  // moves stream time past 5 000 + 10 min, then comes out unmatched.
  assert.deepEqual(out('converted-carts'), [{ key: 'u1', value: 'i1->i1' }]);
  assert.deepEqual(out('cart-outcomes'), [
    { key: 'u1', value: 'i1->i1' },
    { key: 'u2', value: 'i2->abandoned' },
  ]);
  assert.deepEqual(out('cart-order-pairs'), [
    { key: 'u1', value: 'i1|i1' },
    { key: 'u2', value: 'i2|none' },
  ]);
  // Names join the last order amount: only u1 has both.
  assert.deepEqual(out('name-last-order'), [{ key: 'u1', value: 'Ann:30' }]);
  // Basic profiles: Bob, then a delete when Bob becomes gold.
  assert.deepEqual(driver.createOutputTopic('basic-profiles', str, Serdes.json<Profile>()).readKeyValuesToList(), [
    { key: 'u2', value: { name: 'Bob', tier: 'basic' } },
    { key: 'u2', value: null },
  ]);
  // Views repartitioned by user, then numbered by the Processor API processor.
  assert.deepEqual(out('numbered-views'), [
    { key: 'u1', value: 'i1#1' },
    { key: 'u2', value: 'i2#1' },
    { key: 'u1', value: 'i2#2' },
  ]);

  const kv = <V>(store: string, key: string) => driver.getKeyValueStore<string, V>(store).get(key);
  assert.equal(kv('spend', 'u1'), 30);
  assert.equal(kv('spend', 'u3'), 5);
  assert.equal(kv('max-order-per-item', 'i1'), 30);
  assert.equal(kv('tag-counts', 'a'), 2);
  assert.equal(kv('user-sequence', 'u1'), 2);
  assert.equal(kv('last-order-amount', 'u3'), 5);
  assert.equal(kv('name-with-last-order', 'u1'), 'Ann:30');
  assert.equal(kv('name-with-last-order', 'u2'), 'Bob:0');
  assert.deepEqual(kv('gold-profiles', 'u2'), { name: 'Bob', tier: 'gold' });
  // Bob moved from basic to gold: subtracted from one group, added to the other.
  assert.equal(kv('users-per-tier', 'gold'), 2);
  assert.equal(kv('users-per-tier', 'basic'), 0);
  assert.equal(kv('name-length-per-tier', 'gold'), 6);
  assert.equal(kv('names-per-tier', 'gold'), 'Ann,Bob');
  assert.equal(kv('names-per-tier', 'basic'), '');

  // Hopping 2-minute windows every minute: u1's views at 1 000 and 70 000.
  const hopping = driver.getWindowStore<string, number>('views-per-2-minutes').fetch('u1', 0, 60_000);
  assert.deepEqual(hopping.map((w) => [w.window.start, w.value]), [
    [0, 2],
    [60_000, 1],
  ]);
  // Sliding 30 s windows: u1's view at 1 000 sits in [0, 30 000]; the one at 70 000 in [40 000, 70 000].
  const sliding = driver.getWindowStore<string, Click>('recent-tags').fetch('u1', 0, 100_000);
  assert.deepEqual(sliding.map((w) => [w.window.start, w.window.end, w.value.tags]), [
    [0, 30_000, ['A', 'b']],
    [40_000, 70_000, []],
  ]);
  // Sessions with a 5-minute gap: every u1 click within one session.
  const sessions = driver.getSessionStore<string, string[]>('sessions').fetch('u1');
  assert.deepEqual(sessions.map((s) => [s.key.window.start, s.key.window.end, s.value]), [[1_000, 70_000, ['i1', 'i1', 'i2']]]);
  driver.close();
});
