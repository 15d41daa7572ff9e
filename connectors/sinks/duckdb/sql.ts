/**
 * The SQL of the DuckDB sink that differs from PostgreSQL's (the rest is ../table-sql.ts): how a
 * batch's rows travel, and how the offsets move.
 *
 * Rows: DuckDB's client binds each JavaScript value by its own type (a number is a DOUBLE) and
 * knows no Date or array, and a statement of thousands of casted parameters spends most of its
 * time in the binder (157 ms for 1,000 rows of four columns here, against 12 ms for the form
 * below). So a statement carries one parameter, the rows as a JSON array, which DuckDB casts to a
 * list of structs of the table's column types and unnests:
 *
 *   INSERT INTO "t" ("k", "n") SELECT unnest(CAST(CAST($1 AS JSON) AS STRUCT("k" text, "n" bigint)[]), recursive := true)
 *   ON CONFLICT ("k") DO UPDATE SET "n" = EXCLUDED."n"
 *
 * Dates travel as ISO text and bigints as decimal text (DuckDB's JSON casts read both); JSON
 * columns keep their value as a JSON document. Rows are grouped by the columns they define, so a
 * column a row leaves out still takes its default.
 *
 * Offsets: upserted in one statement. DuckDB's transactions are optimistic, so a second writer of
 * the same offsets row fails (a conflict, retried) instead of waiting on a lock as in PostgreSQL.
 */
import { StreamsError } from '../../../engine/index.ts';
import { checkColumns, quoteIdentifier, quoteTable, type Row, type RowOp, type Statement, type TableSpec } from '../table-sql.ts';

/** Rows per statement: bounds the JSON text of one statement (a few MB at most for typical rows). */
const ROWS_PER_STATEMENT = 5000;

/** A value as JSON carries it to DuckDB's cast. */
function jsonValue(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/** `SELECT unnest(...)` of `rows` as structs of `columns`: the source of an INSERT or a DELETE. */
function rowsSource(spec: TableSpec, columns: readonly string[], rows: readonly Row[]): Statement {
  const struct = columns.map((c) => `${quoteIdentifier(c)} ${spec.columns[c]!.trim()}`).join(', ');
  // Dates go through their toJSON (ISO text); only the columns of the group are sent.
  const json = JSON.stringify(rows.map((row) => Object.fromEntries(columns.map((c) => [c, row[c] ?? null]))), jsonValue);
  return { text: `SELECT unnest(CAST(CAST($1 AS JSON) AS STRUCT(${struct})[]), recursive := true)`, values: [json] };
}

/**
 * The statements applying `ops` (already coalesced): deletes, then upserts or appends, one JSON
 * parameter each, at most ROWS_PER_STATEMENT rows a statement.
 */
export function applyDuckDbSql(spec: TableSpec, ops: readonly RowOp[]): Statement[] {
  const table = quoteTable(spec.table);
  const statements: Statement[] = [];
  const deletes = ops.filter((o): o is Extract<RowOp, { kind: 'delete' }> => o.kind === 'delete').map((o) => o.key);
  const rows = ops.filter((o): o is Extract<RowOp, { kind: 'upsert' }> => o.kind === 'upsert').map((o) => o.row);

  for (let at = 0; at < deletes.length; at += ROWS_PER_STATEMENT) {
    const source = rowsSource(spec, spec.key, deletes.slice(at, at + ROWS_PER_STATEMENT));
    const match = spec.key.map((k) => `${table}.${quoteIdentifier(k)} = d.${quoteIdentifier(k)}`).join(' AND ');
    statements.push({ text: `DELETE FROM ${table} USING (${source.text}) AS d WHERE ${match}`, values: source.values });
  }

  // Group the rows by the columns they define (usually one group), keeping each group's order.
  const groups = new Map<string, { columns: string[]; rows: Row[] }>();
  for (const row of rows) {
    checkColumns(spec, row);
    const columns = Object.keys(spec.columns).filter((c) => row[c] !== undefined);
    if (columns.length === 0) throw new StreamsError('SINK_WRITE_FAILED', `table ${spec.table}: a row has no values`, { canRetry: false });
    const id = columns.join(',');
    let group = groups.get(id);
    if (group === undefined) groups.set(id, (group = { columns, rows: [] }));
    group.rows.push(row);
  }
  for (const { columns, rows: groupRows } of groups.values()) {
    const updates = columns.filter((c) => !spec.key.includes(c)).map((c) => `${quoteIdentifier(c)} = EXCLUDED.${quoteIdentifier(c)}`);
    const conflict =
      spec.mode === 'append'
        ? ''
        : ` ON CONFLICT (${spec.key.map((k) => quoteIdentifier(k)).join(', ')}) ${updates.length > 0 ? `DO UPDATE SET ${updates.join(', ')}` : 'DO NOTHING'}`;
    for (let at = 0; at < groupRows.length; at += ROWS_PER_STATEMENT) {
      const source = rowsSource(spec, columns, groupRows.slice(at, at + ROWS_PER_STATEMENT));
      statements.push({ text: `INSERT INTO ${table} (${columns.map((c) => quoteIdentifier(c)).join(', ')}) ${source.text}${conflict}`, values: source.values });
    }
  }
  return statements;
}

/** Moves the stored next offsets forward (never back), creating the rows of new partitions. */
export function storeOffsetsSql(offsetsTable: string, sink: string, topic: string, offsets: ReadonlyMap<number, number>): Statement {
  const values: unknown[] = [sink, topic];
  const tuples = [...offsets].map(([partition, next]) => `($1, $2, $${values.push(partition)}, $${values.push(next)})`);
  return {
    text:
      `INSERT INTO ${quoteTable(offsetsTable)} (sink, topic, partition, next_offset) VALUES ${tuples.join(', ')} ` +
      `ON CONFLICT (sink, topic, partition) DO UPDATE SET next_offset = greatest(next_offset, EXCLUDED.next_offset), updated_at = now()`,
    values,
  };
}
