/**
 * Crash test of issue 18's stateful features on a real Kafka broker: the child of the embedded
 * log's feature crash test (test/engine/runtime/fixtures/crash-features-child.ts, with CF_KAFKA=1)
 * runs one application with a foreign-key join, a cogroup followed by a stateful processValues,
 * and a versioned-table join with a grace period, with exactly-once and two stream threads (each
 * with its own transactional producer), and is killed with SIGKILL at seeded random moments, some
 * before it reports RUNNING, while more input is appended between runs. A last run consumes
 * everything (after orders that release the grace buffer), a second one with an empty state
 * directory restores the stores from the changelogs, and then the read-committed outputs and the
 * stores must equal one uninterrupted run of the same input (test/crash-features-reference.ts).
 *
 * Every run uses fresh topic and application names. To replay a failure:
 *   TRIBUTARY_CRASH_SEED=<seed> node --test test/connectors/kafka/crash-features.kafka.ts
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Admin } from '@platformatic/kafka';
import type { KafkaLog } from '../../../connectors/kafka/index.ts';
import { partitionKey, type GroupOffsets } from '../../../spi.ts';
import { INPUT_TOPICS, OUTPUT_TOPICS, PARTITIONS, featureTopics } from '../../engine/runtime/fixtures/crash-features-topology.ts';
import { appendInputs, checkFeatures, inputDrawer, flushOrders, readTopic } from '../../crash-features-reference.ts';
import { finalRun, killAll, prng, runKillLoop, startChild } from '../../crash-harness.ts';
import { bootstrap, openLog, unique } from './broker.ts';

const CHILD = fileURLToPath(new URL('../../engine/runtime/fixtures/crash-features-child.ts', import.meta.url));
/** Fewer kills than on the embedded log: a restart on Kafka takes seconds. */
const RUNNING_KILLS = 6;
const STARTUP_KILLS = 2;
const PRELOAD = 8_000;
const BACKLOG_TARGET = 15_000;
const MIN_APPEND = 200;

/**
 * Offsets the application committed, for the statistics between runs: without requireStable, as
 * the aggregate crash test explains (a killed instance's pending offsets stay unstable until the
 * next instance fences it). The final check uses KafkaLog's stable reads.
 */
async function lastCommitted(admin: Admin, group: string): Promise<GroupOffsets> {
  const out = new Map<string, number>();
  for (const g of await admin.listConsumerGroupOffsets({ groups: [group], requireStable: false })) {
    for (const t of g.topics) for (const p of t.partitions) if (p.committedOffset >= 0n) out.set(`${t.name}:${p.partitionIndex}`, Number(p.committedOffset));
  }
  return out;
}

/** Records of the inputs (by offsets) and of the internal topics (read after the committed offsets) not yet consumed. */
async function backlog(log: KafkaLog, app: string, committed: GroupOffsets): Promise<number> {
  let behind = 0;
  const names = featureTopics();
  for (const name of INPUT_TOPICS) {
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const tp = { topic: names[name], partition };
      const { endOffset } = await log.fetch(tp, 0, { maxRecords: 0 });
      behind += endOffset - (committed.get(partitionKey(tp)) ?? 0);
    }
  }
  for (const topic of (await log.topics()).keys()) {
    if (!topic.startsWith(`${app}-`) || topic.endsWith('-changelog')) continue;
    behind += (await readTopic(log, topic, (partition) => committed.get(partitionKey({ topic, partition })) ?? 0)).length;
  }
  return behind;
}

test('on Kafka, foreign-key join, cogroup + processValues and a versioned grace join survive SIGKILL at random moments: exactly the uninterrupted run', { timeout: 420_000 }, async (t) => {
  const seed = Number(process.env['TRIBUTARY_CRASH_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
  const random = prng(seed);
  const inputRandom = prng(seed ^ 0x5bd1e995);
  const app = unique('cf-app');
  // Topic names come from the environment: the child inherits it, and so does this process's featureTopics().
  process.env['CF_PREFIX'] = unique('cf');
  const env = { CF_KAFKA: '1', CF_APP: app, CF_PREFIX: process.env['CF_PREFIX'] };
  const banner = `Kafka feature crash test seed ${seed} (replay with TRIBUTARY_CRASH_SEED=${seed}); application ${app}`;
  t.diagnostic(banner);
  console.log(banner);
  // Current record times, so a broker with time retention keeps everything (even ms: see drawInput).
  const t0 = Math.floor(Date.now() / 1000) * 1000;
  const dir = mkdtempSync(join(tmpdir(), 'tributary-kafka-crash-features-'));
  const began = performance.now();
  const { inputs, drawMany } = inputDrawer(inputRandom);
  let killsWithBacklog = 0;
  const log = openLog(unique('cf-test'));
  const admin = new Admin({ bootstrapBrokers: bootstrap, clientId: unique('cf-test-stats') });
  try {
    const names = featureTopics();
    for (const name of [...INPUT_TOPICS, ...OUTPUT_TOPICS]) await log.createTopic(names[name], { partitions: PARTITIONS, cleanupPolicy: 'delete' });
    await appendInputs(log, drawMany(PRELOAD), 4, t0);
    const stats = await runKillLoop({
      seed,
      random,
      runningKills: RUNNING_KILLS,
      startupKills: STARTUP_KILLS,
      start: () => startChild(CHILD, [join(dir, 'state'), 'run'], env),
      beforeRestart: async () => {
        const behind = await backlog(log, app, await lastCommitted(admin, app));
        if (behind > 0) killsWithBacklog++;
        const count = Math.max(MIN_APPEND, BACKLOG_TARGET - behind);
        await appendInputs(log, drawMany(count), 2, t0);
        return `backlog ${behind}, appended ${count}`;
      },
      killMinMs: 100,
      killSpreadMs: 1_400,
      fromFirstCommit: true,
    });
    const behind = await backlog(log, app, await lastCommitted(admin, app));
    if (behind > 0) killsWithBacklog++;
    stats.runs[stats.runs.length - 1] += `; backlog ${behind}`;
    const flush = flushOrders(inputs.length);
    inputs.push(...flush);
    await appendInputs(log, flush, 1, t0);

    const stores: Record<string, Record<string, unknown>>[] = [];
    for (const [pass, stateDir] of [
      ['final', join(dir, 'state')],
      ['restore-only', join(dir, 'fresh-state')],
    ] as const) {
      stores.push(await finalRun(() => startChild(CHILD, [stateDir, 'final'], env), pass, seed, 120_000));
    }

    assert.equal(await backlog(log, app, await log.committedOffsets(app)), 0, 'everything consumed and committed');
    const counts = checkFeatures({
      seed,
      inputs,
      outputs: { fk: await readTopic(log, names.fkOut), carts: await readTopic(log, names.cartsOut), orders: await readTopic(log, names.ordersOut) },
      stores,
    });

    const total = RUNNING_KILLS + STARTUP_KILLS;
    const summary =
      `seed ${seed}: ${total} SIGKILLs (${stats.runningKills} after RUNNING, ${stats.killsAfterCommits} of them after the run had committed; ${stats.startupKills} before), ` +
      `${killsWithBacklog} with records still unconsumed, ${stats.killsAfterDone} after the child had caught up; ${inputs.length} input records; ` +
      `checked ${JSON.stringify(counts)}; ${Math.round(performance.now() - began)} ms\n${stats.runs.join('\n')}`;
    t.diagnostic(summary);
    console.log(summary);
    assert.ok(stats.startupKills >= 1, `at least one kill before RUNNING (seed ${seed})`);
    assert.ok(killsWithBacklog >= total / 2, `most kills happen under load (seed ${seed}): ${killsWithBacklog} of ${total}`);
    assert.ok(stats.killsAfterCommits >= RUNNING_KILLS / 2, `most kills after RUNNING land in runs that commit (seed ${seed}): ${stats.killsAfterCommits} of ${RUNNING_KILLS}`);
  } finally {
    await killAll();
    await Promise.all([log.close(), admin.close()]);
    rmSync(dir, { recursive: true, force: true });
    delete process.env['CF_PREFIX'];
  }
});
