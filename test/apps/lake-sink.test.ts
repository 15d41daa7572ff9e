import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLog } from '../../connectors/embedded/index.ts';
import { LakeSink } from '../../apps/lake-sink.ts';
import { eventSerde, validateEvent, type Event } from '../../apps/events.ts';

const event = (id: string, at: string): Event => {
  const r = validateEvent({ eventId: id, userId: 'u1', type: 'page_view', timestamp: Date.parse(at), itemId: 'i1' });
  if (!r.ok) throw new Error(r.rejection.reason);
  return r.event;
};

function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, prefix: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(d, entry.name), `${prefix}${entry.name}/`);
      else out.push(`${prefix}${entry.name}`);
    }
  };
  walk(dir, '');
  return out.sort();
}

test('the lake sink writes events into date/hour folders, atomically, and a re-run after a crash replaces rather than duplicates', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-lake-'));
  const log = await EmbeddedLog.open({ dir: join(dir, 'log'), cleanIntervalMs: 0 });
  try {
    await log.createTopic('events', { partitions: 1, cleanupPolicy: 'delete' });
    const produce = (events: Event[]) =>
      log.produce([{ topic: 'events', partition: 0, records: events.map((e) => ({ key: Buffer.from(e.userId), value: eventSerde.serialize(e, 'events'), timestamp: e.timestamp })) }]);
    await produce([event('a', '2026-11-22T10:59:00Z'), event('b', '2026-11-22T11:01:00Z'), event('c', '2026-11-23T00:00:00Z')]);
    const lake = join(dir, 'lake');
    const sink = new LakeSink({ log, topic: 'events', partitions: 1, dir: lake });
    assert.equal(await sink.roll(), 3);
    assert.deepEqual(files(lake), [
      'date=2026-11-22/hour=10/part-p0-000000000000.jsonl',
      'date=2026-11-22/hour=11/part-p0-000000000000.jsonl',
      'date=2026-11-23/hour=00/part-p0-000000000000.jsonl',
    ]);
    const lines = readFileSync(join(lake, 'date=2026-11-22/hour=11/part-p0-000000000000.jsonl'), 'utf8').trim().split('\n');
    assert.deepEqual(lines.map((l) => (JSON.parse(l) as Event).eventId), ['b']);
    assert.equal(await sink.roll(), 0, 'nothing new');

    // A crash after the files are in place but before the offsets are committed: the next run
    // writes the same batch (plus what came since) under the same name.
    await produce([event('d', '2026-11-22T10:30:00Z')]);
    await log.commitOffsets('lake-sink', new Map([['events:0', 0]]));
    assert.equal(await new LakeSink({ log, topic: 'events', partitions: 1, dir: lake }).roll(), 4);
    const hour10 = readFileSync(join(lake, 'date=2026-11-22/hour=10/part-p0-000000000000.jsonl'), 'utf8').trim().split('\n');
    assert.deepEqual(hour10.map((l) => (JSON.parse(l) as Event).eventId), ['a', 'd']);
    assert.equal(files(lake).length, 3, 'no duplicate files, and no temporary file left behind');
  } finally {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
