import { test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLog } from '../../../connectors/embedded/index.ts';
import { StreamsApp } from '../../../index.ts';
import { expected, latest, rounds, topics, write } from './fixtures/cogroup-carts.ts';
import { sameEntries, until } from './fixtures/waiting.ts';

const module = new URL('./fixtures/cogroup-carts.ts', import.meta.url);

test('cogroup and a stateful processValues in a StreamsApp on the embedded log: exactly-once counts, state rebuilt from changelogs after a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-cogroup-'));
  const log = await EmbeddedLog.open({ dir: join(dir, 'log') });
  let app: StreamsApp | undefined;
  try {
    const t = topics();
    for (const topic of [t.clicks, t.purchases, t.out]) await log.createTopic(topic, { partitions: 2, cleanupPolicy: 'delete' });
    const [first, second] = rounds();
    await write(log, first, 0);
    app = new StreamsApp({ module }, { applicationId: 'cg', log, threads: 2, stateDir: join(dir, 'state-a') });
    await app.start();
    await until(async () => sameEntries(await latest(log), expected(first)), 'the first round aggregated');
    await app.close();
    // An empty state directory: carts and the update numbers come back from their changelogs; an
    // update number counted twice or lost would show in the third field.
    await write(log, second, first.length);
    app = new StreamsApp({ module }, { applicationId: 'cg', log, threads: 1, stateDir: join(dir, 'state-b') });
    await app.start();
    await until(async () => sameEntries(await latest(log), expected([...first, ...second])), 'the second round aggregated');
  } finally {
    await app?.close();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
