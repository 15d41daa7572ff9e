/**
 * Byte helpers of the hot path. Writing bytes one by one beats a DataView made per call (measured
 * ~6x on Node 24 for an 11-byte key and two u64s) because these buffers are small and short-lived.
 */

/** Writes `value` as an 8-byte big-endian unsigned integer (the low 32 bits of each half, as DataView.setUint32 would). */
export function writeUint64(out: Uint8Array, at: number, value: number): void {
  const hi = Math.floor(value / 2 ** 32) >>> 0;
  const lo = (value % 2 ** 32) >>> 0;
  out[at] = hi >>> 24;
  out[at + 1] = hi >>> 16;
  out[at + 2] = hi >>> 8;
  out[at + 3] = hi;
  out[at + 4] = lo >>> 24;
  out[at + 5] = lo >>> 16;
  out[at + 6] = lo >>> 8;
  out[at + 7] = lo;
}

/** A latin1 string's bytes (one per character) followed by `numbers` as 8-byte big-endian integers. */
export function latin1WithUint64s(id: string, numbers: readonly number[]): Uint8Array {
  const n = id.length;
  const out = new Uint8Array(n + 8 * numbers.length);
  for (let i = 0; i < n; i++) out[i] = id.charCodeAt(i);
  for (let i = 0; i < numbers.length; i++) writeUint64(out, n + 8 * i, numbers[i]!);
  return out;
}
