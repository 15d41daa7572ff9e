import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Serdes, SessionWindows, StreamsBuilder, TimeWindows, type TopicConfig } from '../../../index.ts';
import { planApplication, spreadTasks } from '../../../engine/runtime/plan.ts';
import type { TaskSpec } from '../../../engine/runtime/messages.ts';
import { topology as wordCount } from './fixtures/word-count.ts';

const str = Serdes.string();
const topics = (entries: Record<string, number>): Map<string, TopicConfig> =>
  new Map(Object.entries(entries).map(([name, partitions]) => [name, { partitions, cleanupPolicy: 'delete' as const }]));

test('word count: a task per input partition of each sub-topology, its repartition topic and changelog named after the application', () => {
  const plan = planApplication(wordCount(), topics({ sentences: 3, 'word-counts': 2 }), { applicationId: 'wc' });
  assert.deepEqual(
    plan.tasks.map((t) => [t.id, t.inputs.map((tp) => `${tp.topic}-${tp.partition}`)]),
    [
      ['0_0', ['sentences-0']],
      ['0_1', ['sentences-1']],
      ['0_2', ['sentences-2']],
      ['1_0', [`wc-${repartitionOf(plan.thread.topicNames)}-0`]],
      ['1_1', [`wc-${repartitionOf(plan.thread.topicNames)}-1`]],
      ['1_2', [`wc-${repartitionOf(plan.thread.topicNames)}-2`]],
    ],
  );
  assert.deepEqual([...plan.stateful], ['1_0', '1_1', '1_2']);
  assert.deepEqual([...plan.stores], [['counts', { subtopology: 1, partitions: 3 }]]);
  const created = new Map(plan.create);
  // The repartition topic takes its writer's partition count and is kept until consumed.
  const repartition = Object.values(plan.thread.topicNames)[0]!;
  assert.deepEqual(created.get(repartition), { partitions: 3, cleanupPolicy: 'delete', retentionMs: -1 });
  assert.deepEqual(created.get('wc-counts-changelog'), { partitions: 3, cleanupPolicy: 'compact' });
  assert.equal(plan.thread.changelogs['counts'], 'wc-counts-changelog');
  assert.equal(plan.thread.partitions['wc-counts-changelog'], 3);
  // Defaults: exactly-once, Kafka Streams' commit interval for it, no dead-letter topic.
  assert.equal(plan.thread.processingGuarantee, 'exactly_once_v2');
  assert.equal(plan.thread.commitIntervalMs, 100);
  assert.equal(plan.thread.deadLetterTopic, undefined);
  assert.equal(planApplication(wordCount(), topics({ sentences: 3, 'word-counts': 2 }), { applicationId: 'wc', processingGuarantee: 'at_least_once' }).thread.commitIntervalMs, 30_000);
});

function repartitionOf(names: Readonly<Record<string, string>>): string {
  return Object.keys(names)[0]!;
}

test('window and session stores get a compacted and deleted changelog that keeps what the store keeps plus a day; a dead-letter policy adds its topic once', () => {
  const builder = new StreamsBuilder();
  const grouped = builder.stream('clicks', { key: str, value: str }).groupByKey();
  grouped
    .windowedBy(TimeWindows.ofSizeAndGrace(60_000, 5_000))
    .count({ materialized: 'per-minute' })
    .toStream()
    .foreach(() => {});
  grouped
    .windowedBy(SessionWindows.ofInactivityGapWithNoGrace(30_000))
    .count({ materialized: 'sessions' })
    .toStream()
    .foreach(() => {});
  const plan = planApplication(builder.build(), topics({ clicks: 2 }), { applicationId: 'w', processingExceptionHandler: 'dead-letter' });
  const created = new Map(plan.create);
  const day = 86_400_000;
  // Kafka Streams' rule: the store's retention (here size + grace, and the gap) plus a day.
  assert.deepEqual(created.get('w-per-minute-changelog'), { partitions: 2, cleanupPolicy: 'compact,delete', retentionMs: 65_000 + day });
  assert.deepEqual(created.get('w-sessions-changelog'), { partitions: 2, cleanupPolicy: 'compact,delete', retentionMs: 30_000 + day });
  const shorter = planApplication(builder.build(), topics({ clicks: 2 }), { applicationId: 'w', windowStoreChangelogAdditionalRetentionMs: 0 });
  assert.equal(new Map(shorter.create).get('w-per-minute-changelog')?.retentionMs, 65_000);
  assert.throws(() => planApplication(builder.build(), topics({ clicks: 2 }), { applicationId: 'w', windowStoreChangelogAdditionalRetentionMs: -1 }), { code: 'INVALID_ARGUMENT' });
  assert.deepEqual(created.get('w-dlq'), { partitions: 1, cleanupPolicy: 'delete' });
  assert.equal(plan.thread.deadLetterTopic, 'w-dlq');
  // An existing dead-letter topic is used as it is.
  const existing = planApplication(builder.build(), topics({ clicks: 2, 'w-dlq': 4 }), { applicationId: 'w', processingExceptionHandler: 'dead-letter' });
  assert.equal(new Map(existing.create).has('w-dlq'), false);
  assert.equal(existing.thread.partitions['w-dlq'], 4);
});

test('missing topics, joined topics of different sizes and a changed topology are refused with their codes', () => {
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      return (error as { code?: string }).code;
    }
    return 'no error';
  };
  assert.equal(code(() => planApplication(wordCount(), topics({ 'word-counts': 2 }), { applicationId: 'wc' })), 'UNKNOWN_TOPIC');
  assert.equal(code(() => planApplication(wordCount(), topics({ sentences: 2 }), { applicationId: 'wc' })), 'UNKNOWN_TOPIC');
  // The changelog exists with another partition count: the sources changed since the last run.
  assert.equal(code(() => planApplication(wordCount(), topics({ sentences: 2, 'word-counts': 2, 'wc-counts-changelog': 4 }), { applicationId: 'wc' })), 'TOPIC_CONFLICT');

  const builder = new StreamsBuilder();
  const users = builder.table('users', { key: str, value: str });
  builder.stream('views', { key: str, value: str }).join(users, (v, u) => `${v}:${u}`).to('enriched', { key: str, value: str });
  const join = builder.build();
  assert.equal(code(() => planApplication(join, topics({ users: 2, views: 3, enriched: 1 }), { applicationId: 'j' })), 'INVALID_TOPOLOGY');
  assert.deepEqual(planApplication(join, topics({ users: 3, views: 3, enriched: 1 }), { applicationId: 'j' }).tasks.map((t) => t.inputs.length), [2, 2, 2]);
});

test('spreadTasks: round robin, standbys after the last task, never more threads than tasks', () => {
  const task = (i: number): TaskSpec => ({ id: `0_${i}`, subtopology: 0, partition: i, inputs: [] });
  const ids = (spread: ReturnType<typeof spreadTasks>) => spread.map((s) => [s.tasks.map((t) => t.id), s.standbys.map((t) => t.id)]);
  assert.deepEqual(ids(spreadTasks([task(0), task(1), task(2)], [task(3)], 2)), [
    [['0_0', '0_2'], []],
    [['0_1'], ['0_3']],
  ]);
  assert.deepEqual(ids(spreadTasks([task(0)], [], 4)), [[['0_0'], []]]);
  assert.deepEqual(ids(spreadTasks([], [], 4)), [[[], []]]);
});
