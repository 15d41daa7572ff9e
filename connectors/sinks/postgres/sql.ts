/**
 * The SQL of the PostgreSQL sink, as pure functions: the offsets rows it locks and moves, and the
 * statements of one batch (a parameter per value, chunked under PostgreSQL's 65,535 parameters).
 * The rest (quoting, DDL, coalescing) is shared with the DuckDB sink in ../table-sql.ts and
 * re-exported here. Unit-tested without a server; postgres-sink.ts runs them.
 */
import { StreamsError } from '../../../engine/index.ts';
import { checkColumns, isJsonType, quoteIdentifier, quoteTable, type RowOp, type Statement, type TableSpec } from '../table-sql.ts';

const MAX_PARAMETERS = 65_535;

export { coalesce, createOffsetsTableSql, createTableSql, quoteIdentifier, quoteTable, readOffsetsSql, validateTableSpec } from '../table-sql.ts';
export type { Row, RowOp, Statement, TableSpec } from '../table-sql.ts';

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

export function storeOffsetsSql(offsetsTable: string, sink: string, topic: string, offsets: ReadonlyMap<number, number>): Statement {
  return {
    text:
      `UPDATE ${quoteTable(offsetsTable)} AS o SET next_offset = GREATEST(o.next_offset, v.next_offset), updated_at = now() ` +
      `FROM unnest($3::integer[], $4::bigint[]) AS v(partition, next_offset) WHERE o.sink = $1 AND o.topic = $2 AND o.partition = v.partition`,
    values: [sink, topic, [...offsets.keys()], [...offsets.values()]],
  };
}

/** A value as sent: JSON text for json/jsonb columns (so arrays stay JSON, not PostgreSQL arrays). */
function param(spec: TableSpec, column: string, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (isJsonType(spec.columns[column]!)) return JSON.stringify(value);
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
