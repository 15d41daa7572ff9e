/**
 * Where a lake sink's files go, as pure functions (unit- and property-tested against a model):
 * the date/hour folder of a record's time, the names of data, temporary and marker files, and when
 * an open file is due to roll. Readers (DuckDB, Spark) skip names starting with `.` or `_`, so
 * temporary files and the marker are hidden from them by their names alone.
 */

/** The last instant a JavaScript Date can hold. */
const MAX_MS = 8.64e15;

/**
 * `date=YYYY-MM-DD/hour=HH` of a time in ms since the epoch, in UTC. Years past 9999 get more
 * digits, six as in ISO 8601 but without its `+` (`date=275760-09-13`: DuckDB casts that to a DATE). Throws
 * on a time before the epoch (Kafka has none) or past what a Date can hold.
 */
export function folderOf(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_MS) throw new RangeError(`record time ${ms} is not between 0 and 8.64e15 ms since the epoch`);
  const iso = new Date(ms).toISOString();
  const at = iso.indexOf('T');
  return `date=${iso.slice(iso.startsWith('+') ? 1 : 0, at)}/hour=${iso.slice(at + 1, at + 3)}`;
}

/** The marker: the sink's positions and the files they cover, replaced atomically after each roll. */
export const MARKER = '_tributary_offsets.json';

/** Data files: `part-<sequence, 12 digits>.parquet`, the sequence growing across restarts. */
export function dataFileName(sequence: number): string {
  return `part-${String(sequence).padStart(12, '0')}.parquet`;
}

/** The sequence of a data file name, or undefined for any other name. */
export function sequenceOf(name: string): number | undefined {
  const m = /^part-(\d{12})\.parquet$/.exec(name);
  return m === null ? undefined : Number(m[1]);
}

/** Temporary files (an open file being written, a marker being replaced) start with `.` and end in `.tmp`. */
export function isTemporary(name: string): boolean {
  return name.startsWith('.') && name.endsWith('.tmp');
}

export interface RollLimits {
  /** Roll when the file (written row groups plus rows held) reaches this many bytes. */
  readonly rollBytes: number;
  readonly rollRecords: number;
  /** Roll when the file has been open this long. */
  readonly rollMs: number;
}

export interface OpenFileSize {
  readonly rows: number;
  readonly bytes: number;
  readonly openedAt: number;
}

export type RollReason = 'bytes' | 'records' | 'age';

/** Why an open file is due to roll now, or undefined. */
export function rollDue(file: OpenFileSize, limits: RollLimits, now: number): RollReason | undefined {
  if (file.rows === 0) return undefined;
  if (file.bytes >= limits.rollBytes) return 'bytes';
  if (file.rows >= limits.rollRecords) return 'records';
  if (now - file.openedAt >= limits.rollMs) return 'age';
  return undefined;
}

/**
 * Which open files to roll so that at most `max` stay open: the least recently written first
 * (late data for an old hour gets its own file, and is the first to go when too many are open).
 */
export function toEvict<T extends { readonly lastWriteAt: number }>(files: readonly T[], max: number): T[] {
  if (files.length <= max) return [];
  return [...files].sort((a, b) => a.lastWriteAt - b.lastWriteAt).slice(0, files.length - max);
}
