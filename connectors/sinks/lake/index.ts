/**
 * `tributary/connectors/sinks/lake`: the Parquet lake sink (files by date and hour, rolled by
 * size or age, written atomically, exactly once through a marker of offsets beside them). The only
 * place that imports the Parquet writer.
 */
export { ParquetLakeSink } from './parquet-lake-sink.ts';
export type { ParquetLakeSinkOptions } from './parquet-lake-sink.ts';
export { defaultColumns } from './lake-columns.ts';
export type { DefaultColumns, LakeColumnType, LakeColumns, LakeRow, LakeValueOf } from './lake-columns.ts';
export { lakeHours, readLakeHours, readParquetRows, writeParquetRows } from './lake-reader.ts';
export type { LakeHour } from './lake-reader.ts';
