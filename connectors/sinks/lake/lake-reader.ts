/**
 * Reading a lake back (what the lake sink wrote: `<dir>/<prefix>/date=YYYY-MM-DD/hour=HH/*.parquet`)
 * and writing one Parquet table: the two file jobs of the feature backfill. Hidden names (`.` and
 * `_`: files being written, the marker) are skipped as other readers do.
 */
import { existsSync, readdirSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { StreamsError } from '../../../engine/index.ts';
import { ColumnBuffer, schemaOf, type LakeColumns } from './lake-columns.ts';

/** One date/hour folder of a lake and the start of its hour (UTC, ms). */
export interface LakeHour {
  readonly folder: string;
  readonly start: number;
}

const visible = (name: string) => !name.startsWith('.') && !name.startsWith('_');

/** The date/hour folders under `root`, oldest first (an absent root has none). */
export function lakeHours(root: string): LakeHour[] {
  if (!existsSync(root)) return [];
  const hours: LakeHour[] = [];
  for (const d of readdirSync(root, { withFileTypes: true })) {
    const date = /^date=(\d{4,6})-(\d{2})-(\d{2})$/.exec(d.name);
    if (!d.isDirectory() || date === null) continue;
    for (const h of readdirSync(join(root, d.name), { withFileTypes: true })) {
      const hour = /^hour=(\d{2})$/.exec(h.name);
      if (!h.isDirectory() || hour === null) continue;
      const start = Date.UTC(Number(date[1]), Number(date[2]) - 1, Number(date[3]), Number(hour[1]));
      hours.push({ folder: join(root, d.name, h.name), start });
    }
  }
  return hours.sort((a, b) => a.start - b.start);
}

/** Every row of one Parquet file, as objects (INT64 as bigint, TIMESTAMP as Date). */
export async function readParquetRows(path: string): Promise<Record<string, unknown>[]> {
  try {
    return (await parquetReadObjects({ file: await asyncBufferFromFile(path) })) as Record<string, unknown>[];
  } catch (error) {
    throw new StreamsError('CORRUPT_DATA', `${path} is not a readable Parquet file: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * The rows of a lake, an hour folder at a time, oldest hour first: each folder's rows from all its
 * data files (in name order), for the caller to sort within the hour. One hour is held at a time.
 *
 * @example
 * for await (const { hour, rows } of readLakeHours('.data/lake/events')) console.log(hour.folder, rows.length);
 */
export async function* readLakeHours(root: string): AsyncGenerator<{ hour: LakeHour; rows: Record<string, unknown>[] }> {
  for (const hour of lakeHours(root)) {
    const rows: Record<string, unknown>[] = [];
    const names = readdirSync(hour.folder).filter((n) => visible(n) && n.endsWith('.parquet')).sort();
    for (const name of names) rows.push(...(await readParquetRows(join(hour.folder, name))));
    yield { hour, rows };
  }
}

/**
 * Writes `rows` as one Parquet file with the given columns (types as the lake sink's), through a
 * hidden temporary file renamed into place: a reader never sees half a file.
 *
 * @example
 * await writeParquetRows('train.parquet', { user_id: 'STRING', label: 'DOUBLE' }, [{ user_id: 'u1', label: 1 }]);
 */
export async function writeParquetRows(path: string, columns: LakeColumns, rows: Iterable<Readonly<Record<string, unknown>>>): Promise<number> {
  const names = Object.keys(columns);
  if (names.length === 0 || names.some((n) => n === '')) throw new StreamsError('INVALID_ARGUMENT', `${path}: a table needs named columns`);
  const buffer = new ColumnBuffer(columns);
  let n = 0;
  for (const row of rows) {
    try {
      buffer.append(row);
    } catch (error) {
      throw new StreamsError('INVALID_ARGUMENT', `row ${n + 1} of ${path}: ${(error as Error).message}`, { cause: error });
    }
    n++;
  }
  const bytes = parquetWriteBuffer({ columnData: buffer.take() as never, schema: schemaOf(columns) as never, codec: 'SNAPPY' });
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const file = await open(temp, 'w');
  try {
    await file.writeFile(new Uint8Array(bytes));
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temp, path);
  return n;
}
