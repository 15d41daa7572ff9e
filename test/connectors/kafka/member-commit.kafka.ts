/**
 * At-least-once commits as a group member (issue 15, item 4): KafkaLog.commitOffsets with the
 * member's generation is taken while that generation lasts and refused with TASK_MIGRATED once the
 * group has moved on, so a process that lost its partitions cannot move their offsets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GroupAssignment } from '../../../spi.ts';
import { openLog, unique } from './broker.ts';

test('commitOffsets with a member: accepted in its generation, TASK_MIGRATED after a rebalance', { timeout: 120_000 }, async () => {
  const log = openLog();
  const topic = unique('member-commit');
  const group = unique('member-group');
  try {
    await log.createTopic(topic, { partitions: 2, cleanupPolicy: 'delete' });
    const assignments: GroupAssignment[] = [];
    const join = () =>
      log.joinGroup({
        groupId: group,
        topics: [topic],
        metadata: () => new Uint8Array(),
        assign: (members) => new Map(members.map((m, i) => [m.memberId, i === 0 ? [{ topic, partition: 0 }, { topic, partition: 1 }] : []])),
        onAssignment: (a) => assignments.push(a),
        onError: () => {},
        sessionTimeoutMs: 6_000,
      });
    const first = await join();
    const deadline = Date.now() + 60_000;
    while (assignments.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const old = assignments.at(-1)!;
    await log.commitOffsets(group, new Map([[`${topic}:0`, 5]]), undefined, { member: { generationId: old.generationId, memberId: old.memberId } });
    assert.equal((await log.committedOffsets(group)).get(`${topic}:0`), 5);

    // A second member joins: a new generation; the first member's old generation is over.
    const second = await join();
    while (!assignments.some((a) => a.generationId > old.generationId) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await assert.rejects(
      log.commitOffsets(group, new Map([[`${topic}:0`, 9]]), undefined, { member: { generationId: old.generationId, memberId: old.memberId } }),
      (error: { code?: string }) => error.code === 'TASK_MIGRATED',
    );
    assert.equal((await log.committedOffsets(group)).get(`${topic}:0`), 5, 'the refused commit moved nothing');
    await second.leave();
    await first.leave();
  } finally {
    await log.close();
  }
});
