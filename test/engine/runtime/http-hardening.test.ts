/**
 * Issue 13, finding 7: the HTTP surface against a hostile client, on a running app. Each case
 * failed before: no token, no Host or Origin check, text/plain posts accepted, slow bodies held
 * the ingest slots for 300 s, an unbounded range, a reset instead of 413, invalid UTF-8 merged
 * into U+FFFD, and /metrics one scrape behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLog } from '../../../connectors/embedded/index.ts';
import { StreamsApp, type HttpOptions } from '../../../index.ts';

const module = new URL('./fixtures/word-count.ts', import.meta.url);

interface Answer {
  status: number;
  body: { error?: string; code?: string; [k: string]: unknown };
  text: string;
}

/** A request with exactly these headers (fetch would not send a foreign Host). */
function call(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let parsed: Answer['body'] = {};
        try {
          parsed = JSON.parse(text) as Answer['body'];
        } catch {
          // not JSON (metrics)
        }
        resolve({ status: res.statusCode!, body: parsed, text });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const json = { 'content-type': 'application/json' };

async function withApp(http: Omit<HttpOptions, 'port'>, fn: (port: number, app: StreamsApp) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-http-hard-'));
  const log = await EmbeddedLog.open({ dir });
  const app = new StreamsApp({ module }, { applicationId: 'wc-hard', log, cacheMaxBytes: 0, threads: 1, http: { port: 0, ...http }, stateDir: join(dir, 'state') });
  try {
    await log.createTopic('sentences', { partitions: 2, cleanupPolicy: 'delete' });
    await log.createTopic('word-counts', { partitions: 2, cleanupPolicy: 'delete' });
    await app.start();
    await fn(app.httpAddress!.port, app);
    assert.equal(app.state, 'RUNNING');
  } finally {
    await app.close();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('without a token: Host must name this machine, cross-site Origins and non-JSON posts are refused', async () => {
  await withApp({}, async (port) => {
    // DNS rebinding: a page at evil.example resolved to 127.0.0.1 sends Host: evil.example.
    const rebound = await call(port, 'GET', '/stores/counts/keys/cat', { host: `evil.example:${port}` });
    assert.deepEqual([rebound.status, rebound.body.code], [403, 'HOST_NOT_ALLOWED']);
    assert.equal((await call(port, 'GET', '/health', { host: `localhost:${port}` })).status, 200);
    assert.equal((await call(port, 'GET', '/health', { host: `[::1]:${port}` })).status, 200);

    // A web page elsewhere posting a "simple" request (no preflight): refused on Origin, and on type.
    const record = JSON.stringify([{ key: 's', value: 'pwned' }]);
    const crossSite = await call(port, 'POST', '/topics/sentences/records', { origin: 'http://evil.example', 'content-type': 'application/json' }, record);
    assert.deepEqual([crossSite.status, crossSite.body.code], [403, 'ORIGIN_NOT_ALLOWED']);
    const nullOrigin = await call(port, 'GET', '/stores', { origin: 'null' });
    assert.equal(nullOrigin.status, 403);
    const plain = await call(port, 'POST', '/topics/sentences/records', { 'content-type': 'text/plain' }, record);
    assert.deepEqual([plain.status, plain.body.code], [415, 'UNSUPPORTED_MEDIA_TYPE']);
    const none = await call(port, 'POST', '/internal/query', {}, JSON.stringify({ store: 'counts', partition: 0, query: { type: 'key', key: 'pwned' } }));
    assert.equal(none.status, 415);
    // The server's own page may call it.
    const sameOrigin = await call(port, 'POST', '/topics/sentences/records', { origin: `http://127.0.0.1:${port}`, ...json }, JSON.stringify([{ key: 's', value: 'ok' }]));
    assert.equal(sameOrigin.status, 200);
    await until(async () => (await call(port, 'GET', '/stores/counts/keys/ok')).status === 200, '"ok" counted');
    assert.equal((await call(port, 'GET', '/stores/counts/keys/pwned')).status, 404, 'no refused record got in');
    // Every error names a code.
    assert.deepEqual((await call(port, 'GET', '/nowhere')).body.code, 'NOT_FOUND');
  });
});

test('with a token: every route but /health needs it; peers and the CLI send it', async () => {
  await withApp({ token: 's3cret', allowedOrigins: ['https://dashboard.example'] }, async (port) => {
    assert.equal((await call(port, 'GET', '/health')).status, 200);
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 's3cret' }] as Record<string, string>[]) {
      const answer = await call(port, 'GET', '/stores', headers);
      assert.deepEqual([answer.status, answer.body.code], [401, 'UNAUTHORIZED'], JSON.stringify(headers));
    }
    assert.equal((await call(port, 'GET', '/metrics')).status, 401);
    const auth = { authorization: 'Bearer s3cret' };
    // With the token, any Host will do (the token is the guard), and an allowed Origin too.
    assert.equal((await call(port, 'GET', '/stores', { ...auth, host: 'features.internal' })).status, 200);
    assert.equal((await call(port, 'GET', '/stores', { ...auth, origin: 'https://dashboard.example' })).status, 200);
    assert.equal((await call(port, 'GET', '/stores', { ...auth, origin: 'https://evil.example' })).status, 403);
    const posted = await call(port, 'POST', '/topics/sentences/records', { ...auth, 'content-type': 'application/x-ndjson' }, '{"key":"s","value":"tok"}\n');
    assert.equal(posted.status, 200);
    await until(async () => (await call(port, 'GET', '/stores/counts/keys/tok', auth)).status === 200, '"tok" counted');
  });
});

test('beyond loopback without a token the server is read-only unless writes are exposed', async () => {
  await withApp({ host: '0.0.0.0' }, async (port) => {
    const refused = await call(port, 'POST', '/topics/sentences/records', json, JSON.stringify([{ key: 's', value: 'x' }]));
    assert.deepEqual([refused.status, refused.body.code], [403, 'WRITES_NOT_EXPOSED']);
    assert.equal((await call(port, 'GET', '/stores')).status, 200);
  });
  await withApp({ host: '0.0.0.0', exposeWrites: true }, async (port) => {
    assert.equal((await call(port, 'POST', '/topics/sentences/records', json, JSON.stringify([{ key: 's', value: 'x' }]))).status, 200);
  });
});

test('a slow body gets 408 after the request timeout and frees its ingest slot', async () => {
  await withApp({ requestTimeoutMs: 600, maxInFlightIngest: 1 }, async (port) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    await new Promise<void>((resolve) => socket.on('connect', () => resolve()));
    socket.write(`POST /topics/sentences/records HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{"key":`);
    await new Promise((r) => setTimeout(r, 100));
    // The one slot is held by the slow client...
    const busy = await call(port, 'POST', '/topics/sentences/records', json, '[]');
    assert.deepEqual([busy.status, busy.body.code], [429, 'TOO_MANY_REQUESTS']);
    // ...until the server gives up on it.
    const started = Date.now();
    await closed;
    assert.ok(Date.now() - started < 5_000, 'closed within a few request timeouts');
    assert.match(answer, /^HTTP\/1\.1 408/);
    assert.equal((await call(port, 'POST', '/topics/sentences/records', json, JSON.stringify([{ key: 's', value: 'after' }]))).status, 200);
  });
});

test('an oversized body gets 413 with a code, not a reset; invalid UTF-8 is refused, not merged', async () => {
  await withApp({ maxBodyBytes: 64 * 1024 }, async (port) => {
    const big = JSON.stringify([{ key: 's', value: 'x'.repeat(1024 * 1024) }]);
    const viaHttp = await call(port, 'POST', '/topics/sentences/records', json, big);
    assert.deepEqual([viaHttp.status, viaHttp.body.code], [413, 'PAYLOAD_TOO_LARGE']);
    const viaFetch = await fetch(`http://127.0.0.1:${port}/topics/sentences/records`, { method: 'POST', headers: json, body: big });
    assert.equal(viaFetch.status, 413);

    // 'A\xff' and 'A\xfe' used to become the same 'A\ufffd'.
    const bytes = Buffer.concat([Buffer.from('[{"key":"A'), Buffer.from([0xff]), Buffer.from('","value":"utf"}]')]);
    const invalid = await call(port, 'POST', '/topics/sentences/records', json, bytes);
    assert.deepEqual([invalid.status, invalid.body.code], [400, 'BAD_REQUEST']);
    assert.match(invalid.body.error!, /UTF-8/);
    assert.equal((await call(port, 'GET', '/stores/counts/range?from=%FF')).status, 400);
    assert.equal((await call(port, 'GET', '/stores/counts/keys/A%FF')).status, 400);
    // The server still takes records.
    assert.equal((await call(port, 'POST', '/topics/sentences/records', json, JSON.stringify([{ key: 's', value: 'fine' }]))).status, 200);
  });
});

test('range queries come in pages with a limit and a cursor, in key order across partitions', async () => {
  await withApp({}, async (port) => {
    const words = Array.from({ length: 2345 }, (_, i) => `w${String(i).padStart(5, '0')}`);
    const sentences = [];
    for (let i = 0; i < words.length; i += 100) sentences.push({ key: `s${i}`, value: words.slice(i, i + 100).join(' ') });
    assert.equal((await call(port, 'POST', '/topics/sentences/records', json, JSON.stringify(sentences))).status, 200);
    const pageThrough = async () => {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await call(port, 'GET', `/stores/counts/range?limit=1000${cursor === null ? '' : `&cursor=${cursor}`}`);
        assert.equal(page.status, 200);
        const rows = page.body['rows'] as { key: string; value: number }[];
        assert.ok(rows.length <= 1000);
        seen.push(...rows.map((r) => r.key));
        cursor = page.body['next'] as string | null;
        pages++;
      } while (cursor !== null);
      return { seen, pages };
    };
    let result = await pageThrough();
    await until(async () => (result = await pageThrough()).seen.length >= words.length, 'all words counted');
    const { seen, pages } = result;
    assert.equal(pages, 3);
    assert.deepEqual(seen, words, 'every key once, in order');
    // Bounds and a page size of one.
    const one = await call(port, 'GET', '/stores/counts/range?from=w00010&to=w00020&limit=1');
    assert.deepEqual((one.body['rows'] as { key: string }[]).map((r) => r.key), ['w00010']);
    const two = await call(port, 'GET', `/stores/counts/range?from=w00010&to=w00020&limit=10&cursor=${String(one.body['next'])}`);
    assert.deepEqual((two.body['rows'] as { key: string }[]).map((r) => r.key), words.slice(11, 21));
    assert.equal(two.body['next'], null);
    for (const bad of ['limit=0', 'limit=10001', 'limit=x', 'cursor=zz', 'cursor=abc']) {
      assert.equal((await call(port, 'GET', `/stores/counts/range?${bad}`)).status, 400, bad);
    }
  });
});

test('/metrics shows the counters as of the scrape', async () => {
  await withApp({}, async (port) => {
    const total = (text: string, name: string) => [...text.matchAll(new RegExp(`^${name}\\{[^}]*\\} (\\d+)$`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
    assert.equal(total((await call(port, 'GET', '/metrics')).text, 'tributary_records_out_total'), 0);
    assert.equal((await call(port, 'POST', '/topics/sentences/records', json, JSON.stringify([{ key: 's', value: 'one two three' }]))).status, 200);
    await until(async () => (await call(port, 'GET', '/stores/counts/keys/three')).status === 200, 'counted');
    // Each sentence is read once (+1 for the repartition topic per word) and each count written.
    const text = (await call(port, 'GET', '/metrics')).text;
    assert.equal(total(text, 'tributary_records_in_total'), 4);
    assert.equal(total(text, 'tributary_records_out_total'), 6);
  });
});
