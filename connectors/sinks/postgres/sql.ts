/**
 * The SQL of the PostgreSQL sink, as pure functions: the dialect of its batch statements (JSON text
 * for json/jsonb columns, PostgreSQL's 65,535 parameters) and the offsets rows it locks and moves.
 * The rest (quoting, DDL, coalescing, the statements of a batch) is shared with the DuckDB sink in
 * ../table-sql.ts and re-exported here. Unit-tested without a server; postgres-sink.ts runs them.
 */
import { applySql as applyTableSql, isJsonType, quoteTable, type RowOp, type SqlDialect, type Statement, type TableSpec } from '../table-sql.ts';

export { coalesce, createOffsetsTableSql, createTableSql, quoteIdentifier, quoteTable, readOffsetsSql, validateTableSpec } from '../table-sql.ts';
export type { Row, RowOp, Statement, TableSpec } from '../table-sql.ts';

/** Values as sent: JSON text for json/jsonb columns (so arrays stay JSON, not PostgreSQL arrays); the driver types the rest. */
export const postgresDialect: SqlDialect = {
  maxParameters: 65_535,
  bind: (type, value, placeholder) => ({ sql: placeholder, value: isJsonType(type) ? JSON.stringify(value) : value }),
};

/** The statements applying `ops` (already coalesced) on PostgreSQL. */
export function applySql(spec: TableSpec, ops: readonly RowOp[]): Statement[] {
  return applyTableSql(spec, ops, postgresDialect);
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

export function storeOffsetsSql(offsetsTable: string, sink: string, topic: string, offsets: ReadonlyMap<number, number>): Statement {
  return {
    text:
      `UPDATE ${quoteTable(offsetsTable)} AS o SET next_offset = GREATEST(o.next_offset, v.next_offset), updated_at = now() ` +
      `FROM unnest($3::integer[], $4::bigint[]) AS v(partition, next_offset) WHERE o.sink = $1 AND o.topic = $2 AND o.partition = v.partition`,
    values: [sink, topic, [...offsets.keys()], [...offsets.values()]],
  };
}

