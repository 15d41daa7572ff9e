import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLog } from '../../../connectors/embedded/index.ts';
import { StreamsApp } from '../../../index.ts';

const module = new URL('./fixtures/word-count.ts', import.meta.url);

async function until(check: () => Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('the HTTP server ingests records, answers queries, health and metrics, and rejects bad requests with a reason', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-http-'));
  const log = await EmbeddedLog.open({ dir });
  const app = new StreamsApp({ module }, { applicationId: 'wc-http', log, threads: 1, http: { port: 0 }, stateDir: join(dir, 'state') });
  try {
    await log.createTopic('sentences', { partitions: 2, cleanupPolicy: 'delete' });
    await log.createTopic('word-counts', { partitions: 2, cleanupPolicy: 'delete' });
    await app.start();
    const base = `http://127.0.0.1:${app.httpAddress!.port}`;
    const get = async (path: string) => {
      const res = await fetch(base + path);
      return { status: res.status, body: res.headers.get('content-type')?.includes('json') ? await res.json() : await res.text() };
    };
    const post = async (path: string, body: string) => {
      const res = await fetch(base + path, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
      return { status: res.status, body: (await res.json()) as { accepted?: number; error?: string } };
    };

    assert.deepEqual(await get('/health'), { status: 200, body: { state: 'RUNNING', applicationId: 'wc-http' } });

    // Ingest: a JSON array, then NDJSON.
    assert.deepEqual(await post('/topics/sentences/records', JSON.stringify([{ key: 's1', value: 'the cat', timestamp: 3 }, { key: 's2', value: 'the dog', timestamp: 5 }])), {
      status: 200,
      body: { accepted: 2 },
    });
    assert.deepEqual(await post('/topics/sentences/records', '{"key":"s3","value":"a cat"}\n\n{"key":"s4","value":"cat"}\n'), { status: 200, body: { accepted: 2 } });
    // All or nothing: a bad line rejects the whole request and names the line.
    const bad = await post('/topics/sentences/records', '{"key":"s5","value":"lost"}\n{"key": oops}\n');
    assert.equal(bad.status, 400);
    assert.match(bad.body.error!, /line 2/);
    const wrongType = await post('/topics/sentences/records', JSON.stringify([{ key: 's6', value: 'fine' }, { key: 's7', value: 42 }]));
    assert.equal(wrongType.status, 400);
    assert.match(wrongType.body.error!, /record 2/);
    assert.equal((await post('/topics/word-counts/records', '[]')).status, 404, 'not an input of the app');
    assert.equal((await fetch(`${base}/topics/sentences/records`, { method: 'PUT', body: '[]' })).status, 405);

    await until(async () => ((await get('/stores/counts/keys/cat')).body as { value?: number }).value === 3, 'cat counted three times');
    // The count's timestamp is the latest of the records that made it (3 and 5).
    assert.deepEqual((await get('/stores/counts/keys/the')).body, { key: 'the', value: 2, timestamp: 5 });
    assert.equal((await get('/stores/counts/keys/lost')).status, 404, 'the rejected request added nothing');
    assert.equal((await get('/stores/counts/keys/fine')).status, 404);
    assert.equal((await get('/stores/nope/keys/x')).status, 404);
    assert.equal((await get('/stores/counts/windows/cat')).status, 400, 'not a window store');
    assert.equal((await get('/stores/counts/keys/%E0%A4%A')).status, 400, 'malformed escape');
    const range = await get('/stores/counts/range?from=a&to=e'); // 'the' sorts after 'e'
    // One page, in key order across both partitions.
    assert.deepEqual(range.body, { rows: [{ key: 'a', value: 1 }, { key: 'cat', value: 3 }, { key: 'dog', value: 1 }], next: null });
    const stores = (await get('/stores')).body as { name: string; partitions: number }[];
    assert.deepEqual(stores.map((s) => [s.name, s.partitions]), [['counts', 2]]);

    const metrics = (await get('/metrics')).body as string;
    assert.match(metrics, /tributary_records_in_total\{task="0_0"\} \d+/);
    assert.match(metrics, /tributary_state\{state="RUNNING"\} 1/);
    assert.match(metrics, /tributary_thread_restarts_total\{reason="LOG_UNAVAILABLE"\} 0/);
    assert.match(metrics, /tributary_rebalances_total 0/);
    // Request durations per route (404s included), and the server's own time on every response.
    assert.match(metrics, /tributary_http_request_duration_seconds_count\{route="\/stores",status="200"\} [1-9]/);
    assert.match(metrics, /tributary_http_request_duration_seconds_count\{route="\/stores",status="404"\} [1-9]/);
    assert.match((await fetch(`${base}/health`)).headers.get('server-timing') ?? '', /^app;dur=\d+\.\d{3}$/);
  } finally {
    await app.close();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
