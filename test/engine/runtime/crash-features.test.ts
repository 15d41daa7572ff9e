/**
 * Crash test of issue 18's stateful features on the embedded log: a child process
 * (fixtures/crash-features-child.ts) runs one application with a foreign-key join, a cogroup
 * followed by a stateful processValues, and a versioned-table join with a grace period
 * (fixtures/crash-features-topology.ts), with exactly-once, and is killed with SIGKILL at seeded
 * random moments, some before it reports RUNNING, while more input is appended between runs. A
 * last run consumes everything (after orders that release the grace buffer), a second one with
 * an empty state directory restores the stores from the changelogs, and then the outputs and
 * stores must equal one uninterrupted run of the same input (test/crash-features-reference.ts).
 *
 * To replay a failure: TRIBUTARY_CRASH_SEED=<seed> node --test test/engine/runtime/crash-features.test.ts
 * (the seed fixes the kill delays and the input; how much is appended and where each kill lands
 * still depend on timing).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EmbeddedLog } from '../../../connectors/embedded/index.ts';
import { partitionKey } from '../../../spi.ts';
import { INPUT_TOPICS, OUTPUT_TOPICS, PARTITIONS, featureTopics } from './fixtures/crash-features-topology.ts';
import { appendInputs, checkFeatures, inputDrawer, flushOrders, readTopic } from '../../crash-features-reference.ts';
import { finalRun, killAll, prng, runKillLoop, startChild } from '../../crash-harness.ts';

const CHILD = fileURLToPath(new URL('./fixtures/crash-features-child.ts', import.meta.url));
const APP = 'cf-app';
const RUNNING_KILLS = 10;
const STARTUP_KILLS = 3;
const PRELOAD = 8_000;
/** Before each restart, input is topped up so at least this many records wait somewhere. */
const BACKLOG_TARGET = 15_000;
const MIN_APPEND = 200;
const T0 = 1_000_000;

/** Records of the inputs and of the internal topics not yet committed by the application. */
async function backlog(log: EmbeddedLog): Promise<number> {
  const committed = await log.committedOffsets(APP);
  const inputs = new Set<string>(INPUT_TOPICS.map((name) => featureTopics()[name]));
  let behind = 0;
  for (const [topic, config] of await log.topics()) {
    if (!inputs.has(topic) && !(topic.startsWith(`${APP}-`) && !topic.endsWith('-changelog'))) continue;
    for (let partition = 0; partition < config.partitions; partition++) {
      const tp = { topic, partition };
      behind += log.offsets(tp).end - (committed.get(partitionKey(tp)) ?? 0);
    }
  }
  return behind;
}

test('foreign-key join, cogroup + processValues and a versioned grace join survive SIGKILL at random moments: exactly the uninterrupted run', { timeout: 300_000 }, async (t) => {
  const seed = Number(process.env['TRIBUTARY_CRASH_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
  const random = prng(seed);
  const inputRandom = prng(seed ^ 0x5bd1e995);
  const banner = `feature crash test seed ${seed} (replay with TRIBUTARY_CRASH_SEED=${seed})`;
  t.diagnostic(banner);
  console.log(banner);
  const dir = mkdtempSync(join(tmpdir(), 'tributary-crash-features-'));
  const env = { CF_LOG_DIR: join(dir, 'log'), CF_APP: APP, CF_PREFIX: 'cf' };
  const began = performance.now();
  const { inputs, drawMany } = inputDrawer(inputRandom);
  let killsWithBacklog = 0;
  const withLog = async <T>(fn: (log: EmbeddedLog) => Promise<T>): Promise<T> => {
    const log = await EmbeddedLog.open({ dir: env.CF_LOG_DIR });
    try {
      return await fn(log);
    } finally {
      await log.close();
    }
  };
  try {
    await withLog(async (log) => {
      const names = featureTopics();
      for (const name of [...INPUT_TOPICS, ...OUTPUT_TOPICS]) await log.createTopic(names[name], { partitions: PARTITIONS, cleanupPolicy: 'delete' });
      await appendInputs(log, drawMany(PRELOAD), 4, T0);
    });
    const topUp = () =>
      withLog(async (log) => {
        const behind = await backlog(log);
        if (behind > 0) killsWithBacklog++;
        const count = Math.max(MIN_APPEND, BACKLOG_TARGET - behind);
        await appendInputs(log, drawMany(count), 2, T0);
        return `backlog ${behind}, appended ${count}`;
      });
    const stats = await runKillLoop({
      seed,
      random,
      runningKills: RUNNING_KILLS,
      startupKills: STARTUP_KILLS,
      start: () => startChild(CHILD, [join(dir, 'state'), 'run'], env),
      beforeRestart: topUp,
      killMinMs: 50,
      killSpreadMs: 600,
      fromFirstCommit: false,
    });
    // The last kill's backlog, then orders far in the future that release every buffered order.
    await withLog(async (log) => {
      const behind = await backlog(log);
      if (behind > 0) killsWithBacklog++;
      stats.runs[stats.runs.length - 1] += `; backlog ${behind}`;
      const flush = flushOrders(inputs.length);
      inputs.push(...flush);
      await appendInputs(log, flush, 1, T0);
    });

    const stores: Record<string, Record<string, unknown>>[] = [];
    for (const [pass, stateDir] of [
      ['final', join(dir, 'state')],
      ['restore-only', join(dir, 'fresh-state')],
    ] as const) {
      stores.push(await finalRun(() => startChild(CHILD, [stateDir, 'final'], env), pass, seed, 90_000));
    }

    const counts = await withLog(async (log) => {
      assert.equal(await backlog(log), 0, 'everything consumed and committed');
      const names = featureTopics();
      return checkFeatures({
        seed,
        inputs,
        outputs: { fk: await readTopic(log, names.fkOut), carts: await readTopic(log, names.cartsOut), orders: await readTopic(log, names.ordersOut) },
        stores,
      });
    });

    const total = RUNNING_KILLS + STARTUP_KILLS;
    const summary =
      `seed ${seed}: ${total} SIGKILLs (${stats.runningKills} after RUNNING, ${stats.startupKills} before), ${killsWithBacklog} with input still uncommitted, ` +
      `${stats.killsAfterDone} after the child had caught up; ${inputs.length} input records; checked ${JSON.stringify(counts)}; ${Math.round(performance.now() - began)} ms\n${stats.runs.join('\n')}`;
    t.diagnostic(summary);
    console.log(summary);
    assert.ok(stats.startupKills >= 1, `at least one kill before RUNNING (seed ${seed})`);
    assert.ok(killsWithBacklog >= total / 2, `most kills happen under load (seed ${seed}): ${killsWithBacklog} of ${total}`);
  } finally {
    await killAll();
    rmSync(dir, { recursive: true, force: true });
  }
});
