/**
 * The SQL of the DuckDB sink that differs from PostgreSQL's (the rest is ../table-sql.ts): how
 * values are bound, and how the offsets move. DuckDB's client binds JavaScript values by their own
 * type (a number is a DOUBLE, a string a VARCHAR) and knows no Date or array, so every value is
 * cast to its column's type in the statement, dates travel as ISO text and lists and structs as
 * JSON text. Offsets are upserted in one statement: DuckDB's transactions are optimistic, so a
 * second writer of the same offsets row fails at the write (a conflict, retried) instead of
 * waiting on a lock as it does in PostgreSQL.
 */
import { isJsonType, quoteTable, type SqlDialect, type Statement } from '../table-sql.ts';

/** Whether a DuckDB type is a nested one (a list `T[]`, `STRUCT(...)`, `MAP(...)`) that takes JSON text. */
const isNestedType = (type: string) => /\[\]$|^(struct|map|union)\s*\(/i.test(type);

export const duckdbDialect: SqlDialect = {
  // No protocol limit; statements of a few thousand rows keep DuckDB's binder fast.
  maxParameters: 20_000,
  bind(type, value, placeholder) {
    if (value instanceof Date) return { sql: `CAST(${placeholder} AS ${type})`, value: value.toISOString() };
    if (isJsonType(type)) return { sql: `CAST(${placeholder} AS ${type})`, value: JSON.stringify(value) };
    if (isNestedType(type) || (typeof value === 'object' && !(value instanceof Uint8Array))) {
      return { sql: `CAST(CAST(${placeholder} AS JSON) AS ${type})`, value: JSON.stringify(value) };
    }
    return { sql: `CAST(${placeholder} AS ${type})`, value };
  },
};

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
