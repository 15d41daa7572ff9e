/**
 * HyperLogLog (Flajolet et al. 2007, with linear counting for small cardinalities as in
 * HyperLogLog++), kept as plain data so a feature store can hold it: a sparse register map while
 * few registers are set, a dense byte array beyond that. Merging is a register-wise max, so tiles
 * combine exactly as one sketch over their union would.
 *
 * Why not a registry package: bloom-filters 3.0.4's HyperLogLog returned 2 for 5 distinct values,
 * 25 for 50 and 504 for 1000 (a factor two low below ~2.5 m), and hyperloglog-lite needs a native
 * murmurhash addon. Relative standard error: 1.04 / sqrt(2^precision) (3.25% at precision 10).
 */

/**
 * Registers of one sketch: `s` while sparse (the registers set, each as index * 32 + rank: an
 * array of small integers encodes fast in MessagePack), else `d` (2^p ranks).
 */
export interface HllState {
  readonly p: number;
  s: number[] | null;
  d: Uint8Array | null;
}

export function hllNew(precision: number): HllState {
  return { p: precision, s: [], d: null };
}

/** A 32-bit hash of a string: FNV-1a then murmur3's finalizer, which spreads the bits well. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function setRegister(h: HllState, index: number, rank: number): void {
  if (h.d !== null) {
    if (rank > h.d[index]!) h.d[index] = rank;
    return;
  }
  const s = h.s!;
  const at = s.findIndex((x) => x >>> 5 === index);
  if (at < 0) s.push(index * 32 + rank);
  else if (rank > (s[at]! & 31)) s[at] = index * 32 + rank;
  // Sparse costs up to 5 bytes a register in MessagePack: dense (1 byte each) is smaller past m / 4.
  if (s.length > (1 << h.p) / 4) {
    const d = new Uint8Array(1 << h.p);
    for (const x of s) d[x >>> 5] = x & 31;
    h.d = d;
    h.s = null;
  }
}

export function hllAdd(h: HllState, value: string): HllState {
  const x = hash32(value);
  const index = x >>> (32 - h.p);
  const rest = (x << h.p) >>> 0;
  const rank = rest === 0 ? 32 - h.p + 1 : Math.clz32(rest) + 1;
  setRegister(h, index, rank);
  return h;
}

/** Merges `b` into `a` (register-wise max). */
export function hllMerge(a: HllState, b: HllState): HllState {
  if (b.d !== null) b.d.forEach((r, i) => r > 0 && setRegister(a, i, r));
  else for (const x of b.s!) setRegister(a, x >>> 5, x & 31);
  return a;
}

export function hllCount(h: HllState): number {
  const m = 1 << h.p;
  let sum = 0;
  let zeros = 0;
  if (h.d !== null) {
    for (const r of h.d) {
      sum += 2 ** -r;
      if (r === 0) zeros++;
    }
  } else {
    zeros = m - h.s!.length;
    sum = zeros;
    for (const x of h.s!) sum += 2 ** -(x & 31);
  }
  const alpha = 0.7213 / (1 + 1.079 / m);
  const estimate = (alpha * m * m) / sum;
  if (estimate <= 2.5 * m && zeros > 0) return Math.round(m * Math.log(m / zeros));
  return Math.round(estimate);
}
