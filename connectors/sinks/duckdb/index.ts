/**
 * `tributary/connectors/sinks/duckdb`: the embedded warehouse sink, a DuckDB database in one file
 * (upserts or appends, the consumed offsets in the same transaction: exactly once). The only place
 * that imports `@duckdb/node-api`.
 */
export { DuckDbSink } from './duckdb-sink.ts';
export type { DuckDbSinkOptions } from './duckdb-sink.ts';
export type { Row } from '../table-sql.ts';
export type { TableSinkOptions } from '../row-mapping.ts';
