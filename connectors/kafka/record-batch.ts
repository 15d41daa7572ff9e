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
import { compressionsAlgorithmsByBitmask, crc32c } from '@platformatic/kafka';
import { StreamsError } from '../../engine/errors.ts';
import type { FetchedRecord, LogRecord } from '../../engine/log.ts';

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

const CONTROL_ATTRIBUTE = 0x20;
const COMPRESSION_MASK = 0x07;
const LOG_APPEND_TIME_ATTRIBUTE = 0x08;
/** baseOffset int64 and batchLength int32: what must be in hand to know a batch's extent. */
const LOG_OVERHEAD = 12;

/** An int64 as a number (offsets and timestamps fit in 53 bits). */
function int64At(buffer: Buffer, at: number): number {
  return buffer.readInt32BE(at) * 4294967296 + buffer.readUInt32BE(at + 4);
}

/** Reads record batches: one cursor over one buffer (a zig-zag varint may use up to 10 bytes). */
class Cursor {
  readonly buffer: Buffer;
  at: number;

  constructor(buffer: Buffer, at: number) {
    this.buffer = buffer;
    this.at = at;
  }

  varint(): number {
    const b = this.buffer;
    let byte = b[this.at++]!;
    let v = byte & 127;
    let scale = 128;
    while (byte >= 128) {
      byte = b[this.at++]!;
      v += (byte & 127) * scale;
      scale *= 128;
    }
    // zig-zag: even numbers are >= 0
    return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
  }

  /** Bytes of a varint length, or null for length -1; a view of the buffer, no copy. */
  bytes(): Buffer | null {
    const length = this.varint();
    if (length < 0) return null;
    const start = this.at;
    this.at += length;
    return this.buffer.subarray(start, this.at);
  }
}

/** One decoded batch: its records, read lazily by `records`. */
export interface DecodedBatch {
  readonly baseOffset: number;
  readonly lastOffset: number;
  readonly attributes: number;
  readonly producerId: bigint;
  readonly isControl: boolean;
  readonly isTransactional: boolean;
}

/**
 * The record batches of a fetch response's records field (magic 2; a partial batch at the end,
 * which the broker may send, is left out). `visit` decides per batch whether its records are
 * wanted; their records are decoded into `out` from `from` on (earlier offsets of the first batch
 * are dropped; `visit` sees every batch, also those before `from`). Headers become strings, as the log SPI carries them. Compressed batches are
 * decompressed with the client's codecs; log-append-time batches take their max timestamp.
 * Returns the offset of the last record of the last complete batch (-1 if none).
 */
export function decodeRecordBatches(
  buffer: Buffer,
  from: number,
  visit: (batch: DecodedBatch, firstKey: () => Buffer | null) => boolean,
  out: FetchedRecord[],
): number {
  let pos = 0;
  let lastOffset = -1;
  while (buffer.length - pos >= LOG_OVERHEAD) {
    const end = pos + LOG_OVERHEAD + buffer.readInt32BE(pos + 8);
    if (end > buffer.length || end < pos + HEADER_BYTES) break;
    const magic = buffer.readInt8(pos + 16);
    if (magic !== 2) throw new StreamsError('CORRUPT_DATA', `record batch format v${magic} is not supported (Kafka 4 writes v2)`);
    const baseOffset = int64At(buffer, pos);
    const attributes = buffer.readInt16BE(pos + 21);
    const batch: DecodedBatch = {
      baseOffset,
      lastOffset: baseOffset + buffer.readInt32BE(pos + 23),
      attributes,
      producerId: buffer.readBigInt64BE(pos + 43),
      isControl: (attributes & CONTROL_ATTRIBUTE) !== 0,
      isTransactional: (attributes & TRANSACTIONAL_ATTRIBUTE) !== 0,
    };
    lastOffset = batch.lastOffset;
    const count = buffer.readInt32BE(pos + 57);
    let body = buffer;
    let at = pos + HEADER_BYTES;
    const compression = attributes & COMPRESSION_MASK;
    const bodyOf = () => {
      if (compression !== 0 && body === buffer) {
        const codec = compressionsAlgorithmsByBitmask[compression];
        if (codec === undefined) throw new StreamsError('CORRUPT_DATA', `record batch compression ${compression} is not supported`);
        body = codec.decompressSync(buffer.subarray(pos + HEADER_BYTES, end));
        at = 0;
      }
      return new Cursor(body, at);
    };
    const firstKey = () => {
      if (count === 0) return null;
      const c = bodyOf();
      c.varint(); // length
      c.at++; // attributes
      c.varint(); // timestamp delta
      c.varint(); // offset delta
      return c.bytes();
    };
    if (visit(batch, firstKey) && batch.lastOffset >= from) {
      const baseTimestamp = int64At(buffer, pos + 27);
      const appendTime = (attributes & LOG_APPEND_TIME_ATTRIBUTE) !== 0 ? int64At(buffer, pos + 35) : -1;
      const c = bodyOf();
      for (let i = 0; i < count; i++) {
        const length = c.varint();
        const next = c.at + length;
        c.at++; // attributes (unused)
        const timestampDelta = c.varint();
        const offset = baseOffset + c.varint();
        if (offset < from) {
          c.at = next;
          continue;
        }
        const key = c.bytes();
        const value = c.bytes();
        const headerCount = c.varint();
        const timestamp = appendTime >= 0 ? appendTime : baseTimestamp + timestampDelta;
        if (headerCount <= 0) out.push({ offset, key, value, timestamp });
        else {
          const headers: Record<string, string> = {};
          for (let h = 0; h < headerCount; h++) {
            const k = c.bytes();
            const v = c.bytes();
            // defineProperty: a header may be named __proto__.
            if (k !== null) Object.defineProperty(headers, k.toString(), { value: v === null ? '' : v.toString(), enumerable: true, writable: true, configurable: true });
          }
          out.push({ offset, key, value, timestamp, headers });
        }
        c.at = next;
      }
    }
    pos = end;
  }
  return lastOffset;
}
