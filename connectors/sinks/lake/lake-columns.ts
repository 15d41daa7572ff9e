/**
 * The columns of a lake file: a name -> Parquet type mapping the user declares, the row type it
 * implies (so that `row(record)` is checked by the compiler), and a column buffer that takes rows
 * one at a time, checks each value against its type as it arrives (a bad value fails the record
 * that carries it, not a whole file later) and estimates the bytes it holds (the sink's memory cap).
 */
import { StreamsError } from '../../../engine/index.ts';
import type { SinkRecord } from '../sink.ts';

/** The Parquet types a lake column can have. Every column is nullable. */
export type LakeColumnType = 'STRING' | 'JSON' | 'BOOLEAN' | 'INT32' | 'INT64' | 'FLOAT' | 'DOUBLE' | 'TIMESTAMP' | 'BYTES';

/** The JavaScript value a column of each type takes. */
export interface LakeValueOf {
  STRING: string;
  /** Anything JSON.stringify accepts; stored as UTF-8 JSON text (DuckDB reads it as JSON). */
  JSON: unknown;
  BOOLEAN: boolean;
  INT32: number;
  INT64: number | bigint;
  FLOAT: number;
  DOUBLE: number;
  /** Milliseconds since the epoch, UTC (Parquet TIMESTAMP_MILLIS). */
  TIMESTAMP: Date | number;
  BYTES: Uint8Array;
}

/** Column name -> type, e.g. `{ user_id: 'STRING', ts: 'TIMESTAMP', price: 'DOUBLE' }`. */
export type LakeColumns = Readonly<Record<string, LakeColumnType>>;

/** A row of `C`: a value (or null, or left out: null) per column. */
export type LakeRow<C extends LakeColumns> = { readonly [N in keyof C]?: LakeValueOf[C[N]] | null };

/** The default columns: the record as it came from the log. */
export const defaultColumns = {
  key: 'STRING',
  value: 'JSON',
  timestamp: 'TIMESTAMP',
  src_partition: 'INT32',
  src_offset: 'INT64',
} as const satisfies LakeColumns;

export type DefaultColumns = typeof defaultColumns;

/** The default row: a string key as it is (any other key as JSON text), the value as JSON. */
export function defaultRow(record: SinkRecord<unknown, unknown>): LakeRow<DefaultColumns> {
  const { key } = record;
  return {
    key: key === null ? null : typeof key === 'string' ? key : JSON.stringify(key),
    value: record.value,
    timestamp: record.timestamp,
    src_partition: record.partition,
    src_offset: record.offset,
  };
}

const types: ReadonlySet<string> = new Set<LakeColumnType>(['STRING', 'JSON', 'BOOLEAN', 'INT32', 'INT64', 'FLOAT', 'DOUBLE', 'TIMESTAMP', 'BYTES']);

/** Checks a column mapping before any I/O: names DuckDB and Spark can read, known types. */
export function validateColumns(sink: string, columns: LakeColumns): void {
  const names = Object.keys(columns ?? {});
  if (names.length === 0) throw new StreamsError('INVALID_ARGUMENT', `lake sink ${sink}: columns must name at least one column`);
  for (const name of names) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new StreamsError('INVALID_ARGUMENT', `lake sink ${sink}: column name ${JSON.stringify(name)} must be letters, digits and _ (not starting with a digit)`);
    // Hive partitioning adds these two from the folder names; a column of the same name would clash.
    if (name === 'date' || name === 'hour') throw new StreamsError('INVALID_ARGUMENT', `lake sink ${sink}: column ${name} clashes with the folder partition of the same name`);
    if (!types.has(columns[name]!)) throw new StreamsError('INVALID_ARGUMENT', `lake sink ${sink}: column ${name} has unknown type ${String(columns[name])}; use one of ${[...types].join(', ')}`);
  }
}

/** hyparquet-writer's schema elements for the columns (root first). */
export function schemaOf(columns: LakeColumns): { name: string; [field: string]: unknown }[] {
  const names = Object.keys(columns);
  const element = (name: string, type: LakeColumnType) => {
    const base = { name, repetition_type: 'OPTIONAL' };
    switch (type) {
      case 'STRING':
        return { ...base, type: 'BYTE_ARRAY', converted_type: 'UTF8' };
      case 'JSON':
        return { ...base, type: 'BYTE_ARRAY', converted_type: 'JSON' };
      case 'TIMESTAMP':
        return { ...base, type: 'INT64', converted_type: 'TIMESTAMP_MILLIS' };
      case 'BYTES':
        return { ...base, type: 'BYTE_ARRAY' };
      default:
        return { ...base, type };
    }
  };
  return [{ name: 'root', num_children: names.length }, ...names.map((n) => element(n, columns[n]!))];
}

/** Rows gathered column by column, in the physical form the writer takes, with their size. */
export class ColumnBuffer {
  readonly #names: readonly string[];
  readonly #types: readonly LakeColumnType[];
  #data: unknown[][];
  #bytes = 0;

  constructor(columns: LakeColumns) {
    this.#names = Object.keys(columns);
    this.#types = this.#names.map((n) => columns[n]!);
    this.#data = this.#names.map(() => []);
  }

  get rows(): number {
    return this.#data[0]!.length;
  }

  /** Estimated bytes held (UTF-16 strings counted as one byte a character: an estimate for the cap). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Adds a row; throws (nothing added) when a value does not fit its column. */
  append(row: Readonly<Record<string, unknown>>): void {
    const converted: unknown[] = [];
    let bytes = 0;
    for (let i = 0; i < this.#names.length; i++) {
      const [value, size] = convert(this.#names[i]!, this.#types[i]!, row[this.#names[i]!]);
      converted.push(value);
      bytes += size;
    }
    for (let i = 0; i < converted.length; i++) this.#data[i]!.push(converted[i]);
    this.#bytes += bytes;
  }

  /** The gathered columns for the writer, and an empty buffer. */
  take(): { name: string; data: unknown[] }[] {
    const taken = this.#names.map((name, i) => ({ name, data: this.#data[i]! }));
    this.#data = this.#names.map(() => []);
    this.#bytes = 0;
    return taken;
  }
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

function convert(name: string, type: LakeColumnType, value: unknown): [unknown, number] {
  if (value === null || value === undefined) return [null, 1];
  const bad = (): never => {
    throw new TypeError(`column ${name} (${type}) cannot take ${typeof value === 'object' ? Object.prototype.toString.call(value) : `${typeof value} ${String(value)}`}`);
  };
  switch (type) {
    case 'STRING':
      return typeof value === 'string' ? [value, value.length + 4] : bad();
    case 'JSON': {
      // Stringified here to check it and to count its size; the writer stringifies the value again.
      const text = JSON.stringify(value) as string | undefined;
      return text === undefined ? bad() : [value, text.length + 4];
    }
    case 'BOOLEAN':
      return typeof value === 'boolean' ? [value, 1] : bad();
    case 'INT32':
      return Number.isInteger(value) && (value as number) >= INT32_MIN && (value as number) <= INT32_MAX ? [value, 4] : bad();
    case 'INT64':
      if (typeof value === 'bigint') return [value, 8];
      return Number.isSafeInteger(value) ? [BigInt(value as number), 8] : bad();
    case 'FLOAT':
    case 'DOUBLE':
      return typeof value === 'number' ? [value, 8] : bad();
    case 'TIMESTAMP': {
      const ms = value instanceof Date ? value.getTime() : value;
      return Number.isSafeInteger(ms) ? [BigInt(ms as number), 8] : bad();
    }
    case 'BYTES':
      return value instanceof Uint8Array ? [value, value.byteLength + 4] : bad();
  }
}
