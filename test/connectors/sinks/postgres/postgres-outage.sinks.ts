/**
 * Outage test on the real server: two sinks (an upsert table and an append table) run while input
 * keeps arriving; the PostgreSQL server is stopped mid-run (pg_ctl stop, as `npm run postgres:stop`
 * does), stays down for a few seconds and is started again. While it is down each sink's breaker
 * opens, the runners stop fetching (at most one batch in memory) while the log grows and the lag
 * shows it; once it is back they catch up, and the tables hold exactly the input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startPostgres, stopPostgres } from '../../../../scripts/postgres-server.ts';
import type { SinkEvent } from '../../../../connectors/sinks/index.ts';
import { connection, endOffsets, produceReadings, query, unique, withEmbeddedLog } from './server.ts';
import { allSink, latestSink, readingRunner } from './fixtures/reading-sinks.ts';

const PARTITIONS = 3;
const MAX_RECORDS = 200;

async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test('the real server stopped mid-run: breakers open, fetching pauses with one batch at most in memory, and after the restart the sinks catch up with exact counts', { timeout: 120_000 }, async () => {
  await withEmbeddedLog(async (log, track) => {
    const prefix = unique('outage');
    await log.createTopic('readings', { partitions: PARTITIONS, cleanupPolicy: 'delete' });
    const latest = track(readingRunner(log, 'readings', latestSink(connection, prefix), { batch: { maxRecords: MAX_RECORDS, lingerMs: 20 } }));
    const all = track(readingRunner(log, 'readings', allSink(connection, prefix), { batch: { maxRecords: MAX_RECORDS, lingerMs: 20 } }));
    const runners = [latest, all];
    const events: SinkEvent[] = [];
    for (const r of runners) r.onEvent((e) => e.kind !== 'written' && events.push(e));
    await Promise.all(runners.map((r) => r.start()));

    // Input keeps arriving: 50 readings every 20 ms, until told to stop (bounded: at most 60 s).
    let produced = 0;
    let producing = true;
    const producer = (async () => {
      const until = Date.now() + 60_000;
      while (producing && Date.now() < until) {
        produced = await produceReadings(log, 'readings', PARTITIONS, produced, 50);
        await sleep(20);
      }
    })();

    let restarted = false;
    try {
      await until('some rows written', () => all.status().counters.recordsWritten >= 1000);
      assert.equal(await stopPostgres(), true, 'the server ran');
      await until('both breakers open', () => runners.every((r) => r.status().breaker === 'open'));
      for (const r of runners) assert.equal(r.status().state, 'PAUSED');
      const fetches = runners.map((r) => r.status().counters.fetches);
      const producedAtOpen = produced;
      // Down for a few seconds: input keeps arriving, the runners fetch nothing and hold at most one batch.
      for (let i = 0; i < 30; i++) {
        await sleep(100);
        for (const [j, r] of runners.entries()) {
          const s = r.status();
          assert.ok(s.inFlight <= MAX_RECORDS, `${s.sink} holds ${s.inFlight} records`);
          assert.equal(s.counters.fetches, fetches[j], `${s.sink} fetched while the target was down`);
          assert.notEqual(s.state, 'RUNNING');
        }
      }
      assert.ok(produced - producedAtOpen >= 1000, 'the log kept growing');
      // The lag is refreshed once a second while paused (end offsets only, no records).
      const mark = produced;
      await sleep(1500);
      const down = all.status();
      assert.equal(down.counters.fetches, fetches[1]);
      assert.ok(down.lag >= mark - producedAtOpen, `the lag (${down.lag}) shows what waits in the log (${mark - producedAtOpen} arrived since the outage)`);
      assert.equal(down.lastError?.code, 'SINK_WRITE_FAILED');
      assert.ok(down.counters.writeFailures >= 3);

      await startPostgres();
      restarted = true;
      await until('both running again', () => runners.every((r) => r.status().state === 'RUNNING' && r.status().breaker === 'closed'));
    } finally {
      producing = false;
      await producer;
      if (!restarted) await startPostgres();
    }
    const ends = await endOffsets(log, 'readings', PARTITIONS);
    await Promise.all(runners.map((r) => r.waitFor(ends, 60_000)));
    for (const r of runners) {
      const s = r.status();
      assert.equal(s.lag, 0);
      assert.ok(s.counters.breakerOpened >= 1);
    }
    const breaker = events.filter((e): e is Extract<SinkEvent, { kind: 'breaker' }> => e.kind === 'breaker').map((e) => e.to);
    assert.ok(breaker.includes('open') && breaker.includes('half-open') && breaker.includes('closed'), breaker.join(' '));

    const [counts] = await query<{ n: string; distinct: string }>(`SELECT count(*) AS n, count(DISTINCT (src_partition, src_offset)) AS distinct FROM ${prefix}_all`);
    assert.equal(Number(counts!.n), produced, 'nothing lost, nothing duplicated');
    assert.equal(Number(counts!.distinct), produced);
    const rows = await query<{ user_id: string; seq: string }>(`SELECT user_id, seq FROM ${prefix}_latest`);
    assert.equal(rows.length, 20);
    for (const r of rows) assert.equal(Number(r.seq), produced - 1 - ((produced - 1 - Number(r.user_id.slice(1))) % 20), r.user_id);
    console.log(`outage: ${produced} readings, ${all.status().counters.writeFailures} failed writes, breaker opened ${all.status().counters.breakerOpened} times`);
    console.log(`exact: ${counts!.n} rows (${counts!.distinct} distinct offsets) in ${prefix}_all for ${produced} records, ${rows.length} users at their latest in ${prefix}_latest`);
  });
});
