/**
 * `tributary/connectors/sinks/postgres`: the PostgreSQL warehouse sink (upserts or appends, the
 * consumed offsets in the same transaction: exactly once). The only place that imports `pg`.
 */
export { PostgresSink } from './postgres-sink.ts';
export type { PostgresSinkOptions, PostgresConnectionOptions } from './postgres-sink.ts';
export type { Row } from '../table-sql.ts';
export type { TableSinkOptions } from '../row-mapping.ts';
