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

/**
 * `bytes`, or a copy of it that owns its memory when it is a view of a larger buffer: what a store
 * keeps beyond the record must not pin the buffer around it. Node's `Buffer.from` and
 * `allocUnsafe` hand out slices of shared 8 KiB slabs, serializers such as msgpackr slices of
 * their reused buffer, and fetched records slices of a whole batch: one long-lived 8-byte count
 * kept as such a slice keeps the whole slab alive (the soak run's memory grew ~1 MB/s this way).
 */
export function owned(bytes: Uint8Array): Uint8Array {
  if (bytes.byteLength === bytes.buffer.byteLength) return bytes;
  // A Buffer of its own, off the V8 heap: an on-heap copy (Buffer.alloc of a few bytes) made the
  // stream thread's garbage collector ~40% busier in countByKey, a plain Uint8Array is moved off
  // the heap by the first Buffer view a serde takes of it to decode.
  const copy = Buffer.allocUnsafeSlow(bytes.byteLength);
  copy.set(bytes);
  return copy;
}
