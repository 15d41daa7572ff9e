/**
 * The SQL the warehouse sinks share (PostgreSQL and DuckDB speak the same dialect for all of it),
 * as pure functions: quoting, validating a table spec, the table and offsets DDL, reading the
 * offsets, and coalescing a batch per key. How a batch's rows travel differs (PostgreSQL binds
 * each value as a parameter; DuckDB binds fastest one JSON document per statement and casts it to
 * the table's row type) and so do the offsets writes (PostgreSQL locks rows, DuckDB's optimistic
 * transactions do not): each sink's own sql.ts has those.
 */
import { StreamsError } from '../../engine/index.ts';

/** A row: column name -> value (`undefined` or absent: the column's default). */
export type Row = Readonly<Record<string, unknown>>;

/** What the sink writes for one record, after coalescing: the last operation per key wins. */
export type RowOp = { readonly kind: 'upsert'; readonly row: Row } | { readonly kind: 'delete'; readonly key: Row };

export interface Statement {
  readonly text: string;
  readonly values: unknown[];
}

export interface TableSpec {
  /** `name` or `schema.name`. */
  readonly table: string;
  /** Column name -> SQL type (`text`, `bigint`, `timestamptz`, `jsonb`, `double precision[]`...). */
  readonly columns: Readonly<Record<string, string>>;
  /** The primary key (upsert: the conflict target; append: may be empty). */
  readonly key: readonly string[];
  readonly mode: 'upsert' | 'append';
}

const identifierRe = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;
const typeRe = /^[A-Za-z_][A-Za-z0-9_ ]*(\(\s*\d+\s*(,\s*\d+\s*)?\))?(\[\])*$/;

/** `"name"`, for a plain identifier (letters, digits, _ and $, at most 63 characters); throws otherwise. */
export function quoteIdentifier(name: string, what = 'identifier'): string {
  if (typeof name !== 'string' || !identifierRe.test(name)) throw new StreamsError('INVALID_ARGUMENT', `${what} ${JSON.stringify(name)} is not a plain SQL identifier (letters, digits, _ and $, at most 63)`);
  return `"${name}"`;
}

/** `"schema"."name"` or `"name"`. */
export function quoteTable(table: string): string {
  const parts = typeof table === 'string' ? table.split('.') : [];
  if (parts.length < 1 || parts.length > 2) throw new StreamsError('INVALID_ARGUMENT', `table ${JSON.stringify(table)} must be name or schema.name`);
  return parts.map((p) => quoteIdentifier(p, 'table')).join('.');
}

/** Checks a table spec before any I/O. */
export function validateTableSpec(spec: TableSpec): void {
  quoteTable(spec.table);
  const names = Object.keys(spec.columns ?? {});
  if (names.length === 0) throw new StreamsError('INVALID_ARGUMENT', `table ${spec.table}: columns must name at least one column and its SQL type`);
  for (const [name, type] of Object.entries(spec.columns)) {
    quoteIdentifier(name, 'column');
    if (typeof type !== 'string' || !typeRe.test(type.trim())) throw new StreamsError('INVALID_ARGUMENT', `table ${spec.table}: column ${name} has type ${JSON.stringify(type)}, not a plain SQL type`);
  }
  if (spec.mode !== 'upsert' && spec.mode !== 'append') throw new StreamsError('INVALID_ARGUMENT', `table ${spec.table}: mode must be 'upsert' or 'append', got ${String(spec.mode)}`);
  if (spec.mode === 'upsert' && spec.key.length === 0) throw new StreamsError('INVALID_ARGUMENT', `table ${spec.table}: upserts need key columns`);
  for (const k of spec.key) if (!(k in spec.columns)) throw new StreamsError('INVALID_ARGUMENT', `table ${spec.table}: key column ${k} is not among the columns`);
}

export function createTableSql(spec: TableSpec): string {
  const columns = Object.entries(spec.columns).map(([name, type]) => `${quoteIdentifier(name)} ${type.trim()}${spec.key.includes(name) ? ' NOT NULL' : ''}`);
  if (spec.key.length > 0) columns.push(`PRIMARY KEY (${spec.key.map((k) => quoteIdentifier(k)).join(', ')})`);
  return `CREATE TABLE IF NOT EXISTS ${quoteTable(spec.table)} (\n  ${columns.join(',\n  ')}\n)`;
}

/** The offsets table: the next offset to read per sink, topic and partition, written with the rows. */
export function createOffsetsTableSql(offsetsTable: string): string {
  return `CREATE TABLE IF NOT EXISTS ${quoteTable(offsetsTable)} (
  sink text NOT NULL,
  topic text NOT NULL,
  partition integer NOT NULL,
  next_offset bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (sink, topic, partition)
)`;
}

export function readOffsetsSql(offsetsTable: string, sink: string, topic: string): Statement {
  return { text: `SELECT partition, next_offset FROM ${quoteTable(offsetsTable)} WHERE sink = $1 AND topic = $2`, values: [sink, topic] };
}

/** The identity of a row by its key columns (for coalescing). */
function keyOf(spec: TableSpec, row: Row, offsetHint: string): string {
  return JSON.stringify(
    spec.key.map((k) => {
      const v = row[k];
      if (v === undefined || v === null) throw new StreamsError('SINK_WRITE_FAILED', `table ${spec.table}: key column ${k} is missing in the row of ${offsetHint}`, { canRetry: false });
      return v instanceof Date ? v.toISOString() : v;
    }),
  );
}

/**
 * The operations of a batch in order, coalesced for upserts: per key only the last one stays (an
 * INSERT ... ON CONFLICT cannot touch a row twice, and the last state is what an upsert keeps).
 * `origins` names each operation's record for error messages.
 */
export function coalesce(spec: TableSpec, ops: readonly RowOp[], origins: readonly string[]): RowOp[] {
  if (spec.mode === 'append') return ops.filter((o) => o.kind === 'upsert');
  const last = new Map<string, RowOp>();
  for (const [i, op] of ops.entries()) {
    const id = keyOf(spec, op.kind === 'upsert' ? op.row : op.key, origins[i] ?? `operation ${i}`);
    last.delete(id); // keep the order of last writes
    last.set(id, op);
  }
  return [...last.values()];
}

/** Refuses a row with a column the table does not declare (a bug in `row`: trying again cannot help). */
export function checkColumns(spec: TableSpec, row: Row): void {
  for (const name of Object.keys(row)) {
    if (!(name in spec.columns)) throw new StreamsError('SINK_WRITE_FAILED', `table ${spec.table}: the row has a column ${name} that is not declared (columns: ${Object.keys(spec.columns).join(', ')})`, { canRetry: false });
  }
}

/** Whether a column type is JSON (json, jsonb): its values are sent as JSON text. */
export const isJsonType = (type: string) => /^jsonb?$/i.test(type.trim());
