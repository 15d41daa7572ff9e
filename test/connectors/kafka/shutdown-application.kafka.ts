/**
 * SHUTDOWN_APPLICATION across processes (issue 15, item 5): two processes share word count on
 * Kafka; a record makes the processor of one of them throw; its handler answers
 * SHUTDOWN_APPLICATION, it rejoins the group with a shutdown request, and the other process,
 * which never failed itself, shuts down too (APPLICATION_SHUTDOWN).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootstrap, openLog, unique } from './broker.ts';
import { spawnChild, SHUTDOWN_CHILD, type AppChild } from './children.ts';

type Child = AppChild;
const startChild = (env: Record<string, string>) => spawnChild(SHUTDOWN_CHILD, env);

async function until(check: () => boolean, what: string, children: Child[]): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}:\n${children.map((c, i) => `child ${i}:\n${c.lines.join('\n')}`).join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('SHUTDOWN_APPLICATION from one process shuts down every process of the application', { timeout: 240_000 }, async () => {
  const log = openLog();
  const dir = mkdtempSync(join(tmpdir(), 'tributary-shutdown-app-'));
  const env = { KAFKA_BOOTSTRAP: bootstrap.join(','), WC_INPUT: unique('boom-in'), WC_OUTPUT: unique('boom-out'), APP_ID: unique('boom-app') };
  const children: Child[] = [];
  try {
    await log.createTopic(env.WC_INPUT, { partitions: 2, cleanupPolicy: 'delete' });
    await log.createTopic(env.WC_OUTPUT, { partitions: 2, cleanupPolicy: 'delete' });
    for (const name of ['a', 'b']) children.push(startChild({ ...env, STATE_DIR: join(dir, name) }));
    await until(() => children.every((c) => c.lines.includes('READY')), 'both processes RUNNING', children);
    // The group is settled when the two processes run the four tasks between them, two each
    // (sub-topology 0 reads the input, 1 the repartition topic): then exactly one of them reads
    // the partition that gets "boom".
    const tasksOf = (c: Child) => c.lines.findLast((l) => l.startsWith('TASKS '))?.slice(6).split(',') ?? [];
    await until(() => {
      const [a, b] = children.map(tasksOf);
      return a!.length === 2 && b!.length === 2 && a!.every((t) => !b!.includes(t)) && children.every((c) => c.lines.findLast((l) => l.startsWith('STATE ')) === 'STATE RUNNING');
    }, 'the group settled', children);
    await log.produce([0, 1].map((partition) => ({ topic: env.WC_INPUT, partition, records: [{ key: Buffer.from(`k${partition}`), value: Buffer.from(partition === 0 ? 'boom' : 'fine words'), timestamp: 1 }] })));
    await until(() => children.every((c) => c.lines.includes('STATE NOT_RUNNING')), 'both processes shut down', children);
    const codes = children.map((c) => c.lines.find((l) => l.startsWith('FAILED '))?.slice('FAILED '.length)).sort();
    // One failed itself (the processor threw), the other was asked to shut down by the group.
    assert.deepEqual(codes, ['APPLICATION_SHUTDOWN', 'PROCESSING_FAILED'], children.map((c) => c.lines.join('\n')).join('\n---\n'));
    await Promise.all(children.map((c) => c.exited));
  } finally {
    for (const c of children) c.kill();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
