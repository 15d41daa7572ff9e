import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLog } from '../../connectors/embedded/index.ts';
import { ingest, startPersonalization } from '../../apps/runtime.ts';

async function until<T>(fn: () => Promise<T | undefined>, what: string): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('the personalization apps serve features, sessions, profiles, items, trending and recommendations over HTTP', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-serving-'));
  const log = await EmbeddedLog.open({ dir: join(dir, 'log'), cleanIntervalMs: 0 });
  const { app, partitions } = await startPersonalization({ log, dataDir: dir, port: 0, partitions: 2, threads: 1 });
  try {
    await app.start();
    const base = `http://127.0.0.1:${app.httpAddress!.port}`;
    const get = async (path: string) => {
      const res = await fetch(base + path);
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const now = Date.now();
    const e = (id: string, userId: string, type: string, at: number, itemId: string, category: string, extra: object = {}) => ({
      eventId: id,
      userId,
      type,
      timestamp: at,
      itemId,
      category,
      page: `/item/${itemId}`,
      ...extra,
    });
    await ingest(
      log,
      partitions,
      [
        e('1', 'u1', 'page_view', now - 60_000, 'i1', 'books', { referrer: 'google' }),
        e('2', 'u1', 'page_view', now - 50_000, 'i2', 'books'),
        e('3', 'u2', 'page_view', now - 40_000, 'i3', 'books'),
        e('4', 'u2', 'page_view', now - 30_000, 'i3', 'books'),
        e('5', 'u1', 'purchase', now - 20_000, 'i1', 'books', { price: 12, quantity: 1 }),
        { eventId: 'bad', userId: 'u1', type: 'page_view', timestamp: now }, // no itemId: dead-lettered
      ],
      [{ userId: 'u1', name: 'Ann', country: 'FR', tier: 'vip', marketingOptIn: true, updatedAt: now - 100_000 }],
    );
    const features = await until(async () => {
      const r = await get('/users/u1/features');
      const f = r.body.features as { purchaseSum: number } | undefined;
      return f !== undefined && f.purchaseSum === 12 ? r.body : undefined;
    }, 'u1 features');
    assert.equal(features.coldStart, false);
    // The definitions' own route: the same counts, with the newest event's time.
    const raw = await get('/features/user-activity/u1');
    assert.equal(raw.status, 200);
    assert.deepEqual((raw.body.values as { byType: Record<string, Record<string, number>> }).byType['1h'], { page_view: 2, purchase: 1 });
    assert.equal(raw.body.newestEventAt, now - 20_000);
    assert.equal((await get('/features/nothing/u1')).status, 404);
    assert.equal((await get('/features/user-activity/u1?at=-1')).status, 400);
    const counts = (features.features as { counts: Record<string, Record<string, number>> }).counts;
    assert.deepEqual(counts['1h'], { page_view: 2, click: 0, add_to_cart: 0, purchase: 1, search: 0 });
    assert.ok(((features.freshness as { ageMs: number }).ageMs) >= 0);

    const session = (await get('/users/u1/session')).body.session as { events: number; open: boolean; referrer: string };
    assert.deepEqual([session.events, session.open, session.referrer], [3, true, 'google']);

    const profile = (await get('/users/u1/profile')).body;
    assert.equal((profile.profile as { tier: string }).tier, 'vip');
    assert.deepEqual((profile.purchaseHistory as { itemId: string; tier: string }[]).map((p) => [p.itemId, p.tier]), [['i1', 'vip']]);

    // Item features and trending come through a repartition topic: wait for them too.
    await until(async () => {
      const item = (await get('/items/i3/features')).body;
      return (item.features as { '1h': { views: number } })['1h'].views === 2 ? item : undefined;
    }, 'item i3 features');
    const trending = await until(async () => {
      const items = (await get('/trending?category=books&k=2')).body.items as { itemId: string }[];
      return items.length === 2 && items.some((t) => t.itemId === 'i1') ? items : undefined;
    }, 'trending');
    assert.deepEqual(trending.map((t) => t.itemId), ['i1', 'i3'], 'the purchase weighs more than two views');

    const recs = (await get('/recommendations/u1?k=3')).body as { coldStart: boolean; items: { itemId: string }[] };
    assert.equal(recs.coldStart, false);
    assert.ok(!recs.items.some((i) => i.itemId === 'i1'), 'an item already bought is not recommended');
    assert.ok(recs.items.some((i) => i.itemId === 'i3'));

    // Unknown users get cold-start answers, not errors.
    const cold = await get('/users/nobody/features');
    assert.equal(cold.status, 200);
    assert.equal(cold.body.coldStart, true);
    const coldRecs = (await get('/recommendations/nobody?k=2')).body as { coldStart: boolean; items: { reason: string }[] };
    assert.deepEqual([coldRecs.coldStart, coldRecs.items.length, coldRecs.items[0]!.reason], [true, 2, 'popular']);
    assert.equal((await get('/users/nobody/session')).body.session, null);

    const batch = await fetch(`${base}/users/features`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ids: ['u1', 'u2', 'nobody'] }) });
    assert.deepEqual(((await batch.json()) as { users: { coldStart: boolean }[] }).users.map((u) => u.coldStart), [false, false, true]);
    assert.equal((await fetch(`${base}/users/features`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'nope' })).status, 400);
    assert.equal((await get('/recommendations/u1?k=0')).status, 400);
    assert.match(await (await fetch(`${base}/`)).text(), /Tributary: live personalization/);

    // The invalid event is in the dead-letter topic with its reason.
    const dlq = await until(async () => {
      const r = await log.fetch({ topic: 'events-dlq', partition: 0 }, 0);
      return r.records.length > 0 ? r.records : undefined;
    }, 'dead letter');
    assert.match(Buffer.from(dlq[0]!.value!).toString(), /a page_view needs an itemId/);
  } finally {
    await app.close();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * The live session route with session splits (set through the environment, as `npm start` does):
 * the sessions are stored under composite keys in each user's partition. Events are from
 * 2023-11-14 around Berlin's midnight (T0 + 46m40s): 23:43:20, then 00:03:20 and 00:08:20.
 */
async function liveSessionsWithSplit(env: Record<string, string>, users: readonly string[]) {
  const T0 = 1_700_000_000_000;
  const MIN = 60_000;
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  const dir = mkdtempSync(join(tmpdir(), 'tributary-serving-split-'));
  const log = await EmbeddedLog.open({ dir: join(dir, 'log'), cleanIntervalMs: 0 });
  try {
    const { app, partitions } = await startPersonalization({ log, dataDir: dir, port: 0, partitions: 2, threads: 1 });
    try {
      await app.start();
      const base = `http://127.0.0.1:${app.httpAddress!.port}`;
      const e = (id: string, userId: string, at: number, extra: object = {}) => ({ eventId: id, userId, type: 'page_view', timestamp: at, itemId: 'i1', page: '/p', ...extra });
      await ingest(
        log,
        partitions,
        users.flatMap((u) => [e(`${u}a`, u, T0 + 30 * MIN), e(`${u}b`, u, T0 + 50 * MIN), e(`${u}c`, u, T0 + 55 * MIN, { utmCampaign: 'winter' })]),
        [],
      );
      const sessions: Record<string, { sessionId: string; start: number; end: number; events: number; utmCampaign: string | null; open: boolean }> = {};
      for (const u of users) {
        sessions[u] = await until(async () => {
          const s = ((await (await fetch(`${base}/users/${u}/session`)).json()) as { session: (typeof sessions)[string] | null }).session;
          return s?.end === T0 + 55 * MIN ? s : undefined; // once the user's newest event is in
        }, `${u}'s live session`);
      }
      return { T0, MIN, sessions };
    } finally {
      await app.close();
    }
  } finally {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

const splitUsers = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6'];

test('GET /users/{id}/session with the midnight split: the newest session is the one after midnight', async () => {
  const { T0, MIN, sessions } = await liveSessionsWithSplit({ SESSION_SPLIT_TIMEZONE: 'Europe/Berlin' }, splitUsers);
  for (const u of splitUsers) {
    const s = sessions[u]!;
    assert.deepEqual([s.sessionId, s.start, s.events, s.open], [`${u}-${T0 + 50 * MIN}`, T0 + 50 * MIN, 2, false]);
  }
});

test('GET /users/{id}/session with the midnight and campaign splits: the newest session is the campaign one after midnight', async () => {
  const { T0, MIN, sessions } = await liveSessionsWithSplit({ SESSION_SPLIT_TIMEZONE: 'Europe/Berlin', SESSION_SPLIT_ON_CAMPAIGN: '1' }, splitUsers);
  for (const u of splitUsers) {
    const s = sessions[u]!;
    assert.deepEqual([s.sessionId, s.start, s.events, s.utmCampaign], [`${u}-${T0 + 55 * MIN}-c1`, T0 + 55 * MIN, 1, 'winter']);
  }
});
