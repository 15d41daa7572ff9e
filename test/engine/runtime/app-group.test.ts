import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SHUTDOWN_REQUESTED, WARMUP_TOPIC, assignGroup, decodeMetadata, encodeMetadata, readAssignment, type MemberMetadata } from '../../../engine/runtime/app-group.ts';
import type { TaskSpec } from '../../../engine/runtime/messages.ts';
import type { GroupAssignment, TopicPartition } from '../../../engine/log.ts';

const tasks: TaskSpec[] = Array.from({ length: 4 }, (_, p) => ({ id: `0_${p}`, subtopology: 0, partition: p, inputs: [{ topic: 'in', partition: p }] }));
const member = (memberId: string, md: Partial<MemberMetadata> = {}) => ({
  memberId,
  metadata: encodeMetadata({ processId: memberId, endpoint: `${memberId}:80`, threads: 1, tasks: [], ...md }),
});
const taskIds = (partitions: readonly TopicPartition[] | undefined) => (partitions ?? []).map((tp) => `0_${tp.partition}`).sort();

test('the leader keeps tasks with the members that run them and splits the rest', () => {
  const result = assignGroup([member('a', { tasks: ['0_0', '0_1'], owned: ['0_0', '0_1'] }), member('b')], tasks, new Set());
  assert.deepEqual(taskIds(result.get('a')), ['0_0', '0_1']);
  assert.deepEqual(taskIds(result.get('b')), ['0_2', '0_3']);
});

test('cooperative: a task that moves is given to no one until its owner lets it go', () => {
  // a runs everything; b joins: two tasks must move, and are withheld in this generation.
  const first = assignGroup([member('a', { tasks: tasks.map((t) => t.id), owned: tasks.map((t) => t.id) }), member('b')], tasks, new Set());
  assert.equal(taskIds(first.get('a')).length, 2);
  assert.deepEqual(taskIds(first.get('b')), []);
  // a has let them go (no longer owned): the next generation gives them to b.
  const kept = taskIds(first.get('a'));
  const second = assignGroup([member('a', { tasks: kept, owned: kept }), member('b')], tasks, new Set());
  assert.deepEqual(taskIds(second.get('a')), kept);
  assert.deepEqual(taskIds(second.get('b')), tasks.map((t) => t.id).filter((id) => !kept.includes(id)));
});

test('local state counts for tasks nobody runs: the member with the state directory gets the task back', () => {
  const result = assignGroup([member('a'), member('b', { tasks: ['0_3'] })], tasks, new Set(['0_3']));
  assert.ok(taskIds(result.get('b')).includes('0_3'));
});

test('a shutdown request reaches every member in its own assignment, and nobody gets work', () => {
  const result = assignGroup([member('a', { shutdown: true }), member('b', { owned: ['0_1'] })], tasks, new Set());
  assert.deepEqual(result.get('a'), [SHUTDOWN_REQUESTED]);
  assert.deepEqual(result.get('b'), [SHUTDOWN_REQUESTED]);
});

test('metadata that cannot be read counts as a member with nothing', () => {
  assert.deepEqual(decodeMetadata(Buffer.from('not json')), { processId: '', endpoint: null, threads: 1, tasks: [] });
});

test('reading an assignment: my tasks, where the others run, and standbys on the next members in id order', () => {
  const members = ['b', 'c', 'a'].map((id, i) => ({ ...member(id), partitions: tasks.filter((_, p) => p % 3 === i).flatMap((t) => t.inputs) }));
  const assignment = (me: string): GroupAssignment => ({ generationId: 7, memberId: me, partitions: members.find((m) => m.memberId === me)!.partitions, members });
  const a = readAssignment(assignment('a'), tasks, 1);
  assert.deepEqual(a.member, { generationId: 7, memberId: 'a' });
  assert.deepEqual(a.tasks.map((t) => t.id), ['0_2']);
  assert.deepEqual([...a.remote.active].sort(), [
    ['0_0', 'b:80'],
    ['0_1', 'c:80'],
    ['0_3', 'b:80'],
  ]);
  // Sorted ids a, b, c: a's task is copied to b, b's to c, c's to a.
  assert.deepEqual(a.standbys.map((t) => t.id), ['0_1']);
  assert.deepEqual([...a.remote.standbys].sort(), [
    ['0_0', ['c:80']],
    ['0_2', ['b:80']],
    ['0_3', ['c:80']],
  ]);
  // Every member computes the same placement: each task has exactly one standby, never on its owner.
  const all = ['a', 'b', 'c'].flatMap((me) => readAssignment(assignment(me), tasks, 1).standbys.map((t) => [t.id, me]));
  assert.equal(all.length, tasks.length);
  for (const [task, host] of all) assert.notEqual(readAssignment(assignment(host!), tasks, 1).tasks.some((t) => t.id === task), true);
  // No more copies than other members.
  assert.equal(readAssignment(assignment('a'), tasks, 5).standbys.length, readAssignment(assignment('a'), tasks, 2).standbys.length);
});

test('KIP-441: a task with state stays with its owner until the new member has a caught-up copy; warm-ups at most maxWarmupReplicas', () => {
  const all = tasks.map((t) => t.id);
  const stateful = new Set(all);
  const members = (bCaughtUp: string[]) => [member('a', { tasks: all, owned: all }), member('b', { caughtUp: bCaughtUp })];
  // b joins: the balance moves two tasks to b, but b has no state: a keeps all four, b warms up two.
  const first = assignGroup(members([]), tasks, stateful);
  assert.deepEqual(taskIds(first.get('a')), all);
  const warm = (first.get('b') ?? []).filter((tp) => tp.topic === WARMUP_TOPIC).map((tp) => tasks[tp.partition]!.id);
  assert.equal(warm.length, 2);
  assert.deepEqual(taskIds(first.get('b')?.filter((tp) => tp.topic !== WARMUP_TOPIC)), []);
  // Only one warm-up at a time when asked.
  assert.equal((assignGroup(members([]), tasks, stateful, { maxWarmupReplicas: 1 }).get('b') ?? []).filter((tp) => tp.topic === WARMUP_TOPIC).length, 1);
  // b's copies caught up: the tasks move (cooperatively: withheld from both in this generation).
  const second = assignGroup(members(warm), tasks, stateful);
  assert.deepEqual(taskIds(second.get('a')), all.filter((id) => !warm.includes(id)));
  assert.deepEqual(second.get('b'), []);
  // maxWarmupReplicas 0: moves at once, as without KIP-441.
  const eager = assignGroup(members([]), tasks, stateful, { maxWarmupReplicas: 0 });
  assert.equal(taskIds(eager.get('a')).length, 2);
  assert.deepEqual(eager.get('b'), []);
  // The member reads its warm-ups as standbys.
  const assignment: GroupAssignment = { generationId: 3, memberId: 'b', partitions: first.get('b')!, members: [{ ...member('a'), partitions: first.get('a')! }, { ...member('b'), partitions: first.get('b')! }] };
  const update = readAssignment(assignment, tasks, 0);
  assert.deepEqual(update.tasks, []);
  assert.deepEqual(update.warmups, warm);
  assert.deepEqual(update.standbys.map((t) => t.id), warm);
});
