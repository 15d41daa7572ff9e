/**
 * On-disk format of the embedded log: one write-ahead log split into segment files. Each entry is
 *
 *   [u32 body length][u32 CRC-32 of body][body]
 *
 * and its body is a MessagePack header followed by the raw blobs it points to. A commit entry
 * carries one blob per partition (that partition's records, MessagePack-encoded), so a reader of
 * one partition decodes only its own blob. An entry is the unit of atomicity: a transaction's
 * records for every partition and its consumer offsets (with their metadata) are one entry, so
 * after a crash either all of it is there (its CRC checks) or none of it is.
 */
import { crc32 } from 'node:zlib';
import { Packr } from 'msgpackr';
import type { CleanupPolicy, TopicConfig } from '../../engine/index.ts';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export const FRAME_HEADER_BYTES = 8;

/** One partition's part of a commit: where its blob sits in the body. */
export interface PartPointer {
  readonly topic: string;
  readonly partition: number;
  readonly baseOffset: number;
  readonly count: number;
  /** Offset of the blob from the start of the body. */
  readonly at: number;
  readonly length: number;
  /** Highest record timestamp in the blob (for time retention). */
  readonly maxTimestamp: number;
  /** Records in the blob when compaction left holes in it (a moved batch); `count` otherwise. */
  readonly records?: number;
}

export interface TopicEntry {
  readonly kind: 'topic';
  readonly name: string;
  readonly config: TopicConfig;
}

export interface FenceEntry {
  readonly kind: 'fence';
  readonly transactionalId: string;
  readonly epoch: number;
}

export interface CommitEntry {
  readonly kind: 'commit';
  readonly parts: readonly PartPointer[];
  /** group -> [partitionKey, next offset][] */
  readonly offsets?: Readonly<Record<string, readonly (readonly [string, number])[]>>;
  /**
   * group -> [partitionKey, metadata][]: the metadata committed with some of `offsets` (absent in
   * entries written before metadata existed). A partition in `offsets` but not here has none.
   */
  readonly metadata?: GroupMetadataRecord;
  /** The transactional producer that committed it, if any. */
  readonly producer?: { readonly id: string; readonly epoch: number };
}

/** The state a segment starts from, so older segments can be deleted. */
export interface CheckpointEntry {
  readonly kind: 'checkpoint';
  readonly topics: readonly { name: string; config: TopicConfig; starts: number[]; ends: number[] }[];
  readonly producers: Readonly<Record<string, number>>;
  readonly offsets: Readonly<Record<string, readonly (readonly [string, number])[]>>;
  /** The metadata committed with `offsets` (absent in checkpoints written before metadata existed). */
  readonly metadata?: GroupMetadataRecord;
}

/** group -> [partitionKey, metadata][], as commits and checkpoints store consumer offset metadata. */
export type GroupMetadataRecord = Readonly<Record<string, readonly (readonly [string, string])[]>>;

/** Records before `offset` were deleted (deleteRecords). */
export interface TrimEntry {
  readonly kind: 'trim';
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

/**
 * Batches the cleaner copied forward from a segment that was mostly dead, each with the offsets it
 * had and only its live records (the others are holes): the batch with the same base offset is
 * read from here on, and the old segment can be deleted once nothing else in it is live.
 */
export interface MoveEntry {
  readonly kind: 'move';
  readonly parts: readonly PartPointer[];
}

export type Entry = TopicEntry | FenceEntry | CommitEntry | CheckpointEntry | TrimEntry | MoveEntry;

export { compactRecordBatch, decodeRecordsAt, forEachKey, holeOf, joinBatch } from '../../engine/log-codec.ts';

/** Frames an entry: header, CRC, MessagePack header of the body, then the blobs. */
export function frame(entry: Entry, blobs: readonly Uint8Array[] = []): Buffer {
  const head = packr.pack(entry);
  const bodyLength = 4 + head.byteLength + blobs.reduce((n, b) => n + b.byteLength, 0);
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + bodyLength);
  out.writeUInt32BE(bodyLength, 0);
  out.writeUInt32BE(head.byteLength, 8);
  out.set(head, 12);
  let at = 12 + head.byteLength;
  for (const blob of blobs) {
    out.set(blob, at);
    at += blob.byteLength;
  }
  out.writeUInt32BE(crc32(out.subarray(FRAME_HEADER_BYTES)), 4);
  return out;
}

/** Where blob i starts within the body, for building PartPointers before framing. */
export function blobOffsets(headLength: number, blobs: readonly Uint8Array[]): number[] {
  const offsets: number[] = [];
  let at = 4 + headLength;
  for (const blob of blobs) {
    offsets.push(at);
    at += blob.byteLength;
  }
  return offsets;
}

/** Packs a commit whose pointers depend on the header's own length. */
export function frameCommit(
  parts: readonly Omit<PartPointer, 'at' | 'length'>[],
  blobs: readonly Uint8Array[],
  extra: Pick<CommitEntry, 'offsets' | 'metadata' | 'producer'>,
): { buffer: Buffer; entry: CommitEntry } {
  return framePointed(blobs, (offsets) => ({
    kind: 'commit',
    parts: parts.map((p, i) => ({ ...p, at: offsets[i]!, length: blobs[i]!.byteLength })),
    ...(extra.offsets !== undefined && { offsets: extra.offsets }),
    ...(extra.metadata !== undefined && { metadata: extra.metadata }),
    ...(extra.producer !== undefined && { producer: extra.producer }),
  }));
}

/** Packs a move of batches (see MoveEntry). */
export function frameMove(parts: readonly Omit<PartPointer, 'at' | 'length'>[], blobs: readonly Uint8Array[]): { buffer: Buffer; entry: MoveEntry } {
  return framePointed(blobs, (offsets) => ({ kind: 'move', parts: parts.map((p, i) => ({ ...p, at: offsets[i]!, length: blobs[i]!.byteLength })) }));
}

/** Frames an entry whose blob pointers depend on the header's own length: iterate until stable. */
function framePointed<E extends Entry>(blobs: readonly Uint8Array[], build: (offsets: number[]) => E): { buffer: Buffer; entry: E } {
  let headLength = 0;
  for (;;) {
    const entry = build(blobOffsets(headLength, blobs));
    const head = packr.pack(entry);
    if (head.byteLength === headLength) return { buffer: frame(entry, blobs), entry };
    headLength = head.byteLength;
  }
}

export type ParseResult =
  | { readonly status: 'ok'; readonly entry: Entry; readonly bodyStart: number; readonly next: number }
  | { readonly status: 'end' }
  | { readonly status: 'torn'; readonly reason: string }
  | { readonly status: 'corrupt'; readonly reason: string };

/** Parses the entry at `pos` of a segment's bytes. */
export function parseAt(data: Buffer, pos: number): ParseResult {
  if (pos === data.byteLength) return { status: 'end' };
  if (pos + FRAME_HEADER_BYTES > data.byteLength) return { status: 'torn', reason: 'incomplete entry header' };
  const length = data.readUInt32BE(pos);
  const crc = data.readUInt32BE(pos + 4);
  const bodyStart = pos + FRAME_HEADER_BYTES;
  const next = bodyStart + length;
  if (length < 4 || next > data.byteLength) return { status: 'torn', reason: 'entry runs past the end of the file' };
  const body = data.subarray(bodyStart, next);
  if (crc32(body) !== crc) {
    return next === data.byteLength
      ? { status: 'torn', reason: 'checksum mismatch in the last entry' }
      : { status: 'corrupt', reason: `checksum mismatch at byte ${pos}` };
  }
  const headLength = body.readUInt32BE(0);
  try {
    const entry = packr.unpack(body.subarray(4, 4 + headLength)) as Entry;
    return { status: 'ok', entry, bodyStart, next };
  } catch (error) {
    return { status: 'corrupt', reason: `unreadable entry at byte ${pos}: ${String(error)}` };
  }
}

/**
 * Position of the first entry at or after `from` that parses whole (its CRC checks and its header
 * decodes), or -1. Recovery uses it to tell a torn tail (nothing valid after the bad entry: a write
 * cut short) from damage in the middle of a segment (valid entries follow: acknowledged data).
 */
export function findValidEntry(data: Buffer, from: number): number {
  for (let pos = from; pos + FRAME_HEADER_BYTES + 4 <= data.byteLength; pos++) {
    const length = data.readUInt32BE(pos);
    if (length < 4 || pos + FRAME_HEADER_BYTES + length > data.byteLength) continue;
    if (parseAt(data, pos).status === 'ok') return pos;
  }
  return -1;
}

export function isCompacted(policy: CleanupPolicy): boolean {
  return policy === 'compact' || policy === 'compact,delete';
}
