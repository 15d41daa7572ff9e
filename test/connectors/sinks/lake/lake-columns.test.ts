import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ColumnBuffer, defaultRow, schemaOf, validateColumns } from '../../../../connectors/sinks/lake/lake-columns.ts';

test('ColumnBuffer converts each value to its physical form and counts the bytes it holds', () => {
  const buffer = new ColumnBuffer({ s: 'STRING', j: 'JSON', i: 'INT32', l: 'INT64', t: 'TIMESTAMP', b: 'BOOLEAN' });
  buffer.append({ s: 'abc', j: { a: 1 }, i: 7, l: 2 ** 40, t: new Date(5), b: true });
  buffer.append({ s: null, l: 3n, t: 6 });
  assert.equal(buffer.rows, 2);
  assert.ok(buffer.bytes > 0);
  assert.deepEqual(buffer.take(), [
    { name: 's', data: ['abc', null] },
    { name: 'j', data: [{ a: 1 }, null] },
    { name: 'i', data: [7, null] },
    { name: 'l', data: [2n ** 40n, 3n] },
    { name: 't', data: [5n, 6n] },
    { name: 'b', data: [true, null] },
  ]);
  assert.equal(buffer.rows, 0);
  assert.equal(buffer.bytes, 0);
});

test('ColumnBuffer refuses a value that does not fit its column, and adds nothing of that row', () => {
  const buffer = new ColumnBuffer({ s: 'STRING', i: 'INT32', l: 'INT64', t: 'TIMESTAMP', j: 'JSON', x: 'BYTES' });
  for (const row of [{ s: 1 }, { i: 2 ** 31 }, { i: 1.5 }, { l: 2 ** 60 }, { t: new Date(Number.NaN) }, { j: 1n }, { j: () => 0 }, { x: 'text' }]) {
    assert.throws(() => buffer.append({ s: 'ok', ...row }), TypeError, JSON.stringify(Object.keys(row)));
  }
  assert.equal(buffer.rows, 0);
  assert.deepEqual(buffer.take()[0], { name: 's', data: [] });
});

test('the schema: every column optional, strings UTF8, JSON annotated, timestamps in ms', () => {
  validateColumns('s', { a: 'STRING' });
  assert.deepEqual(schemaOf({ a: 'STRING', b: 'JSON', c: 'TIMESTAMP', d: 'BYTES', e: 'DOUBLE' }), [
    { name: 'root', num_children: 5 },
    { name: 'a', repetition_type: 'OPTIONAL', type: 'BYTE_ARRAY', converted_type: 'UTF8' },
    { name: 'b', repetition_type: 'OPTIONAL', type: 'BYTE_ARRAY', converted_type: 'JSON' },
    { name: 'c', repetition_type: 'OPTIONAL', type: 'INT64', converted_type: 'TIMESTAMP_MILLIS' },
    { name: 'd', repetition_type: 'OPTIONAL', type: 'BYTE_ARRAY' },
    { name: 'e', repetition_type: 'OPTIONAL', type: 'DOUBLE' },
  ]);
});

test('the default row: a string key as it is, others as JSON; the value as JSON; where it came from', () => {
  const base = { topic: 't', partition: 2, offset: 9, value: { a: 1 }, timestamp: 123 };
  assert.deepEqual(defaultRow({ ...base, key: 'k' }), { key: 'k', value: { a: 1 }, timestamp: 123, src_partition: 2, src_offset: 9 });
  assert.equal(defaultRow({ ...base, key: { id: 1 } }).key, '{"id":1}');
  assert.equal(defaultRow({ ...base, key: null }).key, null);
});
