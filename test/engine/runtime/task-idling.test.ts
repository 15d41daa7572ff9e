import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLog } from '../../../connectors/embedded/index.ts';
import { StreamsApp } from '../../../index.ts';

/**
 * A task with several input partitions processes records in timestamp order across them, and
 * waits for a partition whose queue ran dry while the log holds more of it (Kafka Streams'
 * max.task.idle.ms = 0): here the table's 300 profiles are older than every click but come 10 per
 * fetch, so without the wait most clicks would be joined before their profile arrived and dropped.
 */
test('a stream-table join waits for table records the log still holds before joining later stream records', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-idle-'));
  const log = await EmbeddedLog.open({ dir });
  try {
    for (const topic of ['profiles', 'clicks', 'enriched']) await log.createTopic(topic, { partitions: 1, cleanupPolicy: 'delete' });
    const users = 300;
    await log.produce([
      {
        topic: 'profiles',
        partition: 0,
        records: Array.from({ length: users }, (_, u) => ({ key: Buffer.from(`u${u}`), value: Buffer.from(`p${u}`), timestamp: 1_000 + u })),
      },
    ]);
    // Clicks for the users in reverse order, all later than every profile.
    await log.produce([
      {
        topic: 'clicks',
        partition: 0,
        records: Array.from({ length: users }, (_, i) => ({ key: Buffer.from(`u${users - 1 - i}`), value: Buffer.from(`c${i}`), timestamp: 10_000 + i })),
      },
    ]);
    const app = new StreamsApp(
      { module: new URL('./fixtures/enrich.ts', import.meta.url) },
      { applicationId: 'enrich', log, threads: 1, stateDir: false, maxPollRecords: 10 },
    );
    await app.start();
    try {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const committed = await log.committedOffsets('enrich');
        if (committed.get('clicks:0') === users && committed.get('profiles:0') === users) break;
        if (Date.now() > deadline) throw new Error(`timed out: ${JSON.stringify([...committed])}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      await app.close();
    }
    const out: string[] = [];
    for (let offset = 0; ; ) {
      const r = await log.fetch({ topic: 'enriched', partition: 0 }, offset);
      for (const rec of r.records) out.push(Buffer.from(rec.value!).toString());
      if (r.nextOffset >= r.endOffset) break;
      offset = r.nextOffset;
    }
    assert.equal(out.length, users, 'every click found its profile');
    assert.deepEqual(out.slice(0, 3), ['c0@p299', 'c1@p298', 'c2@p297']);
  } finally {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
