/**
 * `tributary features backfill`: training data from a lake. Reads a labels file (Parquet, CSV or
 * JSON lines: an entity id, a time and any label columns), runs a feature definition's own
 * streaming topology over the lake's events in time order (features/backfill.ts), and writes the
 * label columns plus one column per feature and window, as of each label's time, to Parquet.
 *
 * The definition comes from a module (`--definitions`, export `--export`) holding a LakeBackfill:
 * the definition and how a lake row becomes the record its stream carried. Mistakes in the command
 * line or the labels are a {@link BackfillInputError} (exit 2 in the CLI); an unreadable lake is a
 * coded StreamsError (exit 1).
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { StreamsError } from '../engine/index.ts';
import { backfillFeaturesAsync, flattenFeatures, type LakeBackfill, type PastEvent } from '../features/index.ts';
import { lakeHours, readLakeHours, readParquetRows, writeParquetRows, type LakeColumnType } from '../connectors/sinks/lake/index.ts';

/** A mistake in the command line, the definitions module or the labels file. */
export class BackfillInputError extends Error {}

export interface BackfillCommand {
  /** The lake's root (the sink's `dir`). */
  readonly lake: string;
  /** The source's folder under the lake (default: the module's prefix, else `events`). */
  readonly prefix?: string;
  readonly labels: string;
  readonly out: string;
  readonly definitions: string;
  readonly export: string;
  /** Label columns; default: the first present of the usual names. */
  readonly entityColumn?: string;
  readonly timeColumn?: string;
}

export interface BackfillSummary {
  readonly rows: number;
  readonly featureColumns: readonly string[];
  readonly eventsRead: number;
}

const HOUR = 3_600_000;
const ENTITY_NAMES = ['entity_id', 'entity', 'user_id', 'item_id', 'id'];
const TIME_NAMES = ['ts', 'timestamp', 'time', 'event_time', 'label_time'];

/** Runs the backfill; returns what it wrote. */
export async function featuresBackfill(cmd: BackfillCommand): Promise<BackfillSummary> {
  const source = await loadBackfill(cmd.definitions, cmd.export);
  const root = join(resolve(cmd.lake), cmd.prefix ?? source.prefix ?? 'events');
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new BackfillInputError(`no lake at ${root}; --lake is the lake's root folder (the sink's dir), the source under it in --prefix`);
  if (lakeHours(root).length === 0) throw new BackfillInputError(`${root} holds no date=YYYY-MM-DD/hour=HH folders: nothing was written to this lake`);
  const rows = await readLabels(cmd.labels);
  if (rows.length === 0) throw new BackfillInputError(`${cmd.labels} holds no labels`);
  const names = Object.keys(rows[0]!);
  const entityColumn = pickColumn(cmd.labels, names, cmd.entityColumn, ENTITY_NAMES, 'entity', '--entity-column');
  const timeColumn = pickColumn(cmd.labels, names, cmd.timeColumn, TIME_NAMES, 'time', '--time-column');
  const points = rows.map((row, i) => {
    const entity = row[entityColumn];
    if (entity === null || entity === undefined || entity === '') throw new BackfillInputError(`${cmd.labels}, label ${i + 1}: no ${entityColumn}`);
    return { entity: String(entity), time: timeOf(row[timeColumn], `${cmd.labels}, label ${i + 1}, ${timeColumn}`) };
  });
  let eventsRead = 0;
  async function* events(): AsyncGenerator<PastEvent<unknown, unknown>> {
    for await (const { hour, rows: lakeRows } of readLakeHours(root)) {
      const records: PastEvent<unknown, unknown>[] = [];
      for (const r of lakeRows) {
        let e: PastEvent<unknown, unknown> | null | undefined;
        try {
          e = source.record(r);
        } catch (error) {
          throw new StreamsError('PROCESSING_FAILED', `${cmd.definitions}: ${cmd.export}.record() failed on a row of ${hour.folder}: ${(error as Error).message}`, { cause: error });
        }
        if (e === null || e === undefined) continue;
        if (!Number.isFinite(e.timestamp)) throw new StreamsError('PROCESSING_FAILED', `${cmd.definitions}: ${cmd.export}.record() gave a row of ${hour.folder} the time ${String(e.timestamp)}, not ms since the epoch`);
        records.push(e);
      }
      // Sorted within the hour (stable: equal times keep the files' order); hours come oldest first.
      records.sort((a, b) => a.timestamp - b.timestamp);
      for (const e of records) {
        if (e.timestamp < hour.start || e.timestamp >= hour.start + HOUR) {
          throw new StreamsError('CORRUPT_DATA', `a row in ${hour.folder} has the time ${new Date(e.timestamp).toISOString()}, outside its hour: the lake is not filed by the time the definition reads, so it cannot be read in time order`);
        }
        eventsRead++;
        yield e;
      }
    }
  }
  const values = await backfillFeaturesAsync(source.definition, events(), points, source);
  const flat = values.map((v) => flattenFeatures(v as Record<string, Record<string, unknown>>));
  const featureColumns = Object.keys(flat[0]!);
  const clash = featureColumns.find((c) => names.includes(c));
  if (clash !== undefined) throw new BackfillInputError(`the labels have a column ${clash}, which is also a feature column; rename it`);
  const columns: Record<string, LakeColumnType> = {};
  for (const n of names) columns[n] = typeOf(rows.map((r) => r[n]), 'label');
  for (const c of featureColumns) columns[c] = typeOf(flat.map((r) => r[c]), 'feature');
  await writeParquetRows(resolve(cmd.out), columns, rows.map((r, i) => ({ ...r, ...flat[i] })));
  return { rows: rows.length, featureColumns, eventsRead };
}

async function loadBackfill(module: string, name: string): Promise<LakeBackfill<unknown, unknown>> {
  const path = resolve(module);
  if (!existsSync(path) || !statSync(path).isFile()) throw new BackfillInputError(`${module} is not a file; --definitions names the module that exports the definition and its lake mapping (a LakeBackfill)`);
  const exports = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  const found = exports[name] as Partial<LakeBackfill<unknown, unknown>> | undefined;
  if (found === undefined) throw new BackfillInputError(`${module} has no export ${name}; its exports are ${Object.keys(exports).join(', ') || 'none'} (choose with --export)`);
  if (typeof found !== 'object' || found === null || typeof found.record !== 'function' || typeof found.definition?.name !== 'string') {
    throw new BackfillInputError(`${module}'s export ${name} is not a LakeBackfill ({ definition, record(row) }, see tributary/features)`);
  }
  return found as LakeBackfill<unknown, unknown>;
}

function pickColumn(file: string, names: readonly string[], given: string | undefined, usual: readonly string[], what: string, option: string): string {
  if (given !== undefined) {
    if (!names.includes(given)) throw new BackfillInputError(`${file} has no column ${given} (${option}); its columns are ${names.join(', ')}`);
    return given;
  }
  const found = usual.find((n) => names.includes(n));
  if (found === undefined) throw new BackfillInputError(`${file} has none of the usual ${what} columns (${usual.join(', ')}); name it with ${option} (its columns are ${names.join(', ')})`);
  return found;
}

/** A label's time: a Date, ms since the epoch (number, bigint or digits) or an ISO 8601 date-time. */
function timeOf(v: unknown, where: string): number {
  let ms = NaN;
  if (v instanceof Date) ms = v.getTime();
  else if (typeof v === 'bigint') ms = Number(v);
  else if (typeof v === 'number') ms = v;
  else if (typeof v === 'string') ms = /^-?\d+$/.test(v.trim()) ? Number(v) : /^\d{4}-\d{2}-\d{2}/.test(v.trim()) ? Date.parse(v) : NaN;
  if (!Number.isFinite(ms)) throw new BackfillInputError(`${where}: ${JSON.stringify(typeof v === 'bigint' ? String(v) : v)} is not a time (ms since the epoch or an ISO 8601 date-time)`);
  return ms;
}

/** The column type of some values: label columns keep what they hold; numeric features are DOUBLE. */
function typeOf(values: readonly unknown[], kind: 'label' | 'feature'): LakeColumnType {
  const present = values.filter((v) => v !== null && v !== undefined);
  if (present.length === 0) return kind === 'feature' ? 'DOUBLE' : 'STRING';
  const all = (p: (v: unknown) => boolean) => present.every(p);
  if (all((v) => typeof v === 'string')) return 'STRING';
  if (all((v) => typeof v === 'boolean')) return 'BOOLEAN';
  if (all((v) => v instanceof Date)) return 'TIMESTAMP';
  if (all((v) => typeof v === 'bigint')) return 'INT64';
  if (all((v) => typeof v === 'number')) return kind === 'label' && all((v) => Number.isSafeInteger(v)) ? 'INT64' : 'DOUBLE';
  return 'JSON';
}

/** The rows of a labels file, by its extension. */
async function readLabels(file: string): Promise<Record<string, unknown>[]> {
  if (!existsSync(file) || !statSync(file).isFile()) throw new BackfillInputError(`${file} is not a file`);
  const ext = extname(file).toLowerCase();
  if (ext === '.parquet') {
    try {
      return await readParquetRows(file);
    } catch (error) {
      throw new BackfillInputError((error as Error).message);
    }
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(await readFile(file));
  } catch {
    throw new BackfillInputError(`${file} is not valid UTF-8`);
  }
  if (ext === '.csv') return parseCsv(file, text);
  if (ext === '.jsonl' || ext === '.ndjson' || ext === '.json') {
    const lines = text.split(/\r?\n/);
    const rows: Record<string, unknown>[] = [];
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      let row: unknown;
      try {
        row = JSON.parse(line);
      } catch {
        throw new BackfillInputError(`${file}, line ${i + 1} is not valid JSON`);
      }
      if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new BackfillInputError(`${file}, line ${i + 1}: expected an object with the label's columns`);
      rows.push(row as Record<string, unknown>);
    });
    return rows;
  }
  throw new BackfillInputError(`${file}: labels are .parquet, .csv or .jsonl (by the file's extension)`);
}

/** CSV with a header line (RFC 4180 quoting); numbers written as JavaScript writes them become numbers (`007` stays text), empty fields null. */
export function parseCsv(file: string, text: string): Record<string, unknown>[] {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  let i = 0;
  const endRecord = () => {
    record.push(field);
    field = '';
    if (!(record.length === 1 && record[0] === '')) records.push(record);
    record = [];
  };
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === '') {
      quoted = true;
    } else if (c === ',') {
      record.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      endRecord();
      if (c === '\r' && text[i + 1] === '\n') i++;
    } else {
      field += c;
    }
    i++;
  }
  if (quoted) throw new BackfillInputError(`${file}: a quoted field is not closed`);
  if (field !== '' || record.length > 0) endRecord();
  const [header, ...body] = records;
  if (header === undefined) return [];
  return body.map((r, n) => {
    if (r.length !== header.length) throw new BackfillInputError(`${file}, line ${n + 2}: ${r.length} fields, the header has ${header.length}`);
    return Object.fromEntries(header.map((h, k) => [h, r[k] === '' ? null : String(Number(r[k])) === r[k] ? Number(r[k]) : r[k]]));
  });
}
