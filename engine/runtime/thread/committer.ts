/**
 * The Committer of a stream thread: commits what its tasks did, exactly-once (outputs, changelog
 * records and input offsets with their checkpoints in one transaction) or at-least-once (produce,
 * then commit the offsets), under the group generation the thread currently has. A commit takes
 * what it commits synchronously when it starts (outputs, input offsets, the stores' sealed writes),
 * so the thread processes on while the log completes it; the next commit starts only after it.
 * The sealed local writes reach the disk only once the commit is done.
 */
import { StreamsError, describeCause } from '../../errors.ts';
import { fetchMany, partitionKey, type GroupGeneration, type Log, type LogTransaction, type TransactionalProducer } from '../../log.ts';
import type { RecordCollector } from './record-collector.ts';
import type { RunningTask } from './running-task.ts';
import { COMMIT_BUCKETS, LatencyHistogram } from './latency-histogram.ts';

/**
 * Exactly-once on a log the thread has its own connection to (Kafka): outputs and changelog
 * records go into the open transaction in batches of this many as they accumulate, so the producer
 * sends them while the thread goes on processing (as Kafka Streams' producer does); a commit only
 * adds the rest, the offsets, and ends the transaction. The embedded log writes a transaction as
 * one entry at commit, so there outputs simply wait in the collector.
 */
const STREAM_OUTPUTS_AT = 1000;
/** Local state is flushed at most about once a second (and at shutdown), or past this many writes. */
const STATE_FLUSH_INTERVAL_MS = 1000;
const MAX_PENDING_STATE_WRITES = 100_000;

export interface CommitterOptions {
  readonly log: Log;
  readonly applicationId: string;
  readonly threadId: number;
  readonly collector: RecordCollector;
  /** Exactly-once: the thread's transactional producer. */
  readonly producer: TransactionalProducer | undefined;
  /** Hand outputs to the open transaction as they accumulate (a log with its own connection). */
  readonly streamOutputs: boolean;
  /** The group generation to commit under, when processes share the work. */
  readonly member: GroupGeneration | undefined;
  /** Log names of the internal (repartition) topics: their consumed records are deleted. */
  readonly internalTopics: ReadonlySet<string>;
  /** Topology name of a log topic (checkpoints are kept by topology name). */
  topologyTopic(logTopic: string): string;
  /** The thread is stopping: a commit waiting for a new generation gives up. */
  stopping(): boolean;
  /**
   * A commit has started: the stores have flushed, and what it commits is taken. Called
   * synchronously, before the log has the transaction (the point-read snapshots publish here).
   */
  started?(): void;
}

export class Committer {
  readonly #o: CommitterOptions;
  #committing: { readonly done: Promise<boolean>; settled: boolean } | undefined;
  #openTransaction: LogTransaction | undefined;
  #handedOff = 0;
  /** Input offsets and their metadata as of the last commit, to skip commits with nothing new. */
  readonly #committedPositions = new Map<string, number>();
  readonly #committedMetadata = new Map<string, string>();
  #lastPurge = 0;
  #lastStateFlush = Date.now();
  #member: GroupGeneration | undefined;
  #newestMember: GroupGeneration | undefined;
  /** Set once a commit was refused (a rebalance gave the tasks away) or the log could not take it. */
  #abandoned: string | undefined;
  commits = 0;
  commitMs = 0;
  /** Durations of the commits that completed (a histogram: averages hide the slow commits). */
  readonly latency = new LatencyHistogram(COMMIT_BUCKETS);

  constructor(options: CommitterOptions) {
    this.#o = options;
    this.#member = options.member;
    this.#newestMember = options.member;
  }

  /** Why the thread gave its tasks up (TASK_MIGRATED, LOG_UNAVAILABLE), if it did. */
  get abandoned(): string | undefined {
    return this.#abandoned;
  }

  /** Records handed to the open transaction and not committed yet. */
  get handedOff(): number {
    return this.#handedOff;
  }

  /** A commit is under way. */
  get busy(): boolean {
    return this.#committing !== undefined;
  }

  /** The commit under way has completed (successfully or not) and waits to be collected. */
  get settled(): boolean {
    return this.#committing?.settled === true;
  }

  /** A new generation was heard of: a commit refused for the old one may go again under it. */
  hear(member: GroupGeneration | undefined): void {
    this.#newestMember = member;
  }

  /** Commits from now on go under this generation. */
  use(member: GroupGeneration | undefined): void {
    this.#member = member;
  }

  /** A task left the thread: its offsets are no longer this thread's to compare. */
  forget(task: RunningTask): void {
    for (const tp of task.spec.inputs) {
      this.#committedPositions.delete(partitionKey(tp));
      this.#committedMetadata.delete(partitionKey(tp));
    }
  }

  /** Exactly-once with its own connection: outputs go into the open transaction as they accumulate. */
  streamOutputs(): void {
    const producer = this.#o.producer;
    if (producer === undefined || !this.#o.streamOutputs || this.#committing !== undefined || this.#o.collector.count < STREAM_OUTPUTS_AT) return;
    this.#openTransaction ??= producer.begin();
    this.#handedOff += this.#o.collector.count;
    this.#openTransaction.produce(this.#o.collector.take());
  }

  /**
   * Starts a commit of `tasks`. Its outcome is false when a rebalance has moved on or the log
   * could not take it (exactly-once): then the transaction is aborted, the stores' writes since
   * the last commit are dropped, and the thread must give its tasks up (what they did since the
   * last commit is redone by whoever owns them now).
   */
  start(tasks: readonly RunningTask[], force = false): void {
    const started = { settled: false } as { done: Promise<boolean>; settled: boolean };
    const producer = this.#o.producer;
    started.done = this.#commit(tasks, force).then(
      () => true,
      (error: unknown) => {
        if (producer === undefined || !(error instanceof StreamsError) || (error.code !== 'TASK_MIGRATED' && error.code !== 'LOG_UNAVAILABLE')) throw error;
        console.warn(`[tributary] stream thread ${this.#o.threadId}: ${error.message}; its tasks start again from their last commit`);
        this.#abandoned = error.code;
        for (const t of tasks) t.prepared.db?.discardPending();
        return false;
      },
    );
    started.done.then(
      () => (started.settled = true),
      () => (started.settled = true),
    );
    this.#committing = started;
    this.#o.started?.();
  }

  /** Waits for the commit under way (true if there is none); false if the tasks must be given up. */
  async finish(): Promise<boolean> {
    const current = this.#committing;
    this.#committing = undefined;
    return current === undefined ? true : current.done;
  }

  /** The commit under way, then one of everything now (with `force`, local state flushed too). */
  async commitNow(tasks: readonly RunningTask[], force: boolean): Promise<boolean> {
    if (!(await this.finish())) return false;
    this.start(tasks, force);
    return this.finish();
  }

  /**
   * A commit refused because the generation moved on waits for this process to hear of the next
   * one (its tasks not given up are still its own, and the leader gives no one a task its owner
   * still holds), then goes again under it. Gives up if none comes within a rebalance's time.
   */
  readonly #renewMember = async (stale: GroupGeneration): Promise<GroupGeneration | undefined> => {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && !this.#o.stopping()) {
      const next = this.#newestMember;
      if (next !== undefined && next.memberId === stale.memberId && next.generationId > stale.generationId) {
        console.warn(`[tributary] stream thread ${this.#o.threadId}: a commit of generation ${stale.generationId} goes again under generation ${next.generationId}`);
        return next;
      }
      if (next !== undefined && next.memberId !== stale.memberId) return undefined;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return undefined;
  };

  async #commit(tasks: readonly RunningTask[], force: boolean): Promise<void> {
    const { log, collector, producer, applicationId } = this.#o;
    const offsets = new Map<string, number>();
    // Each partition's offset goes with its task's checkpoint (times that must survive a restart).
    const metadata = new Map<string, string>();
    for (const t of tasks) {
      t.task.flush();
      for (const [tp, offset] of t.positions) offsets.set(tp, offset);
      for (const tp of t.spec.inputs) metadata.set(partitionKey(tp), t.task.checkpoint(this.#o.topologyTopic(tp.topic)));
    }
    const moved = [...offsets].some(([tp, offset]) => this.#committedPositions.get(tp) !== offset || this.#committedMetadata.get(tp) !== metadata.get(tp));
    const pendingState = force && tasks.some((t) => (t.prepared.db?.pendingWrites ?? 0) > 0);
    if (collector.count === 0 && this.#openTransaction === undefined && !moved && !pendingState) return;
    const started = performance.now();
    const batches = collector.take();
    // A key updated many times between two flushes is written once; what is not flushed yet is
    // replayed from the changelog.
    const flushState = force || Date.now() - this.#lastStateFlush >= STATE_FLUSH_INTERVAL_MS;
    const dirty = tasks.filter((t) => t.prepared.db !== undefined && t.prepared.db.pendingWrites > 0 && (flushState || t.prepared.db.pendingWrites >= MAX_PENDING_STATE_WRITES));
    if (flushState) this.#lastStateFlush = Date.now();
    for (const t of dirty) t.prepared.db!.seal();
    const member = this.#member;
    const withMember = member !== undefined ? { member, renewMember: this.#renewMember } : {};
    if (producer !== undefined) {
      const tx = this.#openTransaction ?? producer.begin();
      this.#openTransaction = undefined;
      this.#handedOff = 0;
      tx.produce(batches);
      tx.sendOffsets(applicationId, offsets, { ...withMember, metadata });
      await tx.commit();
    } else {
      if (batches.length > 0) await log.produce(batches);
      await log.commitOffsets(applicationId, offsets, metadata, withMember);
    }
    // Only now, with the changelog committed, do the sealed writes reach the disk, with the
    // changelog offsets they reflect (no later records are in the changelog yet: the next
    // transaction starts after this commit). A crash in between leaves the disk behind the
    // changelog, and the restart replays the difference.
    if (dirty.length > 0) {
      const parts = dirty.flatMap((t) => t.changelogs.map((topic) => ({ t, topic })));
      const ends = await fetchMany(log, parts.map(({ t, topic }) => ({ tp: { topic, partition: t.spec.partition }, offset: 0, options: { maxRecords: 0 } })));
      const positions = new Map<RunningTask, Map<string, number>>(dirty.map((t) => [t, new Map()]));
      parts.forEach(({ t, topic }, i) => positions.get(t)!.set(topic, ends[i]!.endOffset));
      await Promise.all(dirty.map((t) => t.prepared.db!.writeSealed(positions.get(t)!)));
    }
    for (const [tp, offset] of offsets) this.#committedPositions.set(tp, offset);
    for (const [tp, value] of metadata) this.#committedMetadata.set(tp, value);
    const ms = performance.now() - started;
    this.commits++;
    this.commitMs += ms;
    this.latency.observe(ms / 1000);
    // Consumed repartition records are deleted, as Kafka Streams does, so internal topics stay
    // small. Best effort: the commit is done, and a purge that fails is made good by the next one.
    if (Date.now() - this.#lastPurge >= 1000) {
      this.#lastPurge = Date.now();
      await Promise.all(
        [...offsets]
          .map(([key, offset]) => ({ at: key.lastIndexOf(':'), key, offset }))
          .filter(({ key, at }) => this.#o.internalTopics.has(key.slice(0, at)))
          .map(({ key, at, offset }) =>
            log.deleteRecords({ topic: key.slice(0, at), partition: Number(key.slice(at + 1)) }, offset).catch((error: unknown) => {
              console.warn(`[tributary] stream thread ${this.#o.threadId}: could not delete consumed records of ${key}: ${describeCause(error)}`);
            }),
          ),
      );
    }
  }
}
