/**
 * The encoding of a batch of log records: a MessagePack array of [key, value, timestamp, headers?].
 * The embedded log stores batches in this form and the log thread hands them to stream threads
 * as is, so no record is decoded or re-encoded on the way: the thread that owns the log moves
 * bytes, stream threads decode and encode their own batches.
 */
import { Packr } from 'msgpackr';
import type { LogRecord } from './log.ts';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

type Row = [Uint8Array | null, Uint8Array | null, number, Record<string, string>?];

/** A batch for one partition, encoded by the producer's thread. */
export interface EncodedBatch {
  readonly topic: string;
  readonly partition: number;
  readonly count: number;
  readonly maxTimestamp: number;
  readonly blob: Uint8Array;
}

/** Encodes records; the result owns its memory (msgpackr reuses its output buffer). */
export function encodeRecordBatch(records: readonly LogRecord[]): Uint8Array {
  const rows: Row[] = new Array(records.length);
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    rows[i] = r.headers === undefined ? [r.key, r.value, r.timestamp] : [r.key, r.value, r.timestamp, { ...r.headers }];
  }
  return packr.pack(rows).slice();
}

export function decodeRecordBatch(blob: Uint8Array): LogRecord[] {
  const rows = packr.unpack(blob) as Row[];
  const out: LogRecord[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const [key, value, timestamp, headers] = rows[i]!;
    out[i] = headers === undefined ? { key: key ?? null, value: value ?? null, timestamp } : { key: key ?? null, value: value ?? null, timestamp, headers };
  }
  return out;
}

export function encodeBatch(topic: string, partition: number, records: readonly LogRecord[]): EncodedBatch {
  let maxTimestamp = 0;
  for (const r of records) if (r.timestamp > maxTimestamp) maxTimestamp = r.timestamp;
  return { topic, partition, count: records.length, maxTimestamp, blob: encodeRecordBatch(records) };
}
