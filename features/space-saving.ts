/**
 * Space-Saving (Metwally, Agrawal, El Abbadi 2005): the heavy hitters of a stream in `capacity`
 * counters, as plain data. A new item, when every counter is taken, replaces the smallest counter
 * and inherits its count (recorded as that counter's error), so each count is an upper bound and
 * `count - error` a lower bound on the item's true count, and no item is ever shut out for good
 * (unlike a top-k list truncated on each update).
 *
 * Two summaries merge (tiles of a window) by adding counts, an item missing from one side counting
 * that side's `floor`; the `capacity` largest are kept. `floor` bounds the true count of every
 * item not held, so the three bounds survive merging.
 *
 * Why not a registry package: no maintained Space-Saving package was found in the npm registry
 * (bloom-filters' TopK is a count-min sketch plus a heap, with eight dependencies).
 */

export interface SpaceSavingState {
  readonly m: number;
  /** item -> [count (upper bound), error]. */
  c: Record<string, [number, number]>;
  /** An upper bound of the true count of any item not in `c`. */
  floor: number;
}

export function ssNew(capacity: number): SpaceSavingState {
  return { m: capacity, c: {}, floor: 0 };
}

export function ssAdd(s: SpaceSavingState, item: string, by = 1): SpaceSavingState {
  const held = s.c[item];
  if (held !== undefined) {
    held[0] += by;
    return s;
  }
  const items = Object.keys(s.c);
  if (items.length >= s.m) {
    let min = items[0]!;
    for (const i of items) if (s.c[i]![0] < s.c[min]![0] || (s.c[i]![0] === s.c[min]![0] && i < min)) min = i;
    s.floor = Math.max(s.floor, s.c[min]![0]);
    delete s.c[min];
  }
  s.c[item] = [s.floor + by, s.floor];
  return s;
}

/** Keeps the `m` largest counters; the largest dropped count raises the floor. */
function truncate(s: SpaceSavingState): SpaceSavingState {
  const entries = Object.entries(s.c);
  if (entries.length <= s.m) return s;
  entries.sort((x, y) => y[1][0] - x[1][0] || (x[0] < y[0] ? -1 : 1));
  s.floor = Math.max(s.floor, entries[s.m]![1][0]);
  s.c = Object.fromEntries(entries.slice(0, s.m));
  return s;
}

/** Merges `b` into `a`. */
export function ssMerge(a: SpaceSavingState, b: SpaceSavingState): SpaceSavingState {
  const c: Record<string, [number, number]> = {};
  for (const item of new Set([...Object.keys(a.c), ...Object.keys(b.c)])) {
    const x = a.c[item] ?? [a.floor, a.floor];
    const y = b.c[item] ?? [b.floor, b.floor];
    c[item] = [x[0] + y[0], x[1] + y[1]];
  }
  return truncate({ m: a.m, c, floor: a.floor + b.floor });
}

/** The `k` items with the largest counts (ties by item), with their count and error. */
export function ssTop(s: SpaceSavingState, k: number): { item: string; count: number; error: number }[] {
  return Object.entries(s.c)
    .sort((x, y) => y[1][0] - x[1][0] || (x[0] < y[0] ? -1 : 1))
    .slice(0, k)
    .map(([item, [count, error]]) => ({ item, count, error }));
}
