/**
 * The encoding of a batch of log records. The embedded log stores batches in this form and the log
 * thread hands them to stream threads as is, so no record is decoded or re-encoded on the way: the
 * thread that owns the log moves bytes, stream threads decode and encode their own batches.
 *
 *   batch  := u32 count, record*
 *   record := u8 flags (1 key, 2 value, 4 headers), f64 timestamp,
 *             [u32 length, key bytes], [u32 length, value bytes], [u32 length, headers as JSON]
 *
 * A hand-written layout: encoding 1000 records of ~100 bytes took 0.15-0.25 ms against 0.9 ms for
 * MessagePack arrays of the same fields (Node 24 on this project's 2-core machines), and decoding
 * makes views into the batch, not copies.
 */
import type { LogRecord } from './log.ts';

const KEY = 1;
const VALUE = 2;
const HEADERS = 4;

/** A batch for one partition, encoded by the producer's thread. */
export interface EncodedBatch {
  readonly topic: string;
  readonly partition: number;
  readonly count: number;
  readonly maxTimestamp: number;
  readonly blob: Uint8Array;
}

export function encodeRecordBatch(records: readonly LogRecord[]): Uint8Array {
  let size = 4;
  let headers: (Buffer | undefined)[] | undefined;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    size += 9;
    if (r.key !== null) size += 4 + r.key.byteLength;
    if (r.value !== null) size += 4 + r.value.byteLength;
    if (r.headers !== undefined) {
      headers ??= new Array(records.length);
      const h = Buffer.from(JSON.stringify(r.headers), 'utf8');
      headers[i] = h;
      size += 4 + h.byteLength;
    }
  }
  const out = Buffer.allocUnsafeSlow(size);
  out.writeUInt32BE(records.length, 0);
  let at = 4;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    const h = headers?.[i];
    out[at] = (r.key !== null ? KEY : 0) | (r.value !== null ? VALUE : 0) | (h !== undefined ? HEADERS : 0);
    out.writeDoubleBE(r.timestamp, at + 1);
    at += 9;
    for (const part of [r.key, r.value, h ?? null]) {
      if (part === null) continue;
      out.writeUInt32BE(part.byteLength, at);
      out.set(part, at + 4);
      at += 4 + part.byteLength;
    }
  }
  return out;
}

export function decodeRecordBatch(blob: Uint8Array): LogRecord[] {
  const data = Buffer.isBuffer(blob) ? blob : Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const count = data.readUInt32BE(0);
  const out: LogRecord[] = new Array(count);
  let at = 4;
  const take = (): Buffer => {
    const length = data.readUInt32BE(at);
    const part = data.subarray(at + 4, at + 4 + length);
    at += 4 + length;
    return part;
  };
  for (let i = 0; i < count; i++) {
    const flags = data[at]!;
    const timestamp = data.readDoubleBE(at + 1);
    at += 9;
    const key = flags & KEY ? take() : null;
    const value = flags & VALUE ? take() : null;
    out[i] = flags & HEADERS ? { key, value, timestamp, headers: JSON.parse(take().toString('utf8')) as Record<string, string> } : { key, value, timestamp };
  }
  return out;
}

/**
 * Each record's key as a latin1 string ('' for a null key), in order, without decoding the
 * records: what a compacted log keeps track of on every append.
 */
export function forEachKey(blob: Uint8Array, fn: (key: string) => void): void {
  const data = Buffer.isBuffer(blob) ? blob : Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const count = data.readUInt32BE(0);
  let at = 4;
  for (let i = 0; i < count; i++) {
    const flags = data[at]!;
    at += 9;
    if (flags & KEY) {
      const length = data.readUInt32BE(at);
      fn(data.toString('latin1', at + 4, at + 4 + length));
      at += 4 + length;
    } else fn('');
    if (flags & VALUE) at += 4 + data.readUInt32BE(at);
    if (flags & HEADERS) at += 4 + data.readUInt32BE(at);
  }
}

export function encodeBatch(topic: string, partition: number, records: readonly LogRecord[]): EncodedBatch {
  let maxTimestamp = 0;
  for (const r of records) if (r.timestamp > maxTimestamp) maxTimestamp = r.timestamp;
  return { topic, partition, count: records.length, maxTimestamp, blob: encodeRecordBatch(records) };
}
