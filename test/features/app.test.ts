import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLog } from '../../connectors/embedded/index.ts';
import { Serdes, StreamsApp, partitionForKey } from '../../index.ts';
import { readFeatures, type FeatureState } from '../../features/index.ts';
import { orderFeatures, type Order } from './fixtures/order-features.ts';

const module = new URL('./fixtures/order-features.ts', import.meta.url);
const T0 = 1_700_000_400_000;
const MIN = 60_000;

async function until<T>(fn: () => Promise<T | undefined>, what: string): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a feature definition in a StreamsApp on the embedded log: exactly-once values, state rebuilt from the changelog after a restart with an empty state dir', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-features-'));
  const log = await EmbeddedLog.open({ dir: join(dir, 'log') });
  const json = Serdes.json<Order>();
  const str = Serdes.string();
  const write = (orders: (Order & { t: number })[]) =>
    log.produce(orders.map((o, i) => {
      const key = str.serialize(`order-${o.t}-${i}`, 'orders');
      return { topic: 'orders', partition: partitionForKey(key, 2), records: [{ key, value: json.serialize({ user: o.user, item: o.item, amount: o.amount }, 'orders'), timestamp: o.t }] };
    }));
  const first = Array.from({ length: 30 }, (_, i) => ({ user: `u${i % 3}`, item: `i${i % 4}`, amount: i, t: T0 + i * MIN }));
  const second = Array.from({ length: 30 }, (_, i) => ({ user: `u${i % 3}`, item: `i${i % 5}`, amount: 100 + i, t: T0 + (40 + i) * MIN }));
  const expectFor = (orders: typeof first, user: string, now: number) => {
    const mine = orders.filter((o) => o.user === user);
    const recent = mine.filter((o) => o.t - (o.t % (5 * MIN)) > now - 65 * MIN);
    return { orders: recent.length, spend: recent.reduce((a, o) => a + o.amount, 0), lifetimeOrders: mine.length, last: mine.slice(-2).map((o) => o.item).reverse() };
  };
  let app: StreamsApp | undefined;
  const read = async (orders: typeof first, user: string) => {
    const now = Math.max(...orders.map((o) => o.t));
    const v = readFeatures(orderFeatures, await app!.get<FeatureState>('order-features', user), now);
    const got = { orders: v.orders['1h'], spend: v.spend['1h'], lifetimeOrders: v.orders.lifetime, last: v.last.lifetime };
    return JSON.stringify(got) === JSON.stringify(expectFor(orders, user, now)) ? got : undefined;
  };
  try {
    await log.createTopic('orders', { partitions: 2, cleanupPolicy: 'delete' });
    await write(first);
    app = new StreamsApp({ module }, { applicationId: 'feat', log, threads: 2, stateDir: join(dir, 'state-a') });
    await app.start();
    for (const u of ['u0', 'u1', 'u2']) await until(() => read(first, u), `${u} after the first round`);
    await app.close();
    await write(second);
    app = new StreamsApp({ module }, { applicationId: 'feat', log, threads: 1, stateDir: join(dir, 'state-b') });
    await app.start();
    const all = [...first, ...second];
    for (const u of ['u0', 'u1', 'u2']) {
      const got = await until(() => read(all, u), `${u} after the restart`);
      assert.equal(got.lifetimeOrders, 20, 'each order counted once');
    }
  } finally {
    await app?.close();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
