/**
 * KIP-441 warm-up replicas on the real broker: a process that joins an application whose tasks
 * have state does not take a counting task over cold. The task keeps running on its owner while
 * the newcomer builds a copy; once the copy has caught up the newcomer asks for a rebalance and
 * the task moves, replaying only what the copy lacked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootstrap, openLog, unique } from './broker.ts';
import { startReady, SCALE_CHILD, type ReadyChild } from './children.ts';

const PARTITIONS = 4;
const WORDS = Array.from({ length: 40 }, (_, i) => `w${i}`);
const ROUNDS = 10;

type Child = ReadyChild;
const startChild = (env: Record<string, string>) => startReady(SCALE_CHILD, env);

/** Changelog records each active task replayed when it started on this process, from /metrics. */
async function restored(port: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return new Map([...text.matchAll(/^tributary_restored_records\{task="(\d+_\d+)"\} (\d+)/gm)].map((m) => [m[1]!, Number(m[2])]));
}

async function count(port: number, word: string): Promise<number | undefined> {
  const res = await fetch(`http://127.0.0.1:${port}/stores/counts/keys/${word}`);
  return res.status === 200 ? ((await res.json()) as { value: number }).value : undefined;
}

test('a process that joins gets counting tasks only after its warm-up copies caught up, and restores almost nothing', { timeout: 240_000 }, async () => {
  const log = openLog();
  const dir = mkdtempSync(join(tmpdir(), 'tributary-warmup-'));
  // WARMUPS: the leader's maxWarmupReplicas decides (2 is the default; WARMUP_TEST_REPLICAS=0 shows
  // this test failing without warm-ups).
  const env = { KAFKA_BOOTSTRAP: bootstrap.join(','), WC_INPUT: unique('wu-in'), WC_OUTPUT: unique('wu-out'), APP_ID: unique('wu-app'), WARMUPS: process.env.WARMUP_TEST_REPLICAS ?? '2' };
  const children: Child[] = [];
  try {
    await log.createTopic(env.WC_INPUT, { partitions: PARTITIONS, cleanupPolicy: 'delete' });
    await log.createTopic(env.WC_OUTPUT, { partitions: PARTITIONS, cleanupPolicy: 'delete' });
    const expected = new Map<string, number>();
    const produce = async () => {
      await log.produce(
        WORDS.map((word, i) => {
          expected.set(word, (expected.get(word) ?? 0) + 1);
          return { topic: env.WC_INPUT, partition: i % PARTITIONS, records: [{ key: Buffer.from(`${i}`), value: Buffer.from(word), timestamp: Date.now() }] };
        }),
      );
    };
    const settled = async (port: number) => {
      const deadline = Date.now() + 90_000;
      while ((await Promise.all(WORDS.map((w) => count(port, w)))).some((n, i) => n !== expected.get(WORDS[i]!))) {
        if (Date.now() > deadline) assert.fail('counts did not settle');
        await new Promise((r) => setTimeout(r, 300));
      }
    };
    const a = await startChild({ ...env, STATE_DIR: join(dir, 'a') });
    children.push(a);
    for (let round = 0; round < ROUNDS; round++) await produce();
    await settled(a.port);
    assert.equal([...(await restored(a.port)).keys()].filter((t) => t.startsWith('1_')).length, PARTITIONS, 'a runs every counting task');

    const b = await startChild({ ...env, STATE_DIR: join(dir, 'b') });
    children.push(b);
    // Input keeps arriving while b warms up; a keeps counting it.
    const deadline = Date.now() + 120_000;
    let onB: string[] = [];
    for (;;) {
      await produce();
      onB = [...(await restored(b.port)).keys()].filter((t) => t.startsWith('1_'));
      if (onB.length === PARTITIONS / 2) break;
      if (Date.now() > deadline) assert.fail(`b did not take its share of the counting tasks: ${onB}\n${b.lines.join('\n')}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    // Each counting task's changelog holds about ROUNDS updates per word of its partition; a cold
    // start would replay them all. Started from the warm-up copy, a task replays what arrived
    // since that copy's last flush.
    const full = (WORDS.length / PARTITIONS) * ROUNDS;
    const replayed = await restored(b.port);
    for (const t of onB) assert.ok(replayed.get(t)! < full / 2, `task ${t} replayed ${replayed.get(t)} changelog records on b, not ~${full}: it was not warm`);
    assert.ok(b.lines.some((l) => l.includes('STATE RUNNING')), 'b is running');
    // Nothing lost or counted twice through the moves.
    await settled(a.port);
    await settled(b.port);
  } finally {
    for (const c of children) c.process.kill('SIGKILL');
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
