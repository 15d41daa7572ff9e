import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StreamsError } from '../../../../engine/index.ts';
import { applySql, coalesce, createTableSql, quoteIdentifier, validateTableSpec, type RowOp, type TableSpec } from '../../../../connectors/sinks/postgres/sql.ts';
import { PostgresSink } from '../../../../connectors/sinks/postgres/index.ts';
import { isRetryablePostgresError } from '../../../../connectors/sinks/postgres/postgres-sink.ts';

const code = (c: string) => (e: unknown) => e instanceof StreamsError && e.code === c;
const spec: TableSpec = { table: 'analytics.sessions', columns: { user_id: 'text', start: 'bigint', events: 'integer', pages: 'jsonb' }, key: ['user_id', 'start'], mode: 'upsert' };

test('identifiers and types are checked and quoted; anything else is refused before any I/O', () => {
  assert.equal(quoteIdentifier('user_id'), '"user_id"');
  for (const bad of ['a"b', 'a b', '1a', '', 'x'.repeat(64), 'drop table x;--']) assert.throws(() => quoteIdentifier(bad), code('INVALID_ARGUMENT'));
  assert.throws(() => validateTableSpec({ ...spec, table: 'a.b.c' }), code('INVALID_ARGUMENT'));
  assert.throws(() => validateTableSpec({ ...spec, columns: { user_id: 'text; drop table x' } }), code('INVALID_ARGUMENT'));
  assert.throws(() => validateTableSpec({ ...spec, key: [] }), code('INVALID_ARGUMENT'));
  assert.throws(() => validateTableSpec({ ...spec, key: ['nope'] }), code('INVALID_ARGUMENT'));
  validateTableSpec({ ...spec, columns: { ...spec.columns, score: 'numeric(10, 2)', tags: 'text[]', at: 'timestamp with time zone' } });
  validateTableSpec({ ...spec, key: [], mode: 'append' });
  assert.throws(() => new PostgresSink({ name: 's', connection: {}, table: 't', columns: { a: 'text' }, mode: 'append', row: () => ({}), deleteKey: () => ({}) }), code('INVALID_ARGUMENT'));
  assert.throws(() => new PostgresSink({ name: '', connection: {}, table: 't', columns: { a: 'text' }, key: ['a'], row: () => ({}) }), code('INVALID_ARGUMENT'));
});

test('the table DDL has the declared columns and the key as primary key', () => {
  assert.equal(
    createTableSql(spec),
    'CREATE TABLE IF NOT EXISTS "analytics"."sessions" (\n  "user_id" text NOT NULL,\n  "start" bigint NOT NULL,\n  "events" integer,\n  "pages" jsonb,\n  PRIMARY KEY ("user_id", "start")\n)',
  );
});

test('upserts are coalesced per key (the last operation wins, deletes included); appends keep every row', () => {
  const ops: RowOp[] = [
    { kind: 'upsert', row: { user_id: 'a', start: 1, events: 1 } },
    { kind: 'upsert', row: { user_id: 'b', start: 1, events: 1 } },
    { kind: 'upsert', row: { user_id: 'a', start: 1, events: 2 } },
    { kind: 'delete', key: { user_id: 'b', start: 1 } },
    { kind: 'upsert', row: { user_id: 'c', start: 1, events: 1 } },
    { kind: 'delete', key: { user_id: 'c', start: 1 } },
    { kind: 'upsert', row: { user_id: 'c', start: 1, events: 5 } },
  ];
  assert.deepEqual(coalesce(spec, ops, []), [
    { kind: 'upsert', row: { user_id: 'a', start: 1, events: 2 } },
    { kind: 'delete', key: { user_id: 'b', start: 1 } },
    { kind: 'upsert', row: { user_id: 'c', start: 1, events: 5 } },
  ]);
  assert.equal(coalesce({ ...spec, mode: 'append' }, ops, []).length, 5);
  assert.throws(() => coalesce(spec, [{ kind: 'upsert', row: { user_id: 'a' } }], ['t-0@7']), (e: unknown) => code('SINK_WRITE_FAILED')(e) && !(e as StreamsError).canRetry && /t-0@7/.test((e as Error).message));
});

test('statements: deletes then upserts with ON CONFLICT, DEFAULT for columns a row leaves out, JSON text for jsonb', () => {
  const statements = applySql(spec, [
    { kind: 'delete', key: { user_id: 'b', start: 1 } },
    { kind: 'upsert', row: { user_id: 'a', start: 1, events: 2, pages: ['p1', 'p2'] } },
    { kind: 'upsert', row: { user_id: 'c', start: 2, events: 3 } },
  ]);
  assert.deepEqual(statements, [
    { text: 'DELETE FROM "analytics"."sessions" WHERE ("user_id", "start") IN (($1::text, $2::bigint))', values: ['b', 1] },
    {
      text:
        'INSERT INTO "analytics"."sessions" ("user_id", "start", "events", "pages") VALUES ($1, $2, $3, $4), ($5, $6, $7, DEFAULT) ' +
        'ON CONFLICT ("user_id", "start") DO UPDATE SET "events" = EXCLUDED."events", "pages" = EXCLUDED."pages"',
      values: ['a', 1, 2, '["p1","p2"]', 'c', 2, 3],
    },
  ]);
  assert.throws(() => applySql(spec, [{ kind: 'upsert', row: { user_id: 'a', start: 1, nope: 1 } }]), code('SINK_WRITE_FAILED'));
  const append = applySql({ ...spec, key: [], mode: 'append' }, [{ kind: 'upsert', row: { user_id: 'a', start: 1 } }]);
  assert.equal(append[0]!.text, 'INSERT INTO "analytics"."sessions" ("user_id", "start") VALUES ($1, $2)');
});

test('a large batch is split into statements of at most 65,535 parameters', () => {
  const rows: RowOp[] = Array.from({ length: 50_000 }, (_, i) => ({ kind: 'upsert', row: { user_id: `u${i}`, start: i, events: i } }));
  const statements = applySql(spec, rows);
  assert.equal(statements.length, 3); // 3 parameters a row: 21,845 rows a statement
  assert.ok(statements.every((s) => s.values.length <= 65_535));
  assert.equal(statements.reduce((n, s) => n + s.values.length, 0), 150_000);
});

test('errors retry by SQLSTATE class: connection, resources, shutdown and rollbacks do; data, constraints and schema do not', () => {
  for (const c of ['08006', '57P01', '57P03', '53300', '40001', '40P01', 'ECONNREFUSED', 'ECONNRESET', undefined]) assert.equal(isRetryablePostgresError({ code: c }), true, String(c));
  for (const c of ['22P02', '23505', '42P01', '42501', '0A000']) assert.equal(isRetryablePostgresError({ code: c }), false, c);
  assert.equal(isRetryablePostgresError(new StreamsError('SINK_WRITE_FAILED', 'x', { canRetry: false })), false);
});
