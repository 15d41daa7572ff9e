import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StreamsError } from '../../../engine/index.ts';
import {
  SchemaRegistryClient,
  SubjectNameStrategies,
  avroRegistrySerde,
  decodeWire,
  encodeWire,
  jsonSchemaRegistrySerde,
} from '../../../connectors/schema-registry/index.ts';

const code = (c: string) => (err: unknown) => err instanceof StreamsError && err.code === c;

test('the wire format is magic byte 0, the schema id in 4 big-endian bytes, then the payload', () => {
  const framed = encodeWire(0x01020304, Buffer.from([0xaa, 0xbb]));
  assert.deepEqual([...framed], [0, 1, 2, 3, 4, 0xaa, 0xbb]);
  const { schemaId, payload } = decodeWire(framed);
  assert.equal(schemaId, 0x01020304);
  assert.deepEqual([...payload], [0xaa, 0xbb]);
});

test('decodeWire reads a view of any Uint8Array, offsets included', () => {
  const backing = new Uint8Array([9, 9, 0, 0, 0, 0, 42, 7]);
  const { schemaId, payload } = decodeWire(backing.subarray(2));
  assert.equal(schemaId, 42);
  assert.deepEqual([...payload], [7]);
});

test('an unknown magic byte or a short record fails with DESERIALIZATION_FAILED', () => {
  assert.throws(() => decodeWire(Buffer.from('{"a":1}')), code('DESERIALIZATION_FAILED'));
  assert.throws(() => decodeWire(new Uint8Array([0, 0, 0])), code('DESERIALIZATION_FAILED'));
});

test('schema ids must be 32-bit non-negative integers', () => {
  assert.throws(() => encodeWire(-1, new Uint8Array()), code('INVALID_ARGUMENT'));
  assert.throws(() => encodeWire(2 ** 31, new Uint8Array()), code('INVALID_ARGUMENT'));
});

test('subject name strategies follow Confluent', () => {
  assert.equal(SubjectNameStrategies.topicName('orders', false, 'x.Order'), 'orders-value');
  assert.equal(SubjectNameStrategies.topicName('orders', true, undefined), 'orders-key');
  assert.equal(SubjectNameStrategies.recordName('orders', false, 'x.Order'), 'x.Order');
  assert.equal(SubjectNameStrategies.topicRecordName('orders', false, 'x.Order'), 'orders-x.Order');
  assert.throws(() => SubjectNameStrategies.recordName('orders', false, undefined), code('INVALID_ARGUMENT'));
});

test('serdes use the record name of their schema: Avro full name, JSON Schema title', () => {
  const registry = new SchemaRegistryClient({ url: 'http://127.0.0.1:9' });
  const avro = avroRegistrySerde({
    registry,
    schema: { type: 'record', name: 'Order', namespace: 'shop', fields: [{ name: 'id', type: 'string' }] },
    subjectNameStrategy: SubjectNameStrategies.topicRecordName,
  });
  assert.equal(avro.subject('orders'), 'orders-shop.Order');
  const json = jsonSchemaRegistrySerde({ registry, schema: { title: 'Click', type: 'object' }, isKey: true });
  assert.equal(json.subject('clicks'), 'clicks-key');
});

test('a serde that was not prepared fails the record with SCHEMA_NOT_FOUND instead of blocking', () => {
  const registry = new SchemaRegistryClient({ url: 'http://127.0.0.1:9', timeoutMs: 500 });
  const serde = avroRegistrySerde<string>({ registry, schema: 'string' });
  assert.throws(() => serde.serialize('a', 'orders'), code('SCHEMA_NOT_FOUND'));
  assert.throws(() => serde.deserialize(encodeWire(12345, Buffer.from([2, 0x61])), 'orders'), (err) => code('SCHEMA_NOT_FOUND')(err) && (err as StreamsError).canRetry);
});

test('an unreachable registry surfaces as REGISTRY_UNAVAILABLE (canRetry)', async () => {
  // Port 9 (discard) on loopback: nothing listens, the connection is refused.
  const registry = new SchemaRegistryClient({ url: 'http://127.0.0.1:9', timeoutMs: 2000 });
  const serde = avroRegistrySerde<string>({ registry, schema: 'string' });
  await assert.rejects(serde.prepare(['orders']), (err) => code('REGISTRY_UNAVAILABLE')(err) && (err as StreamsError).canRetry);
});

test('the client validates its url before any I/O', () => {
  assert.throws(() => new SchemaRegistryClient({ url: 'not a url' }), code('INVALID_ARGUMENT'));
  assert.throws(() => new SchemaRegistryClient({ url: 'ftp://x' }), code('INVALID_ARGUMENT'));
});

test('an invalid schema given to a serde fails with SCHEMA_INVALID', () => {
  const registry = new SchemaRegistryClient({ url: 'http://127.0.0.1:9' });
  assert.throws(() => avroRegistrySerde({ registry, schema: { type: 'record', name: 'X' } as never }), code('SCHEMA_INVALID'));
});
