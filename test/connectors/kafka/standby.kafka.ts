import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootstrap, openLog, unique } from './broker.ts';
import { startReady, SCALE_CHILD, type ReadyChild } from './children.ts';

const PARTITIONS = 4;
const WORDS = Array.from({ length: 40 }, (_, i) => `w${i}`);

type Child = ReadyChild;
const startChild = (env: Record<string, string>) => startReady(SCALE_CHILD, env);

/** Changelog records each task of the `counts` store replayed when it started, from /metrics. */
async function restored(port: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return new Map([...text.matchAll(/^tributary_restored_records\{task="(\d+_\d+)"\} (\d+)/gm)].map((m) => [m[1]!, Number(m[2])]));
}

async function count(port: number, word: string): Promise<number | undefined> {
  const res = await fetch(`http://127.0.0.1:${port}/stores/counts/keys/${word}`);
  return res.status === 200 ? ((await res.json()) as { value: number }).value : undefined;
}

test('with numStandbyReplicas 1, stale reads are answered by the standby copy while the owner is down, and a task that fails over starts from that copy', { timeout: 240_000 }, async () => {
  const log = openLog();
  const dir = mkdtempSync(join(tmpdir(), 'tributary-standby-'));
  const env = { KAFKA_BOOTSTRAP: bootstrap.join(','), WC_INPUT: unique('sb-in'), WC_OUTPUT: unique('sb-out'), APP_ID: unique('sb-app'), STANDBYS: '1' };
  const children: Child[] = [];
  try {
    await log.createTopic(env.WC_INPUT, { partitions: PARTITIONS, cleanupPolicy: 'delete' });
    await log.createTopic(env.WC_OUTPUT, { partitions: PARTITIONS, cleanupPolicy: 'delete' });
    children.push(await startChild({ ...env, STATE_DIR: join(dir, 'a') }), await startChild({ ...env, STATE_DIR: join(dir, 'b') }));
    // Every word many times: the counts store's changelog grows long.
    const expected = new Map<string, number>();
    for (let round = 0; round < 10; round++) {
      await log.produce(
        WORDS.map((word, i) => {
          expected.set(word, (expected.get(word) ?? 0) + 1);
          return { topic: env.WC_INPUT, partition: i % PARTITIONS, records: [{ key: Buffer.from(`${round}-${i}`), value: Buffer.from(word), timestamp: Date.now() }] };
        }),
      );
    }
    const [a, b] = children as [Child, Child];
    const settled = async (port: number) => {
      const deadline = Date.now() + 90_000;
      while ((await Promise.all(WORDS.map((w) => count(port, w)))).some((n, i) => n !== expected.get(WORDS[i]!))) {
        if (Date.now() > deadline) assert.fail('counts did not settle');
        await new Promise((r) => setTimeout(r, 300));
      }
    };
    await settled(a.port);
    // Let the standbys catch up and reach the disk (they flush about once a second).
    await new Promise((r) => setTimeout(r, 3000));
    const before = await restored(a.port);
    b.process.kill('SIGKILL');
    await b.exited;
    // Until the broker drops b (session timeout), b's partitions have no live owner: a plain
    // query for one of their keys gets 503; with ?stale=true a's standby copy answers.
    const plain = await Promise.all(WORDS.map((w) => fetch(`http://127.0.0.1:${a.port}/stores/counts/keys/${w}`).then((r) => r.status)));
    assert.ok(plain.includes(503), `some words live on b's partitions: ${plain}`);
    for (const word of WORDS) {
      const res = await fetch(`http://127.0.0.1:${a.port}/stores/counts/keys/${word}?stale=true`);
      assert.equal(res.status, 200, `a stale read of ${word}`);
      assert.equal(((await res.json()) as { value: number }).value, expected.get(word), `the standby copy has the count of ${word}`);
    }
    // a takes every task once the broker drops b (session timeout); moved tasks start from the standby copy.
    const deadline = Date.now() + 90_000;
    let after = new Map<string, number>();
    for (;;) {
      after = await restored(a.port);
      const tasks = [...after.keys()].filter((t) => t.startsWith('1_'));
      if (tasks.length === PARTITIONS) break;
      if (Date.now() > deadline) assert.fail(`a did not take over every counting task: ${[...after.keys()]}`);
      await new Promise((r) => setTimeout(r, 300));
    }
    const moved = [...after.keys()].filter((t) => t.startsWith('1_') && !before.has(t));
    assert.ok(moved.length > 0, 'some counting tasks moved from b to a');
    // Without the standby copy a moved task would replay its whole changelog (10 updates per word).
    const full = (WORDS.length * 10) / PARTITIONS;
    for (const t of moved) assert.ok(after.get(t)! < full / 2, `task ${t} replayed ${after.get(t)} changelog records, not ~${full}`);
    await settled(a.port);
  } finally {
    for (const c of children) c.process.kill('SIGKILL');
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
