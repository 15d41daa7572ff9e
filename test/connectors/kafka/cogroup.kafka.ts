import { test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StreamsApp } from '../../../index.ts';
import { expected, latest, rounds, topics, write } from '../../engine/runtime/fixtures/cogroup-carts.ts';
import { openLog, unique } from './broker.ts';
import { sameEntries, until } from '../../engine/runtime/fixtures/waiting.ts';

const module = new URL('../../engine/runtime/fixtures/cogroup-carts.ts', import.meta.url);

test('cogroup and a stateful processValues on Kafka: exactly-once counts, state rebuilt from changelogs after a restart', async () => {
  const log = openLog();
  const dir = mkdtempSync(join(tmpdir(), 'tributary-kafka-cogroup-'));
  process.env['CG_CLICKS'] = unique('cg-clicks');
  process.env['CG_PURCHASES'] = unique('cg-purchases');
  process.env['CG_OUT'] = unique('cg-out');
  const applicationId = unique('cg');
  let app: StreamsApp | undefined;
  try {
    const t = topics();
    for (const topic of [t.clicks, t.purchases, t.out]) await log.createTopic(topic, { partitions: 2, cleanupPolicy: 'delete' });
    const [first, second] = rounds();
    await write(log, first, 0);
    app = new StreamsApp({ module }, { applicationId, log, cacheMaxBytes: 0, threads: 2, stateDir: join(dir, 'state-a') });
    await app.start();
    await until(async () => sameEntries(await latest(log), expected(first)), 'the first round aggregated', 90_000, 200);
    await app.close();
    await write(log, second, first.length);
    app = new StreamsApp({ module }, { applicationId, log, cacheMaxBytes: 0, threads: 1, stateDir: join(dir, 'state-b') });
    await app.start();
    await until(async () => sameEntries(await latest(log), expected([...first, ...second])), 'the second round aggregated', 90_000, 200);
  } finally {
    await app?.close();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
    for (const name of ['CG_CLICKS', 'CG_PURCHASES', 'CG_OUT']) delete process.env[name];
  }
});
