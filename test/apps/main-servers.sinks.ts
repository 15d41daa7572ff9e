/**
 * `npm start` with TRIBUTARY_WAREHOUSE=postgres and TRIBUTARY_CACHE=redis, against the project's
 * real servers (`npm run test:sinks` starts them; PG_PORT and REDIS_PORT choose the ports): closed
 * sessions land in PostgreSQL once each, feature snapshots and profiles in Redis.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Redis } from 'ioredis';
import { EmbeddedLog } from '../../connectors/embedded/index.ts';

const main = fileURLToPath(new URL('../../apps/main.ts', import.meta.url));
const pgPort = Number(process.env.PG_PORT ?? 55432);
const redisPort = Number(process.env.REDIS_PORT ?? 56379);

test('npm start with PostgreSQL and Redis: sessions in the warehouse once each, features and profiles in the cache', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-main-servers-'));
  const client = new pg.Client({ host: '127.0.0.1', port: pgPort, user: 'postgres', database: 'postgres' });
  await client.connect();
  const redis = new Redis({ host: '127.0.0.1', port: redisPort, lazyConnect: true });
  await redis.connect();
  // A clean slate: earlier runs of this test wrote the same tables and keys.
  await client.query('DROP TABLE IF EXISTS sessions, user_features');
  await client.query(`DELETE FROM tributary_sink_offsets WHERE sink IN ('sessions-warehouse', 'features-warehouse')`).catch(() => undefined);
  for (const pattern of ['features:*', 'profile:*', 'tributary:cache:features-cache*', 'tributary:cache:profiles-cache*']) {
    const keys = await redis.keys(pattern);
    if (keys.length > 0) await redis.del(...keys);
  }
  const child = spawn(process.execPath, [main], {
    env: { ...process.env, PORT: '0', TRIBUTARY_DATA_DIR: dir, BACKFILL_HOURS: '1', USERS: '2000', TRIBUTARY_WAREHOUSE: 'postgres', TRIBUTARY_CACHE: 'redis', PG_PORT: String(pgPort), REDIS_PORT: String(redisPort) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    let out = '';
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const base = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const m = /page: +(http:\/\/[^/\s]+)\//.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`exited with ${code}: ${out}`)));
    });
    const written = async (sink: string) => {
      const text = await (await fetch(`${base}/metrics`)).text();
      return Number(new RegExp(`tributary_sink_batches_written_total\\{sink="${sink}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    };
    const deadline = Date.now() + 60_000;
    for (const sink of ['sessions-warehouse', 'features-warehouse', 'features-cache', 'profiles-cache']) {
      while ((await written(sink)) === 0) {
        assert.ok(Date.now() < deadline, `${sink} wrote nothing in a minute: ${out}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    child.kill('SIGINT');
    assert.equal(await new Promise((r) => child.once('exit', r)), 0, out);
    // Sessions up to the positions the warehouse stored with them (the app may have written more
    // after the sink's last fetch: those wait for the next start).
    const stored = (await client.query(`SELECT partition, next_offset FROM tributary_sink_offsets WHERE sink = 'sessions-warehouse'`)).rows as { partition: number; next_offset: string }[];
    const log = await EmbeddedLog.open({ dir: join(dir, 'log') });
    let sessions = 0;
    for (const { partition, next_offset } of stored) {
      for (let offset = 0; offset < Number(next_offset); ) {
        const r = await log.fetch({ topic: 'sessions', partition }, offset, { maxRecords: 10_000 });
        sessions += r.records.filter((rec) => rec.offset < Number(next_offset)).length;
        if (r.nextOffset >= r.endOffset) break;
        offset = r.nextOffset;
      }
    }
    await log.close();
    assert.ok(sessions > 0);
    assert.equal(Number((await client.query('SELECT count(*) AS n FROM sessions')).rows[0].n), sessions);
    assert.ok(Number((await client.query('SELECT count(*) AS n FROM user_features')).rows[0].n) > 0);
    const features = await redis.keys('features:*');
    assert.ok(features.length > 0, 'feature snapshots are cached');
    const one = JSON.parse((await redis.get(features[0]!))!) as { userId: string; features: unknown };
    assert.equal(`features:${one.userId}`, features[0]);
    assert.ok((await redis.pttl(features[0]!)) > 0, 'with a TTL');
    assert.ok((await redis.keys('profile:*')).length > 0, 'profiles are cached');
  } finally {
    child.kill('SIGKILL');
    await client.end();
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  }
});
