/** The tasks a stream thread runs: active tasks with their input queues, and standby copies. */
import type { AnyStore } from '../../state/store.ts';
import type { RestorableStore } from '../../state/in-memory.ts';
import type { StreamTask, RawRecord } from '../../internals/stream-task.ts';
import type { PreparedStores } from '../task-state.ts';
import type { TaskSpec } from '../messages.ts';

export interface RunningTask {
  readonly spec: TaskSpec;
  deadLettered: number;
  /** Changelog records replayed when the task started. */
  readonly restored: number;
  readonly prepared: PreparedStores;
  /** Changelog topics of this task's stores (its partition is the task's). */
  readonly changelogs: readonly string[];
  readonly task: StreamTask;
  /** Next offset to read per input partition. */
  readonly positions: Map<string, number>;
  /** Records fetched and not yet processed, per input partition. */
  readonly queues: Map<string, RawRecord[]>;
  /** Records after the last fetched one, per input partition, as of its last fetch. */
  readonly lags: Map<string, number>;
  /** Keys of the records fetched since the last prefetch. */
  freshKeys: Uint8Array[];
  lag: number;
}

/**
 * A standby task (numStandbyReplicas): a warm copy of another process's task, kept by reading
 * its changelogs into the same local stores an active task would use. When the task moves here,
 * it starts from this copy and replays only the records after it.
 */
export interface StandbyTask {
  readonly spec: TaskSpec;
  readonly prepared: PreparedStores;
  /** Store name -> the store and its changelog, with the next changelog offset to apply. */
  readonly stores: { readonly store: AnyStore & RestorableStore; readonly topic: string; position: number }[];
  /** It has reached the end of every changelog once (a warm-up replica that may take the task over). */
  caughtUp: boolean;
}
