/**
 * Outage test on the real server: the Redis cache sink runs while input keeps arriving; the Redis
 * server is stopped mid-run (SHUTDOWN, as `npm run redis:stop` does), stays down for a few seconds
 * and is started again. While it is down the breaker opens, the runner pauses (it fetches nothing,
 * holds at most one batch) while the log grows, and the metrics say so (breaker open, state
 * PAUSED, failures counted, lag growing); once it is back the runner catches up, and every key
 * holds its latest value: nothing lost. The offsets in Redis are the end of the log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { startRedis, stopRedis } from '../../../../scripts/redis-server.ts';
import { registerSinkMetrics, type SinkEvent } from '../../../../connectors/sinks/index.ts';
import { endOffsets, expectedLatest, produceReadings, readingRunner, unique, withEmbeddedLog } from '../readings.ts';
import { cachedReadings, readingCache, withRedis } from './server.ts';

const PARTITIONS = 3;
const MAX_RECORDS = 200;
const USERS = 500;

async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** One sample of a metric with the given labels, from the registry's text exposition. */
async function sample(registry: Registry, metric: string, labels: string): Promise<number | undefined> {
  const line = (await registry.metrics()).split('\n').find((l) => l.startsWith(`${metric}{`) && l.includes(labels));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

test('the real Redis stopped mid-run: the breaker opens, the runner pauses and the metrics show it; after the restart every key holds its latest value', { timeout: 120_000 }, async () => {
  await withEmbeddedLog(async (log, track) => {
    const prefix = unique('outage');
    const sinkName = `${prefix}-cache`;
    await log.createTopic('readings', { partitions: PARTITIONS, cleanupPolicy: 'delete' });
    const runner = track(readingRunner(log, 'readings', readingCache(prefix), { batch: { maxRecords: MAX_RECORDS, lingerMs: 20 } }));
    const registry = new Registry();
    registerSinkMetrics(registry, [runner]);
    const events: SinkEvent[] = [];
    runner.onEvent((e) => e.kind !== 'written' && events.push(e));
    await runner.start();

    // Input keeps arriving: 50 readings every 20 ms over 500 users, until told to stop (bounded: at most 60 s).
    let produced = 0;
    let producing = true;
    const producer = (async () => {
      const stopAt = Date.now() + 60_000;
      while (producing && Date.now() < stopAt) {
        produced = await produceReadings(log, 'readings', PARTITIONS, produced, 50, USERS);
        await sleep(20);
      }
    })();

    let restarted = false;
    try {
      await until('some values written', () => runner.status().counters.recordsWritten >= 1000);
      assert.equal(await stopRedis(), true, 'the server ran');
      await until('the breaker open', () => runner.status().breaker === 'open');
      assert.equal(runner.status().state, 'PAUSED');
      const fetches = runner.status().counters.fetches;
      const producedAtOpen = produced;
      // Down for a few seconds: input keeps arriving, the runner fetches nothing and holds at most one batch.
      for (let i = 0; i < 30; i++) {
        await sleep(100);
        const s = runner.status();
        assert.ok(s.inFlight <= MAX_RECORDS, `holds ${s.inFlight} records`);
        assert.equal(s.counters.fetches, fetches, 'fetched while the target was down');
        assert.notEqual(s.state, 'RUNNING');
      }
      assert.ok(produced - producedAtOpen >= 1000, 'the log kept growing');
      const mark = produced;
      await sleep(1500); // the lag is refreshed once a second while paused
      const down = runner.status();
      assert.equal(down.lastError?.code, 'SINK_WRITE_FAILED');
      assert.ok(down.counters.writeFailures >= 3);
      // What an operator sees on /metrics.
      assert.equal(await sample(registry, 'tributary_sink_breaker_state', `state="open"`), 1);
      assert.equal(await sample(registry, 'tributary_sink_state', `state="PAUSED"`), 1);
      assert.ok((await sample(registry, 'tributary_sink_write_failures_total', `sink="${sinkName}"`))! >= 3);
      assert.ok((await sample(registry, 'tributary_sink_breaker_opened_total', `sink="${sinkName}"`))! >= 1);
      const lag = (await sample(registry, 'tributary_sink_lag', `sink="${sinkName}"`))!;
      assert.ok(lag >= mark - producedAtOpen, `the lag metric (${lag}) shows what waits in the log (${mark - producedAtOpen} arrived since the outage)`);

      await startRedis();
      restarted = true;
      await until('running again', () => runner.status().state === 'RUNNING' && runner.status().breaker === 'closed');
      assert.equal(await sample(registry, 'tributary_sink_breaker_state', `state="closed"`), 1);
    } finally {
      producing = false;
      await producer;
      if (!restarted) await startRedis();
    }
    const ends = await endOffsets(log, 'readings', PARTITIONS);
    await runner.waitFor(ends, 60_000);
    assert.equal(runner.status().lag, 0);
    const breaker = events.filter((e): e is Extract<SinkEvent, { kind: 'breaker' }> => e.kind === 'breaker').map((e) => e.to);
    assert.ok(breaker.includes('open') && breaker.includes('half-open') && breaker.includes('closed'), breaker.join(' '));

    await withRedis(async (redis) => {
      assert.deepEqual(await cachedReadings(redis, prefix), expectedLatest(produced, USERS), 'every key holds its latest value');
      const offsets = await redis.hgetall(`tributary:cache:${sinkName}:offsets:readings`);
      assert.deepEqual(new Map(Object.entries(offsets).map(([p, n]) => [Number(p), Number(n)])), ends);
    });
    console.log(`outage: ${produced} readings of ${USERS} users, ${runner.status().counters.writeFailures} failed writes, breaker opened ${runner.status().counters.breakerOpened} times`);
  });
});
