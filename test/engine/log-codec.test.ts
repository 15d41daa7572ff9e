import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeRecordBatch, encodeRecordBatch, forEachKey } from '../../engine/log-codec.ts';
import type { LogRecord } from '../../engine/log.ts';

const bytes = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a));
const record: fc.Arbitrary<LogRecord> = fc.record(
  {
    key: fc.option(bytes, { nil: null }),
    value: fc.option(bytes, { nil: null }),
    timestamp: fc.integer({ min: 0, max: 2 ** 45 }),
    headers: fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 2 }),
  },
  { requiredKeys: ['key', 'value', 'timestamp'] },
);

test('a record batch decodes to the records encoded', () => {
  fc.assert(
    fc.property(fc.array(record, { maxLength: 30 }), (records) => {
      const decoded = decodeRecordBatch(encodeRecordBatch(records));
      assert.equal(decoded.length, records.length);
      decoded.forEach((got, i) => {
        const want = records[i]!;
        assert.deepEqual(got.key === null ? null : Buffer.from(got.key), want.key);
        assert.deepEqual(got.value === null ? null : Buffer.from(got.value), want.value);
        assert.equal(got.timestamp, want.timestamp);
        assert.deepEqual(got.headers, want.headers === undefined ? undefined : { ...want.headers });
      });
    }),
  );
});

test("forEachKey gives each record's key as latin1 ('' for null), in order, as decoding would", () => {
  fc.assert(
    fc.property(fc.array(record, { maxLength: 30 }), (records) => {
      const keys: string[] = [];
      forEachKey(encodeRecordBatch(records), (k) => keys.push(k));
      assert.deepEqual(
        keys,
        decodeRecordBatch(encodeRecordBatch(records)).map((r) => (r.key === null ? '' : Buffer.from(r.key).toString('latin1'))),
      );
    }),
  );
});
