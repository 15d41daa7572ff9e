/**
 * The lake as an analyst reads it: a SinkRunner moves a topic of the embedded log into the lake,
 * then DuckDB (`@duckdb/node-api`) reads `**\/*.parquet` with Hive partitioning: every record once,
 * the date/hour columns from the folders, typed columns, JSON it can query.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { EmbeddedLog } from '../../../../connectors/embedded/index.ts';
import { SinkRunner } from '../../../../connectors/sinks/index.ts';
import { ParquetLakeSink } from '../../../../connectors/sinks/lake/index.ts';
import { Serdes } from '../../../../engine/index.ts';
import { BASE, HOUR, withDir, type Reading } from './lake-support.ts';

test('DuckDB reads the lake with hive partitioning: every record once, by date and hour', { timeout: 60_000 }, async () => {
  await withDir(async (dir) => {
    const log = await EmbeddedLog.open({ dir: join(dir, 'log'), cleanIntervalMs: 0 });
    await log.createTopic('readings', { partitions: 2, cleanupPolicy: 'delete' });
    const total = 3000;
    const records = (p: number) => Array.from({ length: total }, (_, seq) => seq).filter((seq) => seq % 2 === p);
    await log.produce(
      [0, 1].map((partition) => ({
        topic: 'readings',
        partition,
        records: records(partition).map((seq) => ({ key: Buffer.from(`u${seq % 20}`), value: Buffer.from(JSON.stringify({ user: `u${seq % 20}`, seq })), timestamp: BASE + Math.floor(seq / 1000) * HOUR + seq })),
      })),
    );
    const sink = new ParquetLakeSink<string, Reading>({ name: 'readings-lake', dir: join(dir, 'lake'), prefix: 'readings', rollRecords: 300 });
    const runner = new SinkRunner({ log, topic: 'readings', sink, keySerde: Serdes.string(), valueSerde: Serdes.json<Reading>(), batch: { maxRecords: 500, lingerMs: 5 }, pollIntervalMs: 10 });
    await runner.start();
    await runner.waitFor(new Map([[0, total / 2], [1, total / 2]]));
    await runner.close();
    await log.close();

    const db = await DuckDBInstance.create(':memory:');
    const connection = await db.connect();
    try {
      const glob = join(dir, 'lake', 'readings', '**', '*.parquet');
      const read = async (sql: string) => (await connection.runAndReadAll(sql)).getRowObjectsJS();
      const source = `read_parquet('${glob}', hive_partitioning = true, hive_types = {'date': DATE, 'hour': INTEGER})`;
      const [all] = await read(`SELECT count(*) AS n, count(DISTINCT (src_partition, src_offset)) AS d, count(DISTINCT value->>'seq') AS seqs FROM ${source}`);
      assert.deepEqual(all, { n: BigInt(total), d: BigInt(total), seqs: BigInt(total) });
      const hours = await read(`SELECT hour, count(*) AS n, min(timestamp) AS first FROM ${source} WHERE date = DATE '2026-12-04' GROUP BY hour ORDER BY hour`);
      assert.deepEqual(
        hours.map((h) => [h.hour, Number(h.n)]),
        [[5, 1000], [6, 1000], [7, 1000]],
      );
      const [types] = await read(`SELECT typeof(key) AS k, typeof(value) AS v, typeof(timestamp) AS t, typeof(src_offset) AS o, typeof(hour) AS h FROM ${source} LIMIT 1`);
      assert.deepEqual(types, { k: 'VARCHAR', v: 'JSON', t: 'TIMESTAMP', o: 'BIGINT', h: 'INTEGER' });
      const [check] = await read(`SELECT count(*) AS bad FROM ${source} WHERE key <> (value->>'user') OR epoch_ms(timestamp) <> ${BASE} + (CAST(value->>'seq' AS BIGINT) // 1000) * ${HOUR} + CAST(value->>'seq' AS BIGINT)`);
      assert.equal(check!.bad, 0n);
      const [files] = await read(`SELECT count(DISTINCT filename) AS n FROM read_parquet('${glob}', filename = true)`);
      assert.ok(Number(files!.n) >= 6, `rolled by records: ${files!.n} files`);
    } finally {
      connection.closeSync();
    }
  });
});

test('while files are being written, DuckDB sees only the renamed ones', { timeout: 30_000 }, async () => {
  await withDir(async (dir) => {
    const sink = new ParquetLakeSink<string, Reading>({ name: 'busy', dir, rollRecords: 100, rowGroupRows: 10 });
    await sink.open({ topic: 'readings', partitions: [0] });
    const records = Array.from({ length: 150 }, (_, i) => ({ topic: 'readings', partition: 0, offset: i, key: 'u', value: { user: 'u', seq: i }, timestamp: BASE + (i < 100 ? 0 : HOUR) }));
    await sink.write({ topic: 'readings', sequence: 1, size: 100, parts: [{ partition: 0, fromOffset: 0, nextOffset: 100, records: records.slice(0, 100) }] });
    await sink.write({ topic: 'readings', sequence: 2, size: 50, parts: [{ partition: 0, fromOffset: 100, nextOffset: 150, records: records.slice(100) }] });
    assert.equal(sink.staged().rows, 50, 'hour 06 is open: row groups already in its temporary file');
    const db = await DuckDBInstance.create(':memory:');
    const connection = await db.connect();
    try {
      const [row] = (await connection.runAndReadAll(`SELECT count(*) AS n, max(src_offset) AS last FROM read_parquet('${join(sink.root, '**', '*.parquet')}', hive_partitioning = true)`)).getRowObjectsJS();
      assert.deepEqual(row, { n: 100n, last: 99n });
    } finally {
      connection.closeSync();
    }
    await sink.close();
  });
});
