/**
 * A documented example topology that uses every DSL operator: a small shop's clickstream turned
 * into per-user, per-item and per-category views. Tested under the TopologyTestDriver in
 * test/examples/shop-analytics.test.ts.
 *
 * Topics read: `clicks` (key userId, value Click), `orders` (key orderId, value Order),
 * `profiles` (key userId, value Profile; a table), `items` (key itemId, value Item; a global table).
 */
import {
  EmitStrategy,
  JoinWindows,
  Serdes,
  SessionWindows,
  SlidingWindows,
  Stores,
  StreamsBuilder,
  Suppressed,
  TimeWindows,
  type KeyValueStore,
  type Processor,
  type ProcessorContext,
  type StreamRecord,
  type Topology,
} from '../index.ts';

export interface Click {
  userId: string;
  itemId: string;
  type: 'view' | 'cart' | 'bot';
  tags: string[];
}
export interface Order {
  userId: string;
  itemId: string;
  amount: number;
}
export interface Profile {
  name: string;
  tier: 'gold' | 'basic';
}
export interface Item {
  category: string;
  price: number;
}

export const MINUTE = 60_000;

/** Numbers each user's events: a Processor API processor with its own store. */
class SequenceNumberer implements Processor<string, Click, string, string> {
  #ctx!: ProcessorContext<string, string>;
  #seq!: KeyValueStore<string, number>;

  init(ctx: ProcessorContext<string, string>): void {
    this.#ctx = ctx;
    this.#seq = ctx.getStateStore('user-sequence');
  }

  process(record: StreamRecord<string, Click>): void {
    const n = (this.#seq.get(record.key) ?? 0) + 1;
    this.#seq.put(record.key, n);
    this.#ctx.forward({ ...record, value: `${record.value.itemId}#${n}` });
  }
}

export function buildShopTopology(): Topology {
  const b = new StreamsBuilder();
  const str = Serdes.string();
  const num = Serdes.number();

  const allClicks = b.stream('clicks', { key: str, value: Serdes.json<Click>() });
  const profiles = b.table('profiles', { key: str, value: Serdes.json<Profile>() }, 'profiles');
  const items = b.globalTable('items', { key: str, value: Serdes.json<Item>() }, 'items');
  const orders = b.stream('orders', { key: str, value: Serdes.json<Order>() });

  // Stateless: drop bots, log, split views and carts.
  const clicks = allClicks.filterNot((_, c) => c.type === 'bot').peek(() => {});
  const byType = clicks.split({ name: 'click-' }).branch((_, c) => c.type === 'view', { name: 'view' }).defaultBranch({ name: 'other' });
  const views = byType['click-view']!;
  const carts = byType['click-other']!.filter((_, c) => c.type === 'cart');

  // Orders are keyed by order id: re-key by user with map, and by item with selectKey.
  const ordersByUser = orders.map((_, o) => [o.userId, o] as const);
  const ordersByItem = orders.selectKey((_, o) => o.itemId);

  // Tags: one record per tag (flatMapValues), then (tag, userId) pairs (flatMap) counted per tag.
  views
    .flatMapValues((c) => c.tags)
    .mapValues((tag) => tag.toLowerCase())
    .flatMap((user, tag) => [[tag, user] as const])
    .groupByKey({ key: str, value: str })
    .count({ materialized: 'tag-counts' })
    .toStream()
    .to('tag-counts', { value: num });

  // Per-user views per minute (tumbling), final results only.
  views
    .groupByKey()
    .windowedBy(TimeWindows.ofSizeAndGrace(MINUTE, 10_000))
    .count({ materialized: 'views-per-minute' })
    .suppress(Suppressed.untilWindowCloses())
    .toStream()
    .map((w, n): [string, number] => [`${w.key}@${w.window.start}`, n ?? 0])
    .to('views-per-minute', { key: str, value: num });

  // Hopping windows with emit-on-close; sliding windows; sessions.
  views
    .groupByKey()
    .windowedBy(TimeWindows.ofSizeWithNoGrace(2 * MINUTE).advanceBy(MINUTE))
    .emitStrategy(EmitStrategy.onWindowClose())
    .count({ materialized: 'views-per-2-minutes' });
  views
    .groupByKey()
    .windowedBy(SlidingWindows.ofTimeDifferenceAndGrace(30_000, 0))
    .reduce((a, b) => ({ ...a, tags: [...a.tags, ...b.tags] }), { materialized: 'recent-tags' });
  clicks
    .groupByKey()
    .windowedBy(SessionWindows.ofInactivityGapWithNoGrace(5 * MINUTE))
    .aggregate(
      () => [] as string[],
      (_, c, seen) => [...seen, c.itemId],
      (_, a, b) => [...a, ...b],
      { materialized: 'sessions' },
    );

  // Spend per user (groupByKey after a key change: repartitioned), biggest order (reduce).
  ordersByUser.mapValues((o) => o.amount).groupByKey({ value: num }).reduce((a, b) => a + b, { materialized: 'spend' });
  ordersByItem
    .groupByKey()
    .aggregate(() => 0, (_, o, max) => Math.max(max, o.amount), { materialized: 'max-order-per-item' });

  // Stream-table joins: clicks enriched with the profile, and with item data from the global table.
  views
    .leftJoin(profiles, (c, p) => `${c.itemId}:${p?.tier ?? 'unknown'}`)
    .merge(carts.join(profiles, (c, p) => `${c.itemId}:${p.tier}:cart`))
    .to('enriched-clicks', { value: str });
  views
    .join(items, (_, c) => c.itemId, (c, item) => ({ user: c.userId, category: item.category }))
    .leftJoin(items, (_, v) => v.category, (v, none) => (none === null ? v.category : 'shadowed'))
    .to((_, category) => `category-${category}`, { value: str });

  // Stream-stream joins: a cart followed by an order within 10 minutes, left and outer.
  const cartsByUser = carts.mapValues((c) => c.itemId);
  const ordersForJoin = ordersByUser.mapValues((o) => o.itemId);
  const window = JoinWindows.ofTimeDifferenceAndGrace(10 * MINUTE, 0);
  cartsByUser.join(ordersForJoin, (cart, order) => `${cart}->${order}`, window).to('converted-carts', { value: str });
  cartsByUser.leftJoin(ordersForJoin, (cart, order) => `${cart}->${order ?? 'abandoned'}`, window).to('cart-outcomes', { value: str });
  cartsByUser
    .outerJoin(ordersForJoin, (cart, order) => `${cart ?? 'none'}|${order ?? 'none'}`, window)
    .to('cart-order-pairs', { value: str });

  // Table operations: gold customers, table-table joins, regrouping by tier.
  const gold = profiles.filter((_, p) => p.tier === 'gold', { materialized: 'gold-profiles' });
  const names = profiles.mapValues((p) => p.name);
  const spendTable = ordersByUser.mapValues((o) => o.amount).toTable({ materialized: 'last-order-amount' });
  names.join(spendTable, (name, amount) => `${name}:${amount}`).toStream().to('name-last-order', { value: str });
  names.leftJoin(spendTable, (name, amount) => `${name}:${amount ?? 0}`, { materialized: 'name-with-last-order' });
  gold.outerJoin(spendTable, (p, amount) => `${p?.name ?? '?'}:${amount ?? 0}`).toStream().foreach(() => {});
  profiles.filterNot((_, p) => p.tier === 'gold').toStream().to('basic-profiles', { value: Serdes.json<Profile>() });
  profiles.groupBy((_, p) => [p.tier, p.name] as const, { key: str, value: str }).count({ materialized: 'users-per-tier' });
  profiles
    .groupBy((_, p) => [p.tier, p.name.length] as const, { key: str, value: num })
    .reduce((a, b) => a + b, (a, b) => a - b, { materialized: 'name-length-per-tier' });
  profiles
    .groupBy((_, p) => [p.tier, p.name] as const, { key: str, value: str })
    .aggregate(
      () => '',
      (_, name, all) => [...all.split(',').filter(Boolean), name].sort().join(','),
      (_, name, all) => all.split(',').filter((n) => n !== name).join(','),
      { materialized: 'names-per-tier' },
    );

  // Explicit repartition, then the Processor API.
  b.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore('user-sequence'), str, num));
  views.repartition({ name: 'views-by-user' }).process(() => new SequenceNumberer(), 'user-sequence').to('numbered-views', {
    key: str,
    value: str,
  });

  return b.build();
}
