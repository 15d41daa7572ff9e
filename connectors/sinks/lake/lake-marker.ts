/**
 * The marker, `_tributary_offsets.json` at the sink's root: what makes the lake exactly once. It
 * holds the next offset to read per partition and, for the files committed past those offsets
 * (files still partly ahead of a position held back by an older hour's open file), the offset
 * range each holds per partition. It is replaced atomically after data files are renamed into
 * place, so after a crash:
 *
 *   - a data file renamed after the last marker has a sequence >= `nextFile`: `open` adopts it
 *     from the ranges in its footer (as if the marker had been written), or deletes it when it
 *     cannot read them (its rows are then read again from the log);
 *   - a record at or past its partition's position is skipped when a listed file of its folder
 *     covers its offset (all of a partition's records of one folder between a file's first and
 *     last offset are in that file), so a replay never writes a row twice.
 */
import { readFile } from 'node:fs/promises';
import { asyncBufferFromFile, parquetMetadataAsync } from 'hyparquet';
import { join } from 'node:path';
import { StreamsError } from '../../../engine/index.ts';
import { MARKER } from './lake-layout.ts';
import { writeFileAtomic } from './lake-fs.ts';

export interface MarkerFile {
  /** Relative to the root: `date=.../hour=../part-....parquet`. */
  readonly path: string;
  /** Partition -> [first, last] offset in the file. */
  readonly ranges: Readonly<Record<string, readonly [number, number]>>;
}

export interface LakeMarker {
  readonly version: 1;
  readonly sink: string;
  readonly topic: string;
  /** The sequence of the next data file: files with this sequence or more are not committed. */
  readonly nextFile: number;
  readonly positions: Readonly<Record<string, number>>;
  readonly files: readonly MarkerFile[];
}

/** The marker under `root`, or undefined when there is none. */
export async function readMarker(root: string): Promise<LakeMarker | undefined> {
  let text: string;
  try {
    text = await readFile(join(root, MARKER), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let marker: LakeMarker;
  try {
    marker = JSON.parse(text) as LakeMarker;
  } catch (cause) {
    throw new StreamsError('CORRUPT_DATA', `lake marker ${join(root, MARKER)} is not JSON`, { cause });
  }
  const ok =
    marker?.version === 1 &&
    typeof marker.sink === 'string' &&
    typeof marker.topic === 'string' &&
    Number.isSafeInteger(marker.nextFile) &&
    typeof marker.positions === 'object' &&
    Object.values(marker.positions).every((o) => Number.isSafeInteger(o)) &&
    Array.isArray(marker.files) &&
    marker.files.every((f) => typeof f.path === 'string' && typeof f.ranges === 'object');
  if (!ok) throw new StreamsError('CORRUPT_DATA', `lake marker ${join(root, MARKER)} is not one this version of Tributary wrote`);
  return marker;
}

export function writeMarker(root: string, marker: LakeMarker): Promise<void> {
  return writeFileAtomic(join(root, MARKER), `${JSON.stringify(marker, null, 1)}\n`);
}

/** The key of a data file's footer metadata that holds its ranges (as the marker's `ranges`). */
export const RANGES_KEY = 'tributary.ranges';

/** The ranges in a data file's footer, or undefined when the file or its metadata cannot be read. */
export async function readFileRanges(path: string): Promise<MarkerFile['ranges'] | undefined> {
  try {
    const metadata = await parquetMetadataAsync(await asyncBufferFromFile(path));
    const value = metadata.key_value_metadata?.find((kv) => kv.key === RANGES_KEY)?.value;
    if (value === undefined) return undefined;
    const ranges = JSON.parse(value) as MarkerFile['ranges'];
    const ok = Object.values(ranges).every((r) => Array.isArray(r) && r.length === 2 && Number.isSafeInteger(r[0]) && Number.isSafeInteger(r[1]) && r[0] <= r[1]);
    return ok ? ranges : undefined;
  } catch {
    return undefined;
  }
}

const folderOfPath = (path: string) => path.slice(0, path.lastIndexOf('/'));

/** The committed files past the positions, indexed by folder for the replay check. */
export class CoveredFiles {
  #byFolder = new Map<string, MarkerFile[]>();

  constructor(files: readonly MarkerFile[] = []) {
    for (const file of files) this.add(file);
  }

  add(file: MarkerFile): void {
    const folder = folderOfPath(file.path);
    let list = this.#byFolder.get(folder);
    if (list === undefined) this.#byFolder.set(folder, (list = []));
    list.push(file);
  }

  /** Whether a committed file holds the record at `offset` of `partition` whose folder is `folder`. */
  covers(folder: string, partition: number, offset: number): boolean {
    const list = this.#byFolder.get(folder);
    if (list === undefined) return false;
    for (const file of list) {
      const range = file.ranges[partition];
      if (range !== undefined && range[0] <= offset && offset <= range[1]) return true;
    }
    return false;
  }

  /** Forgets files wholly below the positions: a replay starts past all of their rows. */
  prune(positions: ReadonlyMap<number, number>): void {
    for (const [folder, list] of this.#byFolder) {
      const kept = list.filter((f) => Object.entries(f.ranges).some(([p, [, last]]) => last >= (positions.get(Number(p)) ?? 0)));
      if (kept.length === 0) this.#byFolder.delete(folder);
      else this.#byFolder.set(folder, kept);
    }
  }

  get size(): number {
    let n = 0;
    for (const list of this.#byFolder.values()) n += list.length;
    return n;
  }

  list(): MarkerFile[] {
    return [...this.#byFolder.values()].flat();
  }
}
