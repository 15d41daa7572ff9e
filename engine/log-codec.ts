/**
 * The encoding of a batch of log records. The embedded log stores batches in this form and the log
 * thread hands them to stream threads as is, so no record is decoded or re-encoded on the way: the
 * thread that owns the log moves bytes, stream threads decode and encode their own batches.
 *
 *   batch  := u32 count, (record | hole)*
 *   record := u8 flags (1 key, 2 value, 4 headers), f64 timestamp,
 *             [u32 length, key bytes], [u32 length, value bytes], [u32 length, headers as JSON]
 *   hole   := u8 8, u32 n
 *
 * `count` is the number of offsets the batch covers: record i has the batch's base offset + i. A
 * hole stands for n consecutive offsets whose records compaction removed (a key's superseded
 * records, as Kafka's log cleaner removes them), so a batch keeps its offsets when it is rewritten
 * with only its live records; producers never write holes.
 *
 * A hand-written layout: encoding 1000 records of ~100 bytes took 0.15-0.25 ms against 0.9 ms for
 * MessagePack arrays of the same fields (Node 24 on this project's 2-core machines), and decoding
 * makes views into the batch, not copies.
 */
import type { FetchedRecord, LogRecord } from './log.ts';

const KEY = 1;
const VALUE = 2;
const HEADERS = 4;
const HOLE = 8;

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

/** The records of a batch, in order, without the holes compaction left (decodeRecordsAt gives offsets). */
export function decodeRecordBatch(blob: Uint8Array): LogRecord[] {
  const out: LogRecord[] = [];
  walk(blob, 0, Number.POSITIVE_INFINITY, (key, value, timestamp, headers) => {
    out.push(headers === undefined ? { key, value, timestamp } : { key, value, timestamp, headers });
  });
  return out;
}

/**
 * Appends to `out` the records of a batch whose first offset is `baseOffset` at offsets
 * `baseOffset + from` up to `limit` offsets further (as the log counted them when it fetched the
 * batch: holes count), each with its offset. Returns how many offsets that covered.
 */
export function decodeRecordsAt(blob: Uint8Array, baseOffset: number, from: number, limit: number, out: FetchedRecord[]): number {
  if (limit <= 0) return 0;
  const to = from + limit;
  const count = walk(blob, from, to, (key, value, timestamp, headers, i) => {
    const offset = baseOffset + i;
    out.push(headers === undefined ? { key, value, timestamp, offset } : { key, value, timestamp, headers, offset });
  });
  return Math.max(0, Math.min(count, to) - from);
}

/**
 * Visits the records of a batch at indexes `from` to `to` (exclusive; holes left out); returns the
 * batch's count. Decoding makes views into the batch, not copies.
 */
function walk(
  blob: Uint8Array,
  from: number,
  to: number,
  visit: (key: Buffer | null, value: Buffer | null, timestamp: number, headers: Record<string, string> | undefined, index: number) => void,
): number {
  const data = Buffer.isBuffer(blob) ? blob : Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const count = data.readUInt32BE(0);
  let at = 4;
  const take = (): Buffer => {
    const length = data.readUInt32BE(at);
    const part = data.subarray(at + 4, at + 4 + length);
    at += 4 + length;
    return part;
  };
  const end = Math.min(count, to);
  for (let i = 0; i < end; i++) {
    const flags = data[at]!;
    if (flags & HOLE) {
      i += data.readUInt32BE(at + 1) - 1;
      at += 5;
      continue;
    }
    if (i < from) {
      at = skipRecord(data, at, flags);
      continue;
    }
    const timestamp = data.readDoubleBE(at + 1);
    at += 9;
    const key = flags & KEY ? take() : null;
    const value = flags & VALUE ? take() : null;
    const headers = flags & HEADERS ? (JSON.parse(take().toString('utf8')) as Record<string, string>) : undefined;
    visit(key, value, timestamp, headers, i);
  }
  return count;
}

/** Position after the record at `at`. */
function skipRecord(data: Buffer, at: number, flags: number): number {
  at += 9;
  if (flags & KEY) at += 4 + data.readUInt32BE(at);
  if (flags & VALUE) at += 4 + data.readUInt32BE(at);
  if (flags & HEADERS) at += 4 + data.readUInt32BE(at);
  return at;
}

/** A hole of n offsets, as a piece of a batch's body. */
export function holeOf(n: number): Buffer {
  const out = Buffer.allocUnsafeSlow(5);
  out[0] = HOLE;
  out.writeUInt32BE(n, 1);
  return out;
}

/**
 * The batch rewritten with only the records `keep` accepts (by index), the others turned into
 * holes: the batch covers the same offsets. Returns undefined when it keeps every record.
 */
export function compactRecordBatch(blob: Uint8Array, keep: (index: number) => boolean): { blob: Uint8Array; records: number } | undefined {
  const data = Buffer.isBuffer(blob) ? blob : Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const count = data.readUInt32BE(0);
  // The records kept, as they are, and a hole for each run of offsets between them.
  const pieces: Buffer[] = [];
  let run = 0;
  let records = 0;
  let dropped = false;
  let at = 4;
  for (let i = 0; i < count; i++) {
    const flags = data[at]!;
    if (flags & HOLE) {
      const n = data.readUInt32BE(at + 1);
      run += n;
      i += n - 1;
      at += 5;
      continue;
    }
    const end = skipRecord(data, at, flags);
    if (keep(i)) {
      if (run > 0) pieces.push(holeOf(run));
      run = 0;
      pieces.push(data.subarray(at, end));
      records++;
    } else {
      run++;
      dropped = true;
    }
    at = end;
  }
  if (!dropped) return undefined;
  if (run > 0) pieces.push(holeOf(run));
  return { blob: joinBatch(count, pieces), records };
}

/** A batch covering `count` offsets whose body is `pieces` (records and holes, as encoded), in order. */
export function joinBatch(count: number, pieces: readonly Uint8Array[]): Uint8Array {
  const out = Buffer.allocUnsafeSlow(4 + pieces.reduce((n, b) => n + b.byteLength, 0));
  out.writeUInt32BE(count, 0);
  let at = 4;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.byteLength;
  }
  return out;
}

/**
 * Each record's key as a latin1 string ('' for a null key) and its index in the batch, in order,
 * without decoding the records (holes left out): what a compacted log keeps track of.
 */
export function forEachKey(blob: Uint8Array, fn: (key: string, index: number) => void): void {
  const data = Buffer.isBuffer(blob) ? blob : Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const count = data.readUInt32BE(0);
  let at = 4;
  for (let i = 0; i < count; i++) {
    const flags = data[at]!;
    if (flags & HOLE) {
      i += data.readUInt32BE(at + 1) - 1;
      at += 5;
      continue;
    }
    fn(flags & KEY ? data.toString('latin1', at + 13, at + 13 + data.readUInt32BE(at + 9)) : '', i);
    at = skipRecord(data, at, flags);
  }
}

export function encodeBatch(topic: string, partition: number, records: readonly LogRecord[]): EncodedBatch {
  let maxTimestamp = 0;
  for (const r of records) if (r.timestamp > maxTimestamp) maxTimestamp = r.timestamp;
  return { topic, partition, count: records.length, maxTimestamp, blob: encodeRecordBatch(records) };
}
