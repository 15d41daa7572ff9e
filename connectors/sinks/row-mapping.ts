/**
 * How a record becomes a row operation in a warehouse table, shared by the PostgreSQL and DuckDB
 * sinks: the table options both take, validation of them before any I/O, and the operations of a
 * batch past the offsets the target has stored (the records below them were written by a commit
 * whose answer was lost, or by another runner of the same sink: skipping them is what makes a
 * retried batch write nothing twice).
 */
import { StreamsError } from '../../engine/index.ts';
import type { SinkBatch, SinkPositions, SinkRecord } from './sink.ts';
import { quoteTable, validateTableSpec, type Row, type RowOp, type TableSpec } from './table-sql.ts';

/** The options of a sink writing one table (the database's own connection options come beside them). */
export interface TableSinkOptions<K, V> {
  /** Names the sink; its offsets are stored under this name (and the topic). */
  readonly name: string;
  /** `name` or `schema.name`. */
  readonly table: string;
  /** Column name -> SQL type. Values of json/jsonb columns are sent as JSON text. */
  readonly columns: Readonly<Record<string, string>>;
  /** The primary key columns: the conflict target of upserts (optional for appends). */
  readonly key?: readonly string[];
  /** `upsert` (default): one row per key, the latest state. `append`: one row per record. */
  readonly mode?: 'upsert' | 'append';
  /** The row of a record (columns left out take their default); undefined skips the record. Tombstones come here only without `deleteKey`. */
  row(record: SinkRecord<K, V>): Row | undefined;
  /** Upserts: the key columns of the row a tombstone (null value) deletes. Without it, tombstones go to `row`. */
  deleteKey?(record: SinkRecord<K, V>): Row;
  /** Create the table and the offsets table if missing (default true). */
  readonly createTables?: boolean;
  /** Default `tributary_sink_offsets`. */
  readonly offsetsTable?: string;
}

/** The checked parts of TableSinkOptions. */
export interface TableSinkPlan {
  readonly spec: TableSpec;
  readonly offsetsTable: string;
}

/** Checks the table options (names, types, modes) and throws INVALID_ARGUMENT before any I/O. `what` names the database in messages. */
export function validateTableSinkOptions<K, V>(options: TableSinkOptions<K, V>, what: string): TableSinkPlan {
  if (typeof options.name !== 'string' || options.name === '') throw new StreamsError('INVALID_ARGUMENT', `a ${what} sink needs a name (its offsets are stored under it)`);
  if (typeof options.row !== 'function') throw new StreamsError('INVALID_ARGUMENT', `sink ${options.name}: row(record) must be a function`);
  const spec: TableSpec = { table: options.table, columns: options.columns, key: options.key ?? [], mode: options.mode ?? 'upsert' };
  validateTableSpec(spec);
  if (options.deleteKey !== undefined && spec.mode !== 'upsert') throw new StreamsError('INVALID_ARGUMENT', `sink ${options.name}: deleteKey needs mode 'upsert'`);
  const offsetsTable = options.offsetsTable ?? 'tributary_sink_offsets';
  quoteTable(offsetsTable);
  return { spec, offsetsTable };
}

/**
 * The row operations of `batch`, in order, leaving out the records below `stored` (the target's
 * next offsets per partition) and those `row` skips. `origins` names each operation's record.
 */
export function batchRowOps<K, V>(options: TableSinkOptions<K, V>, batch: SinkBatch<K, V>, stored: SinkPositions): { ops: RowOp[]; origins: string[] } {
  const ops: RowOp[] = [];
  const origins: string[] = [];
  for (const part of batch.parts) {
    const from = stored.get(part.partition) ?? 0;
    for (const record of part.records) {
      if (record.offset < from) continue;
      const op = rowOperation(options, record);
      if (op === undefined) continue;
      ops.push(op);
      origins.push(`${record.topic}-${record.partition}@${record.offset}`);
    }
  }
  return { ops, origins };
}

function rowOperation<K, V>(options: TableSinkOptions<K, V>, record: SinkRecord<K, V>): RowOp | undefined {
  try {
    if (record.value === null && options.deleteKey !== undefined) return { kind: 'delete', key: options.deleteKey(record) };
    const row = options.row(record);
    return row === undefined ? undefined : { kind: 'upsert', row };
  } catch (cause) {
    // A bug in the mapping: trying again cannot help.
    throw new StreamsError('SINK_WRITE_FAILED', `sink ${options.name}: row() failed for ${record.topic}-${record.partition}@${record.offset}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause, canRetry: false });
  }
}
