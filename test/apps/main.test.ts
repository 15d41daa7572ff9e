import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { EmbeddedLog } from '../../connectors/embedded/index.ts';

const main = fileURLToPath(new URL('../../apps/main.ts', import.meta.url));

/** `npm start`: it must come up on a fresh data directory and serve real answers within seconds. */
test('npm start runs the generator and every app on the embedded log and serves features, sessions and recommendations', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-main-'));
  const child = spawn(process.execPath, [main], {
    env: { ...process.env, PORT: '0', TRIBUTARY_DATA_DIR: dir, BACKFILL_HOURS: '1', USERS: '2000' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    let out = '';
    const base = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const m = /page: +(http:\/\/[^/\s]+)\//.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`exited with ${code}: ${out}`)));
    });
    const get = async (path: string) => (await (await fetch(base + path)).json()) as Record<string, unknown>;
    const deadline = Date.now() + 30_000;
    let trending: { itemId: string }[] = [];
    while (trending.length === 0 && Date.now() < deadline) {
      trending = (await get('/trending?k=5')).items as { itemId: string }[];
      if (trending.length === 0) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(trending.length > 0, 'trending items are served');
    // The generator's users are u0..u1999: find one with history.
    let user: Record<string, unknown> | undefined;
    for (let i = 0; i < 200 && user === undefined; i++) {
      const f = await get(`/users/u${i}/features`);
      if (f.coldStart === false) user = f;
    }
    assert.ok(user !== undefined, 'some user has features');
    const recs = await get(`/recommendations/${user.userId as string}?k=5`);
    assert.ok((recs.items as unknown[]).length > 0);
    assert.equal(((await get('/users/never-seen/features')).coldStart), true);
    // The sinks report on /metrics: wait until the lake and the warehouse have taken batches.
    const written = async (sink: string) => {
      const text = await (await fetch(`${base}/metrics`)).text();
      return Number(new RegExp(`tributary_sink_batches_written_total\\{sink="${sink}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    };
    while (Date.now() < deadline + 30_000 && ((await written('events-lake')) === 0 || (await written('sessions-warehouse')) === 0)) await new Promise((r) => setTimeout(r, 200));
    child.kill('SIGINT');
    assert.equal(await new Promise((r) => child.once('exit', r)), 0);
    assert.match(out, /stopped/);
    assert.ok(readdirSync(join(dir, 'lake', 'events')).some((d) => d.startsWith('date=')), 'raw events reached the lake');
    // The sinks closed with the app: the lake holds each event up to its stored positions once
    // (events the app wrote after the lake's last fetch wait for the next start), the warehouse
    // every closed session once and a feature snapshot of every user with events.
    const lake = join(dir, 'lake', 'events');
    const positions = (JSON.parse(readFileSync(join(lake, '_tributary_offsets.json'), 'utf8')) as { positions: Record<string, number> }).positions;
    const log = await EmbeddedLog.open({ dir: join(dir, 'log') });
    const count = async (topic: string, upTo?: Record<string, number>) => {
      let n = 0;
      for (const [name, config] of await log.topics()) {
        if (name !== topic) continue;
        for (let p = 0; p < config.partitions; p++) {
          const end = upTo === undefined ? Number.POSITIVE_INFINITY : (upTo[String(p)] ?? 0);
          for (let offset = 0; offset < end; ) {
            const r = await log.fetch({ topic, partition: p }, offset, { maxRecords: 10_000 });
            n += r.records.filter((rec) => rec.offset < end).length;
            if (r.nextOffset >= r.endOffset) break;
            offset = r.nextOffset;
          }
        }
      }
      return n;
    };
    const db = await DuckDBInstance.create(join(dir, 'warehouse.duckdb'));
    const sql = await db.connect();
    const one = async (q: string) => Number((await sql.runAndReadAll(q)).getRows()[0]![0]);
    const stored = (await sql.runAndReadAll(`select partition, next_offset from tributary_sink_offsets where sink = 'sessions-warehouse'`)).getRows();
    const sessionPositions = Object.fromEntries(stored.map(([p, o]) => [String(p), Number(o)]));
    const [inLake, sessions] = [await count('events', positions), await count('sessions', sessionPositions)];
    await log.close();
    assert.ok(inLake > 0 && sessions > 0);
    const parquet = `read_parquet('${lake}/**/*.parquet', hive_partitioning = true)`;
    assert.equal(await one(`select count(*) from ${parquet}`), inLake);
    assert.equal(await one(`select count(distinct (src_partition, src_offset)) from ${parquet}`), inLake);
    assert.equal(await one('select count(*) from sessions'), sessions);
    assert.ok((await one('select count(*) from user_features')) > 0);
    sql.closeSync();
    db.closeSync();
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
