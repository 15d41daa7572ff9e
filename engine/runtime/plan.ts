/**
 * What an application needs before any thread starts, computed from the topology and the topics
 * that exist: log names of internal topics, partition counts, the topics to create, the tasks
 * (one per input partition of each sub-topology) and the thread configuration they share. Pure:
 * no I/O, so every rule (missing topics, co-partitioning, topology drift) is unit-tested without
 * threads or a log. Kafka Streams spreads this over InternalTopologyBuilder, RepartitionTopics
 * and ChangelogTopics, run by the leader's assignor; here every process computes the same plan.
 */
import { StreamsError } from '../errors.ts';
import type { TopicConfig } from '../log.ts';
import { changelogTopic, type Topology } from '../topology.ts';
import { DEFAULT_MAX_RECORD_BYTES } from '../internals/stream-task.ts';
import type { ExceptionHandlerRef } from '../error-handlers.ts';
import type { ErrorPolicy, HandlerModule, TaskSpec, ThreadConfig } from './messages.ts';

export interface PlanOptions {
  readonly applicationId: string;
  readonly processingGuarantee?: 'exactly_once_v2' | 'at_least_once';
  readonly commitIntervalMs?: number;
  readonly maxBufferedRecords?: number;
  readonly maxPollRecords?: number;
  readonly deserializationExceptionHandler?: ErrorPolicy | ExceptionHandlerRef;
  readonly processingExceptionHandler?: ErrorPolicy | ExceptionHandlerRef;
  readonly productionExceptionHandler?: ErrorPolicy | ExceptionHandlerRef;
  readonly maxRecordBytes?: number;
  readonly deadLetterTopic?: string;
  readonly windowStoreChangelogAdditionalRetentionMs?: number;
}

/** Kafka Streams' windowstore.changelog.additional.retention.ms default: one day. */
export const DEFAULT_CHANGELOG_ADDITIONAL_RETENTION_MS = 24 * 60 * 60 * 1000;

/** The part of a thread's configuration every thread of the application shares. */
export type ThreadBase = Omit<ThreadConfig, 'threadId' | 'tasks' | 'standbys' | 'readCacheBytes' | 'recordCacheBytes' | 'module' | 'exportName' | 'stateDir' | 'workerLog' | 'member' | 'transactionalIdPrefix'>;

export interface ApplicationPlan {
  /** Internal topics to create (or check), with the configuration the topology needs. */
  readonly create: readonly (readonly [string, TopicConfig])[];
  /** Every task of the topology, in sub-topology then partition order. */
  readonly tasks: readonly TaskSpec[];
  /** Ids of the tasks that hold stores (balanced first by the assignor). */
  readonly stateful: ReadonlySet<string>;
  /** Store -> its sub-topology and partition count (the partitions interactive queries address). */
  readonly stores: ReadonlyMap<string, { readonly subtopology: number; readonly partitions: number }>;
  readonly thread: ThreadBase;
}

/**
 * Plans an application on a log whose topics are `existing`. Throws UNKNOWN_TOPIC for a source,
 * global or output topic that does not exist, INVALID_TOPOLOGY when topics joined together have
 * different partition counts, and TOPIC_CONFLICT when an internal topic exists with another
 * partition count than the topology needs (the topology changed since the application last ran).
 */
export function planApplication(topology: Topology, existing: ReadonlyMap<string, TopicConfig>, options: PlanOptions): ApplicationPlan {
  const { applicationId } = options;
  // Log names: internal topics carry the application id, like Kafka Streams'.
  const topicNames: Record<string, string> = {};
  for (const t of topology.internalTopics()) if (t.type === 'repartition') topicNames[t.name] = `${applicationId}-${t.name}`;
  const logName = (topic: string) => topicNames[topic] ?? topic;

  const partitions = new Map<string, number>();
  // Internal topics are not taken as they exist: their counts come from the topology, and an
  // existing one that disagrees is refused below (topology drift).
  const repartitionTopics = new Set(Object.values(topicNames));
  for (const [name, config] of existing) if (!repartitionTopics.has(name)) partitions.set(name, config.partitions);
  for (const topic of topology.sourceTopics()) {
    if (topicNames[topic] === undefined && !partitions.has(topic)) {
      throw new StreamsError('UNKNOWN_TOPIC', `source topic "${topic}" does not exist; create it before starting "${applicationId}"`);
    }
  }
  for (const g of topology.globalStores()) {
    if (!partitions.has(g.topic)) throw new StreamsError('UNKNOWN_TOPIC', `global table topic "${g.topic}" does not exist; create it first`);
  }
  // Repartition topics get a fixed count or their writer's; iterate until every count is known.
  const subs = topology.subtopologies();
  const taskCount = new Map<number, number>();
  for (let round = 0; round <= subs.length; round++) {
    for (const t of topology.internalTopics()) {
      if (t.partitionsOf === undefined || partitions.has(logName(t.name))) continue;
      const counts = t.partitionsOf.map((of) => partitions.get(logName(of)));
      if (counts.every((c) => c !== undefined)) partitions.set(logName(t.name), Math.max(...(counts as number[])));
    }
    for (const sub of subs) {
      const counts = sub.sourceTopics.map((t) => partitions.get(logName(t)));
      if (counts.some((c) => c === undefined)) continue;
      const n = Math.max(...(counts as number[]));
      taskCount.set(sub.id, n);
      for (const sink of sub.sinkTopics) {
        const internal = topology.internalTopics().find((t) => t.name === sink && t.type === 'repartition');
        if (internal !== undefined && internal.partitionsOf === undefined && !partitions.has(logName(sink))) partitions.set(logName(sink), internal.numPartitions ?? n);
      }
    }
  }
  for (const group of topology.copartitionGroups()) {
    const counts = new Set(group.map((t) => partitions.get(logName(t))));
    if (counts.size > 1) {
      throw new StreamsError(
        'INVALID_TOPOLOGY',
        `topics joined together must have the same number of partitions: ${group.map((t) => `${logName(t)} (${partitions.get(logName(t))})`).join(', ')}`,
      );
    }
  }
  for (const sub of subs) {
    for (const sink of sub.sinkTopics) {
      if (!partitions.has(logName(sink))) throw new StreamsError('UNKNOWN_TOPIC', `output topic "${sink}" does not exist; create it first`);
    }
  }

  const changelogs: Record<string, string> = {};
  const create: [string, TopicConfig][] = [];
  for (const t of topology.internalTopics()) {
    // Kept until consumed (each commit deletes what it consumed), as Kafka Streams does: a time
    // retention (Kafka's default is 7 days of record time) would drop records not yet read.
    if (t.type === 'repartition') create.push([logName(t.name), { partitions: partitions.get(logName(t.name))!, cleanupPolicy: 'delete', retentionMs: -1 }]);
  }
  const additionalRetention = options.windowStoreChangelogAdditionalRetentionMs ?? DEFAULT_CHANGELOG_ADDITIONAL_RETENTION_MS;
  if (!Number.isSafeInteger(additionalRetention) || additionalRetention < 0) {
    throw new StreamsError('INVALID_ARGUMENT', `windowStoreChangelogAdditionalRetentionMs must be a non-negative integer; got ${options.windowStoreChangelogAdditionalRetentionMs}`);
  }
  const stores = new Map<string, { subtopology: number; partitions: number }>();
  for (const sub of subs) {
    for (const store of sub.stores) {
      stores.set(store, { subtopology: sub.id, partitions: taskCount.get(sub.id)! });
      const builder = topology.storeBuilder(store)!;
      if (!builder.loggingEnabled) continue;
      const name = `${applicationId}-${changelogTopic(store)}`;
      changelogs[store] = name;
      partitions.set(name, taskCount.get(sub.id)!);
      // Window and session changelogs keep what the store keeps, plus a margin (Kafka Streams'
      // rule): without a retention Kafka would apply its default of 7 days to a store that
      // retains 30, and the embedded log would keep every window ever written.
      const { kind, retentionMs } = builder.supplier;
      create.push([
        name,
        kind === 'key-value' || retentionMs === undefined
          ? { partitions: taskCount.get(sub.id)!, cleanupPolicy: 'compact' }
          : { partitions: taskCount.get(sub.id)!, cleanupPolicy: 'compact,delete', retentionMs: Number.isSafeInteger(retentionMs + additionalRetention) ? retentionMs + additionalRetention : -1 },
      ]);
    }
  }
  const onDeserializationError = handlerSetting(options.deserializationExceptionHandler, 'deserializationExceptionHandler');
  const onProcessingError = handlerSetting(options.processingExceptionHandler, 'processingExceptionHandler');
  const onProductionError = handlerSetting(options.productionExceptionHandler, 'productionExceptionHandler');
  const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  if (!Number.isInteger(maxRecordBytes) || maxRecordBytes <= 0) throw new StreamsError('INVALID_ARGUMENT', `maxRecordBytes must be a positive integer; got ${options.maxRecordBytes}`);
  const deadLetterTopic = [onDeserializationError, onProcessingError, onProductionError].includes('dead-letter') ? (options.deadLetterTopic ?? `${applicationId}-dlq`) : undefined;
  if (deadLetterTopic !== undefined && !partitions.has(deadLetterTopic)) {
    create.push([deadLetterTopic, { partitions: 1, cleanupPolicy: 'delete' }]);
    partitions.set(deadLetterTopic, 1);
  }
  for (const [name, config] of create) {
    const found = existing.get(name);
    if (found !== undefined && found.partitions !== config.partitions) {
      // As Kafka Streams: a repartition topic or changelog of another partition count means the
      // topology (or its sources) changed since the application last ran; its keys and state
      // are spread by the old count, so running on would silently mix them.
      throw new StreamsError(
        'TOPIC_CONFLICT',
        `internal topic "${name}" exists with ${found.partitions} partitions but the topology of "${applicationId}" needs ${config.partitions}; ` +
          `reset the application (stop it, delete its internal topics and its state directory) or start it under a new applicationId`,
      );
    }
  }

  const tasks: TaskSpec[] = [];
  const stateful = new Set<string>();
  for (const sub of subs) {
    for (let p = 0; p < taskCount.get(sub.id)!; p++) {
      const id = `${sub.id}_${p}`;
      tasks.push({ id, subtopology: sub.id, partition: p, inputs: sub.sourceTopics.map((t) => ({ topic: logName(t), partition: p })) });
      if (sub.stores.length > 0) stateful.add(id);
    }
  }
  const globalTopics: Record<string, number> = {};
  for (const g of topology.globalStores()) globalTopics[g.topic] = partitions.get(g.topic)!;
  const eos = (options.processingGuarantee ?? 'exactly_once_v2') === 'exactly_once_v2';
  return {
    create,
    tasks,
    stateful,
    stores,
    thread: {
      applicationId,
      processingGuarantee: eos ? 'exactly_once_v2' : 'at_least_once',
      commitIntervalMs: options.commitIntervalMs ?? (eos ? 100 : 30_000),
      maxBufferedRecords: options.maxBufferedRecords ?? 50_000,
      pollIntervalMs: 10,
      maxPollRecords: options.maxPollRecords ?? 1000,
      partitions: Object.fromEntries(partitions),
      topicNames,
      changelogs,
      globalTopics,
      onDeserializationError,
      onProcessingError,
      onProductionError,
      maxRecordBytes,
      deadLetterTopic,
    },
  };
}

/** A policy as it is, a handler reference as the module URL threads import; anything else is refused. */
function handlerSetting(setting: ErrorPolicy | ExceptionHandlerRef | undefined, name: string): ErrorPolicy | HandlerModule {
  if (setting === undefined) return 'log-and-fail';
  if (setting === 'log-and-fail' || setting === 'log-and-continue' || setting === 'dead-letter') return setting;
  if (typeof setting === 'object' && setting !== null && (typeof setting.module === 'string' || setting.module instanceof URL) && typeof setting.export === 'string') {
    return { module: setting.module instanceof URL ? setting.module.href : setting.module, export: setting.export };
  }
  throw new StreamsError('INVALID_ARGUMENT', `${name} must be 'log-and-fail', 'log-and-continue', 'dead-letter' or { module, export } naming a handler function; got ${JSON.stringify(setting)}`);
}

/**
 * How a process spreads its tasks over `threads` stream threads: active tasks round robin, then
 * standbys continuing from the thread after the last task (the least loaded ones first). Never
 * more threads than tasks, never fewer than one.
 */
export function spreadTasks(tasks: readonly TaskSpec[], standbys: readonly TaskSpec[], threads: number): { tasks: TaskSpec[]; standbys: TaskSpec[] }[] {
  const count = Math.max(1, Math.min(threads, tasks.length + standbys.length));
  const spread = Array.from({ length: count }, () => ({ tasks: [] as TaskSpec[], standbys: [] as TaskSpec[] }));
  tasks.forEach((task, i) => spread[i % count]!.tasks.push(task));
  standbys.forEach((task, i) => spread[(tasks.length + i) % count]!.standbys.push(task));
  return spread;
}
