import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLog } from '../../../connectors/embedded/index.ts';
import { StreamsApp } from '../../../index.ts';
import { expected, outputs, rounds, topics, write } from './fixtures/versioned-join.ts';
import { until } from './fixtures/waiting.ts';

const module = new URL('./fixtures/versioned-join.ts', import.meta.url);

test('a versioned table and a grace-period join in a StreamsApp on the embedded log: answers as of each purchase, once each, history and buffer restored after a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-vj-'));
  const log = await EmbeddedLog.open({ dir: join(dir, 'log') });
  let app: StreamsApp | undefined;
  try {
    const t = topics();
    for (const topic of [t.tiers, t.purchases, t.out]) await log.createTopic(topic, { partitions: 2, cleanupPolicy: 'delete' });
    const [first, second] = rounds();
    await write(log, first);
    app = new StreamsApp({ module }, { applicationId: 'vj', log, threads: 2, stateDir: join(dir, 'state-a') });
    await app.start();
    // Purchases within an hour of each partition's latest stay buffered: the rest comes out.
    const released = (list: string[]) => list.filter((v) => !/-9@/.test(v));
    await until(async () => JSON.stringify(await outputs(log)) === JSON.stringify(released(expected(first))), 'round one released');
    await app.close();
    await write(log, second);
    app = new StreamsApp({ module }, { applicationId: 'vj', log, threads: 1, stateDir: join(dir, 'state-b') });
    await app.start();
    // The late purchases release everything before them and wait themselves (nothing follows them).
    const all = expected([...first, ...second]).filter((v) => !/-late@/.test(v));
    await until(async () => (await outputs(log)).length >= all.length, 'round two');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(await outputs(log), all);
  } finally {
    await app?.close();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
