/**
 * Input and reference of the feature crash tests (test/engine/runtime/crash-features.test.ts,
 * test/connectors/kafka/crash-features.kafka.ts; topology in
 * test/engine/runtime/fixtures/crash-features-topology.ts). Every input record has a seq; which
 * topic it goes to and what it carries are drawn from a seeded PRNG, so a failing run's input can
 * be rebuilt. The check judges what the crashed runs left behind against one uninterrupted run of
 * the same input, computed here:
 *
 * - foreign-key join: the output table's final state (and the result store) equals the join of
 *   the final tables; every result names an item update of its key whose brand is the one it
 *   joined, and a brand update of that brand (no result for a foreign key the row never had at
 *   that point); per item, results never go back to an older item or brand update.
 * - cogroup + processValues: per user, update numbers exactly 1..n (a repeat is a duplicate, a
 *   gap a loss), each update counting one more input than the last, every input seq once, running
 *   sums consistent; the carts and updates stores hold the final cart and n.
 * - grace join: every order exactly once, with the tier valid at the order's time.
 */
import assert from 'node:assert/strict';
import { Serdes, partitionForKey, type Log } from '../index.ts';
import { GRACE_MS, PARTITIONS, featureTopics, type Cart, type Joined, type NumberedCart } from './engine/runtime/fixtures/crash-features-topology.ts';

const ITEMS = 80;
const BRANDS = 12;
const USERS = 20;
const CUSTOMERS = 20;
/** Input seqs are this many ms apart in record time. */
const STEP_MS = 10;

export type FeatureInput =
  | { readonly kind: 'item'; readonly seq: number; readonly key: string; readonly brand: string | null }
  | { readonly kind: 'brand'; readonly seq: number; readonly key: string; readonly deleted: boolean }
  | { readonly kind: 'click'; readonly seq: number; readonly user: string }
  | { readonly kind: 'purchase'; readonly seq: number; readonly user: string; readonly price: number }
  | { readonly kind: 'tier'; readonly seq: number; readonly customer: string; readonly timestamp: number }
  | { readonly kind: 'order'; readonly seq: number; readonly customer: string; readonly timestamp: number; readonly flush: boolean };

/** A record to produce: topic is a key of featureTopics(). */
export interface Produced {
  readonly topic: 'items' | 'brands' | 'clicks' | 'purchases' | 'tiers' | 'orders';
  readonly key: string;
  readonly value: unknown;
  readonly timestamp: number;
}

const pad = (prefix: string, i: number) => `${prefix}${String(i).padStart(2, '0')}`;

/**
 * The input of seq `seq`, drawn from `random` (call it in seq order). Record times grow with the
 * seq; orders are dated back by less than half the grace period, tiers fall between orders' times
 * (odd vs even ms), so "the tier valid at the order's time" is never a tie.
 */
export function drawInput(seq: number, random: () => number): FeatureInput {
  const r = random();
  const pick = (n: number) => Math.floor(random() * n);
  if (r < 0.25) return { kind: 'item', seq, key: pad('i', pick(ITEMS)), brand: random() < 0.1 ? null : pad('b', pick(BRANDS)) };
  if (r < 0.32) return { kind: 'brand', seq, key: pad('b', pick(BRANDS)), deleted: random() < 0.1 };
  if (r < 0.57) return { kind: 'click', seq, user: pad('u', pick(USERS)) };
  if (r < 0.72) return { kind: 'purchase', seq, user: pad('u', pick(USERS)), price: (seq % 10) + 1 };
  if (r < 0.77) return { kind: 'tier', seq, customer: pad('c', pick(CUSTOMERS)), timestamp: seq * STEP_MS + 1 };
  return { kind: 'order', seq, customer: pad('c', pick(CUSTOMERS)), timestamp: seq * STEP_MS - 2 * pick(GRACE_MS / 4), flush: false };
}

/** Every input drawn so far (seq = position), and a function drawing the next `count`: the reference's input. */
export function inputDrawer(random: () => number): { readonly inputs: FeatureInput[]; drawMany(count: number): FeatureInput[] } {
  const inputs: FeatureInput[] = [];
  return {
    inputs,
    drawMany(count) {
      const out: FeatureInput[] = [];
      for (let i = 0; i < count; i++) {
        const input = drawInput(inputs.length, random);
        inputs.push(input);
        out.push(input);
      }
      return out;
    },
  };
}

/**
 * Orders for every customer far past the last input's time: they advance each task's stream time
 * beyond every real order's time plus the grace period, so the buffer releases them all (the
 * flush orders themselves stay buffered).
 */
export function flushOrders(firstSeq: number): FeatureInput[] {
  return Array.from({ length: CUSTOMERS }, (_, i) => ({ kind: 'order', seq: firstSeq + i, customer: pad('c', i), timestamp: (firstSeq + 1_000) * STEP_MS + 10 * GRACE_MS, flush: true }));
}

/** The record an input becomes, its time relative to `t0` (an even ms). */
export function toRecord(input: FeatureInput, t0: number): Produced {
  const at = (ms: number) => t0 + ms;
  switch (input.kind) {
    case 'item':
      return { topic: 'items', key: input.key, value: input.brand === null ? null : { brand: input.brand, seq: input.seq }, timestamp: at(input.seq * STEP_MS) };
    case 'brand':
      return { topic: 'brands', key: input.key, value: input.deleted ? null : { name: `${input.key}#${input.seq}`, seq: input.seq }, timestamp: at(input.seq * STEP_MS) };
    case 'click':
      return { topic: 'clicks', key: input.user, value: input.seq, timestamp: at(input.seq * STEP_MS) };
    case 'purchase':
      return { topic: 'purchases', key: `${input.user}/${input.seq}`, value: { seq: input.seq, price: input.price }, timestamp: at(input.seq * STEP_MS) };
    case 'tier':
      return { topic: 'tiers', key: input.customer, value: `t${input.seq}`, timestamp: at(input.timestamp) };
    case 'order':
      return { topic: 'orders', key: input.customer, value: `${input.flush ? 'flush' : 'o'}${input.seq}`, timestamp: at(input.timestamp) };
  }
}

const str = Serdes.string();
const json = Serdes.json<unknown>();

/** Serializes records for Log.produce, each to the partition the default partitioner picks. */
export function toBatches(records: readonly Produced[], topicName: (topic: Produced['topic']) => string, partitions: number) {
  const byPartition = new Map<string, { topic: string; partition: number; records: { key: Uint8Array; value: Uint8Array | null; timestamp: number }[] }>();
  for (const r of records) {
    const topic = topicName(r.topic);
    const key = str.serialize(r.key, topic);
    const partition = partitionForKey(key, partitions);
    const id = `${topic}:${partition}`;
    let batch = byPartition.get(id);
    if (batch === undefined) byPartition.set(id, (batch = { topic, partition, records: [] }));
    const value = r.value === null ? null : r.topic === 'tiers' || r.topic === 'orders' ? str.serialize(r.value as string, topic) : json.serialize(r.value, topic);
    batch.records.push({ key, value, timestamp: r.timestamp });
  }
  return [...byPartition.values()];
}

/** Produces `inputs` (in `batches` produce calls, in seq order) to the topics of featureTopics(). */
export async function appendInputs(log: Log, inputs: readonly FeatureInput[], batches: number, t0: number): Promise<void> {
  const names = featureTopics();
  const per = Math.ceil(inputs.length / batches);
  for (let i = 0; i < inputs.length; i += per) {
    await log.produce(toBatches(inputs.slice(i, i + per).map((input) => toRecord(input, t0)), (topic) => names[topic], PARTITIONS));
  }
}

/** Every committed record of a topic, partition by partition, in offset order, from `from(partition)`. */
export async function readTopic(log: Log, topic: string, from: (partition: number) => number = () => 0): Promise<ReadBack[]> {
  const partitions = (await log.topics()).get(topic)?.partitions;
  assert.ok(partitions !== undefined, `topic ${topic} exists`);
  const out: ReadBack[] = [];
  for (let partition = 0; partition < partitions; partition++) {
    for (let offset = from(partition); ; ) {
      const r = await log.fetch({ topic, partition }, offset, { maxRecords: 10_000, readCommitted: true });
      for (const rec of r.records) out.push({ partition, key: str.deserialize(rec.key!, topic), value: rec.value });
      if (r.nextOffset >= r.endOffset) break;
      offset = r.nextOffset;
    }
  }
  return out;
}

/** A record read back (read-committed), its key decoded, in offset order per partition. */
export interface ReadBack {
  readonly partition: number;
  readonly key: string;
  readonly value: Uint8Array | null;
}

export interface FeatureCheck {
  readonly seed: number;
  readonly inputs: readonly FeatureInput[];
  readonly outputs: { readonly fk: readonly ReadBack[]; readonly carts: readonly ReadBack[]; readonly orders: readonly ReadBack[] };
  /** The stores as the final run left them, then as a run with an empty state directory restored them. */
  readonly stores: readonly Record<string, Record<string, unknown>>[];
}

/** How much each check covered, for the test's summary (a check over nothing proves nothing). */
export interface FeatureCounts {
  readonly fkResults: number;
  readonly fkTombstones: number;
  readonly cartUpdates: number;
  readonly orders: number;
  /** Orders produced after a newer tier of their customer, so answered from history. */
  readonly ordersFromHistory: number;
}

export function checkFeatures({ seed, inputs, outputs, stores }: FeatureCheck): FeatureCounts {
  const bySeq = new Map(inputs.map((i) => [i.seq, i]));
  const passes = (s: number) => (s === 0 ? 'final run' : 'restore-only run');

  // Foreign-key join: the reference is the join of the final tables.
  const items = new Map<string, { brand: string; seq: number }>();
  const brands = new Map<string, number>();
  for (const i of inputs) {
    if (i.kind === 'item' && i.brand === null) items.delete(i.key);
    else if (i.kind === 'item') items.set(i.key, { brand: i.brand!, seq: i.seq });
    else if (i.kind === 'brand' && i.deleted) brands.delete(i.key);
    else if (i.kind === 'brand') brands.set(i.key, i.seq);
  }
  const expectedJoin: Record<string, Joined> = {};
  for (const [key, item] of items) {
    const brandSeq = brands.get(item.brand);
    if (brandSeq !== undefined) expectedJoin[key] = { itemSeq: item.seq, brand: item.brand, brandSeq };
  }
  const table: Record<string, Joined> = {};
  const last = new Map<string, Joined>();
  for (const rec of outputs.fk) {
    if (rec.value === null) {
      delete table[rec.key];
      continue;
    }
    const j = json.deserialize(rec.value, '') as Joined;
    const item = bySeq.get(j.itemSeq);
    assert.ok(item?.kind === 'item' && item.key === rec.key && item.brand === j.brand, `seed ${seed}: FK result ${rec.key} -> ${JSON.stringify(j)} names an update of ${rec.key} with brand ${j.brand} (it is ${JSON.stringify(item)})`);
    const brand = bySeq.get(j.brandSeq);
    assert.ok(brand?.kind === 'brand' && brand.key === j.brand && !brand.deleted, `seed ${seed}: FK result ${rec.key} -> ${JSON.stringify(j)} names an update of brand ${j.brand} (it is ${JSON.stringify(brand)})`);
    const before = last.get(rec.key);
    if (before !== undefined) {
      const older = j.itemSeq < before.itemSeq || (j.itemSeq === before.itemSeq && j.brandSeq < before.brandSeq);
      assert.ok(!older, `seed ${seed}: FK result ${rec.key} -> ${JSON.stringify(j)} goes back from ${JSON.stringify(before)} (a stale answer got through)`);
    }
    last.set(rec.key, j);
    table[rec.key] = j;
  }
  const wrong = [...new Set([...Object.keys(table), ...Object.keys(expectedJoin)])].filter((k) => JSON.stringify(table[k]) !== JSON.stringify(expectedJoin[k]));
  if (wrong.length > 0) {
    // The history of the first wrong row: its updates, its brands' updates, and its results.
    const key = wrong.sort()[0]!;
    const history = inputs.filter((i) => i.kind === 'item' && i.key === key);
    const brandsOf = new Set(history.map((i) => (i.kind === 'item' ? i.brand : null)));
    const brandHistory = inputs.filter((i) => i.kind === 'brand' && brandsOf.has(i.key)).map((i) => `${i.seq}:${i.kind === 'brand' ? i.key : ''}${i.kind === 'brand' && i.deleted ? ' deleted' : ''}`);
    const results = outputs.fk.filter((r) => r.key === key).map((r) => (r.value === null ? 'null' : JSON.stringify(json.deserialize(r.value, ''))));
    assert.fail(
      `seed ${seed}: the FK join's output table differs from the join of the final tables for ${wrong.length} rows (${wrong.slice(0, 8).join(', ')}); ` +
        `${key}: got ${JSON.stringify(table[key])}, expected ${JSON.stringify(expectedJoin[key])}; its updates ${JSON.stringify(history.slice(-12))}; ` +
        `its brands' updates ${brandHistory.slice(-30).join(', ')}; its results ${results.slice(-12).join(', ')}`,
    );
  }
  for (const [s, st] of stores.entries()) assert.deepEqual(st['item-brand'], expectedJoin, `seed ${seed}: the FK result store after the ${passes(s)}`);

  // Cogroup + processValues: per user, numbers 1..n, every seq once.
  const expectedSeqs = new Map<string, Set<number>>();
  for (const i of inputs) {
    if (i.kind !== 'click' && i.kind !== 'purchase') continue;
    let set = expectedSeqs.get(i.user);
    if (set === undefined) expectedSeqs.set(i.user, (set = new Set()));
    set.add(i.seq);
  }
  const updates = new Map<string, NumberedCart[]>();
  for (const rec of outputs.carts) {
    let list = updates.get(rec.key);
    if (list === undefined) updates.set(rec.key, (list = []));
    list.push(json.deserialize(rec.value!, '') as NumberedCart);
  }
  assert.deepEqual([...updates.keys()].sort(), [...expectedSeqs.keys()].sort(), `seed ${seed}: every user has cart updates`);
  const finalCarts: Record<string, Cart> = {};
  const finalNumbers: Record<string, number> = {};
  for (const [user, seqs] of expectedSeqs) {
    const seen = updates.get(user)!;
    const bad = seen.findIndex((u, i) => u.n !== i + 1);
    if (bad >= 0 || seen.length !== seqs.size) {
      const at = bad >= 0 ? bad : Math.min(seen.length, seqs.size);
      const times = new Map<number, number>();
      for (const u of seen) times.set(u.seq, (times.get(u.seq) ?? 0) + 1);
      const duplicated = [...times].filter(([, n]) => n > 1).map(([q]) => q);
      const missing = [...seqs].filter((q) => !times.has(q));
      assert.fail(
        `seed ${seed}: user ${user} has ${seen.length} cart updates for ${seqs.size} inputs; around #${at + 1}: ${JSON.stringify(seen.slice(Math.max(0, at - 3), at + 4))}; ` +
          `${duplicated.length} seqs twice or more (first: ${duplicated.slice(0, 8).join(', ')}), ${missing.length} never (first: ${missing.slice(0, 8).join(', ')})`,
      );
    }
    let clicks = 0;
    let purchases = 0;
    let spent = 0;
    const counted = new Set<number>();
    for (const [i, u] of seen.entries()) {
      const input = bySeq.get(u.seq);
      assert.ok(seqs.has(u.seq) && !counted.has(u.seq), `seed ${seed}: user ${user} update ${i + 1} names seq ${u.seq}, an input of ${user} not counted before`);
      counted.add(u.seq);
      if (input?.kind === 'click') clicks++;
      if (input?.kind === 'purchase') {
        purchases++;
        spent += input.price;
      }
      assert.deepEqual({ clicks: u.clicks, purchases: u.purchases, spent: u.spent }, { clicks, purchases, spent }, `seed ${seed}: user ${user} update ${i + 1} adds its own input to the previous cart`);
    }
    const { n: _n, ...cart } = seen.at(-1)!;
    finalCarts[user] = cart;
    finalNumbers[user] = seqs.size;
  }
  for (const [s, st] of stores.entries()) {
    assert.deepEqual(st['carts'], finalCarts, `seed ${seed}: carts store after the ${passes(s)}`);
    assert.deepEqual(st['updates'], finalNumbers, `seed ${seed}: updates store after the ${passes(s)}`);
  }

  // Grace join: every order once, with the tier valid at its time.
  const tierHistory = new Map<string, { at: number; tier: string }[]>();
  for (const i of inputs) if (i.kind === 'tier') tierHistory.set(i.customer, [...(tierHistory.get(i.customer) ?? []), { at: i.timestamp, tier: `t${i.seq}` }]);
  const expectedOrders = inputs
    .filter((i) => i.kind === 'order' && !i.flush)
    .map((i) => {
      const o = i as Extract<FeatureInput, { kind: 'order' }>;
      const valid = (tierHistory.get(o.customer) ?? []).filter((t) => t.at <= o.timestamp).sort((a, b) => a.at - b.at).at(-1);
      return `o${o.seq}@${valid?.tier ?? '-'}`;
    })
    .sort();
  const gotOrders = outputs.orders.map((r) => str.deserialize(r.value!, '')).sort();
  if (JSON.stringify(gotOrders) !== JSON.stringify(expectedOrders)) {
    const want = new Set(expectedOrders);
    const counts = new Map<string, number>();
    for (const o of gotOrders) counts.set(o, (counts.get(o) ?? 0) + 1);
    assert.fail(
      `seed ${seed}: orders out ${gotOrders.length}, expected ${expectedOrders.length}; ` +
        `twice or more: ${[...counts].filter(([, n]) => n > 1).map(([o]) => o).slice(0, 8).join(', ')}; ` +
        `unexpected (wrong tier or never ordered): ${gotOrders.filter((o) => !want.has(o)).slice(0, 8).join(', ')}; ` +
        `missing: ${expectedOrders.filter((o) => !counts.has(o)).slice(0, 8).join(', ')}`,
    );
  }
  const latestTierAt = new Map<string, number>();
  let ordersFromHistory = 0;
  for (const i of inputs) {
    if (i.kind === 'tier') latestTierAt.set(i.customer, i.timestamp);
    if (i.kind === 'order' && !i.flush && (latestTierAt.get(i.customer) ?? -Infinity) > i.timestamp) ordersFromHistory++;
  }
  return {
    fkResults: outputs.fk.filter((r) => r.value !== null).length,
    fkTombstones: outputs.fk.filter((r) => r.value === null).length,
    cartUpdates: outputs.carts.length,
    orders: gotOrders.length,
    ordersFromHistory,
  };
}
