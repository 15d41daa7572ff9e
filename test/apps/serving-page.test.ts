import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLog } from '../../connectors/embedded/index.ts';
import { ingest, startPersonalization } from '../../apps/runtime.ts';
import type { Profile } from '../../apps/events.ts';

async function until<T>(fn: () => Promise<T | undefined>, what: string, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('the page routes: active users most recent first, timelines, trending per category, engine history, the chart library; cold start from similar users', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-serving-page-'));
  const log = await EmbeddedLog.open({ dir: join(dir, 'log'), cleanIntervalMs: 0 });
  const { app, partitions } = await startPersonalization({ log, dataDir: dir, port: 0, partitions: 2, threads: 1 });
  try {
    await app.start();
    const base = `http://127.0.0.1:${app.httpAddress!.port}`;
    const get = async <T = Record<string, unknown>>(path: string) => {
      const res = await fetch(base + path);
      return { status: res.status, body: (await res.json()) as T, type: res.headers.get('content-type') };
    };
    const now = Date.now();
    const e = (id: string, userId: string, type: string, at: number, itemId: string, category: string, extra: object = {}) => ({
      eventId: id, userId, type, timestamp: at, itemId, category, page: `/item/${itemId}`, ...extra,
    });
    const profile = (userId: string, country: string, tier: Profile['tier'], signupChannel: string): Profile => ({
      userId, name: userId, country, tier, marketingOptIn: false, updatedAt: now - 600_000, signupChannel,
    });
    // Profiles first (the segment join needs them), then the events.
    await ingest(log, partitions, [], [profile('u1', 'FR', 'vip', 'app'), profile('u2', 'FR', 'vip', 'app'), profile('u3', 'DE', 'new', 'web'), profile('newbie', 'FR', 'vip', 'app')]);
    await until(async () => ((await get<{ profileKnown: boolean }>('/users/newbie/profile')).body.profileKnown ? true : undefined), 'profiles');
    await ingest(
      log,
      partitions,
      [
        e('1', 'u1', 'page_view', now - 60_000, 'i1', 'books'),
        e('2', 'u2', 'page_view', now - 50_000, 'i2', 'books'),
        e('3', 'u1', 'page_view', now - 40_000, 'i2', 'books'),
        e('4', 'u2', 'purchase', now - 30_000, 'i2', 'books', { price: 20, quantity: 1 }),
        e('5', 'u3', 'page_view', now - 20_000, 'i9', 'garden'),
      ],
      [],
    );

    // Active users: the newest event first.
    const active = await until(async () => {
      const users = (await get<{ users: { userId: string; lastAt: number }[] }>('/users/active?k=10')).body.users;
      return users.length === 3 ? users : undefined;
    }, 'active users');
    assert.deepEqual(active.map((u) => [u.userId, u.lastAt]), [['u3', now - 20_000], ['u2', now - 30_000], ['u1', now - 40_000]]);
    assert.equal((await get('/users/active?k=0')).status, 400);

    // A user's timeline: the live session from the store and the events seen.
    const timeline = await until(async () => {
      const t = (await get<{ sessions: { start: number; end: number; pageViews: number; open: boolean }[]; events: { at: number; type: string }[] }>('/users/u1/timeline')).body;
      return t.sessions.length === 1 && t.sessions[0]!.pageViews === 2 ? t : undefined;
    }, 'u1 timeline');
    assert.deepEqual(timeline.sessions.map((s) => [s.start, s.end, s.open]), [[now - 60_000, now - 40_000, true]]);
    assert.deepEqual(timeline.events.map((x) => [x.at, x.type]), [[now - 60_000, 'page_view'], [now - 40_000, 'page_view']]);

    const categories = await until(async () => {
      const c = (await get<{ categories: { category: string; items: { itemId: string }[] }[] }>('/trending/categories?k=1')).body.categories;
      return c.length === 2 ? c : undefined;
    }, 'trending categories');
    assert.deepEqual(categories.map((c) => [c.category, c.items.map((i) => i.itemId)]), [['books', ['i2']], ['garden', ['i9']]]);

    // Cold start: newbie has no events but a profile in the FR|vip|app segment of u1 and u2.
    const cold = await until(async () => {
      const f = (await get<{ coldStart: boolean; fromSimilarUsers: boolean; similarUsers: { segment: string; users: number }; features: { counts: Record<string, Record<string, number>>; purchaseSum: number } }>('/users/newbie/features')).body;
      return f.fromSimilarUsers && f.features.counts['1h']!.purchase === 0.5 ? f : undefined;
    }, 'segment features');
    assert.equal(cold.coldStart, true);
    assert.deepEqual([cold.similarUsers.segment, cold.similarUsers.users], ['FR|vip|app', 2]);
    assert.deepEqual(cold.features.counts['1h'], { page_view: 1.5, click: 0, add_to_cart: 0, purchase: 0.5, search: 0 }, 'means per user of the segment');
    assert.equal(cold.features.purchaseSum, 10);
    const coldRecs = (await get<{ coldStart: boolean; segment: string; items: { itemId: string; reason: string }[] }>('/recommendations/newbie?k=2')).body;
    assert.deepEqual([coldRecs.coldStart, coldRecs.items[0]!.itemId, coldRecs.items[0]!.reason], [true, 'i2', 'popular with similar users (FR, vip, signed up on app)']);
    // Without a profile there is no segment: plain cold start.
    const unknown = (await get<{ coldStart: boolean; fromSimilarUsers: boolean }>('/users/nobody/features')).body;
    assert.deepEqual([unknown.coldStart, unknown.fromSimilarUsers], [true, false]);
    // A user with history keeps their own features.
    assert.equal((await get<{ fromSimilarUsers: boolean }>('/users/u1/features')).body.fromSimilarUsers, false);

    // The engine's history: points every 2 s while RUNNING.
    const samples = await until(async () => {
      const s = (await get<{ samples: { at: number; processedPerSec: number; lag: number }[] }>('/engine/history')).body.samples;
      return s.length >= 1 ? s : undefined;
    }, 'engine history', 10_000);
    assert.ok(samples.every((s) => s.processedPerSec >= 0 && s.lag >= 0 && s.at > now - 60_000));

    const script = await fetch(`${base}/assets/uplot.js`);
    assert.match(script.headers.get('content-type')!, /javascript/);
    assert.match(await script.text(), /uPlot/);
    assert.match((await fetch(`${base}/assets/uplot.css`)).headers.get('content-type')!, /css/);
  } finally {
    await app.close();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
