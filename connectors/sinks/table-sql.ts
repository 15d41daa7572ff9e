/**
 * The SQL the warehouse sinks share (PostgreSQL and DuckDB speak the same dialect for all of it),
 * as pure functions: quoting, validating a table spec, the table and offsets DDL, coalescing a
 * batch per key, and the DELETE / INSERT ... ON CONFLICT statements of one batch. What differs
 * between the two databases is small and passed in as a `SqlDialect`: how a value is bound (JSON
 * text, casts) and how many parameters one statement may carry. The offsets writes differ more
 * (PostgreSQL locks rows, DuckDB's optimistic transactions do not), so each sink's own sql.ts has them.
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

/**
 * What differs between the databases in the statements of a batch.
 */
export interface SqlDialect {
  /** Most parameters one statement may carry (PostgreSQL's wire protocol: 65,535). */
  readonly maxParameters: number;
  /**
   * A value for a column of `type`: what is bound, and the SQL expression that reads it from
   * `placeholder` (`$1`...). `value` is never null or undefined (those bind as NULL).
   */
  bind(type: string, value: unknown, placeholder: string): { readonly sql: string; readonly value: unknown };
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

function checkColumns(spec: TableSpec, row: Row): void {
  for (const name of Object.keys(row)) {
    if (!(name in spec.columns)) throw new StreamsError('SINK_WRITE_FAILED', `table ${spec.table}: the row has a column ${name} that is not declared (columns: ${Object.keys(spec.columns).join(', ')})`, { canRetry: false });
  }
}

/** Whether a column type is JSON (json, jsonb): its values are sent as JSON text. */
export const isJsonType = (type: string) => /^jsonb?$/i.test(type.trim());

/** Binds `value` for `column` (pushing it to `values`) and returns the SQL that reads it. */
function param(spec: TableSpec, dialect: SqlDialect, values: unknown[], column: string, value: unknown): string {
  if (value === null || value === undefined) return `$${values.push(null)}`;
  const type = spec.columns[column]!.trim();
  const bound = dialect.bind(type, value, `$${values.length + 1}`);
  values.push(bound.value);
  return bound.sql;
}

/**
 * The statements applying `ops` (already coalesced): deletes, then upserts or appends, in chunks
 * of at most `dialect.maxParameters` parameters. Columns a row leaves out take their default.
 */
export function applySql(spec: TableSpec, ops: readonly RowOp[], dialect: SqlDialect): Statement[] {
  const maxParameters = dialect.maxParameters;
  const table = quoteTable(spec.table);
  const statements: Statement[] = [];
  const deletes = ops.filter((o): o is Extract<RowOp, { kind: 'delete' }> => o.kind === 'delete').map((o) => o.key);
  const rows = ops.filter((o): o is Extract<RowOp, { kind: 'upsert' }> => o.kind === 'upsert').map((o) => o.row);

  const perDelete = spec.key.length;
  for (let at = 0; at < deletes.length; at += Math.floor(maxParameters / perDelete)) {
    const chunk = deletes.slice(at, at + Math.floor(maxParameters / perDelete));
    const values: unknown[] = [];
    const tuples = chunk.map((key) => `(${spec.key.map((k) => `${param(spec, dialect, values, k, key[k])}::${spec.columns[k]!.trim()}`).join(', ')})`);
    statements.push({ text: `DELETE FROM ${table} WHERE (${spec.key.map((k) => quoteIdentifier(k)).join(', ')}) IN (${tuples.join(', ')})`, values });
  }

  if (rows.length > 0) {
    for (const row of rows) checkColumns(spec, row);
    const used = Object.keys(spec.columns).filter((c) => rows.some((r) => r[c] !== undefined));
    if (used.length === 0) throw new StreamsError('SINK_WRITE_FAILED', `table ${spec.table}: the rows have no values`, { canRetry: false });
    const perRow = Math.max(1, used.length);
    const rowsPerChunk = Math.floor(maxParameters / perRow);
    const names = used.map((c) => quoteIdentifier(c)).join(', ');
    const updates = used.filter((c) => !spec.key.includes(c)).map((c) => `${quoteIdentifier(c)} = EXCLUDED.${quoteIdentifier(c)}`);
    const conflict =
      spec.mode === 'append'
        ? ''
        : ` ON CONFLICT (${spec.key.map((k) => quoteIdentifier(k)).join(', ')}) ${updates.length > 0 ? `DO UPDATE SET ${updates.join(', ')}` : 'DO NOTHING'}`;
    for (let at = 0; at < rows.length; at += rowsPerChunk) {
      const chunk = rows.slice(at, at + rowsPerChunk);
      const values: unknown[] = [];
      const tuples = chunk.map((row) => `(${used.map((c) => (row[c] === undefined ? 'DEFAULT' : param(spec, dialect, values, c, row[c]))).join(', ')})`);
      statements.push({ text: `INSERT INTO ${table} (${names}) VALUES ${tuples.join(', ')}${conflict}`, values });
    }
  }
  return statements;
}
