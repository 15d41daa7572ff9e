/**
 * The processes of one application as a group, on a log with groups (Kafka): what each process
 * tells the others when it joins, how the leader assigns tasks (Kafka Streams'
 * StreamsPartitionAssignor: sticky, cooperative, stateful tasks balanced first), where standby
 * copies go, and how an assignment becomes this process's tasks, standbys and the routing table
 * for queries. The application applies each assignment (`apply`, run one at a time by its
 * caller); this part keeps the bookkeeping cooperative rebalancing needs: a task is reported as
 * owned until the threads have let it go, and a process that gave tasks up rejoins so that the
 * next generation hands them to their new owners (KIP-429).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { StreamsError, describeCause } from '../errors.ts';
import { partitionKey, type GroupAssignment, type GroupGeneration, type GroupMember, type GroupMembership, type Log, type TopicPartition } from '../log.ts';
import { assignTasks } from './assignor.ts';
import type { TaskSpec } from './messages.ts';
import type { RemoteTasks } from './query-router.ts';

/** What each process tells the group when it joins. */
export interface MemberMetadata {
  readonly processId: string;
  /** Where its HTTP server answers (`host:port`), for routed queries. */
  readonly endpoint: string | null;
  /** Its uncaught-exception handler answered SHUTDOWN_APPLICATION: every member shuts down. */
  readonly shutdown?: true;
  readonly threads: number;
  /** Tasks it runs, then tasks it has local state for. */
  readonly tasks: readonly string[];
  /**
   * Tasks it runs or is about to (cooperative rebalancing): the leader gives none of them to
   * another member until this one has let it go.
   */
  readonly owned?: readonly string[];
  /** Standby tasks here that have reached the end of their changelogs (KIP-441: caught up). */
  readonly caughtUp?: readonly string[];
}

/**
 * The pseudo-partition the group leader adds to every member's assignment when a member asked the
 * application to shut down (Kafka Streams puts an error code in the assignment's user data, which
 * our Kafka client does not hand back). Never read or fetched: no task has it as an input.
 */
export const SHUTDOWN_REQUESTED: TopicPartition = { topic: '__tributary-shutdown-requested', partition: 0 };

/**
 * The pseudo-partitions of warm-up replicas (KIP-441): partition i asks the member to keep a
 * standby copy of task i (in plan order) so that it can take the task over once caught up.
 */
export const WARMUP_TOPIC = '__tributary-warmup';

export function encodeMetadata(metadata: MemberMetadata): Uint8Array {
  return Buffer.from(JSON.stringify(metadata));
}

export function decodeMetadata(data: Uint8Array): MemberMetadata {
  try {
    return JSON.parse(Buffer.from(data).toString()) as MemberMetadata;
  } catch {
    return { processId: '', endpoint: null, threads: 1, tasks: [] };
  }
}

/**
 * The leader's assignment: each member's input partitions. Sticky (a task stays with the member
 * that runs it; local state elsewhere counts only for tasks nobody runs) and cooperative: a task
 * that moves is given to no one in this generation; its owner commits and closes it, then
 * rejoins, and the next generation gives it to its new member. A task with state moves only to a
 * member whose standby copy has caught up (KIP-441); until then it stays, and the member gets a
 * warm-up replica (`maxWarmupReplicas` at a time, default 2; 0 moves tasks at once). When any member asked for a
 * shutdown, nobody gets work and every member gets the request in its own assignment (Kafka
 * Streams' assignment error code), which it reads even if the requester has left the group since.
 */
export function assignGroup(
  members: readonly { memberId: string; metadata: Uint8Array }[],
  tasks: readonly TaskSpec[],
  stateful: ReadonlySet<string>,
  options: { readonly maxWarmupReplicas?: number } = {},
): Map<string, TopicPartition[]> {
  const metadata = new Map(members.map((m) => [m.memberId, decodeMetadata(m.metadata)]));
  const result = new Map<string, TopicPartition[]>(members.map((m) => [m.memberId, []]));
  if ([...metadata.values()].some((md) => md.shutdown === true)) {
    for (const list of result.values()) list.push(SHUTDOWN_REQUESTED);
    return result;
  }
  const ownerOf = new Map<string, string>();
  for (const [memberId, md] of metadata) for (const task of md.owned ?? []) ownerOf.set(task, memberId);
  const processes = members.map((m) => {
    const md = metadata.get(m.memberId)!;
    return { memberId: m.memberId, threads: md.threads, previousTasks: md.tasks.filter((t) => ownerOf.get(t) === undefined || ownerOf.get(t) === m.memberId) };
  });
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const index = new Map(tasks.map((t, i) => [t.id, i]));
  const caughtUp = new Map([...metadata].map(([memberId, md]) => [memberId, new Set(md.caughtUp ?? [])]));
  let warmups = options.maxWarmupReplicas ?? 2;
  for (const [task, member] of assignTasks([...byId.keys()], processes, { stateful })) {
    const owner = ownerOf.get(task);
    if (owner === undefined || owner === member) {
      result.get(member)!.push(...byId.get(task)!.inputs);
      continue;
    }
    // KIP-441: a stateful task moves only to a member whose copy of its state has caught up.
    // Until then it keeps running where it is, and (up to maxWarmupReplicas at a time) the new
    // member builds a warm-up copy; it rejoins once caught up (a probing rebalance).
    if (options.maxWarmupReplicas !== 0 && stateful.has(task) && !caughtUp.get(member)!.has(task)) {
      result.get(owner)!.push(...byId.get(task)!.inputs);
      if (warmups > 0) {
        warmups--;
        result.get(member)!.push({ topic: WARMUP_TOPIC, partition: index.get(task)! });
      }
    }
    // Otherwise it is given to no one in this generation (cooperative, see above).
  }
  return result;
}

/** This member's part of an assignment: its tasks, its standbys, and where the other tasks are. */
export interface GroupUpdate {
  readonly member: GroupGeneration;
  readonly tasks: readonly TaskSpec[];
  readonly standbys: readonly TaskSpec[];
  /** Ids of the standbys that are warm-up replicas (a task the leader means to move here). */
  readonly warmups: readonly string[];
  readonly remote: RemoteTasks;
}

/**
 * Reads an assignment. Standby copies of each task go to the `replicas` members after its owner
 * in member id order, so that every member computes the same placement from the same list.
 */
export function readAssignment(assignment: GroupAssignment, tasks: readonly TaskSpec[], replicas: number): GroupUpdate {
  const taskOf = new Map<string, TaskSpec>();
  for (const t of tasks) for (const tp of t.inputs) taskOf.set(partitionKey(tp), t);
  const has = new Set(assignment.partitions.map(partitionKey));
  const mine = tasks.filter((t) => t.inputs.every((tp) => has.has(partitionKey(tp))));
  const endpointOf = new Map(assignment.members.map((m) => [m.memberId, decodeMetadata(m.metadata).endpoint]));
  const ownerOf = new Map<string, string>();
  const active = new Map<string, string>();
  for (const m of assignment.members) {
    for (const tp of m.partitions) {
      const t = taskOf.get(partitionKey(tp));
      if (t === undefined) continue;
      ownerOf.set(t.id, m.memberId);
      const endpoint = endpointOf.get(m.memberId);
      if (m.memberId !== assignment.memberId && endpoint !== null && endpoint !== undefined) active.set(t.id, endpoint);
    }
  }
  // Warm-up replicas first: standby copies like the others, asked for by the leader.
  const standbys: TaskSpec[] = assignment.partitions.filter((tp) => tp.topic === WARMUP_TOPIC && tasks[tp.partition] !== undefined).map((tp) => tasks[tp.partition]!);
  const warmups = standbys.map((t) => t.id);
  const remoteStandbys = new Map<string, string[]>();
  const copies = Math.min(replicas, assignment.members.length - 1);
  if (copies > 0) {
    const ids = assignment.members.map((m) => m.memberId).sort();
    for (const t of tasks) {
      const owner = ownerOf.get(t.id);
      if (owner === undefined) continue;
      const at = ids.indexOf(owner);
      for (let k = 1; k <= copies; k++) {
        const host = ids[(at + k) % ids.length]!;
        if (host === assignment.memberId) {
          if (!standbys.includes(t)) standbys.push(t);
        }
        else {
          const endpoint = endpointOf.get(host);
          if (endpoint !== null && endpoint !== undefined) remoteStandbys.set(t.id, [...(remoteStandbys.get(t.id) ?? []), endpoint]);
        }
      }
    }
  }
  return { member: { generationId: assignment.generationId, memberId: assignment.memberId }, tasks: mine, standbys, warmups, remote: { active, standbys: remoteStandbys } };
}

/** The member that asked the application to shut down, if any did. */
function shutdownRequester(assignment: GroupAssignment): GroupMember | undefined | null {
  const requester = assignment.members.find((m) => decodeMetadata(m.metadata).shutdown === true);
  if (requester !== undefined) return requester;
  return assignment.partitions.some((tp) => tp.topic === SHUTDOWN_REQUESTED.topic) ? undefined : null;
}

export interface AppGroupOptions {
  readonly log: Log;
  readonly applicationId: string;
  readonly processId: string;
  readonly tasks: readonly TaskSpec[];
  readonly stateful: ReadonlySet<string>;
  /** Where tasks keep local state (a task with a directory there is cheaper to take back). */
  readonly stateDir: string | undefined;
  readonly threads: number;
  readonly numStandbyReplicas: number;
  /** Warm-up replicas the leader asks for at a time (KIP-441's max.warmup.replicas). */
  readonly maxWarmupReplicas: number;
  readonly groupInstanceId?: string;
  readonly sessionTimeoutMs?: number;
  readonly endpoint: () => string | null;
  /** This process asked every process to shut down (told to the group at each join). */
  readonly shutdownRequested: () => boolean;
  /** A new generation arrived (before it is applied). */
  readonly announce: (member: GroupGeneration) => void;
  /**
   * Applies an assignment (the first starts the threads); resolves with whether any active task
   * was let go. The caller runs one at a time; it may skip one (resolve false) while shutting down.
   */
  readonly apply: (update: GroupUpdate) => Promise<boolean>;
  /** Membership failed, an assignment could not be applied, or another process asked for a shutdown. */
  readonly failed: (error: StreamsError) => void;
}

export class AppGroup {
  readonly #o: AppGroupOptions;
  #membership: GroupMembership | undefined;
  /** Tasks the threads run, and those of assignments received and not applied yet. */
  #running: string[] = [];
  readonly #pending: string[][] = [];
  #assignments = 0;
  /** Standby tasks of the last assignment applied that have caught up, and its warm-ups. */
  #caughtUp = new Set<string>();
  #warmups: readonly string[] = [];

  constructor(options: AppGroupOptions) {
    this.#o = options;
  }

  /** Joins the group; resolves once the first assignment is applied. */
  async join(): Promise<void> {
    const o = this.#o;
    let firstDone!: () => void;
    let firstFailed!: (e: StreamsError) => void;
    const first = new Promise<void>((resolve, reject) => {
      firstDone = resolve;
      firstFailed = reject;
    });
    const fail = (error: StreamsError) => (this.#assignments === 0 ? firstFailed(error) : o.failed(error));
    this.#membership = await o.log.joinGroup!({
      groupId: o.applicationId,
      ...(o.groupInstanceId !== undefined && { groupInstanceId: o.groupInstanceId }),
      ...(o.sessionTimeoutMs !== undefined && { sessionTimeoutMs: o.sessionTimeoutMs }),
      topics: [...new Set(o.tasks.flatMap((t) => t.inputs.map((tp) => tp.topic)))],
      metadata: () => encodeMetadata(this.#metadata()),
      assign: (members) => assignGroup(members, o.tasks, o.stateful, { maxWarmupReplicas: o.maxWarmupReplicas }),
      onAssignment: (assignment) => {
        const requester = shutdownRequester(assignment);
        if (requester !== null) {
          // The requester is already on its way down.
          if (o.shutdownRequested()) return;
          const who = requester === undefined ? 'another process' : `process ${decodeMetadata(requester.metadata).processId}`;
          return fail(new StreamsError('APPLICATION_SHUTDOWN', `${who} of application "${o.applicationId}" asked every process to shut down (SHUTDOWN_APPLICATION)`));
        }
        const update = readAssignment(assignment, o.tasks, o.numStandbyReplicas);
        const ids = update.tasks.map((t) => t.id);
        this.#pending.push(ids);
        // The threads hear of the generation at once: a commit of theirs refused for the old one
        // goes again under it rather than wait for this assignment to be applied, which waits for
        // them (the tasks they still run are withheld from every other member meanwhile).
        o.announce(update.member);
        o.apply(update).then(
          (gaveUp) => {
            this.#running = ids;
            const standbys = new Set(update.standbys.map((t) => t.id));
            this.#caughtUp = new Set([...this.#caughtUp].filter((id) => standbys.has(id)));
            this.#warmups = update.warmups;
            this.#probeIfWarm();
            this.#pending.splice(this.#pending.indexOf(ids), 1);
            if (++this.#assignments === 1) firstDone();
            // Tasks let go of go to their new members in the next generation: ask for it.
            if (gaveUp) void this.rejoin().catch((error: unknown) => console.warn(`[tributary] ${o.applicationId}: could not rejoin the group after giving tasks up (${describeCause(error)})`));
          },
          (error: unknown) => fail(error instanceof StreamsError ? error : new StreamsError('PROCESSING_FAILED', describeCause(error), { cause: error })),
        );
      },
      onError: fail,
    });
    await first;
  }

  /** Tasks this process has now, then those it has local state for (cheaper to take back). */
  #metadata(): MemberMetadata {
    const o = this.#o;
    const now = [...new Set([...this.#running, ...this.#pending.flat()])];
    const stateDir = o.stateDir;
    const local = stateDir === undefined ? [] : o.tasks.filter((t) => !now.includes(t.id) && existsSync(join(stateDir, o.applicationId, t.id))).map((t) => t.id);
    return {
      processId: o.processId,
      endpoint: o.endpoint(),
      threads: o.threads,
      tasks: [...now, ...local],
      owned: now,
      caughtUp: [...this.#caughtUp],
      ...(o.shutdownRequested() && { shutdown: true as const }),
    };
  }

  /** A standby here reached the end of its changelogs (StreamThreads' `caughtUp` event). */
  caughtUp(taskId: string): void {
    this.#caughtUp.add(taskId);
    this.#probeIfWarm();
  }

  /**
   * A probing rebalance (KIP-441), once every warm-up replica of the last assignment has caught
   * up: the leader then moves those tasks here. Kafka Streams probes on a timer
   * (probing.rebalance.interval.ms); here the member that warmed up asks as soon as it can.
   */
  #probeIfWarm(): void {
    if (this.#warmups.length === 0 || !this.#warmups.every((id) => this.#caughtUp.has(id))) return;
    this.#warmups = [];
    void this.rejoin().catch((error: unknown) => console.warn(`[tributary] ${this.#o.applicationId}: probing rebalance failed (${describeCause(error)})`));
  }

  /** Joins again with fresh metadata (a rebalance every member hears). */
  async rejoin(): Promise<void> {
    await this.#membership?.rejoin?.();
  }

  /** Leaves the group, so that the others take the tasks over at once. */
  async leave(): Promise<void> {
    await this.#membership?.leave();
  }
}
