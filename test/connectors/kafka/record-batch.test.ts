import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Reader, createRecordsBatch, crc32c, readRecordsBatch } from '@platformatic/kafka';
import { decodeRecordBatches, encodeRecordBatch } from '../../../connectors/kafka/record-batch.ts';
import type { FetchedRecord, LogRecord } from '../../../engine/log.ts';

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

/** The same records as the Kafka client's messages (for its own batch encoder). */
function clientMessages(records: readonly LogRecord[]) {
  return records.map((r) => ({
    topic: 't',
    partition: 0,
    ...(r.key !== null && { key: r.key as Buffer }),
    value: r.value as Buffer,
    timestamp: BigInt(r.timestamp),
    headers: new Map(Object.entries(r.headers ?? {}).map(([k, v]) => [Buffer.from(k), Buffer.from(v)])),
  }));
}

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
    clientMessages(records),
    { producerId: 42n, producerEpoch: 3, firstSequence: 7, transactionalId: 'tx', compression: 'none', partitionLeaderEpoch: -1 },
  ).buffer;
  assert.equal(ours.toString('hex'), theirs.toString('hex'));
});

test('encodeRecordBatch refuses an empty batch', () => {
  assert.throws(() => encodeRecordBatch([], { producerId: 1n, producerEpoch: 0, baseSequence: 0, transactional: false }), RangeError);
});

/** Batches as a broker returns them: offsets assigned from `base`, one after the other. */
function brokerBatches(batches: readonly (readonly LogRecord[])[], base: number): { buffer: Buffer; offsets: number[][]; lastLength: number } {
  const parts: Buffer[] = [];
  const offsets: number[][] = [];
  let next = base;
  for (const records of batches) {
    const b = encodeRecordBatch(records, { producerId: 7n, producerEpoch: 0, baseSequence: 0, transactional: false });
    b.writeBigInt64BE(BigInt(next), 0);
    offsets.push(records.map((_, i) => next + i));
    next += records.length;
    parts.push(b);
  }
  return { buffer: Buffer.concat(parts), offsets, lastLength: parts.at(-1)!.length };
}

const all = () => true;

test('decodeRecordBatches reads back what encodeRecordBatch wrote, from any offset, a partial last batch left out', () => {
  fc.assert(
    fc.property(
      fc.array(fc.array(record, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 6 }),
      fc.integer({ min: 0, max: 2 ** 40 }),
      fc.nat(),
      fc.nat(),
      (batches, base, fromPick, cutPick) => {
        const { buffer, offsets, lastLength } = brokerBatches(batches, base);
        const from = base + (fromPick % (offsets.flat().length + 1));
        // Cut the response inside the last batch (or not at all).
        const cut = cutPick % 2 === 0 ? buffer.length : buffer.length - 1 - (cutPick % lastLength);
        const complete = cut === buffer.length ? batches.length : batches.length - 1;
        const out: FetchedRecord[] = [];
        const last = decodeRecordBatches(buffer.subarray(0, cut), from, all, out);
        const want = batches
          .slice(0, complete)
          .flatMap((records, b) => records.map((r, i) => ({ ...r, offset: offsets[b]![i]! })))
          .filter((r) => r.offset >= from);
        assert.equal(last, complete === 0 ? -1 : offsets[complete - 1]!.at(-1)!);
        assert.equal(out.length, want.length);
        out.forEach((got, i) => {
          const w = want[i]!;
          assert.equal(got.offset, w.offset);
          assert.equal(got.timestamp, w.timestamp);
          assert.deepEqual(got.key === null ? null : Buffer.from(got.key), w.key === null ? null : Buffer.from(w.key));
          assert.deepEqual(got.value === null ? null : Buffer.from(got.value), w.value === null ? null : Buffer.from(w.value));
          assert.deepEqual(got.headers ?? {}, { ...w.headers });
        });
      },
    ),
    { numRuns: 300 },
  );
});

test('decodeRecordBatches reads compressed batches the Kafka client wrote (gzip, snappy, lz4, zstd)', () => {
  for (const compression of ['gzip', 'snappy', 'lz4', 'zstd'] as const) {
    fc.assert(
      fc.property(fc.array(record, { minLength: 1, maxLength: 20 }), (records) => {
        const batch = createRecordsBatch(
          clientMessages(records),
          { producerId: 1n, producerEpoch: 0, firstSequence: 0, compression, partitionLeaderEpoch: -1 },
        ).buffer;
        // The client's own reader is the reference.
        const reference = readRecordsBatch(Reader.from(batch));
        const out: FetchedRecord[] = [];
        decodeRecordBatches(batch, 0, all, out);
        assert.equal(out.length, reference.records.length);
        out.forEach((got, i) => {
          const ref = reference.records[i]!;
          assert.equal(got.offset, ref.offsetDelta);
          assert.equal(got.timestamp, Number(reference.firstTimestamp + ref.timestampDelta));
          assert.deepEqual(Buffer.from(got.key ?? []), Buffer.from(ref.key ?? []));
          assert.deepEqual(Buffer.from(got.value ?? []), Buffer.from(ref.value ?? []));
        });
      }),
      { numRuns: 40 },
    );
  }
});

test('decodeRecordBatches: batches a visitor refuses are skipped, log-append-time batches take their max timestamp', () => {
  const records: LogRecord[] = [
    { key: Buffer.from('a'), value: Buffer.from('1'), timestamp: 1000 },
    { key: Buffer.from('b'), value: Buffer.from('2'), timestamp: 3000 },
  ];
  const { buffer } = brokerBatches([records, records, records], 10);
  // The second batch is stamped by the broker: attributes bit 3, max timestamp 9000.
  const second = buffer.length / 3;
  buffer.writeInt16BE(0x08, second + 21);
  buffer.writeBigInt64BE(9000n, second + 35);
  const seen: number[] = [];
  const out: FetchedRecord[] = [];
  const last = decodeRecordBatches(buffer, 0, (b) => (seen.push(b.baseOffset), b.baseOffset !== 14), out);
  assert.deepEqual(seen, [10, 12, 14]);
  assert.equal(last, 15);
  assert.deepEqual(
    out.map((r) => [r.offset, r.timestamp]),
    [
      [10, 1000],
      [11, 3000],
      [12, 9000],
      [13, 9000],
    ],
  );
});

test('decodeRecordBatches refuses a batch of another format with a coded error', () => {
  const { buffer } = brokerBatches([[{ key: null, value: Buffer.from('x'), timestamp: 1 }]], 0);
  buffer.writeInt8(1, 16);
  assert.throws(() => decodeRecordBatches(buffer, 0, all, []), { code: 'CORRUPT_DATA' });
});
