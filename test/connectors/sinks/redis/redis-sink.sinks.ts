/**
 * The Redis sink against the real server (`npm run test:sinks` starts it): values as JSON or
 * hashes with their latest state, a TTL refreshed on every update, the cache bounded to the most
 * recently updated keys (the others deleted), tombstones deleting, the offsets written with the
 * values (a new runner resumes from them, not from the log), and two runners of one sink at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { endOffsets, expectedLatest, produceReadings, readingRunner, unique, withEmbeddedLog, type Reading } from '../readings.ts';
import { cachedReadings, readingCache, withRedis } from './server.ts';

const PARTITIONS = 3;

test('values land as JSON with the latest reading per key and a TTL; offsets land with them; a new runner resumes from them, not from the log', async () => {
  await withEmbeddedLog(async (log, track) => {
    await withRedis(async (redis) => {
      const prefix = unique('vals');
      await log.createTopic('readings', { partitions: PARTITIONS, cleanupPolicy: 'delete' });
      let next = await produceReadings(log, 'readings', PARTITIONS, 0, 500);
      const runner = track(readingRunner(log, 'readings', readingCache(prefix)));
      await runner.start();
      assert.equal(runner.status().guarantee, 'exactly-once');
      let ends = await endOffsets(log, 'readings', PARTITIONS);
      await runner.waitFor(ends);
      await runner.close();
      assert.deepEqual(await cachedReadings(redis, prefix), expectedLatest(500));
      assert.deepEqual(JSON.parse((await redis.get(`${prefix}:u7`))!), { user: 'u7', seq: 487 });
      const ttl = await redis.pttl(`${prefix}:u7`);
      assert.ok(ttl > 50_000 && ttl <= 60_000, `ttl ${ttl}`);
      const offsets = await redis.hgetall(`tributary:cache:${prefix}-cache:offsets:readings`);
      assert.deepEqual(new Map(Object.entries(offsets).map(([p, n]) => [Number(p), Number(n)])), ends);
      assert.equal(await redis.zcard(`tributary:cache:${prefix}-cache:active`), 20);

      // The log's copy of the positions is rewound; the runner still resumes from Redis.
      await log.commitOffsets(`sink-${prefix}-cache`, new Map([...ends].map(([p]) => [`readings:${p}`, 0])));
      next = await produceReadings(log, 'readings', PARTITIONS, next, 70);
      const again = track(readingRunner(log, 'readings', readingCache(prefix)));
      await again.start();
      ends = await endOffsets(log, 'readings', PARTITIONS);
      await again.waitFor(ends);
      assert.equal(again.status().counters.recordsWritten, 70, 'only the new records were read');
      await again.close();
      assert.deepEqual(await cachedReadings(redis, prefix), expectedLatest(next));
    });
  });
});

test('hashes hold the latest fields; an update refreshes the TTL; a key not updated expires', async () => {
  await withEmbeddedLog(async (log, track) => {
    await withRedis(async (redis) => {
      const prefix = unique('ttl');
      await log.createTopic('readings', { partitions: 1, cleanupPolicy: 'delete' });
      const runner = track(readingRunner(log, 'readings', readingCache(prefix, { format: 'hash', ttlMs: 1500, value: (r) => ({ seq: r.value!.seq, at: r.timestamp }) })));
      await runner.start();
      await produceReadings(log, 'readings', 1, 0, 2, 2); // u0 seq 0, u1 seq 1
      await runner.waitFor(new Map([[0, 2]]));
      assert.deepEqual(await redis.hgetall(`${prefix}:u1`), { seq: '1', at: String(1_700_000_000_001) });
      await sleep(900);
      // u1 again (seq 3), u0 not: u1's TTL starts over.
      await log.produce([{ topic: 'readings', partition: 0, records: [{ key: Buffer.from('u1'), value: Buffer.from(JSON.stringify({ user: 'u1', seq: 3 } satisfies Reading)), timestamp: 5 }] }]);
      await runner.waitFor(new Map([[0, 3]]));
      const ttl = await redis.pttl(`${prefix}:u1`);
      assert.ok(ttl > 1000, `u1's TTL was refreshed (${ttl} ms left)`);
      assert.deepEqual(await redis.hgetall(`${prefix}:u1`), { seq: '3', at: '5' });
      await sleep(800);
      assert.equal(await redis.exists(`${prefix}:u0`), 0, 'u0 expired');
      assert.equal(await redis.exists(`${prefix}:u1`), 1, 'u1 lives on');
    });
  });
});

test('the cache is bounded to the most recently updated keys: the others are deleted', async () => {
  await withEmbeddedLog(async (log, track) => {
    await withRedis(async (redis) => {
      const prefix = unique('bound');
      await log.createTopic('readings', { partitions: 1, cleanupPolicy: 'delete' });
      const sink = readingCache(prefix, { maxKeys: 5 });
      const runner = track(readingRunner(log, 'readings', sink, { batch: { maxRecords: 4, lingerMs: 1 } }));
      await runner.start();
      // Users u0..u19 once each, in order, in batches of 4: the last five written stay.
      await produceReadings(log, 'readings', 1, 0, 20, 20);
      await runner.waitFor(new Map([[0, 20]]));
      assert.deepEqual([...(await cachedReadings(redis, prefix)).keys()].sort(), ['u15', 'u16', 'u17', 'u18', 'u19']);
      assert.equal(await redis.zcard(`tributary:cache:${prefix}-cache:active`), 5);
      assert.equal(sink.evictedKeys, 15);
      // An update makes a key recent again.
      await log.produce([{ topic: 'readings', partition: 0, records: [{ key: Buffer.from('u3'), value: Buffer.from(JSON.stringify({ user: 'u3', seq: 20 } satisfies Reading)), timestamp: 5 }] }]);
      await runner.waitFor(new Map([[0, 21]]));
      const cached = await cachedReadings(redis, prefix);
      assert.equal(cached.size, 5);
      assert.equal(cached.get('u3'), 20);
    });
  });
});

test('a tombstone deletes the key and its index entry; the key can come back', async () => {
  await withEmbeddedLog(async (log, track) => {
    await withRedis(async (redis) => {
      const prefix = unique('tomb');
      await log.createTopic('readings', { partitions: 1, cleanupPolicy: 'compact' });
      await produceReadings(log, 'readings', 1, 0, 6, 3);
      await log.produce([{ topic: 'readings', partition: 0, records: [{ key: Buffer.from('u1'), value: null, timestamp: 1 }, { key: Buffer.from('u2'), value: null, timestamp: 1 }] }]);
      const runner = track(readingRunner(log, 'readings', readingCache(prefix), { batch: { maxRecords: 5, lingerMs: 1 } }));
      await runner.start();
      await runner.waitFor(new Map([[0, 8]]));
      assert.deepEqual(await cachedReadings(redis, prefix), new Map([['u0', 3]]));
      assert.deepEqual(await redis.zrange(`tributary:cache:${prefix}-cache:active`, 0, -1), [`${prefix}:u0`]);
      await log.produce([{ topic: 'readings', partition: 0, records: [{ key: Buffer.from('u2'), value: Buffer.from(JSON.stringify({ user: 'u2', seq: 9 } satisfies Reading)), timestamp: 2 }] }]);
      await runner.waitFor(new Map([[0, 9]]));
      assert.deepEqual(await cachedReadings(redis, prefix), new Map([['u0', 3], ['u2', 9]]));
    });
  });
});

test('two runners of one sink at once (a zombie and its replacement): WATCH on the offsets orders them, every key ends with its latest value', async () => {
  await withEmbeddedLog(async (log, track) => {
    await withRedis(async (redis) => {
      const prefix = unique('zombie');
      await log.createTopic('readings', { partitions: PARTITIONS, cleanupPolicy: 'delete' });
      await produceReadings(log, 'readings', PARTITIONS, 0, 3000, 200);
      const a = track(readingRunner(log, 'readings', readingCache(prefix), { batch: { maxRecords: 50, lingerMs: 1 } }));
      const b = track(readingRunner(log, 'readings', readingCache(prefix), { batch: { maxRecords: 70, lingerMs: 1 } }));
      await a.start();
      await b.start();
      const ends = await endOffsets(log, 'readings', PARTITIONS);
      await Promise.all([a.waitFor(ends), b.waitFor(ends)]);
      console.log(`zombie: ${a.status().counters.writeFailures + b.status().counters.writeFailures} writes retried after the other runner moved the offsets`);
      assert.deepEqual(await cachedReadings(redis, prefix), expectedLatest(3000, 200));
    });
  });
});
