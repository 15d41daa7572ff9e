/**
 * Task assignment across the processes of one application (run by the group's leader), in the
 * spirit of Kafka Streams' sticky assignor: every task goes to exactly one process; loads are
 * balanced by the number of stream threads of each process (within one task); a task stays with
 * the process that had it when that keeps the balance, so a process that keeps its tasks keeps
 * its warm state, and a task that comes back finds its local state.
 *
 * A task is a sub-topology on one partition number; all its input partitions go to one member,
 * so co-partitioned topics stay together.
 */

export interface ProcessInfo {
  readonly memberId: string;
  /** Stream threads of the process: its capacity. */
  readonly threads: number;
  /** Tasks the process had before this rebalance (or has local state for), most wanted first. */
  readonly previousTasks: readonly string[];
}

/**
 * Task id -> member id. Deterministic for the same input. With `stateful`, the tasks that keep
 * state are balanced among themselves first and the stateless ones then even out the total load,
 * as Kafka Streams' assignor does: otherwise a process could end up with every store (all the
 * restoring, disk and memory) and another with none, at equal task counts.
 */
export function assignTasks(tasks: readonly string[], processes: readonly ProcessInfo[], options: { readonly stateful?: ReadonlySet<string> } = {}): Map<string, string> {
  const out = new Map<string, string>();
  if (processes.length === 0) return out;
  const members = [...processes].sort((a, b) => (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0));
  const load = new Map(members.map((m) => [m.memberId, 0]));
  const stateful = options.stateful;
  if (stateful === undefined) {
    assignClass(tasks, members, load, out);
  } else {
    assignClass(tasks.filter((t) => stateful.has(t)), members, load, out);
    assignClass(tasks.filter((t) => !stateful.has(t)), members, load, out);
  }
  return out;
}

/** Assigns `tasks` on top of the members' current `load` (updated), into `out`. */
function assignClass(tasks: readonly string[], members: readonly ProcessInfo[], load: Map<string, number>, out: Map<string, string>): void {
  const capacity = members.reduce((n, m) => n + Math.max(1, m.threads), 0);
  const total = [...load.values()].reduce((a, b) => a + b, 0) + tasks.length;
  // Tasks a member keeps in the sticky pass: its share of the total by capacity, rounded down,
  // less what it has already (the remainder is spread by load below, so loads differ by at most
  // one task per thread of capacity).
  const quota = new Map(members.map((m) => [m.memberId, Math.floor((total * Math.max(1, m.threads)) / capacity)]));
  const previousOwner = new Map<string, string>();
  for (const m of members) for (const task of m.previousTasks) if (!previousOwner.has(task)) previousOwner.set(task, m.memberId);
  const wanted = new Set(tasks);
  // 1. Sticky: previous owners keep their tasks up to their quota (a task claimed twice goes to
  //    the first claimant in member order).
  for (const m of members) {
    for (const task of m.previousTasks) {
      if (!wanted.has(task) || out.has(task) || load.get(m.memberId)! >= quota.get(m.memberId)!) continue;
      out.set(task, m.memberId);
      load.set(m.memberId, load.get(m.memberId)! + 1);
    }
  }
  // 2. The rest go, in task order, to the member with the lowest load relative to its capacity
  //    (after one more task), preferring the task's previous owner on a tie.
  const relative = (x: ProcessInfo) => (load.get(x.memberId)! + 1) / Math.max(1, x.threads);
  for (const task of tasks) {
    if (out.has(task)) continue;
    let best = members[0]!;
    for (const m of members) {
      if (relative(m) < relative(best) || (relative(m) === relative(best) && previousOwner.get(task) === m.memberId)) best = m;
    }
    out.set(task, best.memberId);
    load.set(best.memberId, load.get(best.memberId)! + 1);
  }
}
