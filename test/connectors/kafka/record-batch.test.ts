import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Reader, createRecordsBatch, crc32c, readRecordsBatch } from '@platformatic/kafka';
import { encodeRecordBatch } from '../../../connectors/kafka/record-batch.ts';
import type { LogRecord } from '../../../engine/log.ts';

const bytes = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
const record: fc.Arbitrary<LogRecord> = fc.record(
  {
    key: fc.option(bytes, { nil: null }),
    value: fc.option(bytes, { nil: null }),
    timestamp: fc.integer({ min: 0, max: 2 ** 45 }),
    headers: fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 20 }), { maxKeys: 3 }),
  },
  { requiredKeys: ['key', 'value', 'timestamp'] },
);
const producer = fc.record({
  producerId: fc.bigInt({ min: 0n, max: 2n ** 62n }),
  producerEpoch: fc.integer({ min: 0, max: 32767 }),
  baseSequence: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  transactional: fc.boolean(),
});

test('encodeRecordBatch writes what the Kafka client reads back, with a valid CRC-32C', () => {
  fc.assert(
    fc.property(fc.array(record, { minLength: 1, maxLength: 40 }), producer, (records, p) => {
      const encoded = encodeRecordBatch(records, p);
      const batch = readRecordsBatch(Reader.from(encoded));
      assert.equal(batch.magic, 2);
      assert.equal(batch.length, encoded.length - 12);
      assert.equal(batch.crc >>> 0, crc32c(encoded.subarray(21)) >>> 0);
      assert.equal(batch.attributes, p.transactional ? 0x10 : 0);
      assert.equal(batch.producerId, p.producerId);
      assert.equal(batch.producerEpoch, p.producerEpoch);
      assert.equal(batch.firstSequence, p.baseSequence);
      assert.equal(batch.lastOffsetDelta, records.length - 1);
      const timestamps = records.map((r) => r.timestamp);
      assert.equal(batch.firstTimestamp, BigInt(records[0]!.timestamp));
      assert.equal(batch.maxTimestamp, BigInt(Math.max(...timestamps)));
      assert.equal(batch.records.length, records.length);
      batch.records.forEach((got, i) => {
        const want = records[i]!;
        assert.equal(got.offsetDelta, i);
        assert.equal(batch.firstTimestamp + got.timestampDelta, BigInt(want.timestamp));
        // The client reads a null key or value as an empty buffer (or null): compare bytes.
        assert.deepEqual(Buffer.from(got.key ?? []), Buffer.from(want.key ?? []));
        assert.deepEqual(Buffer.from(got.value ?? []), Buffer.from(want.value ?? []));
        const headers = Object.fromEntries(got.headers.map(([k, v]) => [k?.toString() ?? '', v?.toString() ?? '']));
        assert.deepEqual(headers, { ...want.headers });
      });
    }),
    { numRuns: 300 },
  );
});

test('encodeRecordBatch is byte for byte the batch the Kafka client builds for the same records', () => {
  const records: LogRecord[] = [
    { key: Buffer.from('user-1'), value: Buffer.from('a'.repeat(200)), timestamp: 1_700_000_000_000 },
    { key: null, value: Buffer.from('b'), timestamp: 1_700_000_000_005, headers: { origin: 'x' } },
    { key: Buffer.from('k'), value: null, timestamp: 1_699_999_999_999 },
  ];
  // The client takes sequence numbers from its own per-partition counters: 0 for a new producer.
  const ours = encodeRecordBatch(records, { producerId: 42n, producerEpoch: 3, baseSequence: 0, transactional: true });
  const theirs = createRecordsBatch(
    records.map((r) => ({
      topic: 't',
      partition: 0,
      ...(r.key !== null && { key: r.key as Buffer }),
      value: r.value as Buffer,
      timestamp: BigInt(r.timestamp),
      headers: new Map(Object.entries(r.headers ?? {}).map(([k, v]) => [Buffer.from(k), Buffer.from(v)])),
    })),
    { producerId: 42n, producerEpoch: 3, firstSequence: 7, transactionalId: 'tx', compression: 'none', partitionLeaderEpoch: -1 },
  ).buffer;
  assert.equal(ours.toString('hex'), theirs.toString('hex'));
});

test('encodeRecordBatch refuses an empty batch', () => {
  assert.throws(() => encodeRecordBatch([], { producerId: 1n, producerEpoch: 0, baseSequence: 0, transactional: false }), RangeError);
});
