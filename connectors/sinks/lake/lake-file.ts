/**
 * One Parquet file being written in a date/hour folder: rows are gathered in memory, encoded a row
 * group at a time (synchronously, by hyparquet-writer) and appended to a hidden temporary file, so
 * that a file of many MB holds only one row group in memory. Rolling encodes the footer, fsyncs,
 * renames the file to its final name and fsyncs the folder.
 *
 * Every I/O step can be tried again after it failed (a full disk, a folder removed under us):
 * encoded bytes stay queued until written, and a retry first truncates the temporary file to the
 * bytes known written. So a failed write of the sink is retried by the runner without losing or
 * repeating a row, and the rows need not be kept once encoded.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import { ColumnBuffer, schemaOf, type LakeColumns } from './lake-columns.ts';
import { dataFileName } from './lake-layout.ts';
import { fsyncDir } from './lake-fs.ts';
import { RANGES_KEY } from './lake-marker.ts';

export type LakeFileState = 'open' | 'finished' | 'committed';

export interface LakeFileOptions {
  readonly root: string;
  /** `date=.../hour=..` */
  readonly folder: string;
  readonly columns: LakeColumns;
  readonly codec: 'SNAPPY' | 'UNCOMPRESSED';
  readonly now: number;
  /** Parquet's `created_by`. */
  readonly createdBy: string;
}

export class LakeFile {
  readonly folder: string;
  readonly openedAt: number;
  lastWriteAt: number;
  /** Offsets per partition: first and last of this file (all the partition's records in this folder between them). */
  readonly ranges = new Map<number, [number, number]>();
  #state: LakeFileState = 'open';
  readonly #dir: string;
  readonly #temp: string;
  readonly #pending: ColumnBuffer;
  readonly #bytes = new ByteWriter();
  readonly #writer: ParquetWriter;
  #chunks: Uint8Array[] = [];
  #queued = 0;
  #written = 0;
  #handle: FileHandle | undefined;
  #rows = 0;
  #sequence: number | undefined;
  #renamed = false;

  constructor(options: LakeFileOptions) {
    this.folder = options.folder;
    this.openedAt = options.now;
    this.lastWriteAt = options.now;
    this.#dir = join(options.root, options.folder);
    this.#temp = join(this.#dir, `.part-${randomUUID()}.tmp`);
    this.#pending = new ColumnBuffer(options.columns);
    this.#writer = new ParquetWriter({
      writer: this.#bytes,
      schema: schemaOf(options.columns) as never,
      codec: options.codec,
      createdBy: options.createdBy,
    });
    this.#takeBytes(); // the PAR1 header
  }

  get state(): LakeFileState {
    return this.#state;
  }

  /** Rows in the file (held and encoded). */
  get rows(): number {
    return this.#rows;
  }

  /** Rows held in memory, not yet encoded. */
  get heldRows(): number {
    return this.#pending.rows;
  }

  /** Estimated bytes held in memory (rows not yet encoded). */
  get heldBytes(): number {
    return this.#pending.bytes;
  }

  /** Bytes of the file so far (encoded) plus an estimate of the rows held. */
  get bytes(): number {
    return this.#written + this.#queued + this.#pending.bytes;
  }

  /** The final path relative to the sink's root, once a sequence was given (at roll). */
  get path(): string | undefined {
    return this.#sequence === undefined ? undefined : `${this.folder}/${dataFileName(this.#sequence)}`;
  }

  /** Adds a row (synchronous; throws without adding when a value does not fit its column). */
  add(row: Readonly<Record<string, unknown>>, partition: number, offset: number, now: number): void {
    if (this.#state !== 'open') throw new Error(`lake file in ${this.folder} is ${this.#state}`);
    this.#pending.append(row);
    this.#rows++;
    this.lastWriteAt = now;
    const range = this.ranges.get(partition);
    if (range === undefined) this.ranges.set(partition, [offset, offset]);
    else range[1] = offset;
  }

  /** Encodes the rows held as one row group (queued for the temporary file). */
  encodeRowGroup(): void {
    if (this.#pending.rows === 0) return;
    const rows = this.#pending.rows;
    this.#writer.write({ columnData: this.#pending.take() as never, rowGroupSize: rows });
    this.#takeBytes();
  }

  /** Encodes what is held and the footer, and takes its final name: no more rows. */
  finish(sequence: number): void {
    if (this.#state !== 'open') return;
    this.encodeRowGroup();
    // The ranges go in the footer too: a file renamed just before a crash, ahead of the marker, is
    // adopted from them at the next open rather than deleted (readers never see its rows vanish).
    this.#writer.kvMetadata = [{ key: RANGES_KEY, value: JSON.stringify(Object.fromEntries(this.ranges)) }];
    this.#writer.finish();
    this.#takeBytes();
    this.#sequence = sequence;
    this.#state = 'finished';
  }

  /** Writes the queued bytes to the temporary file (retryable). */
  async sync(): Promise<void> {
    if (this.#chunks.length === 0) return;
    const handle = await this.#open();
    while (this.#chunks.length > 0) {
      const chunk = this.#chunks[0]!;
      const { bytesWritten } = await handle.write(chunk, 0, chunk.byteLength, this.#written);
      this.#written += bytesWritten;
      this.#queued -= bytesWritten;
      if (bytesWritten === chunk.byteLength) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(bytesWritten);
    }
  }

  /** After finish(): writes the rest, fsyncs, renames into place and fsyncs the folder (retryable). */
  async commit(): Promise<void> {
    if (this.#state === 'committed') return;
    if (this.#state !== 'finished') throw new Error(`lake file in ${this.folder} is not finished`);
    if (!this.#renamed) {
      await this.sync();
      const handle = await this.#open();
      await handle.sync();
      await handle.close();
      this.#handle = undefined;
      await rename(this.#temp, join(this.#dir, dataFileName(this.#sequence!)));
      this.#renamed = true;
    }
    // The file's entry, and the entries of its folders in case they were created for it.
    await fsyncDir(this.#dir);
    await fsyncDir(dirname(this.#dir));
    await fsyncDir(dirname(dirname(this.#dir)));
    this.#state = 'committed';
  }

  /** Drops the file: closes and removes the temporary file (best effort). */
  async abort(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close().catch(() => {});
    if (!this.#renamed) await unlink(this.#temp).catch(() => {});
  }

  /** Opens the temporary file, or reopens it after a failure, cut to the bytes known written. */
  async #open(): Promise<FileHandle> {
    if (this.#handle !== undefined) return this.#handle;
    if (this.#written === 0) {
      await mkdir(dirname(this.#temp), { recursive: true });
      this.#handle = await open(this.#temp, 'w');
    } else {
      this.#handle = await open(this.#temp, 'r+');
      await this.#handle.truncate(this.#written);
    }
    return this.#handle;
  }

  /** Called after an I/O failure: the next step reopens the file (a handle may be broken). */
  async reset(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close().catch(() => {});
  }

  #takeBytes(): void {
    if (this.#bytes.index === 0) return;
    const chunk = this.#bytes.getBytes().slice();
    this.#bytes.index = 0;
    this.#chunks.push(chunk);
    this.#queued += chunk.byteLength;
  }
}
