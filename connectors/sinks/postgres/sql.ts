/**
 * The SQL of the PostgreSQL sink, as pure functions: quoting, the table and offsets DDL, and the
 * statements of one batch (coalesced per key, chunked under PostgreSQL's 65,535 parameters).
 * Unit-tested without a server; postgres-sink.ts runs them.
 */
import { StreamsError } from '../../../engine/index.ts';

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

const MAX_PARAMETERS = 65_535;
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

/** Makes sure a row exists per partition (so the next statement can lock it), without touching existing ones. */
export function ensureOffsetRowsSql(offsetsTable: string, sink: string, topic: string, partitions: readonly number[]): Statement {
  return {
    text: `INSERT INTO ${quoteTable(offsetsTable)} (sink, topic, partition, next_offset) SELECT $1, $2, p, 0 FROM unnest($3::integer[]) AS p ON CONFLICT DO NOTHING`,
    values: [sink, topic, [...partitions]],
  };
}

/**
 * Locks the partitions' offset rows for the transaction: a second runner of the same sink (a
 * zombie) waits here, then sees the offsets the first one stored and skips what it wrote.
 */
export function lockOffsetsSql(offsetsTable: string, sink: string, topic: string, partitions: readonly number[]): Statement {
  return {
    text: `SELECT partition, next_offset FROM ${quoteTable(offsetsTable)} WHERE sink = $1 AND topic = $2 AND partition = ANY($3::integer[]) FOR UPDATE`,
    values: [sink, topic, [...partitions]],
  };
}

export function readOffsetsSql(offsetsTable: string, sink: string, topic: string): Statement {
  return { text: `SELECT partition, next_offset FROM ${quoteTable(offsetsTable)} WHERE sink = $1 AND topic = $2`, values: [sink, topic] };
}

export function storeOffsetsSql(offsetsTable: string, sink: string, topic: string, offsets: ReadonlyMap<number, number>): Statement {
  return {
    text:
      `UPDATE ${quoteTable(offsetsTable)} AS o SET next_offset = GREATEST(o.next_offset, v.next_offset), updated_at = now() ` +
      `FROM unnest($3::integer[], $4::bigint[]) AS v(partition, next_offset) WHERE o.sink = $1 AND o.topic = $2 AND o.partition = v.partition`,
    values: [sink, topic, [...offsets.keys()], [...offsets.values()]],
  };
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

const isJson = (type: string) => /^jsonb?$/i.test(type.trim());

/** A value as sent: JSON text for json/jsonb columns (so arrays stay JSON, not PostgreSQL arrays). */
function param(spec: TableSpec, column: string, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (isJson(spec.columns[column]!)) return JSON.stringify(value);
  return value;
}

/**
 * The statements applying `ops` (already coalesced): deletes, then upserts or appends, in chunks
 * of at most 65,535 parameters. Columns a row leaves out take their default.
 */
export function applySql(spec: TableSpec, ops: readonly RowOp[]): Statement[] {
  const table = quoteTable(spec.table);
  const statements: Statement[] = [];
  const deletes = ops.filter((o): o is Extract<RowOp, { kind: 'delete' }> => o.kind === 'delete').map((o) => o.key);
  const rows = ops.filter((o): o is Extract<RowOp, { kind: 'upsert' }> => o.kind === 'upsert').map((o) => o.row);

  const perDelete = spec.key.length;
  for (let at = 0; at < deletes.length; at += Math.floor(MAX_PARAMETERS / perDelete)) {
    const chunk = deletes.slice(at, at + Math.floor(MAX_PARAMETERS / perDelete));
    const values: unknown[] = [];
    const tuples = chunk.map((key) => `(${spec.key.map((k) => `$${values.push(param(spec, k, key[k]))}::${spec.columns[k]!.trim()}`).join(', ')})`);
    statements.push({ text: `DELETE FROM ${table} WHERE (${spec.key.map((k) => quoteIdentifier(k)).join(', ')}) IN (${tuples.join(', ')})`, values });
  }

  if (rows.length > 0) {
    for (const row of rows) checkColumns(spec, row);
    const used = Object.keys(spec.columns).filter((c) => rows.some((r) => r[c] !== undefined));
    if (used.length === 0) throw new StreamsError('SINK_WRITE_FAILED', `table ${spec.table}: the rows have no values`, { canRetry: false });
    const perRow = Math.max(1, used.length);
    const rowsPerChunk = Math.floor(MAX_PARAMETERS / perRow);
    const names = used.map((c) => quoteIdentifier(c)).join(', ');
    const updates = used.filter((c) => !spec.key.includes(c)).map((c) => `${quoteIdentifier(c)} = EXCLUDED.${quoteIdentifier(c)}`);
    const conflict =
      spec.mode === 'append'
        ? ''
        : ` ON CONFLICT (${spec.key.map((k) => quoteIdentifier(k)).join(', ')}) ${updates.length > 0 ? `DO UPDATE SET ${updates.join(', ')}` : 'DO NOTHING'}`;
    for (let at = 0; at < rows.length; at += rowsPerChunk) {
      const chunk = rows.slice(at, at + rowsPerChunk);
      const values: unknown[] = [];
      const tuples = chunk.map((row) => `(${used.map((c) => (row[c] === undefined ? 'DEFAULT' : `$${values.push(param(spec, c, row[c]))}`)).join(', ')})`);
      statements.push({ text: `INSERT INTO ${table} (${names}) VALUES ${tuples.join(', ')}${conflict}`, values });
    }
  }
  return statements;
}
