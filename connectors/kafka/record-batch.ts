/**
 * Kafka's record batch format (magic 2), written in one pass into one buffer: what a transactional
 * stream thread produces, without the client's per-field buffers (see producer.ts).
 *
 *   baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 | magic int8 (2) | crc uint32
 *   | attributes int16 | lastOffsetDelta int32 | baseTimestamp int64 | maxTimestamp int64
 *   | producerId int64 | producerEpoch int16 | baseSequence int32 | records count int32 | records
 *
 * The CRC (CRC-32C) covers everything from attributes to the end. Each record is
 *   length varint | attributes int8 | timestampDelta varlong | offsetDelta varint
 *   | keyLength varint | key | valueLength varint | value | headers count varint
 *   | (keyLength varint | key | valueLength varint | value)...
 * with varints in zig-zag encoding; a null key or value has length -1.
 */
import { crc32c } from '@platformatic/kafka';
import type { LogRecord } from '../../engine/log.ts';

const HEADER_BYTES = 61;
/** Offset of the attributes field: where the CRC starts. */
const CRC_FROM = 21;
export const TRANSACTIONAL_ATTRIBUTE = 0x10;

export interface BatchProducer {
  readonly producerId: bigint;
  readonly producerEpoch: number;
  readonly baseSequence: number;
  readonly transactional: boolean;
}

/** Bytes of a zig-zag varint of a number that fits in 53 bits. */
function varintSize(value: number): number {
  let v = value >= 0 ? value * 2 : -value * 2 - 1;
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function writeVarint(buffer: Buffer, at: number, value: number): number {
  let v = value >= 0 ? value * 2 : -value * 2 - 1;
  while (v >= 128) {
    buffer[at++] = (v % 128) | 128;
    v = Math.floor(v / 128);
  }
  buffer[at++] = v;
  return at;
}

const encoder = new TextEncoder();

function bytesOf(data: Uint8Array | string): Uint8Array {
  return typeof data === 'string' ? encoder.encode(data) : data;
}

/** One record batch holding `records` (at least one), as the broker stores it. */
export function encodeRecordBatch(records: readonly LogRecord[], producer: BatchProducer): Buffer {
  if (records.length === 0) throw new RangeError('a record batch holds at least one record');
  // The base timestamp is the first record's (deltas may be negative), the max the largest.
  const baseTimestamp = records[0]!.timestamp;
  let maxTimestamp = baseTimestamp;
  for (const r of records) if (r.timestamp > maxTimestamp) maxTimestamp = r.timestamp;
  // Sizes first, so that the batch is written into one buffer of the right length.
  const bodySizes = new Array<number>(records.length);
  const headerBytes: ([Uint8Array, Uint8Array][] | undefined)[] = new Array(records.length);
  let total = HEADER_BYTES;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    let size = 1 + varintSize(r.timestamp - baseTimestamp) + varintSize(i);
    size += r.key === null ? 1 : varintSize(r.key.byteLength) + r.key.byteLength;
    size += r.value === null ? 1 : varintSize(r.value.byteLength) + r.value.byteLength;
    const entries = r.headers === undefined ? [] : Object.entries(r.headers).map(([k, v]) => [bytesOf(k), bytesOf(v)] as [Uint8Array, Uint8Array]);
    headerBytes[i] = entries.length === 0 ? undefined : entries;
    size += varintSize(entries.length);
    for (const [k, v] of entries) size += varintSize(k.byteLength) + k.byteLength + varintSize(v.byteLength) + v.byteLength;
    bodySizes[i] = size;
    total += varintSize(size) + size;
  }
  const buffer = Buffer.allocUnsafe(total);
  buffer.writeBigInt64BE(0n, 0); // baseOffset: the broker assigns offsets
  buffer.writeInt32BE(total - 12, 8); // batchLength: from partitionLeaderEpoch on
  buffer.writeInt32BE(-1, 12); // partitionLeaderEpoch
  buffer.writeInt8(2, 16); // magic
  buffer.writeInt16BE(producer.transactional ? TRANSACTIONAL_ATTRIBUTE : 0, 21);
  buffer.writeInt32BE(records.length - 1, 23); // lastOffsetDelta
  buffer.writeBigInt64BE(BigInt(baseTimestamp), 27);
  buffer.writeBigInt64BE(BigInt(maxTimestamp), 35);
  buffer.writeBigInt64BE(producer.producerId, 43);
  buffer.writeInt16BE(producer.producerEpoch, 51);
  buffer.writeInt32BE(producer.baseSequence, 53);
  buffer.writeInt32BE(records.length, 57);
  let at = HEADER_BYTES;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    at = writeVarint(buffer, at, bodySizes[i]!);
    buffer[at++] = 0; // attributes
    at = writeVarint(buffer, at, r.timestamp - baseTimestamp);
    at = writeVarint(buffer, at, i);
    if (r.key === null) at = writeVarint(buffer, at, -1);
    else {
      at = writeVarint(buffer, at, r.key.byteLength);
      buffer.set(r.key, at);
      at += r.key.byteLength;
    }
    if (r.value === null) at = writeVarint(buffer, at, -1);
    else {
      at = writeVarint(buffer, at, r.value.byteLength);
      buffer.set(r.value, at);
      at += r.value.byteLength;
    }
    const headers = headerBytes[i];
    at = writeVarint(buffer, at, headers?.length ?? 0);
    for (const [k, v] of headers ?? []) {
      at = writeVarint(buffer, at, k.byteLength);
      buffer.set(k, at);
      at += k.byteLength;
      at = writeVarint(buffer, at, v.byteLength);
      buffer.set(v, at);
      at += v.byteLength;
    }
  }
  if (at !== total) throw new Error(`record batch size mismatch: wrote ${at} of ${total} bytes`);
  buffer.writeUInt32BE(crc32c(buffer.subarray(CRC_FROM)) >>> 0, 17);
  return buffer;
}
