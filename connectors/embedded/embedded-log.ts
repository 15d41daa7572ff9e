import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, realpathSync, fsyncSync, ftruncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { walIo } from './wal-io.ts';
import { join } from 'node:path';
import { StreamsError } from '../../engine/index.ts';
import {
  encodeBatch,
  partitionKey,
  type EncodedBatch,
  type EncodedFetchResult,
  type EncodedLog,
  type FetchedRecord,
  type FetchOptions,
  type FetchResult,
  type GroupGeneration,
  type GroupMetadata,
  type GroupOffsets,
  type Log,
  type LogRecord,
  type LogTransaction,
  type PartitionBatch,
  type SendOffsetsOptions,
  type TopicConfig,
  type TopicPartition,
  type TransactionalProducer,
} from '../../spi.ts';
import {
  type CheckpointEntry,
  type CommitEntry,
  type Entry,
  type GroupMetadataRecord,
  type PartPointer,
  compactRecordBatch,
  decodeRecordsAt,
  frame,
  findValidEntry,
  forEachKey,
  frameCommit,
  frameMove,
  holeOf,
  joinBatch,
  FRAME_HEADER_BYTES,
  isCompacted,
  parseAt,
} from './wal-format.ts';

export interface EmbeddedLogOptions {
  /** Data directory; created if missing. */
  readonly dir: string;
  /** A segment file is closed and a new one started past this size (default 64 MiB). */
  readonly segmentBytes?: number;
  /** fdatasync after each group of writes (default true). Off only for benchmarks of the log itself. */
  readonly fsync?: boolean;
  /** Decoded partition batches kept for readers (default 512). */
  readonly readCacheBatches?: number;
  /** Clock for time retention (default Date.now). */
  readonly clock?: () => number;
  /** How often retention and compaction run (default 30 s; 0 turns the timer off). */
  readonly cleanIntervalMs?: number;
}

interface Segment {
  readonly id: number;
  readonly path: string;
  fd: number;
  size: number;
}

/** A batch of one partition inside a segment. */
interface Chunk {
  readonly baseOffset: number;
  /** Offsets covered: baseOffset .. baseOffset + span - 1 (some may be gone after compaction). */
  readonly span: number;
  readonly segment: Segment;
  /** Absolute position of the blob in the segment file. */
  readonly pos: number;
  readonly length: number;
  readonly maxTimestamp: number;
  /** Records in the blob (fewer than `span` once compaction left holes in it). */
  readonly records: number;
  /** Compacted topics: how many keys this batch holds the latest record of (0: the batch is dead). */
  liveKeys: number;
}

interface PartitionState {
  /** First offset readers can get. */
  start: number;
  /** Offset after the last durable record. */
  end: number;
  /** Offset the next append gets (>= end while writes are in flight). */
  reserved: number;
  chunks: Chunk[];
  /**
   * Compacted topics only: the batch holding the latest record of each key (and each batch's
   * count of those, Chunk.liveKeys). Kept up to date as batches are appended, so cleaning finds
   * dead batches without reading the partition again.
   */
  latest?: Map<string, Chunk>;
  /** `start` when `latest` last dropped the keys of batches before it (see #forget). */
  forgotTo?: number;
  /** The newest record timestamp appended (time retention of compact,delete topics counts from it). */
  newest: number;
}

/** A group's committed position in a partition: the next offset to read, and the metadata committed with it. */
interface Committed {
  readonly offset: number;
  readonly metadata?: string;
}

/**
 * Longest metadata committed with an offset, in characters: Kafka's default offset.metadata.max.bytes
 * (which the broker, despite its name, compares with the string's length).
 */
const MAX_METADATA_LENGTH = 4096;

interface TopicState {
  readonly config: TopicConfig;
  readonly partitions: PartitionState[];
}

interface Pending {
  readonly buffer: Buffer;
  /** Makes the entry visible once durable; gets where it was written. */
  readonly apply: (segment: Segment, pos: number) => void;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

const SEGMENT_DIGITS = 20;

/** The cleaner copies the live batches of a closed segment forward when they fill less than this share of it (Kafka's min.cleanable.dirty.ratio, 0.5). */
const MAX_LIVE_RATIO = 0.5;

/** Largest move entry the cleaner writes: a write (and its reads) on the log's thread, between others. */
const MOVE_ENTRY_BYTES = 1024 * 1024;

/** Runs of at least this many batches are merged even in a segment mostly live. */
const MERGE_MIN_BATCHES = 16;

/** Largest batch the cleaner makes by merging a partition's batches. */
const MOVE_RUN_BYTES = 1024 * 1024;

/** Batches of one partition, next to each other in its index and in one segment. */
interface Run {
  readonly p: PartitionState;
  readonly topic: string;
  readonly partition: number;
  readonly chunks: Chunk[];
  bytes: number;
}

function segmentName(id: number): string {
  return `${String(id).padStart(SEGMENT_DIGITS, '0')}.seg`;
}

function validateConfig(name: string, config: TopicConfig): void {
  if (!/^[A-Za-z0-9._-]{1,249}$/.test(name)) {
    throw new StreamsError('INVALID_ARGUMENT', `a topic name must be 1-249 letters, digits, ".", "_" or "-": ${JSON.stringify(name)}`);
  }
  if (!Number.isSafeInteger(config.partitions) || config.partitions < 1) {
    throw new StreamsError('INVALID_ARGUMENT', `topic "${name}" needs at least one partition, got ${config.partitions}`);
  }
}

/**
 * The embedded log: durable topics on local disk, in one process. All writes go to one
 * write-ahead log of segment files, so a transaction (records for many partitions plus consumer
 * offsets) is a single checksummed entry: after a crash it is there whole or not at all. A torn
 * last entry is truncated on open; damage before the last entry refuses to open, naming the file.
 *
 * Writes are queued and written in groups, one write and one fdatasync per group, and become
 * visible to readers once durable. Uncommitted transactions live in the producer's memory only,
 * so every reader is read-committed.
 */
export class EmbeddedLog implements Log, EncodedLog {
  readonly #dir: string;
  readonly #segmentBytes: number;
  readonly #fsync: boolean;
  readonly #clock: () => number;
  readonly #topics = new Map<string, TopicState>();
  /** Latest epoch per transactional id, as of the last queued entry. */
  readonly #producers = new Map<string, number>();
  /** Durable committed offsets (and their metadata) per group. */
  readonly #offsets = new Map<string, Map<string, Committed>>();
  /** Offsets as of the last queued entry (what a checkpoint must carry). */
  readonly #queuedOffsets = new Map<string, Map<string, Committed>>();
  readonly #segments: Segment[] = [];
  /** Bytes queued for the current segment, to decide when to roll. */
  #queuedSize = 0;
  readonly #queue: (Pending | 'roll')[] = [];
  #writing: Promise<void> | null = null;
  /** Recently read batches, as stored (encoded). */
  readonly #cache = new Map<Chunk, Uint8Array>();
  /** The id and epoch behind each transactional producer handed out. */
  readonly #producerIds = new WeakMap<TransactionalProducer, { id: string; epoch: number }>();
  readonly #cacheLimit: number;
  #closed = false;
  /** Set once a write fails: the log takes no more writes until reopened. */
  #failed: StreamsError | undefined;
  #cleaner: NodeJS.Timeout | undefined;
  /** Releases the data directory's lock. */
  #unlock: () => void = () => {};
  #cleaning: Promise<number> | undefined;

  private constructor(options: EmbeddedLogOptions) {
    this.#dir = options.dir;
    this.#segmentBytes = options.segmentBytes ?? 64 * 1024 * 1024;
    this.#fsync = options.fsync ?? true;
    this.#clock = options.clock ?? Date.now;
    this.#cacheLimit = options.readCacheBatches ?? 512;
  }

  /**
   * Opens (or creates) the log in `options.dir`, recovering it after a crash. The directory is
   * locked to this process: another live process that has it open makes this fail with LOG_LOCKED.
   */
  static async open(options: EmbeddedLogOptions): Promise<EmbeddedLog> {
    const log = new EmbeddedLog(options);
    mkdirSync(options.dir, { recursive: true });
    log.#unlock = await lockDirectory(options.dir, log);
    try {
      log.#recover();
    } catch (error) {
      for (const s of log.#segments) closeSync(s.fd);
      log.#unlock();
      throw error;
    }
    const every = options.cleanIntervalMs ?? 30_000;
    if (every > 0) {
      log.#cleaner = setInterval(() => void log.clean().catch(() => {}), every);
      log.#cleaner.unref();
    }
    return log;
  }

  // ------------------------------------------------------------------ recovery

  #recover(): void {
    const walDir = join(this.#dir, 'wal');
    mkdirSync(walDir, { recursive: true });
    const ids = readdirSync(walDir)
      .filter((f) => /^\d+\.seg$/.test(f))
      .map((f) => Number.parseInt(f, 10))
      .sort((a, b) => a - b);
    for (const [i, id] of ids.entries()) {
      const path = join(walDir, segmentName(id));
      const data = readFileSync(path);
      const last = i === ids.length - 1;
      const fd = openSync(path, 'r+');
      const segment: Segment = { id, path, fd, size: data.byteLength };
      let pos = 0;
      for (;;) {
        const parsed = parseAt(data, pos);
        if (parsed.status === 'end') break;
        if (parsed.status === 'ok') {
          this.#replay(parsed.entry, segment, parsed.bodyStart);
          pos = parsed.next;
          continue;
        }
        // A torn tail is a bad entry with no valid entry after it: a write cut short by a crash (or
        // a failed write), never acknowledged. A valid entry after it means damage to acknowledged
        // data (a flipped length byte reads as "runs past the end" too): refuse, never truncate.
        const validAfter = findValidEntry(data, pos + 1);
        if (parsed.status === 'torn' && last && validAfter < 0) {
          ftruncateSync(fd, pos);
          fsyncSync(fd);
          segment.size = pos;
          console.warn(
            `tributary: the embedded log file ${path} ended in a torn entry (${parsed.reason}); truncated it at byte ${pos}, dropping ${data.byteLength - pos} bytes that were never acknowledged`,
          );
          break;
        }
        closeSync(fd);
        const after = validAfter < 0 ? '' : `, and a valid entry follows at byte ${validAfter}`;
        throw new StreamsError(
          'CORRUPT_DATA',
          `the embedded log file ${path} is damaged at byte ${pos} (${parsed.reason}${after}); committed data after byte ${pos} cannot be read. ` +
            'Restore the data directory from a backup, or move the file away to start from the entries before it.',
        );
      }
      this.#segments.push(segment);
    }
    if (this.#segments.length === 0) this.#openNewSegment(0);
    for (const topic of this.#topics.values()) for (const p of topic.partitions) this.#forget(p);
    for (const [group, offsets] of this.#offsets) this.#queuedOffsets.set(group, new Map(offsets));
    this.#queuedSize = this.#current().size;
  }

  #replay(entry: Entry, segment: Segment, bodyStart: number): void {
    switch (entry.kind) {
      case 'topic':
        if (!this.#topics.has(entry.name)) this.#topics.set(entry.name, newTopic(entry.config));
        break;
      case 'fence':
        this.#producers.set(entry.transactionalId, entry.epoch);
        break;
      case 'checkpoint':
        this.#applyCheckpoint(entry);
        break;
      case 'trim': {
        const p = this.#topics.get(entry.topic)?.partitions[entry.partition];
        if (p !== undefined) this.#trim(p, entry.offset);
        break;
      }
      case 'move':
        for (const part of entry.parts) {
          const p = this.#topics.get(part.topic)?.partitions[part.partition];
          if (p !== undefined) this.#adopt(p, chunkOf(part, segment, bodyStart), undefined, undefined);
        }
        break;
      case 'commit':
        for (const part of entry.parts) {
          const p = this.#topics.get(part.topic)?.partitions[part.partition];
          if (p === undefined) continue;
          this.#append(p, chunkOf(part, segment, bodyStart), undefined);
          p.end = p.reserved = Math.max(p.end, part.baseOffset + part.count);
        }
        this.#applyOffsets(this.#offsets, entry.offsets, entry.metadata);
        if (entry.producer !== undefined) {
          this.#producers.set(entry.producer.id, Math.max(this.#producers.get(entry.producer.id) ?? 0, entry.producer.epoch));
        }
        break;
    }
  }

  #applyCheckpoint(entry: CheckpointEntry): void {
    for (const t of entry.topics) {
      let topic = this.#topics.get(t.name);
      if (topic === undefined) this.#topics.set(t.name, (topic = newTopic(t.config)));
      topic.partitions.forEach((p, i) => {
        p.start = t.starts[i] ?? p.start;
        p.end = p.reserved = t.ends[i] ?? p.end;
        p.chunks = p.chunks.filter((c) => c.baseOffset + c.span > p.start);
      });
    }
    for (const [id, epoch] of Object.entries(entry.producers)) this.#producers.set(id, epoch);
    this.#offsets.clear();
    this.#applyOffsets(this.#offsets, entry.offsets, entry.metadata);
  }

  /**
   * Commits offsets with their metadata: a partition committed without metadata has none any more
   * (as in Kafka, where an offset and its metadata are one value).
   */
  #applyOffsets(target: Map<string, Map<string, Committed>>, offsets: CommitEntry['offsets'], metadata: GroupMetadataRecord | undefined): void {
    if (offsets === undefined) return;
    for (const [group, list] of Object.entries(offsets)) {
      let map = target.get(group);
      if (map === undefined) target.set(group, (map = new Map()));
      const withMetadata = metadata?.[group];
      const byPartition = withMetadata === undefined || withMetadata.length === 0 ? undefined : new Map(withMetadata);
      for (const [tp, offset] of list) {
        const value = byPartition?.get(tp);
        map.set(tp, value === undefined ? { offset } : { offset, metadata: value });
      }
    }
  }

  // ------------------------------------------------------------------ writing

  #current(): Segment {
    return this.#segments[this.#segments.length - 1]!;
  }

  #openNewSegment(id: number): Segment {
    const path = join(this.#dir, 'wal', segmentName(id));
    const fd = openSync(path, 'w+');
    const segment: Segment = { id, path, fd, size: 0 };
    this.#segments.push(segment);
    return segment;
  }

  /**
   * Queues an entry; resolves once it is durable and visible. `queue` applies the entry to the
   * queued state (reserved offsets, epochs, offsets a checkpoint must carry); it runs after any
   * roll, so a roll's checkpoint describes the log without this entry: if the entry is torn, the
   * checkpoint does not claim it.
   */
  #enqueue(buffer: Buffer, apply: Pending['apply'], queue: () => void = () => {}): Promise<void> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    if (this.#closed) return Promise.reject(new StreamsError('LOG_CLOSED', 'the embedded log is closed'));
    if (this.#queuedSize > 0 && this.#queuedSize + buffer.byteLength > this.#segmentBytes) {
      // Roll: the new segment starts with a checkpoint of everything queued so far, so that
      // older segments can be deleted once nothing in them is live.
      this.#queue.push('roll');
      const checkpoint = frame(this.#checkpoint());
      this.#queuedSize = 0;
      void this.#push(checkpoint, () => {});
    }
    queue();
    return this.#push(buffer, apply);
  }

  #push(buffer: Buffer, apply: Pending['apply']): Promise<void> {
    this.#queuedSize += buffer.byteLength;
    const done = new Promise<void>((resolve, reject) => this.#queue.push({ buffer, apply, resolve, reject }));
    this.#writing ??= this.#drain();
    return done;
  }

  async #drain(): Promise<void> {
    // Let every caller of this tick queue its entry: they are written with one fdatasync.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.#queue.length > 0 && this.#failed === undefined) {
      const group = this.#queue.splice(0);
      const written: { pending: Pending; segment: Segment; pos: number }[] = [];
      // Where each segment this group touches ended before it, to undo a failed write.
      const before = new Map<Segment, number>();
      try {
        let segment = this.#current();
        before.set(segment, segment.size);
        let buffers: Buffer[] = [];
        let flushedTo = segment.size;
        const flush = () => {
          if (buffers.length === 0) return;
          const all = buffers.length === 1 ? buffers[0]! : Buffer.concat(buffers);
          writeAll(segment.fd, all, flushedTo);
          flushedTo += all.byteLength;
          if (this.#fsync) walIo.fdatasyncSync(segment.fd);
          buffers = [];
        };
        let size = segment.size;
        for (const item of group) {
          if (item === 'roll') {
            flush();
            segment = this.#openNewSegment(segment.id + 1);
            before.set(segment, 0);
            flushedTo = size = 0;
            continue;
          }
          written.push({ pending: item, segment, pos: size });
          size += item.buffer.byteLength;
          buffers.push(item.buffer);
        }
        flush();
      } catch (error) {
        this.#fail(error, before, group);
        break;
      }
      for (const { pending, segment, pos } of written) segment.size = Math.max(segment.size, pos + pending.buffer.byteLength);
      for (const { pending, segment, pos } of written) {
        pending.apply(segment, pos);
        pending.resolve();
      }
    }
    this.#writing = null;
  }

  /**
   * A write or fdatasync failed (ENOSPC, EIO...). What reached the file is unknown, and after a
   * failed fsync the page cache cannot be trusted, so the log never appends again until reopened
   * (as Kafka takes a log directory offline): every queued and later call fails with LOG_CLOSED.
   * The bytes of the failed group are cut off, best effort; if that fails too, they are a torn
   * tail on the next open. Nothing of the group was acknowledged, so nothing acknowledged is lost,
   * and no offset reserved for it is in the log.
   */
  #fail(cause: unknown, before: ReadonlyMap<Segment, number>, group: readonly (Pending | 'roll')[]): void {
    const reason = cause instanceof Error ? cause.message : String(cause);
    this.#failed = new StreamsError(
      'LOG_CLOSED',
      `the embedded log in ${this.#dir} failed a write (${reason}) and takes no more writes; fix the cause (free disk space), then reopen it`,
      { cause },
    );
    for (const [segment, size] of before) {
      try {
        ftruncateSync(segment.fd, size);
      } catch {
        // Left as a torn tail: recovery truncates it.
      }
    }
    const error = this.#failed;
    for (const item of [...group, ...this.#queue.splice(0)]) if (item !== 'roll') item.reject(error);
  }

  #checkpoint(): CheckpointEntry {
    const offsets: Record<string, [string, number][]> = {};
    const metadata: Record<string, [string, string][]> = {};
    for (const [group, map] of this.#queuedOffsets) {
      offsets[group] = [...map].map(([tp, c]) => [tp, c.offset]);
      const withMetadata = [...map].flatMap(([tp, c]): [string, string][] => (c.metadata === undefined ? [] : [[tp, c.metadata]]));
      if (withMetadata.length > 0) metadata[group] = withMetadata;
    }
    return {
      kind: 'checkpoint',
      topics: [...this.#topics].map(([name, t]) => ({
        name,
        config: t.config,
        starts: t.partitions.map((p) => p.start),
        ends: t.partitions.map((p) => p.reserved),
      })),
      producers: Object.fromEntries(this.#producers),
      offsets,
      ...(Object.keys(metadata).length > 0 && { metadata }),
    };
  }

  // ------------------------------------------------------------------ the Log SPI

  async createTopic(name: string, config: TopicConfig): Promise<void> {
    validateConfig(name, config);
    const existing = this.#topics.get(name);
    if (existing !== undefined) {
      if (existing.config.partitions !== config.partitions || existing.config.cleanupPolicy !== config.cleanupPolicy) {
        throw new StreamsError(
          'TOPIC_CONFLICT',
          `topic "${name}" exists with ${existing.config.partitions} partitions (${existing.config.cleanupPolicy}), not ${config.partitions} (${config.cleanupPolicy})`,
        );
      }
      return;
    }
    const normalized: TopicConfig = { ...config };
    this.#topics.set(name, newTopic(normalized));
    await this.#enqueue(frame({ kind: 'topic', name, config: normalized }), () => {});
  }

  async topics(): Promise<ReadonlyMap<string, TopicConfig>> {
    return new Map([...this.#topics].map(([name, t]) => [name, t.config]));
  }

  #partition(tp: TopicPartition): PartitionState {
    if (this.#failed !== undefined) throw this.#failed;
    const topic = this.#topics.get(tp.topic);
    if (topic === undefined) throw new StreamsError('UNKNOWN_TOPIC', `topic "${tp.topic}" does not exist`);
    const p = topic.partitions[tp.partition];
    if (p === undefined) {
      throw new StreamsError('UNKNOWN_TOPIC', `topic "${tp.topic}" has ${topic.partitions.length} partitions; there is no partition ${tp.partition}`);
    }
    return p;
  }

  async fetch(tp: TopicPartition, offset: number, options: FetchOptions = {}): Promise<FetchResult> {
    return this.fetchSync(tp, offset, options);
  }

  /** fetch() without the promise, for the owner thread's own readers. */
  fetchSync(tp: TopicPartition, offset: number, options: FetchOptions = {}): FetchResult {
    const encoded = this.fetchEncoded(tp, offset, options.maxRecords ?? 1000);
    const records: FetchedRecord[] = [];
    let left = options.maxRecords ?? 1000;
    for (const chunk of encoded.chunks) left -= decodeRecordsAt(chunk.blob, chunk.baseOffset, chunk.skip, left, records);
    return { records, nextOffset: encoded.nextOffset, endOffset: encoded.endOffset, startOffset: encoded.startOffset };
  }

  /**
   * The stored batches holding up to `maxRecords` records from `offset`, undecoded: a stream thread
   * decodes them itself, so the thread that owns the log only moves bytes.
   */
  fetchEncoded(tp: TopicPartition, offset: number, maxRecords: number): EncodedFetchResult {
    const p = this.#partition(tp);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > p.end) {
      throw new StreamsError('INVALID_OFFSET', `offset ${offset} is outside ${tp.topic}-${tp.partition} (log end ${p.end})`);
    }
    let next = Math.max(offset, p.start);
    // First chunk that can hold `next`: chunks are ordered by base offset.
    let lo = 0;
    let hi = p.chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = p.chunks[mid]!;
      if (c.baseOffset + c.span <= next) lo = mid + 1;
      else hi = mid;
    }
    const chunks: { baseOffset: number; skip: number; blob: Uint8Array }[] = [];
    let taken = 0;
    for (let i = lo; i < p.chunks.length && taken < maxRecords; i++) {
      const chunk = p.chunks[i]!;
      if (chunk.baseOffset >= p.end) break;
      const skip = Math.max(0, next - chunk.baseOffset);
      const count = Math.min(chunk.span - skip, maxRecords - taken);
      chunks.push({ baseOffset: chunk.baseOffset, skip, blob: this.#read(chunk) });
      taken += count;
      next = chunk.baseOffset + skip + count;
    }
    if (taken < maxRecords) next = Math.max(next, p.end);
    return { chunks, nextOffset: Math.min(next, p.end), endOffset: p.end, startOffset: p.start };
  }

  #read(chunk: Chunk): Uint8Array {
    let blob = this.#cache.get(chunk);
    if (blob !== undefined) {
      this.#cache.delete(chunk);
      this.#cache.set(chunk, blob);
      return blob;
    }
    blob = readChunk(chunk);
    this.#cache.set(chunk, blob);
    if (this.#cache.size > this.#cacheLimit) this.#cache.delete(this.#cache.keys().next().value!);
    return blob;
  }

  async produce(batches: readonly PartitionBatch[]): Promise<number[]> {
    return this.#commit(encodeAll(batches), undefined, undefined, undefined);
  }

  appendEncoded(
    batches: readonly EncodedBatch[],
    offsets: ReadonlyMap<string, ReadonlyMap<string, number>> | undefined,
    producer: TransactionalProducer | undefined,
    metadata?: ReadonlyMap<string, GroupMetadata>,
  ): Promise<number[]> {
    if (producer === undefined) return this.#commit(batches, offsets, metadata, undefined);
    const identity = this.#producerIds.get(producer);
    if (identity === undefined) return Promise.reject(new StreamsError('ILLEGAL_STATE', 'this producer was not created by this log'));
    return this.#commit(batches, offsets, metadata, identity);
  }

  /**
   * Appends batches and offsets (with their metadata, per group) as one entry; returns each batch's
   * base offset. Metadata counts only for partitions with an offset in `offsets`.
   */
  #commit(
    batches: readonly EncodedBatch[],
    offsets: ReadonlyMap<string, ReadonlyMap<string, number>> | undefined,
    metadata: ReadonlyMap<string, GroupMetadata> | undefined,
    producer: { id: string; epoch: number } | undefined,
  ): Promise<number[]> {
    const states = batches.map((b) => this.#partition(b));
    if (producer !== undefined && this.#producers.get(producer.id) !== producer.epoch) {
      return Promise.reject(
        new StreamsError(
          'PRODUCER_FENCED',
          `transactional producer "${producer.id}" (epoch ${producer.epoch}) was fenced by a newer instance; this instance must stop`,
        ),
      );
    }
    const parts: Omit<PartPointer, 'at' | 'length'>[] = [];
    const blobs: Uint8Array[] = [];
    const bases: number[] = [];
    // Offsets this entry takes, computed without changing the queued state yet.
    const next = new Map<PartitionState, number>();
    batches.forEach((batch, i) => {
      const p = states[i]!;
      const base = next.get(p) ?? p.reserved;
      bases.push(base);
      if (batch.count === 0) return;
      parts.push({ topic: batch.topic, partition: batch.partition, baseOffset: base, count: batch.count, maxTimestamp: batch.maxTimestamp });
      blobs.push(batch.blob);
      next.set(p, base + batch.count);
    });
    let offsetRecord: Record<string, [string, number][]> | undefined;
    let metadataRecord: Record<string, [string, string][]> | undefined;
    if (offsets !== undefined && offsets.size > 0) {
      offsetRecord = {};
      for (const [group, map] of offsets) {
        offsetRecord[group] = [...map];
        const byPartition = metadata?.get(group);
        if (byPartition === undefined) continue;
        const withMetadata: [string, string][] = [];
        for (const tp of map.keys()) {
          const value = byPartition.get(tp);
          // An empty string is no metadata, as in Kafka.
          if (value === undefined || value === '') continue;
          if (value.length > MAX_METADATA_LENGTH) {
            return Promise.reject(
              new StreamsError(
                'INVALID_ARGUMENT',
                `the metadata committed with the offset of ${tp} for group "${group}" has ${value.length} characters, more than the ${MAX_METADATA_LENGTH} allowed (as Kafka's offset.metadata.max.bytes); commit less metadata per partition`,
              ),
            );
          }
          withMetadata.push([tp, value]);
        }
        if (withMetadata.length > 0) (metadataRecord ??= {})[group] = withMetadata;
      }
    }
    if (parts.length === 0 && offsetRecord === undefined) return Promise.resolve(bases);
    const { buffer, entry } = frameCommit(parts, blobs, {
      ...(offsetRecord !== undefined && { offsets: offsetRecord }),
      ...(metadataRecord !== undefined && { metadata: metadataRecord }),
      ...(producer !== undefined && { producer }),
    });
    return this.#enqueue(
      buffer,
      (segment, pos) => {
        const bodyStart = pos + 8;
        entry.parts.forEach((part, i) => {
          const p = this.#topics.get(part.topic)!.partitions[part.partition]!;
          this.#append(p, chunkOf(part, segment, bodyStart), blobs[i]);
          p.end = part.baseOffset + part.count;
        });
        this.#applyOffsets(this.#offsets, entry.offsets, entry.metadata);
      },
      () => {
        for (const [p, reserved] of next) p.reserved = reserved;
        this.#applyOffsets(this.#queuedOffsets, offsetRecord, metadataRecord);
      },
    ).then(() => bases);
  }

  async initTransactions(transactionalId: string): Promise<TransactionalProducer> {
    const epoch = (this.#producers.get(transactionalId) ?? 0) + 1;
    await this.#enqueue(frame({ kind: 'fence', transactionalId, epoch }), () => {}, () => this.#producers.set(transactionalId, epoch));
    const commit: TransactionCommit = (batches, offsets, metadata) =>
      this.#commit(encodeAll(batches), offsets, metadata, { id: transactionalId, epoch }).then(() => {});
    const producer: TransactionalProducer = { transactionalId, begin: (): LogTransaction => new EmbeddedTransaction(commit) };
    this.#producerIds.set(producer, { id: transactionalId, epoch });
    return producer;
  }

  async committedOffsets(group: string): Promise<GroupOffsets> {
    return new Map([...(this.#offsets.get(group) ?? [])].map(([tp, c]) => [tp, c.offset]));
  }

  async committedMetadata(group: string): Promise<GroupMetadata> {
    const out = new Map<string, string>();
    for (const [tp, c] of this.#offsets.get(group) ?? []) if (c.metadata !== undefined) out.set(tp, c.metadata);
    return out;
  }

  /** The embedded log has one owner and no groups: `options.member` is not needed. */
  async commitOffsets(group: string, offsets: ReadonlyMap<string, number>, metadata?: GroupMetadata, _options?: { readonly member?: GroupGeneration }): Promise<void> {
    await this.#commit([], new Map([[group, offsets]]), metadata === undefined ? undefined : new Map([[group, metadata]]), undefined);
  }

  /** The first and next offsets of a partition. */
  offsets(tp: TopicPartition): { start: number; end: number } {
    const p = this.#partition(tp);
    return { start: p.start, end: p.end };
  }

  /** Waits for every queued write. */
  async flush(): Promise<void> {
    while (this.#writing !== null) await this.#writing;
  }

  // ------------------------------------------------------------------ retention and compaction

  /**
   * Applies retention and compaction: advances partition start offsets past expired batches of
   * `delete` topics, and deletes closed segment files that hold nothing live any more. For
   * compacted topics, a batch is dead once every key in it has a later record in the partition.
   * Returns the number of segment files deleted.
   */
  async clean(): Promise<number> {
    if (this.#cleaning !== undefined) return this.#cleaning;
    this.#cleaning = this.#clean().finally(() => (this.#cleaning = undefined));
    return this.#cleaning;
  }

  /**
   * Removes records before `offset` from a partition (as Kafka's deleteRecords): readers start at
   * `offset` at the latest; the space is reclaimed by clean(). The runtime does this for
   * repartition topics once their records are consumed and committed.
   */
  async deleteRecords(tp: TopicPartition, offset: number): Promise<void> {
    const p = this.#partition(tp);
    if (offset > p.end) throw new StreamsError('INVALID_OFFSET', `cannot delete up to ${offset}: ${tp.topic}-${tp.partition} ends at ${p.end}`);
    if (offset <= p.start) return;
    this.#trim(p, offset);
    await this.#enqueue(frame({ kind: 'trim', topic: tp.topic, partition: tp.partition, offset }), () => {});
  }

  #trim(p: PartitionState, offset: number): void {
    p.start = Math.max(p.start, offset);
    p.chunks = p.chunks.filter((c) => c.baseOffset + c.span > p.start);
  }

  async #clean(): Promise<number> {
    await this.flush();
    this.#expire();
    await this.#compactSegments();
    return this.#deleteDead();
  }

  /**
   * Retention: advances the start of `delete` and `compact,delete` partitions past expired batches;
   * and compacted partitions drop the batches whose every key has a later record from the index.
   */
  #expire(): void {
    const now = this.#clock();
    for (const topic of this.#topics.values()) {
      const { retentionMs, retentionBytes, cleanupPolicy } = topic.config;
      const deletes = cleanupPolicy === 'delete' || cleanupPolicy === 'compact,delete';
      for (const p of topic.partitions) {
        if (deletes) {
          // A compact,delete topic is a window or session store's changelog: the store expires by
          // stream time, so a backfill's old windows must stay while the store holds them. Its time
          // retention counts from the partition's newest record when that is earlier than now.
          const horizon = (cleanupPolicy === 'compact,delete' ? Math.min(now, p.newest) : now) - (retentionMs ?? 0);
          let bytes = p.chunks.reduce((n, c) => n + c.length, 0);
          while (p.chunks.length > 0) {
            const c = p.chunks[0]!;
            const expired =
              (retentionMs !== undefined && retentionMs >= 0 && c.maxTimestamp < horizon) ||
              (retentionBytes !== undefined && bytes - c.length >= retentionBytes);
            if (!expired) break;
            bytes -= c.length;
            p.start = c.baseOffset + c.span;
            p.chunks.shift();
          }
        }
        this.#forget(p);
        // A compacted partition's batches whose every key has a later record are skipped by
        // readers from now on (their records are superseded), so their index goes too: it would
        // otherwise grow with every small batch a commit writes until its whole segment is dead.
        if (isCompacted(cleanupPolicy)) p.chunks = p.chunks.filter((c) => c.liveKeys > 0);
      }
    }
  }

  /**
   * Copies the live batches of closed segments that are mostly dead to the end of the log, as
   * Kafka's log cleaner rewrites the segments of compacted topics, so that those segments can be
   * deleted: without this a segment holding one live record (an event of a topic kept forever)
   * keeps every superseded changelog record next to it. A compacted batch keeps only the latest
   * record of each of its live keys (the others become holes: offsets are kept), and the batches of
   * a partition that follow each other in the index are merged into one, up to MOVE_RUN_BYTES, so
   * that the index keeps one entry where commits wrote many small batches. Segments whose live
   * bytes are under half their size are cleaned whole; in the others, the runs of at least
   * MERGE_MIN_BATCHES batches are merged (moved), so that the index of a topic kept forever does
   * not keep every small batch of it. Oldest first, at most about two segments' worth of live
   * bytes per run, in entries of at most MOVE_ENTRY_BYTES.
   */
  async #compactSegments(): Promise<void> {
    const current = this.#current();
    // Per closed segment: its live bytes (estimated), and its runs of batches, each run a partition's
    // batches that follow each other in the index.
    const bySegment = new Map<Segment, { bytes: number; runs: Run[] }>();
    for (const [name, topic] of this.#topics) {
      topic.partitions.forEach((p, partition) => {
        let run: Run | undefined;
        for (const chunk of p.chunks) {
          if (chunk.segment === current) {
            run = undefined;
            continue;
          }
          let found = bySegment.get(chunk.segment);
          if (found === undefined) bySegment.set(chunk.segment, (found = { bytes: 0, runs: [] }));
          found.bytes += p.latest === undefined ? chunk.length : (chunk.length * chunk.liveKeys) / Math.max(1, chunk.records);
          if (run === undefined || run.chunks[0]!.segment !== chunk.segment || run.bytes + chunk.length > MOVE_RUN_BYTES) {
            run = { p, topic: name, partition, chunks: [], bytes: 0 };
            found.runs.push(run);
          }
          run.chunks.push(chunk);
          run.bytes += chunk.length;
        }
      });
    }
    let budget = 2 * this.#segmentBytes;
    for (const segment of this.#segments) {
      const found = bySegment.get(segment);
      if (segment === current || found === undefined) continue;
      // A segment mostly live stays, but its runs of many small batches are merged (moved): the
      // index would otherwise keep every small batch of a topic kept forever.
      const runs = found.bytes < segment.size * MAX_LIVE_RATIO ? found.runs : found.runs.filter((run) => run.chunks.length >= MERGE_MIN_BATCHES);
      if (runs.length === 0) continue;
      if (budget <= 0) break;
      let parts: Omit<PartPointer, 'at' | 'length'>[] = [];
      let blobs: Uint8Array[] = [];
      let olds: Set<Chunk>[] = [];
      let size = 0;
      const write = async () => {
        if (parts.length === 0) return;
        const { buffer, entry } = frameMove(parts, blobs);
        const moved = olds;
        const written = blobs;
        [parts, blobs, olds, size] = [[], [], [], 0];
        await this.#enqueue(buffer, (into, pos) => {
          entry.parts.forEach((part, i) => {
            const p = this.#topics.get(part.topic)!.partitions[part.partition]!;
            this.#adopt(p, chunkOf(part, into, pos + FRAME_HEADER_BYTES), moved[i], written[i]);
          });
        });
      };
      for (const run of runs) {
        const merged = this.#merge(run);
        if (merged === undefined) continue;
        parts.push(merged.part);
        blobs.push(merged.blob);
        olds.push(new Set(run.chunks));
        size += merged.blob.byteLength;
        budget -= merged.blob.byteLength;
        if (size >= MOVE_ENTRY_BYTES) await write();
      }
      await write();
    }
  }

  /**
   * One batch for a run of batches: their live records, the offsets between them holes. Undefined
   * when nothing of the run is live any more.
   */
  #merge(run: Run): { part: Omit<PartPointer, 'at' | 'length'>; blob: Uint8Array } | undefined {
    const { p } = run;
    const latest = p.latest;
    const pieces: Uint8Array[] = [];
    let records = 0;
    let maxTimestamp = Number.NEGATIVE_INFINITY;
    let first: number | undefined;
    let end = 0;
    for (const chunk of run.chunks) {
      // The index may have changed while an earlier entry of this run was written.
      if (chunk.baseOffset + chunk.span <= p.start || (latest !== undefined && chunk.liveKeys === 0)) continue;
      let blob = readChunk(chunk);
      let kept = chunk.records;
      if (latest !== undefined) {
        // The last record of each key whose latest record this batch holds.
        const last = new Map<string, number>();
        forEachKey(blob, (key, index) => {
          if (latest.get(key) === chunk) last.set(key, index);
        });
        const indexes = new Set(last.values());
        const compacted = compactRecordBatch(blob, (index) => indexes.has(index));
        if (compacted !== undefined) ({ blob, records: kept } = compacted);
      }
      if (first !== undefined && chunk.baseOffset > end) pieces.push(holeOf(chunk.baseOffset - end));
      first ??= chunk.baseOffset;
      pieces.push(blob.subarray(4));
      records += kept;
      end = chunk.baseOffset + chunk.span;
      if (chunk.maxTimestamp > maxTimestamp) maxTimestamp = chunk.maxTimestamp;
    }
    if (first === undefined) return undefined;
    const part = { topic: run.topic, partition: run.partition, baseOffset: first, count: end - first, maxTimestamp, records };
    return { part, blob: joinBatch(end - first, pieces) };
  }

  /** Deletes the closed segment files that hold no batch readers can get. Returns how many. */
  #deleteDead(): number {
    const current = this.#current();
    const live = new Set<Segment>([current]);
    for (const topic of this.#topics.values()) for (const p of topic.partitions) for (const c of p.chunks) live.add(c.segment);
    const doomed = this.#segments.filter((segment) => !live.has(segment));
    if (doomed.length === 0) return 0;
    const gone = new Set(doomed);
    for (const chunk of [...this.#cache.keys()]) if (gone.has(chunk.segment)) this.#cache.delete(chunk);
    for (const segment of doomed) {
      closeSync(segment.fd);
      unlinkSync(segment.path);
      this.#segments.splice(this.#segments.indexOf(segment), 1);
    }
    return doomed.length;
  }

  /**
   * Puts a moved batch in place of the batches within its offsets (or where it belongs, when their
   * segment is gone: on recovery), and makes it the latest of the keys whose latest record it
   * holds. Running, `olds` are the batches it was made of: if retention or a trim removed them all
   * meanwhile, it is dropped.
   */
  #adopt(p: PartitionState, chunk: Chunk, olds: ReadonlySet<Chunk> | undefined, blob: Uint8Array | undefined): void {
    const end = chunk.baseOffset + chunk.span;
    if (end <= p.start) return;
    const from = firstAtOrAfter(p.chunks, chunk.baseOffset);
    const to = firstAtOrAfter(p.chunks, end);
    const replaced = new Set(p.chunks.slice(from, to));
    if (olds !== undefined && (replaced.size === 0 || [...replaced].some((c) => !olds.has(c)))) return;
    p.chunks.splice(from, to - from, chunk);
    if (p.latest === undefined) return;
    const latest = p.latest;
    let liveKeys = 0;
    forEachKey(blob ?? this.#read(chunk), (key) => {
      const before = latest.get(key);
      if (before === chunk) return;
      if (before !== undefined && !replaced.has(before)) {
        // Running, the key got a later record while this batch was written; on recovery, a later
        // batch already holds it (this record is dead), or an earlier one (superseded by this one).
        if (before.baseOffset >= end) return;
        before.liveKeys--;
      }
      latest.set(key, chunk);
      liveKeys++;
    });
    chunk.liveKeys = liveKeys;
  }

  /**
   * Drops from a compacted partition's index the keys whose latest record is before the start
   * (expired by retention, as a windowed changelog's keys all do, or trimmed): without this the
   * index of a `compact,delete` topic grows with every key it ever had. One pass over the index,
   * only when the start moved.
   */
  #forget(p: PartitionState): void {
    if (p.latest === undefined || p.start <= (p.forgotTo ?? 0)) return;
    for (const [key, chunk] of p.latest) if (chunk.baseOffset + chunk.span <= p.start) p.latest.delete(key);
    p.forgotTo = p.start;
  }

  /**
   * What the log holds: its segment files and their bytes, and what its index keeps in memory:
   * the batches readers can get (about 100 bytes each) and the live keys of compacted topics.
   */
  stats(): { segments: number; bytes: number; indexedBatches: number; indexedKeys: number } {
    let indexedBatches = 0;
    let indexedKeys = 0;
    for (const topic of this.#topics.values()) {
      for (const p of topic.partitions) {
        indexedBatches += p.chunks.length;
        indexedKeys += p.latest?.size ?? 0;
      }
    }
    return { segments: this.#segments.length, bytes: this.#segments.reduce((n, s) => n + s.size, 0), indexedBatches, indexedKeys };
  }

  /**
   * Adds a batch to a partition. For a compacted partition its keys become the latest: the batches
   * that held them before lose them (a batch with no key left is dead, and its segment may go).
   */
  #append(p: PartitionState, chunk: Chunk, blob: Uint8Array | undefined): void {
    p.chunks.push(chunk);
    if (chunk.maxTimestamp > p.newest) p.newest = chunk.maxTimestamp;
    if (p.latest === undefined) return;
    const latest = p.latest;
    let live = 0;
    forEachKey(blob ?? this.#read(chunk), (key) => {
      const before = latest.get(key);
      if (before === chunk) return;
      if (before !== undefined) before.liveKeys--;
      latest.set(key, chunk);
      live++;
    });
    chunk.liveKeys = live;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    clearInterval(this.#cleaner);
    await this.#cleaning;
    await this.flush();
    this.#closed = true;
    for (const s of this.#segments) closeSync(s.fd);
    this.#unlock();
  }
}

/** Directory locks this process holds (Linux), by real path, and the log that owns each. */
const heldLocks = new Map<string, { server: Server; owner: object }>();

/**
 * Locks a data directory to this process; returns the release. On Linux the lock is a listening
 * socket in the abstract namespace named after the directory's real path: bind takes it atomically,
 * and the kernel releases it the moment the owner dies, however it dies, so a stale lock cannot
 * exist (a LOCK file left by an older version is ignored). Elsewhere, a PID file (see lockFile).
 * A lock this process holds already (a log abandoned without close, as after a simulated crash)
 * passes to the new log.
 */
async function lockDirectory(dir: string, owner: object): Promise<() => void> {
  if (process.platform !== 'linux') {
    lockFile(dir);
    return () => unlockFile(dir);
  }
  const key = realpathSync(dir);
  const release = () => {
    const held = heldLocks.get(key);
    if (held?.owner !== owner) return;
    heldLocks.delete(key);
    held.server.close();
  };
  const held = heldLocks.get(key);
  if (held !== undefined) {
    held.owner = owner;
    return release;
  }
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'EADDRINUSE'
          ? new StreamsError('LOG_LOCKED', `the embedded log in ${dir} is in use by another process; stop it first, or send records through its HTTP ingest`)
          : error,
      );
    });
    server.listen({ path: `\0tributary-lock-${createHash('sha256').update(key).digest('hex').slice(0, 40)}` }, resolve);
  });
  server.unref();
  heldLocks.set(key, { server, owner });
  return release;
}

/**
 * Takes the data directory's lock file (platforms without abstract sockets). A lock left by a process that is gone (killed) is taken
 * over; so is one held by this process (a log abandoned without close, as after a simulated crash).
 */
function lockFile(dir: string): void {
  const path = join(dir, 'LOCK');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx' });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number.parseInt(readFileSync(path, 'utf8'), 10);
    if (Number.isSafeInteger(owner) && owner !== process.pid && alive(owner)) {
      throw new StreamsError(
        'LOG_LOCKED',
        `the embedded log in ${dir} is in use by process ${owner}; stop it first, or send records through its HTTP ingest`,
      );
    }
    unlinkSync(path);
  }
  throw new StreamsError('LOG_LOCKED', `cannot lock the embedded log in ${dir}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function unlockFile(dir: string): void {
  try {
    unlinkSync(join(dir, 'LOCK'));
  } catch {
    // already gone
  }
}

/** Commits a transaction's records, and its offsets and their metadata per group, as one entry. */
type TransactionCommit = (batches: PartitionBatch[], offsets: Map<string, Map<string, number>>, metadata: Map<string, Map<string, string>>) => Promise<void>;

class EmbeddedTransaction implements LogTransaction {
  readonly #batches = new Map<string, { topic: string; partition: number; records: LogRecord[] }>();
  readonly #offsets = new Map<string, Map<string, number>>();
  readonly #metadata = new Map<string, Map<string, string>>();
  readonly #commit: TransactionCommit;
  #state: 'open' | 'committing' | 'done' = 'open';

  constructor(commit: TransactionCommit) {
    this.#commit = commit;
  }

  #check(): void {
    if (this.#state !== 'open') throw new StreamsError('ILLEGAL_STATE', 'the transaction is already committed or aborted');
  }

  produce(batches: readonly PartitionBatch[]): void {
    this.#check();
    for (const b of batches) {
      const key = partitionKey(b);
      let batch = this.#batches.get(key);
      if (batch === undefined) this.#batches.set(key, (batch = { topic: b.topic, partition: b.partition, records: [] }));
      for (const r of b.records) batch.records.push(r);
    }
  }

  /** A single process owns every task here: `options.member` has nothing to check. */
  sendOffsets(group: string, offsets: ReadonlyMap<string, number>, options?: SendOffsetsOptions): void {
    this.#check();
    let map = this.#offsets.get(group);
    if (map === undefined) this.#offsets.set(group, (map = new Map()));
    let metadata = this.#metadata.get(group);
    if (metadata === undefined) this.#metadata.set(group, (metadata = new Map()));
    for (const [tp, offset] of offsets) {
      map.set(tp, offset);
      // A later sendOffsets of the partition replaces its metadata too, or clears it.
      const value = options?.metadata?.get(tp);
      if (value === undefined) metadata.delete(tp);
      else metadata.set(tp, value);
    }
  }

  async commit(): Promise<void> {
    this.#check();
    this.#state = 'committing';
    try {
      await this.#commit([...this.#batches.values()], this.#offsets, this.#metadata);
    } finally {
      this.#state = 'done';
    }
  }

  async abort(): Promise<void> {
    this.#check();
    this.#state = 'done';
    this.#batches.clear();
  }
}

function encodeAll(batches: readonly PartitionBatch[]): EncodedBatch[] {
  return batches.map((b) => encodeBatch(b.topic, b.partition, b.records));
}

function newTopic(config: TopicConfig): TopicState {
  const compacted = isCompacted(config.cleanupPolicy);
  return {
    config,
    partitions: Array.from({ length: config.partitions }, () =>
      compacted ? { start: 0, end: 0, reserved: 0, chunks: [], latest: new Map(), newest: Number.NEGATIVE_INFINITY } : { start: 0, end: 0, reserved: 0, chunks: [], newest: Number.NEGATIVE_INFINITY },
    ),
  };
}

function chunkOf(part: PartPointer, segment: Segment, bodyStart: number): Chunk {
  return {
    baseOffset: part.baseOffset,
    span: part.count,
    segment,
    pos: bodyStart + part.at,
    length: part.length,
    maxTimestamp: part.maxTimestamp,
    records: part.records ?? part.count,
    liveKeys: 0,
  };
}

/** Index of the first batch whose base offset is at least `offset` (batches are in offset order). */
function firstAtOrAfter(chunks: readonly Chunk[], offset: number): number {
  let lo = 0;
  let hi = chunks.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (chunks[mid]!.baseOffset < offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A batch's bytes from its segment file. */
function readChunk(chunk: Chunk): Uint8Array {
  const buffer = new Uint8Array(chunk.length);
  let read = 0;
  while (read < chunk.length) {
    const n = readSync(chunk.segment.fd, buffer, read, chunk.length - read, chunk.pos + read);
    if (n === 0) throw new StreamsError('CORRUPT_DATA', `${chunk.segment.path} ends inside a batch at byte ${chunk.pos}`);
    read += n;
  }
  return buffer;
}

/** Writes at an explicit position: the file may have been opened for reading and writing. */
function writeAll(fd: number, buffer: Buffer, position: number): void {
  let written = 0;
  while (written < buffer.byteLength) written += walIo.writeSync(fd, buffer, written, buffer.byteLength - written, position + written);
}

