import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLog } from '../../../connectors/embedded/index.ts';
import { StreamsApp } from '../../../index.ts';
import { expected, outputTable, rounds, topics, write } from './fixtures/foreign-key-join.ts';
import { sameEntries, until } from './fixtures/waiting.ts';

const module = new URL('./fixtures/foreign-key-join.ts', import.meta.url);

test('foreign-key join in a StreamsApp on the embedded log: tables of different partition counts, exactly-once, state rebuilt from changelogs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-fk-'));
  const log = await EmbeddedLog.open({ dir: join(dir, 'log') });
  let app: StreamsApp | undefined;
  try {
    const t = topics();
    await log.createTopic(t.items, { partitions: 3, cleanupPolicy: 'compact' });
    await log.createTopic(t.brands, { partitions: 2, cleanupPolicy: 'compact' });
    await log.createTopic(t.out, { partitions: 3, cleanupPolicy: 'delete' });
    const [first, second] = rounds();
    await write(log, first, 0);
    app = new StreamsApp({ module }, { applicationId: 'fk', log, threads: 2, stateDir: join(dir, 'state-a') });
    await app.start();
    await until(async () => sameEntries(await outputTable(log), expected(first)), 'the first round joined');
    // The subscription and response topics take the partition counts of the table they serve.
    const internal = await log.topics();
    assert.equal(internal.get('fk-item-brand-subscription-registration-topic')?.partitions, 2);
    assert.equal(internal.get('fk-item-brand-subscription-response-topic')?.partitions, 3);
    await app.close();

    // A new instance with an empty state directory: the subscription store, both tables and the
    // result table come back from their changelogs before the second round is joined.
    await write(log, second, first.length);
    app = new StreamsApp({ module }, { applicationId: 'fk', log, threads: 1, stateDir: join(dir, 'state-b') });
    await app.start();
    const all = [...first, ...second];
    await until(async () => sameEntries(await outputTable(log), expected(all)), 'the second round joined');
    assert.ok(expected(all).size > 10 && expected(all).size < 30, 'the scenario deletes and un-joins some items');
  } finally {
    await app?.close();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
