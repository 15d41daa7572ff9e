/**
 * The lake sink: a topic as Parquet files under `<dir>/<prefix>/date=YYYY-MM-DD/hour=HH/`
 * (UTC, by the record's timestamp or a time you extract), rolled by size, record count or age, so
 * that files are many MB rather than one per batch; exactly once.
 *
 * How (see lake-marker.ts for the replay rule):
 *   - records are staged in one open file per folder (all partitions together), encoded a row
 *     group at a time into a hidden temporary file (lake-file.ts); a late record for an older hour
 *     opens a file in that hour's folder;
 *   - a file rolls when due (`rollBytes`, `rollRecords`, `rollMs`), when more than `maxOpenFiles`
 *     are open (the least recently written goes), and at close; rolling fsyncs it, renames it to
 *     `part-<sequence>.parquet` and then replaces the marker `_tributary_offsets.json`;
 *   - the position of a partition is the first offset still in an open file (or everything
 *     consumed): `write` and `flush` return it, so the runner's position never passes a row that a
 *     crash would lose; `open` reads it back from the marker, deletes temporary files and adopts
 *     files renamed after the marker (from the ranges in their footers).
 *
 * Readers see only whole files: names starting with `.` or `_` (the temporary files, the marker)
 * are skipped by DuckDB, Spark and Trino.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { StreamsError } from '../../../engine/index.ts';
import type { Sink, SinkBatch, SinkContext, SinkPositions, SinkRecord } from '../sink.ts';
import { defaultColumns, defaultRow, validateColumns, type DefaultColumns, type LakeColumns, type LakeRow } from './lake-columns.ts';
import { LakeFile } from './lake-file.ts';
import { listLake, removeAll } from './lake-fs.ts';
import { lockLake, unlockLake } from './lake-lock.ts';
import { folderOf, rollDue, toEvict, type RollLimits } from './lake-layout.ts';
import { CoveredFiles, readFileRanges, readMarker, writeMarker, type MarkerFile } from './lake-marker.ts';

export interface ParquetLakeSinkOptions<K, V, C extends LakeColumns = DefaultColumns> {
  /** Names the sink (in the marker, metrics and errors). */
  readonly name: string;
  /** The lake's root folder. */
  readonly dir: string;
  /** The sink's folder under `dir` (default: its name). One sink per folder: the marker is its own. */
  readonly prefix?: string;
  /**
   * Column name -> Parquet type, with `row`. Default: `key` (STRING), `value` (JSON),
   * `timestamp` (TIMESTAMP), `src_partition` (INT32), `src_offset` (INT64).
   */
  readonly columns?: C;
  /** The row of a record (typed by `columns`); undefined or null leaves the record out. Must be deterministic: a replay maps the same record again. */
  readonly row?: (record: SinkRecord<K, V>) => LakeRow<C> | null | undefined;
  /** The time that picks the date/hour folder, ms since the epoch (default: the record's timestamp). Must be deterministic. */
  readonly time?: (record: SinkRecord<K, V>) => number;
  /** Roll a file at this size (encoded bytes plus an estimate of rows held; default 128 MiB). */
  readonly rollBytes?: number;
  /** Roll a file at this many rows (default 10,000,000). */
  readonly rollRecords?: number;
  /** Roll a file this long after it opened (default 15 minutes): how stale the lake may be. */
  readonly rollMs?: number;
  /** Rows per row group (default 50,000): the rows a file holds in memory before encoding them (synchronously: a pause of about 1 s for 50,000 event rows on a loaded 2-core machine, see bench/lake-sink.ts). */
  readonly rowGroupRows?: number;
  /** Bytes of rows held in memory over all open files (default 64 MiB): past it, the largest is encoded early. */
  readonly maxHeldBytes?: number;
  /** Files open at once (default 16): past it, the least recently written rolls. */
  readonly maxOpenFiles?: number;
  /** Default SNAPPY. */
  readonly codec?: 'SNAPPY' | 'UNCOMPRESSED';
  /** The clock for file ages (tests). */
  readonly now?: () => number;
}

const positive = (sink: string, name: string, value: number | undefined, fallback: number): number => {
  const v = value ?? fallback;
  if (!(typeof v === 'number' && v > 0 && (Number.isInteger(v) || v === Infinity))) throw new StreamsError('INVALID_ARGUMENT', `lake sink ${sink}: ${name} must be a positive integer, got ${String(value)}`);
  return v;
};

/** A mapping or time function failed, or a value does not fit its column: retrying cannot help. */
function badRecord(sink: string, record: SinkRecord<unknown, unknown>, what: string, cause: unknown): StreamsError {
  const message = cause instanceof Error ? cause.message : String(cause);
  return new StreamsError('SINK_WRITE_FAILED', `lake sink ${sink}: ${what} failed for ${record.topic}-${record.partition}@${record.offset}: ${message}`, { cause, canRetry: false });
}

/**
 * @example
 * const lake = new ParquetLakeSink<string, Event, typeof columns>({
 *   name: 'events-lake', dir: 'lake', prefix: 'events',
 *   columns: { event_id: 'STRING', user_id: 'STRING', type: 'STRING', ts: 'TIMESTAMP', price: 'DOUBLE' },
 *   row: ({ value: e }) => e && { event_id: e.eventId, user_id: e.userId, type: e.type, ts: e.timestamp, price: e.price },
 *   time: ({ value, timestamp }) => value?.timestamp ?? timestamp,
 *   rollMs: 5 * 60_000,
 * });
 * const runner = new SinkRunner({ log, topic: 'events', sink: lake, keySerde: Serdes.string(), valueSerde: eventSerde });
 */
export class ParquetLakeSink<K, V, C extends LakeColumns = DefaultColumns> implements Sink<K, V> {
  readonly name: string;
  readonly guarantee = 'exactly-once' as const;
  readonly positions = 'target' as const;
  /** The sink's folder: `<dir>/<prefix>`. */
  readonly root: string;
  readonly #columns: LakeColumns;
  readonly #row: (record: SinkRecord<K, V>) => Readonly<Record<string, unknown>> | null | undefined;
  readonly #time: (record: SinkRecord<K, V>) => number;
  readonly #limits: RollLimits;
  readonly #rowGroupRows: number;
  readonly #maxHeldBytes: number;
  readonly #maxOpenFiles: number;
  readonly #codec: 'SNAPPY' | 'UNCOMPRESSED';
  readonly #now: () => number;
  #topic = '';
  #opened = false;
  #nextFile = 1;
  #covered = new CoveredFiles();
  /** Positions in the marker. */
  #stored = new Map<number, number>();
  /** Next offset to stage per partition (past what is in open files or committed). */
  #consumed = new Map<number, number>();
  #open = new Map<string, LakeFile>();
  /** Finished files, in sequence order, waiting to be renamed into place. */
  #committing: LakeFile[] = [];
  #markerDirty = false;
  #filesWritten = 0;

  constructor(options: ParquetLakeSinkOptions<K, V, C>) {
    const name = options?.name;
    if (typeof name !== 'string' || name === '') throw new StreamsError('INVALID_ARGUMENT', 'a lake sink needs a name');
    if (typeof options.dir !== 'string' || options.dir === '') throw new StreamsError('INVALID_ARGUMENT', `lake sink ${name}: dir must be a folder`);
    const prefix = options.prefix ?? name;
    if (typeof prefix !== 'string' || prefix === '' || prefix.split('/').some((s) => s === '' || s === '.' || s === '..' || /^[._]/.test(s))) {
      throw new StreamsError('INVALID_ARGUMENT', `lake sink ${name}: prefix ${JSON.stringify(prefix)} must be folder names without . or _ at their start (readers skip those)`);
    }
    if ((options.columns === undefined) !== (options.row === undefined)) throw new StreamsError('INVALID_ARGUMENT', `lake sink ${name}: give columns and row together, or neither (the default columns)`);
    if (options.row !== undefined && typeof options.row !== 'function') throw new StreamsError('INVALID_ARGUMENT', `lake sink ${name}: row must be a function`);
    if (options.time !== undefined && typeof options.time !== 'function') throw new StreamsError('INVALID_ARGUMENT', `lake sink ${name}: time must be a function`);
    if (options.codec !== undefined && options.codec !== 'SNAPPY' && options.codec !== 'UNCOMPRESSED') throw new StreamsError('INVALID_ARGUMENT', `lake sink ${name}: codec must be SNAPPY or UNCOMPRESSED`);
    this.#columns = options.columns ?? defaultColumns;
    validateColumns(name, this.#columns);
    this.#limits = {
      rollBytes: positive(name, 'rollBytes', options.rollBytes, 128 * 2 ** 20),
      rollRecords: positive(name, 'rollRecords', options.rollRecords, 10_000_000),
      rollMs: positive(name, 'rollMs', options.rollMs, 15 * 60_000),
    };
    this.#rowGroupRows = positive(name, 'rowGroupRows', options.rowGroupRows, 50_000);
    this.#maxHeldBytes = positive(name, 'maxHeldBytes', options.maxHeldBytes, 64 * 2 ** 20);
    this.#maxOpenFiles = positive(name, 'maxOpenFiles', options.maxOpenFiles, 16);
    this.name = name;
    this.root = join(options.dir, prefix);
    this.#row = (options.row as never) ?? defaultRow;
    this.#time = options.time ?? ((r) => r.timestamp);
    this.#codec = options.codec ?? 'SNAPPY';
    this.#now = options.now ?? Date.now;
  }

  /** Data files renamed into place by this instance. */
  get filesWritten(): number {
    return this.#filesWritten;
  }

  /** Reads the marker (writing a first one for a new lake) and deletes what a crash left behind. */
  async open(context: SinkContext): Promise<SinkPositions> {
    await this.#dropOpenFiles();
    this.#topic = context.topic;
    return this.#io('open', async () => {
      await mkdir(this.root, { recursive: true });
      await lockLake(this.root, this.name);
      try {
        let marker = await readMarker(this.root);
        const listing = await listLake(this.root);
        if (marker === undefined) {
          if (listing.dataFiles.length > 0) {
            throw new StreamsError('SINK_WRITE_FAILED', `lake sink ${this.name}: ${this.root} holds data files but no marker; point the sink at an empty folder (or one it wrote)`, { canRetry: false });
          }
          marker = { version: 1, sink: this.name, topic: context.topic, nextFile: 1, positions: {}, files: [] };
          await writeMarker(this.root, marker);
        }
        if (marker.sink !== this.name || marker.topic !== context.topic) {
          throw new StreamsError('SINK_WRITE_FAILED', `lake sink ${this.name}: ${this.root} belongs to sink ${marker.sink} of topic ${marker.topic}; give each sink its own prefix`, { canRetry: false });
        }
        // Files renamed after the marker: adopted when their footer says what they hold, else deleted.
        const committedBelow = marker.nextFile;
        const orphans = listing.dataFiles.filter((f) => f.sequence >= committedBelow);
        const adopted: MarkerFile[] = [];
        const broken: string[] = [];
        for (const file of orphans) {
          const ranges = await readFileRanges(join(this.root, file.path));
          if (ranges === undefined) broken.push(file.path);
          else adopted.push({ path: file.path, ranges });
        }
        await removeAll(this.root, [...listing.temporary, ...broken]);
        if (orphans.length > 0) {
          marker = { ...marker, nextFile: Math.max(...orphans.map((f) => f.sequence)) + 1, files: [...marker.files, ...adopted] };
          await writeMarker(this.root, marker);
        }
        this.#nextFile = marker.nextFile;
        this.#covered = new CoveredFiles(marker.files);
        this.#stored = new Map(Object.entries(marker.positions).map(([p, o]) => [Number(p), o]));
        this.#consumed = new Map(this.#stored);
        this.#markerDirty = false;
        this.#opened = true;
      } catch (error) {
        await unlockLake(this.root); // a folder it may not write: leave nothing behind
        throw error;
      }
      return new Map(context.partitions.map((p) => [p, this.#stored.get(p) ?? 0]));
    });
  }

  /** Stages the batch and rolls what is due; resolves with the positions in the marker. */
  async write(batch: SinkBatch<K, V>): Promise<SinkPositions> {
    this.#ensureOpen();
    await this.#settle();
    const now = this.#now();
    for (const part of batch.parts) {
      const p = part.partition;
      for (const record of part.records) {
        if (record.offset < (this.#consumed.get(p) ?? 0)) continue; // staged by a failed try of this batch
        this.#stage(record, now);
        this.#consumed.set(p, record.offset + 1);
      }
      if (part.nextOffset > (this.#consumed.get(p) ?? 0)) this.#consumed.set(p, part.nextOffset);
    }
    await this.#roll(now, false);
    return new Map(this.#stored);
  }

  /** `'idle'`: rolls files due by age and stores moved positions; `'close'`: rolls every file. */
  async flush(reason: 'idle' | 'close'): Promise<SinkPositions> {
    this.#ensureOpen();
    await this.#settle();
    await this.#roll(this.#now(), reason === 'close');
    if (!samePositions(this.#positions(), this.#stored)) {
      this.#markerDirty = true;
      await this.#settle();
    }
    return new Map(this.#stored);
  }

  /** Drops open files (their rows are read again at the next start); call flush('close') first to keep them. */
  async close(): Promise<void> {
    await this.#dropOpenFiles();
    if (this.#topic !== '') await unlockLake(this.root);
    this.#opened = false;
  }

  /** What is staged, for status and tests. */
  staged(): { openFiles: number; rows: number; heldBytes: number } {
    let rows = 0;
    let heldBytes = 0;
    for (const f of this.#open.values()) {
      rows += f.rows;
      heldBytes += f.heldBytes;
    }
    return { openFiles: this.#open.size, rows, heldBytes };
  }

  #stage(record: SinkRecord<K, V>, now: number): void {
    let folder: string;
    try {
      folder = folderOf(this.#time(record));
    } catch (cause) {
      throw badRecord(this.name, record, 'time()', cause);
    }
    if (this.#covered.covers(folder, record.partition, record.offset)) return; // in a file committed before a crash
    let row: Readonly<Record<string, unknown>> | null | undefined;
    try {
      row = this.#row(record);
    } catch (cause) {
      throw badRecord(this.name, record, 'row()', cause);
    }
    if (row === undefined || row === null) return;
    let file = this.#open.get(folder);
    if (file === undefined) {
      file = new LakeFile({ root: this.root, folder, columns: this.#columns, codec: this.#codec, now, createdBy: 'tributary lake sink (hyparquet-writer)' });
      this.#open.set(folder, file);
    }
    try {
      file.add(row, record.partition, record.offset, now);
    } catch (cause) {
      throw badRecord(this.name, record, 'a column value', cause);
    }
  }

  /** Encodes full row groups, keeps memory under the cap, finishes what is due, then does the I/O. */
  async #roll(now: number, all: boolean): Promise<void> {
    const finishing = new Set<LakeFile>();
    for (const file of this.#open.values()) if (all || rollDue(file, this.#limits, now) !== undefined) finishing.add(file);
    const staying = [...this.#open.values()].filter((f) => !finishing.has(f));
    for (const file of toEvict(staying, this.#maxOpenFiles)) finishing.add(file);
    try {
      for (const file of finishing) {
        if (file.rows === 0) {
          this.#open.delete(file.folder);
          await file.abort(); // opened for a record whose value did not fit
          continue;
        }
        // Finished before it leaves the open files: should encoding throw, the file still holds
        // the positions back, so no later marker can pass rows that are in no file.
        file.finish(this.#nextFile);
        this.#nextFile++;
        this.#open.delete(file.folder);
        this.#committing.push(file);
      }
      let held = 0;
      for (const file of this.#open.values()) {
        if (file.heldRows >= this.#rowGroupRows) file.encodeRowGroup();
        held += file.heldBytes;
      }
      while (held > this.#maxHeldBytes) {
        const largest = [...this.#open.values()].reduce((a, b) => (b.heldBytes > a.heldBytes ? b : a));
        held -= largest.heldBytes;
        largest.encodeRowGroup();
      }
    } catch (cause) {
      // The values were checked as they arrived: a failure to encode them is a bug, not an outage.
      throw new StreamsError('SINK_WRITE_FAILED', `lake sink ${this.name}: encoding Parquet failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause, canRetry: false });
    }
    await this.#settle();
  }

  /** Does the pending I/O in order: row groups, renames of finished files, then the marker. Retryable. */
  async #settle(): Promise<void> {
    await this.#io('write', async () => {
      for (const file of this.#open.values()) await file.sync();
      while (this.#committing.length > 0) {
        const file = this.#committing[0]!;
        await file.commit();
        this.#covered.add({ path: file.path!, ranges: Object.fromEntries(file.ranges) });
        this.#committing.shift();
        this.#filesWritten++;
        this.#markerDirty = true;
      }
      if (!this.#markerDirty) return;
      const positions = this.#positions();
      this.#covered.prune(positions);
      await writeMarker(this.root, {
        version: 1,
        sink: this.name,
        topic: this.#topic,
        nextFile: this.#nextFile,
        positions: Object.fromEntries(positions),
        files: this.#covered.list(),
      });
      this.#stored = positions;
      this.#markerDirty = false;
    });
  }

  /** Per partition: the first offset still in a file not renamed, else all that was consumed. */
  #positions(): Map<number, number> {
    const positions = new Map(this.#consumed);
    for (const file of [...this.#open.values(), ...this.#committing]) {
      for (const [p, [first]] of file.ranges) if (first < (positions.get(p) ?? Infinity)) positions.set(p, first);
    }
    return positions;
  }

  /** Runs file-system work; wraps its failures as retryable SINK_WRITE_FAILED. */
  async #io<T>(what: string, body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (error) {
      if (error instanceof StreamsError) throw error;
      for (const file of [...this.#open.values(), ...this.#committing]) await file.reset();
      const code = (error as NodeJS.ErrnoException).code;
      throw new StreamsError('SINK_WRITE_FAILED', `lake sink ${this.name}: ${what} under ${this.root} failed${code ? ` (${code})` : ''}: ${error instanceof Error ? error.message : String(error)}`, { cause: error, canRetry: true });
    }
  }

  #ensureOpen(): void {
    if (!this.#opened) throw new StreamsError('ILLEGAL_STATE', `lake sink ${this.name} is not open`);
  }

  async #dropOpenFiles(): Promise<void> {
    for (const file of [...this.#open.values(), ...this.#committing]) await file.abort();
    this.#open.clear();
    this.#committing = [];
  }
}

function samePositions(a: ReadonlyMap<number, number>, b: ReadonlyMap<number, number>): boolean {
  if (a.size !== b.size) return false;
  for (const [p, o] of a) if (b.get(p) !== o) return false;
  return true;
}
