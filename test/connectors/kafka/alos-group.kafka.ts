/**
 * Issue 15, item 4: processes of an at-least-once application join the group too. Before, each
 * process ran every task, so two processes counted every word twice. Now they split the tasks
 * (each task run by one process), their commits carry the member's generation, and the
 * counts match the input once the group is stable.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Serdes } from '../../../index.ts';
import { bootstrap, openLog, unique } from './broker.ts';
import { spawnChild, SCALE_CHILD, type AppChild } from './children.ts';

const PARTITIONS = 4;
const WORDS = ['stream', 'table', 'window', 'join', 'state', 'commit'];

type Child = AppChild;
const startChild = (env: Record<string, string>) => spawnChild(SCALE_CHILD, env);

async function until(check: () => Promise<boolean> | boolean, what: string, children: Child[]): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}:\n${children.map((c, i) => `child ${i}:\n${c.lines.join('\n')}`).join('\n')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('two at-least-once processes on Kafka split the tasks and count every word once', { timeout: 240_000 }, async () => {
  const log = openLog();
  const dir = mkdtempSync(join(tmpdir(), 'tributary-alos-'));
  const env = { KAFKA_BOOTSTRAP: bootstrap.join(','), WC_INPUT: unique('alos-in'), WC_OUTPUT: unique('alos-out'), APP_ID: unique('alos-app'), GUARANTEE: 'at_least_once' };
  const children: Child[] = [];
  try {
    await log.createTopic(env.WC_INPUT, { partitions: PARTITIONS, cleanupPolicy: 'delete' });
    await log.createTopic(env.WC_OUTPUT, { partitions: PARTITIONS, cleanupPolicy: 'delete' });
    for (const name of ['a', 'b']) children.push(startChild({ ...env, STATE_DIR: join(dir, name) }));
    await until(() => children.every((c) => c.lines.some((l) => l.startsWith('READY '))), 'both processes RUNNING', children);
    const ports = children.map((c) => c.lines.find((l) => l.startsWith('READY '))!.slice(6));
    // The group is stable when the two processes run the tasks between them, each task once (a
    // process that ran every task itself would list all of them).
    const tasksOf = async (port: string) => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return new Set([...text.matchAll(/^tributary_records_in_total\{task="([^"]+)"\}/gm)].map((m) => m[1]!));
    };
    await until(async () => {
      const [a, b] = await Promise.all(ports.map(tasksOf));
      return a!.size > 0 && b!.size > 0 && [...a!].every((t) => !b!.has(t)) && a!.size + b!.size === 2 * PARTITIONS;
    }, 'the tasks split between the two processes', children);
    const expected = new Map<string, number>();
    const batches = [];
    for (let i = 0; i < 600; i++) {
      const word = WORDS[i % WORDS.length]!;
      expected.set(word, (expected.get(word) ?? 0) + 1);
      batches.push({ topic: env.WC_INPUT, partition: i % PARTITIONS, records: [{ key: Buffer.from(`k${i}`), value: Buffer.from(word), timestamp: 1000 + i }] });
    }
    await log.produce(batches);
    // Both processes answer for every word (routed to the owner) with the count of the input: a
    // process that ran every task itself would count each word twice in the output and its store.
    for (const port of ports) {
      await until(async () => {
        for (const [word, n] of expected) {
          const res = await fetch(`http://127.0.0.1:${port}/stores/counts/keys/${word}`);
          if (res.status !== 200 || ((await res.json()) as { value: number }).value !== n) return false;
        }
        return true;
      }, `process on ${port} answers every count`, children);
    }
    // The store answers as soon as a record is processed; its output may still be in the
    // producer's batch, so read the output topic until it catches up.
    const str = Serdes.string();
    const num = Serdes.number();
    const highest = async () => {
      const last = new Map<string, number>();
      for (let p = 0; p < PARTITIONS; p++) {
        for (let offset = 0; ; ) {
          const r = await log.fetch({ topic: env.WC_OUTPUT, partition: p }, offset);
          for (const rec of r.records) last.set(str.deserialize(rec.key!, ''), Math.max(last.get(str.deserialize(rec.key!, '')) ?? 0, num.deserialize(rec.value!, '')));
          if (r.nextOffset >= r.endOffset) break;
          offset = r.nextOffset;
        }
      }
      return [...last].sort();
    };
    await until(async () => {
      const counts = await highest();
      return counts.length === expected.size && counts.every(([word, n]) => n >= expected.get(word)!);
    }, 'the output to catch up', children);
    assert.deepEqual(await highest(), [...expected].sort(), 'the highest count of each word in the output is the input count');
  } finally {
    for (const c of children) c.kill();
    await Promise.all(children.map((c) => c.exited));
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
