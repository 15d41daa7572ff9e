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
 * Counters are parallel arrays (items, counts, errors): a store row holding them encodes and
 * decodes several times faster in MessagePack than an object keyed by item.
 *
 * Why not a registry package: no maintained Space-Saving package was found in the npm registry
 * (bloom-filters' TopK is a count-min sketch plus a heap, with eight dependencies).
 */

export interface SpaceSavingState {
  readonly m: number;
  items: string[];
  /** Upper bounds of the items' counts. */
  counts: number[];
  errors: number[];
  /** An upper bound of the true count of any item not held. */
  floor: number;
}

export function ssNew(capacity: number): SpaceSavingState {
  return { m: capacity, items: [], counts: [], errors: [], floor: 0 };
}

export function ssAdd(s: SpaceSavingState, item: string, by = 1): SpaceSavingState {
  const held = s.items.indexOf(item);
  if (held >= 0) {
    s.counts[held]! += by;
    return s;
  }
  if (s.items.length >= s.m) {
    let min = 0;
    for (let i = 1; i < s.items.length; i++) {
      if (s.counts[i]! < s.counts[min]! || (s.counts[i] === s.counts[min] && s.items[i]! < s.items[min]!)) min = i;
    }
    s.floor = Math.max(s.floor, s.counts[min]!);
    s.items[min] = item;
    s.counts[min] = s.floor + by;
    s.errors[min] = s.floor;
    return s;
  }
  s.items.push(item);
  s.counts.push(s.floor + by);
  s.errors.push(s.floor);
  return s;
}

/** Indexes of the counters, largest count first (ties by item). */
function ranked(s: SpaceSavingState): number[] {
  return s.items.map((_, i) => i).sort((a, b) => s.counts[b]! - s.counts[a]! || (s.items[a]! < s.items[b]! ? -1 : 1));
}

/** Merges `b` into `a`. */
export function ssMerge(a: SpaceSavingState, b: SpaceSavingState): SpaceSavingState {
  const merged: SpaceSavingState = { m: a.m, items: [], counts: [], errors: [], floor: a.floor + b.floor };
  const inB = new Map(b.items.map((item, i) => [item, i]));
  a.items.forEach((item, i) => {
    const j = inB.get(item);
    merged.items.push(item);
    merged.counts.push(a.counts[i]! + (j === undefined ? b.floor : b.counts[j]!));
    merged.errors.push(a.errors[i]! + (j === undefined ? b.floor : b.errors[j]!));
    inB.delete(item);
  });
  for (const [item, j] of inB) {
    merged.items.push(item);
    merged.counts.push(a.floor + b.counts[j]!);
    merged.errors.push(a.floor + b.errors[j]!);
  }
  if (merged.items.length <= merged.m) return merged;
  // Keep the m largest; the largest dropped count raises the floor.
  const order = ranked(merged);
  const kept: SpaceSavingState = { m: merged.m, items: [], counts: [], errors: [], floor: Math.max(merged.floor, merged.counts[order[merged.m]!]!) };
  for (const i of order.slice(0, merged.m)) {
    kept.items.push(merged.items[i]!);
    kept.counts.push(merged.counts[i]!);
    kept.errors.push(merged.errors[i]!);
  }
  return kept;
}

/** The `k` items with the largest counts (ties by item), with their count and error. */
export function ssTop(s: SpaceSavingState, k: number): { item: string; count: number; error: number }[] {
  return ranked(s)
    .slice(0, k)
    .map((i) => ({ item: s.items[i]!, count: s.counts[i]!, error: s.errors[i]! }));
}
