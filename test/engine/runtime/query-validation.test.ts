/**
 * Issue 13, finding 1: a malformed query stopped the app (a number where the store's key serde
 * wants a string threw in the stream thread: RUNNING -> ERROR). Queries are now checked before
 * they reach a thread, and whatever a query throws answers that request only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLog } from '../../../connectors/embedded/index.ts';
import { StreamsApp } from '../../../index.ts';
import { validateQuery } from '../../../engine/runtime/queries.ts';

const module = new URL('./fixtures/word-count.ts', import.meta.url);

test('malformed queries get a 400 with a reason and leave the app running and counting', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-query-'));
  const log = await EmbeddedLog.open({ dir });
  const app = new StreamsApp({ module }, { applicationId: 'wc-query', log, threads: 1, http: { port: 0 }, stateDir: join(dir, 'state') });
  try {
    await log.createTopic('sentences', { partitions: 2, cleanupPolicy: 'delete' });
    await log.createTopic('word-counts', { partitions: 2, cleanupPolicy: 'delete' });
    await app.start();
    const base = `http://127.0.0.1:${app.httpAddress!.port}`;
    const internal = async (query: unknown) => {
      const res = await fetch(`${base}/internal/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ store: 'counts', partition: 0, query }) });
      return { status: res.status, body: (await res.json()) as { error?: string } };
    };
    for (const query of [{ type: 'key', key: 1 }, { type: 'range', from: 7 }, { type: 'windows', key: 'a', from: 'x', to: 1 }, { type: 'nope' }, null, 'key']) {
      const answer = await internal(query);
      assert.equal(answer.status, 400, JSON.stringify(query));
      assert.equal(typeof answer.body.error, 'string');
      assert.doesNotMatch(answer.body.error!, /TypeError/);
    }
    // The thread is still there: the app runs and counts.
    const res = await fetch(`${base}/topics/sentences/records`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ key: 's', value: 'cat cat' }]) });
    assert.equal(res.status, 200);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const row = await fetch(`${base}/stores/counts/keys/cat`);
      if (row.status === 200 && ((await row.json()) as { value: number }).value === 2) break;
      if (Date.now() > deadline) assert.fail('cat was not counted');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(app.state, 'RUNNING');
  } finally {
    await app.close();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('validateQuery accepts the four query shapes and names what is wrong with others', () => {
  assert.equal(validateQuery({ type: 'key', key: 'a' }).ok, true);
  assert.equal(validateQuery({ type: 'range' }).ok, true);
  assert.equal(validateQuery({ type: 'windows', key: 'a', from: 0, to: 10 }).ok, true);
  assert.equal(validateQuery({ type: 'sessions', key: 'a' }).ok, true);
  const bad = validateQuery({ type: 'key', key: 1 });
  assert.ok(!bad.ok && /"key" as a string/.test(bad.error));
});
