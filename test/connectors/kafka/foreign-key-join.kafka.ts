import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StreamsApp } from '../../../index.ts';
import { expected, outputTable, rounds, topics, write } from '../../engine/runtime/fixtures/foreign-key-join.ts';
import { openLog, unique } from './broker.ts';
import { sameEntries, until } from '../../engine/runtime/fixtures/waiting.ts';

const module = new URL('../../engine/runtime/fixtures/foreign-key-join.ts', import.meta.url);

test('foreign-key join on Kafka: tables of different partition counts, exactly-once, state rebuilt from changelogs', async () => {
  const log = openLog();
  const dir = mkdtempSync(join(tmpdir(), 'tributary-kafka-fk-'));
  process.env['FK_ITEMS'] = unique('fk-items');
  process.env['FK_BRANDS'] = unique('fk-brands');
  process.env['FK_OUT'] = unique('fk-out');
  const applicationId = unique('fk');
  let app: StreamsApp | undefined;
  try {
    const t = topics();
    await log.createTopic(t.items, { partitions: 3, cleanupPolicy: 'compact' });
    await log.createTopic(t.brands, { partitions: 2, cleanupPolicy: 'compact' });
    await log.createTopic(t.out, { partitions: 3, cleanupPolicy: 'delete' });
    const [first, second] = rounds();
    await write(log, first, 0);
    app = new StreamsApp({ module }, { applicationId, log, threads: 2, stateDir: join(dir, 'state-a') });
    await app.start();
    await until(async () => sameEntries(await outputTable(log), expected(first)), 'the first round joined', 90_000, 200);
    const created = await log.topics();
    assert.equal(created.get(`${applicationId}-item-brand-subscription-registration-topic`)?.partitions, 2);
    assert.equal(created.get(`${applicationId}-item-brand-subscription-response-topic`)?.partitions, 3);
    await app.close();

    await write(log, second, first.length);
    app = new StreamsApp({ module }, { applicationId, log, threads: 1, stateDir: join(dir, 'state-b') });
    await app.start();
    await until(async () => sameEntries(await outputTable(log), expected([...first, ...second])), 'the second round joined', 90_000, 200);
  } finally {
    await app?.close();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
    delete process.env['FK_ITEMS'];
    delete process.env['FK_BRANDS'];
    delete process.env['FK_OUT'];
  }
});
