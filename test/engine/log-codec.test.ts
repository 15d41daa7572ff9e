import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compactRecordBatch, decodeRecordBatch, decodeRecordsAt, encodeRecordBatch, forEachKey } from '../../engine/log-codec.ts';
import type { FetchedRecord, LogRecord } from '../../engine/log.ts';

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

const view = (r: LogRecord) => [
  r.key === null ? null : Buffer.from(r.key).toString('hex'),
  r.value === null ? null : Buffer.from(r.value).toString('hex'),
  r.timestamp,
  r.headers === undefined ? undefined : { ...r.headers },
];

test('a batch compacted (any records, any number of times) keeps the offsets of the records it keeps; readers and forEachKey skip the holes', () => {
  fc.assert(
    fc.property(
      fc.array(record, { maxLength: 30 }),
      fc.array(fc.array(fc.boolean(), { minLength: 30, maxLength: 30 }), { minLength: 1, maxLength: 3 }),
      fc.nat(35),
      fc.integer({ min: 1, max: 35 }),
      (records, rounds, skip, max) => {
        let blob = encodeRecordBatch(records);
        let kept = records.map((_, i) => i);
        for (const mask of rounds) {
          const compacted = compactRecordBatch(blob, (i) => mask[i]!);
          const next = kept.filter((i) => mask[i]);
          if (compacted === undefined) assert.equal(next.length, kept.length, 'undefined only when every record is kept');
          else {
            assert.equal(compacted.records, next.length);
            blob = compacted.blob;
          }
          kept = next;
        }
        // The model: the records kept, at their original offsets (base 100).
        const model = kept.map((i) => ({ offset: 100 + i, record: records[i]! }));
        assert.deepEqual(decodeRecordBatch(blob).map(view), model.map((m) => view(m.record)));
        const out: FetchedRecord[] = [];
        assert.equal(decodeRecordsAt(blob, 100, skip, max, out), Math.max(0, Math.min(records.length, skip + max) - skip));
        const want = model.filter((m) => m.offset >= 100 + skip && m.offset < 100 + skip + max);
        assert.deepEqual(out.map((r) => [r.offset, ...view(r)]), want.map((m) => [m.offset, ...view(m.record)]));
        const keys: [string, number][] = [];
        forEachKey(blob, (k, i) => keys.push([k, i]));
        assert.deepEqual(keys, kept.map((i) => [records[i]!.key === null ? '' : Buffer.from(records[i]!.key!).toString('latin1'), i]));
        // The batch covers the same offsets: its count is unchanged.
        assert.equal(Buffer.from(blob).readUInt32BE(0), records.length);
      },
    ),
  );
});
