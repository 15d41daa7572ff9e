import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StreamsApp } from '../../../index.ts';
import { expected, outputs, rounds, topics, write } from '../../engine/runtime/fixtures/versioned-join.ts';
import { openLog, unique } from './broker.ts';
import { until } from '../../engine/runtime/fixtures/waiting.ts';

const module = new URL('../../engine/runtime/fixtures/versioned-join.ts', import.meta.url);

test('a versioned table and a grace-period join on Kafka: answers as of each purchase, once each, history and buffer restored after a restart', async () => {
  const log = openLog();
  const dir = mkdtempSync(join(tmpdir(), 'tributary-kafka-vj-'));
  process.env['VJ_TIERS'] = unique('vj-tiers');
  process.env['VJ_PURCHASES'] = unique('vj-purchases');
  process.env['VJ_OUT'] = unique('vj-out');
  const applicationId = unique('vj');
  let app: StreamsApp | undefined;
  try {
    const t = topics();
    for (const topic of [t.tiers, t.purchases, t.out]) await log.createTopic(topic, { partitions: 2, cleanupPolicy: 'delete' });
    const [first, second] = rounds();
    await write(log, first);
    app = new StreamsApp({ module }, { applicationId, log, threads: 2, stateDir: join(dir, 'state-a') });
    await app.start();
    const released = expected(first).filter((v) => !/-9@/.test(v));
    await until(async () => JSON.stringify(await outputs(log)) === JSON.stringify(released), 'round one released', 90_000, 200);
    await app.close();
    await write(log, second);
    app = new StreamsApp({ module }, { applicationId, log, threads: 1, stateDir: join(dir, 'state-b') });
    await app.start();
    const all = expected([...first, ...second]).filter((v) => !/-late@/.test(v));
    await until(async () => (await outputs(log)).length >= all.length, 'round two', 90_000, 200);
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(await outputs(log), all);
  } finally {
    await app?.close();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
    for (const name of ['VJ_TIERS', 'VJ_PURCHASES', 'VJ_OUT']) delete process.env[name];
  }
});
