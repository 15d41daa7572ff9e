/**
 * The stream threads of one process (worker threads running `stream-thread.ts`): starting them,
 * handing them tasks, taking tasks back (cooperative rebalancing), stopping and replacing them,
 * asking them for metrics and query answers, and knowing which thread holds which task. Kafka
 * Streams keeps this in KafkaStreams (the thread list) and StreamThread (its assignment); what a
 * failure means for the application is the caller's, through the `events` it passes.
 */
import { MessageChannel, Worker } from 'node:worker_threads';
import { StreamsError, describeCause } from '../errors.ts';
import type { GroupGeneration, Log } from '../log.ts';
import { serveLog } from './log-rpc.ts';
import { assertNever, type FromThread, type TaskSpec, type ThreadConfig, type ToThread } from './messages.ts';
import { spreadTasks } from './plan.ts';
import type { SnapshotSource, StoreSnapshots } from './store-snapshots.ts';

export interface ThreadHandle {
  readonly worker: Worker;
  /** Its tasks and generation as of the last assignment it applied. */
  config: ThreadConfig;
  readonly stopLog: () => void;
  ready: boolean;
  stopped: Promise<void>;
  /** The application asked it to stop. */
  stopRequested: boolean;
  /** It failed and is gone (a replacement may be on its way): asks to it are not answered. */
  failed: boolean;
  /** The channel it publishes its point-read snapshots on (when stores are published). */
  readonly snapshot: SnapshotSource | undefined;
  /** Its worker has exited: nothing sent to it is read any more. */
  exited: boolean;
}

function notAnswered(handle: ThreadHandle): StreamsError {
  return new StreamsError('ILLEGAL_STATE', `stream thread ${handle.config.threadId} stopped before it answered; retry`);
}

export interface ThreadEvents {
  /** A thread gave its tasks up after a commit the log refused or could not take (the reason's code). */
  abandoned(reason: string): void;
  /** A thread that had restored its tasks failed. */
  uncaught(handle: ThreadHandle, error: StreamsError): void;
  /** A thread failed before it was ready: the application cannot run. */
  failed(error: StreamsError): void;
  /** A standby task reached the end of its changelogs for the first time. */
  caughtUp(taskId: string): void;
}

/** What every thread of this process is started with, besides its tasks. */
export type ThreadTemplate = Omit<ThreadConfig, 'threadId' | 'tasks' | 'standbys' | 'readCacheBytes' | 'member' | 'transactionalIdPrefix'>;

/** Where a task runs here: its thread, as an active task or as a standby. */
interface Placement {
  readonly active: Map<string, ThreadHandle>;
  readonly standby: Map<string, ThreadHandle>;
}

export class StreamThreads {
  readonly #log: Log;
  readonly #template: ThreadTemplate;
  /** Threads wanted (the configured count); a process never runs more threads than tasks. */
  readonly #wanted: number;
  readonly #readCacheMaxBytes: number;
  readonly #events: ThreadEvents;
  readonly #snapshots: StoreSnapshots | undefined;
  #threads: ThreadHandle[] = [];
  /** Requests sent to threads and not answered yet, with the thread asked. */
  readonly #pending = new Map<number, { readonly handle: ThreadHandle; readonly resolve: (message: FromThread) => void; readonly reject: (error: StreamsError) => void }>();
  #nextRequest = 0;
  #placement: Placement = { active: new Map(), standby: new Map() };

  constructor(log: Log, template: ThreadTemplate, options: { threads: number; readCacheMaxBytes: number; snapshots?: StoreSnapshots }, events: ThreadEvents) {
    this.#snapshots = options.snapshots;
    this.#log = log;
    this.#template = template;
    this.#wanted = options.threads;
    this.#readCacheMaxBytes = options.readCacheMaxBytes;
    this.#events = events;
  }

  /** Threads that have not failed and were not asked to stop. */
  #live(): ThreadHandle[] {
    return this.#threads.filter((h) => !h.failed && !h.stopRequested);
  }

  /** The thread holding `taskId` (a standby copy with `stale`, when the active one is not here or failed). */
  threadOf(taskId: string, stale = false): ThreadHandle | undefined {
    const active = this.#placement.active.get(taskId);
    if (active !== undefined && !active.failed) return active;
    const standby = stale ? this.#placement.standby.get(taskId) : undefined;
    return standby !== undefined && !standby.failed ? standby : undefined;
  }

  /** Whether `handle` is one of the current threads (not stopped or replaced since). */
  includes(handle: ThreadHandle): boolean {
    return this.#threads.includes(handle);
  }

  /** Whether a thread here runs `taskId` as an active task. */
  runs(taskId: string): boolean {
    return this.#placement.active.has(taskId);
  }

  /** Starts threads for `tasks` and `standbys` (spreadTasks) and waits until every task is restored. */
  async launch(tasks: readonly TaskSpec[], standbys: readonly TaskSpec[], member: GroupGeneration | undefined, transactionalIdPrefix: string | undefined): Promise<void> {
    if (tasks.length + standbys.length === 0) return this.#place();
    const spread = spreadTasks(tasks, standbys, this.#wanted);
    const started = spread.map((part, threadId) =>
      this.#spawn({
        ...this.#template,
        threadId,
        tasks: part.tasks,
        ...(part.standbys.length > 0 && { standbys: part.standbys }),
        readCacheBytes: Math.floor(this.#readCacheMaxBytes / spread.length),
        ...(member !== undefined && { member }),
        ...(transactionalIdPrefix !== undefined && { transactionalIdPrefix }),
      }),
    );
    this.#place();
    await Promise.all(started);
  }

  /**
   * Cooperative rebalancing (KIP-429), for every generation after the first: every thread first
   * lets go of the tasks and standbys this generation does not give it (committed, under the new
   * generation, and closed; a standby promoted to active is let go first, which frees its state
   * directory), then the tasks and standbys gained go to the least loaded threads (new threads
   * while fewer run than configured), which restore them. Tasks that stay never stop, and keep
   * answering queries. Returns whether any active task was let go. A thread whose commit is
   * refused on the way stops (its `abandoned` event restarts the current tasks).
   */
  async reassign(mine: readonly TaskSpec[], standbys: readonly TaskSpec[], member: GroupGeneration, transactionalIdPrefix: string): Promise<boolean> {
    const keep = new Set(mine.map((t) => t.id));
    const keepStandby = new Set(standbys.map((t) => t.id));
    let gaveUp = false;
    const letGo = this.#live().map((h) => {
      const remove = h.config.tasks.filter((t) => !keep.has(t.id)).map((t) => t.id);
      const removeStandbys = (h.config.standbys ?? []).filter((t) => !keepStandby.has(t.id)).map((t) => t.id);
      if (remove.length > 0) gaveUp = true;
      h.config = { ...h.config, tasks: h.config.tasks.filter((t) => keep.has(t.id)), standbys: (h.config.standbys ?? []).filter((t) => keepStandby.has(t.id)), member };
      return this.#assign(h, { member, remove, removeStandbys, add: [], addStandbys: [] });
    });
    this.#place();
    if ((await Promise.all(letGo)).includes(false)) return gaveUp;
    const threads = this.#live();
    const running = new Set(threads.flatMap((h) => h.config.tasks.map((t) => t.id)));
    const warm = new Set(threads.flatMap((h) => (h.config.standbys ?? []).map((t) => t.id)));
    const gained = mine.filter((t) => !running.has(t.id));
    const gainedStandbys = standbys.filter((t) => !warm.has(t.id));
    if (gained.length + gainedStandbys.length > 0) {
      // Slots: the running threads, then new ones up to the configured count.
      const wanted = Math.max(1, Math.min(this.#wanted, mine.length + standbys.length));
      const slots = threads.map((h) => ({ h: h as ThreadHandle | undefined, load: h.config.tasks.length + (h.config.standbys ?? []).length, add: [] as TaskSpec[], addStandbys: [] as TaskSpec[] }));
      while (slots.length < wanted) slots.push({ h: undefined, load: 0, add: [], addStandbys: [] });
      const least = () => slots.reduce((a, b) => (b.load < a.load ? b : a));
      for (const t of gained) {
        const slot = least();
        slot.add.push(t);
        slot.load++;
      }
      for (const t of gainedStandbys) {
        const slot = least();
        slot.addStandbys.push(t);
        slot.load++;
      }
      let nextId = Math.max(-1, ...this.#threads.map((h) => h.config.threadId)) + 1;
      const readCacheBytes = this.#threads[0]?.config.readCacheBytes ?? Math.floor(this.#readCacheMaxBytes / wanted);
      const applied = slots.map((slot) => {
        if (slot.add.length + slot.addStandbys.length === 0) return undefined;
        if (slot.h !== undefined) {
          const h = slot.h;
          h.config = { ...h.config, tasks: [...h.config.tasks, ...slot.add], standbys: [...(h.config.standbys ?? []), ...slot.addStandbys] };
          return this.#assign(h, { member, remove: [], removeStandbys: [], add: slot.add, addStandbys: slot.addStandbys });
        }
        return this.#spawn({
          ...this.#template,
          threadId: nextId++,
          tasks: slot.add,
          ...(slot.addStandbys.length > 0 && { standbys: slot.addStandbys }),
          readCacheBytes,
          member,
          transactionalIdPrefix,
        });
      });
      this.#place();
      await Promise.all(applied);
    }
    this.#place();
    return gaveUp;
  }

  /** Tells every live thread of a new generation at once (see StreamsApp's group handling). */
  announce(member: GroupGeneration): void {
    for (const h of this.#live()) h.worker.postMessage({ kind: 'generation', member } satisfies ToThread);
  }

  /**
   * Replaces a failed thread with a new one of the same tasks and config, unless the threads were
   * stopped or started again meanwhile. Resolves once the new thread is ready.
   */
  async replace(handle: ThreadHandle): Promise<void> {
    await handle.stopped;
    const at = this.#threads.indexOf(handle);
    if (at === -1) return;
    handle.stopLog();
    await this.#spawn(handle.config, at);
  }

  /** Stops every stream thread after a last commit (refused, and so aborted, if the generation moved on). */
  async stopAll(): Promise<void> {
    const threads = this.#threads.splice(0);
    for (const t of threads) t.stopRequested = true;
    this.#place();
    for (const t of threads) t.worker.postMessage({ kind: 'stop' } satisfies ToThread);
    await Promise.all(
      threads.map(async (t) => {
        const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000).unref());
        if ((await Promise.race([t.stopped.then(() => 'ok' as const), timeout])) === 'timeout') await t.worker.terminate();
        await t.worker.terminate();
        t.stopLog();
      }),
    );
  }

  /**
   * Sends `message` (given its request id) to a thread and resolves with the reply. Rejects
   * (ILLEGAL_STATE, retriable) if the thread exits first: a thread stopped or terminated while
   * the request was on its way never reads it.
   */
  ask<T extends FromThread>(handle: ThreadHandle, message: (id: number) => ToThread): Promise<T> {
    const id = ++this.#nextRequest;
    return new Promise<T>((resolve, reject) => {
      if (handle.exited) {
        reject(notAnswered(handle));
        return;
      }
      this.#pending.set(id, { handle, resolve: resolve as (m: FromThread) => void, reject });
      handle.worker.postMessage(message(id));
    });
  }

  /** Asks every thread that has not failed; the answers of those that answered (a thread may exit meanwhile). */
  async askAll<T extends FromThread>(message: (id: number) => ToThread): Promise<T[]> {
    const replies = await Promise.allSettled(this.#threads.filter((h) => !h.failed).map((h) => this.ask<T>(h, message)));
    return replies.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  }

  /** Rejects the requests a thread that has exited will never answer. */
  #abandonRequests(handle: ThreadHandle): void {
    for (const [id, request] of this.#pending) {
      if (request.handle !== handle) continue;
      this.#pending.delete(id);
      request.reject(notAnswered(handle));
    }
  }

  /** Sends a thread its part of a new assignment; false if it stopped instead of applying it. */
  async #assign(h: ThreadHandle, part: Omit<Extract<ToThread, { kind: 'assign' }>, 'kind' | 'id'>): Promise<boolean> {
    const reply = this.ask<Extract<FromThread, { kind: 'assigned' }>>(h, (id) => ({ kind: 'assign', id, ...part }));
    return Promise.race([reply.then((r) => r.ok, () => false), h.stopped.then(() => false)]);
  }

  /** Which thread holds each task, from the threads' current configs. */
  #place(): void {
    const placement: Placement = { active: new Map(), standby: new Map() };
    for (const h of this.#threads) {
      if (h.failed || h.stopRequested) continue;
      for (const t of h.config.tasks) placement.active.set(t.id, h);
      for (const t of h.config.standbys ?? []) placement.standby.set(t.id, h);
    }
    this.#placement = placement;
  }

  /** Starts a stream thread; `at` replaces the failed thread at that index (same tasks, same config). */
  #spawn(config: ThreadConfig, at?: number): Promise<void> {
    const channel = new MessageChannel();
    const snapshot = this.#snapshots?.connect();
    const worker = new Worker(new URL(import.meta.url.endsWith('.ts') ? './stream-thread.ts' : './stream-thread.js', import.meta.url), {
      workerData: { config, logPort: channel.port2, ...(snapshot !== undefined && { snapshotPort: snapshot.workerPort, snapshotPublished: snapshot.published }) },
      transferList: [channel.port2, ...(snapshot !== undefined ? [snapshot.workerPort] : [])],
      name: `${config.applicationId}-StreamThread-${config.threadId}`,
    });
    const stopLog = config.workerLog === undefined ? serveLog(this.#log, channel.port1) : () => {};
    let resolveReady!: () => void;
    let rejectReady!: (e: unknown) => void;
    const ready = new Promise<void>((resolve, reject) => {
      resolveReady = resolve;
      rejectReady = reject;
    });
    let resolveStopped!: () => void;
    const handle: ThreadHandle = { worker, config, stopLog, ready: false, stopped: new Promise((r) => (resolveStopped = r)), stopRequested: false, failed: false, exited: false, snapshot };
    // A thread that stopped or failed no longer answers for its tasks: neither does its snapshot.
    const unpublish = () => {
      if (snapshot !== undefined) this.#snapshots!.disconnect(snapshot);
    };
    if (at === undefined) this.#threads.push(handle);
    else this.#threads[at] = handle;
    this.#place();
    const failed = (error: StreamsError) => {
      handle.failed = true;
      unpublish();
      if (handle.ready && !handle.stopRequested) return this.#events.uncaught(handle, error);
      rejectReady(error);
      this.#events.failed(error);
    };
    worker.on('message', (message: FromThread) => {
      switch (message.kind) {
        case 'ready':
          handle.ready = true;
          resolveReady();
          return;
        case 'stopped':
          unpublish();
          resolveStopped();
          if (message.abandoned !== undefined && !handle.stopRequested) this.#events.abandoned(message.abandoned);
          return;
        case 'error':
          // The thread has given up: nothing it buffered since its last commit is written.
          unpublish();
          resolveStopped();
          void worker.terminate();
          return failed(new StreamsError(message.code ?? 'PROCESSING_FAILED', `stream thread ${message.threadId} failed: ${message.message}`));
        case 'caught-up':
          return this.#events.caughtUp(message.taskId);
        case 'metrics':
        case 'query-result':
        case 'assigned':
          this.#pending.get(message.id)?.resolve(message);
          this.#pending.delete(message.id);
          return;
        default:
          assertNever(message);
      }
    });
    worker.on('error', (error) => failed(new StreamsError('PROCESSING_FAILED', `stream thread ${config.threadId} crashed: ${describeCause(error)}`, { cause: error })));
    worker.on('exit', () => {
      unpublish();
      // Messages a thread posted reach 'message' before 'exit': what is still pending never will.
      handle.exited = true;
      this.#abandonRequests(handle);
      resolveStopped();
      channel.port1.close();
    });
    return ready;
  }
}
