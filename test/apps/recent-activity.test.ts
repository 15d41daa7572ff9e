import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLog } from '../../connectors/embedded/index.ts';
import { eventSerde, validateEvent, type Event } from '../../apps/events.ts';
import { RecentActivity } from '../../apps/recent-activity.ts';

const event = (id: string, userId: string, timestamp: number, type = 'page_view'): Event => {
  const r = validateEvent({ eventId: id, userId, type, timestamp, itemId: 'i1', category: 'books', page: '/item/i1' });
  if (!r.ok) throw new Error(r.rejection.reason);
  return r.event;
};

test('recent activity lists the users with the newest events first, keeps their events in time order, and stays bounded', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-activity-'));
  const log = await EmbeddedLog.open({ dir, cleanIntervalMs: 0 });
  try {
    await log.createTopic('events', { partitions: 2, cleanupPolicy: 'delete' });
    const produce = (partition: number, events: Event[]) =>
      log.produce([{ topic: 'events', partition, records: events.map((e) => ({ key: Buffer.from(e.userId), value: eventSerde.serialize(e, 'events'), timestamp: e.timestamp })) }]);
    const activity = new RecentActivity({ log, topic: 'events', partitions: 2, serde: eventSerde, maxUsers: 3, eventsPerUser: 2, minIntervalMs: 0 });
    await produce(0, [event('1', 'a', 1000), event('2', 'b', 3000)]);
    await produce(1, [event('3', 'c', 2000), event('4', 'a', 1500, 'click')]);
    await activity.refresh();
    assert.deepEqual(activity.active(10).map((u) => [u.userId, u.lastAt, u.events]), [['b', 3000, 1], ['c', 2000, 1], ['a', 1500, 2]]);
    assert.deepEqual(activity.active(1).map((u) => u.userId), ['b']);
    // A late event goes where it belongs in time; only the newest events of a user are kept.
    await produce(0, [event('5', 'a', 1200), event('6', 'a', 1700)]);
    await activity.refresh();
    assert.deepEqual(activity.events('a')!.map((e) => e.at), [1500, 1700]);
    // A fourth user: the least recently updated one (b) is dropped.
    await produce(1, [event('7', 'd', 500)]);
    await activity.refresh();
    assert.deepEqual(activity.active(10).map((u) => u.userId).sort(), ['a', 'c', 'd']);
    assert.equal(activity.events('b'), undefined);
    // A watched user (someone asked for its events) stays when others would push it out.
    activity.events('a');
    await produce(1, [event('8', 'e', 600), event('9', 'f', 700)]);
    await activity.refresh();
    assert.deepEqual(activity.active(10).map((u) => u.userId).sort(), ['a', 'e', 'f']);
  } finally {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a refresh reads at most the tail of each partition', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-activity-'));
  const log = await EmbeddedLog.open({ dir, cleanIntervalMs: 0 });
  try {
    await log.createTopic('events', { partitions: 1, cleanupPolicy: 'delete' });
    const events = Array.from({ length: 50 }, (_, i) => event(String(i), `u${i}`, 1000 + i));
    await log.produce([{ topic: 'events', partition: 0, records: events.map((e) => ({ key: Buffer.from(e.userId), value: eventSerde.serialize(e, 'events'), timestamp: e.timestamp })) }]);
    const activity = new RecentActivity({ log, topic: 'events', partitions: 1, serde: eventSerde, tailRecords: 10, minIntervalMs: 0 });
    await activity.refresh();
    assert.deepEqual(activity.active(100).map((u) => u.userId), Array.from({ length: 10 }, (_, i) => `u${49 - i}`));
  } finally {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
