/**
 * Registry serdes against a real Apicurio Registry (Confluent-compatible API), started by
 * scripts/registry.ts (`npm run test:registry` starts it; REGISTRY_PORT picks the port).
 * Each test uses its own topic, so subjects never collide across runs of the same server.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { StreamsError } from '../../../engine/index.ts';
import {
  SchemaRegistryClient,
  SubjectNameStrategies,
  avroRegistrySerde,
  jsonSchemaRegistrySerde,
  decodeWire,
} from '../../../connectors/schema-registry/index.ts';
import { startRegistry } from '../../../scripts/registry.ts';
import type avro from 'avsc';

let url = '';
before(async () => {
  ({ url } = await startRegistry());
});

const code = (c: string) => (err: unknown) => err instanceof StreamsError && err.code === c;
const topicName = (what: string) => `${what}-${randomUUID().slice(0, 8)}`;

/** A client whose HTTP requests are counted (the real fetch underneath). */
function countingClient(): { registry: SchemaRegistryClient; requests: string[] } {
  const requests: string[] = [];
  const registry = new SchemaRegistryClient({
    url,
    fetch: (input, init) => {
      requests.push(`${init?.method ?? 'GET'} ${String(input).slice(url.length)}`);
      return fetch(input, init);
    },
  });
  return { registry, requests };
}

const orderV1 = {
  type: 'record',
  name: 'Order',
  namespace: 'shop',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'amount', type: 'double' },
  ],
} satisfies avro.Schema;

interface Order {
  id: string;
  amount: number;
}

test('Avro round trip in the Confluent wire format, with the registered id in the header', async () => {
  const topic = topicName('orders');
  const { registry } = countingClient();
  const serde = avroRegistrySerde<Order>({ registry, schema: orderV1 });
  await serde.prepare([topic]);
  const bytes = serde.serialize({ id: 'o-1', amount: 12.5 }, topic);
  assert.equal(bytes[0], 0);
  const { schemaId } = decodeWire(bytes);
  assert.equal((await registry.getById(schemaId)).schemaType, 'AVRO');
  assert.deepEqual({ ...serde.deserialize(bytes, topic) }, { id: 'o-1', amount: 12.5 });

  // Another client, read-only, learns the writer schema from the registry by id.
  const reader = avroRegistrySerde<Order>({ registry: new SchemaRegistryClient({ url }) });
  await reader.preloadIds([schemaId]);
  assert.deepEqual({ ...reader.deserialize(bytes, topic) }, { id: 'o-1', amount: 12.5 });
});

test('JSON Schema round trip, with values validated on write', async () => {
  const topic = topicName('clicks');
  const { registry } = countingClient();
  const schema = {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'Click',
    type: 'object',
    properties: { url: { type: 'string' }, at: { type: 'integer' } },
    required: ['url', 'at'],
  };
  const serde = jsonSchemaRegistrySerde<{ url: string; at: number }>({ registry, schema });
  await serde.prepare([topic]);
  const bytes = serde.serialize({ url: '/home', at: 1 }, topic);
  const { schemaId, payload } = decodeWire(bytes);
  assert.equal((await registry.getById(schemaId)).schemaType, 'JSON');
  assert.deepEqual(JSON.parse(payload.toString()), { url: '/home', at: 1 });
  assert.deepEqual(serde.deserialize(bytes, topic), { url: '/home', at: 1 });
  assert.throws(() => serde.serialize({ url: 7 } as never, topic), code('SERIALIZATION_FAILED'));
});

test('schema ids are cached: one registry lookup serves many records', async () => {
  const topic = topicName('cached');
  const writer = avroRegistrySerde<Order>({ registry: new SchemaRegistryClient({ url }), schema: orderV1 });
  await writer.prepare([topic]);
  const records = Array.from({ length: 500 }, (_, i) => writer.serialize({ id: `o-${i}`, amount: i }, topic));

  const { registry, requests } = countingClient();
  const reader = avroRegistrySerde<Order>({ registry });
  const { schemaId } = decodeWire(records[0]!);
  await reader.preloadIds([schemaId, schemaId, schemaId]);
  for (const record of records) reader.deserialize(record, topic);
  assert.deepEqual(requests, [`GET /schemas/ids/${schemaId}`]);
});

test('an id met mid-stream fails that record with SCHEMA_NOT_FOUND, then decodes once fetched in the background', async () => {
  const topic = topicName('late');
  const writer = avroRegistrySerde<Order>({ registry: new SchemaRegistryClient({ url }), schema: orderV1 });
  await writer.prepare([topic]);
  const bytes = writer.serialize({ id: 'x', amount: 1 }, topic);
  const { registry, requests } = countingClient();
  const reader = avroRegistrySerde<Order>({ registry });
  assert.throws(() => reader.deserialize(bytes, topic), code('SCHEMA_NOT_FOUND'));
  const deadline = Date.now() + 5000;
  while (registry.cachedById(decodeWire(bytes).schemaId) === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(reader.deserialize(bytes, topic).id, 'x');
  assert.equal(requests.length, 1);
});

test('an incompatible schema change is refused with SCHEMA_INCOMPATIBLE under BACKWARD', async () => {
  const topic = topicName('evolve');
  const registry = new SchemaRegistryClient({ url });
  const v1 = avroRegistrySerde<Order>({ registry, schema: orderV1 });
  await v1.prepare([topic]);
  await registry.setCompatibility(v1.subject(topic), 'BACKWARD');

  // A new required field without a default: v2 readers cannot read v1 data.
  const broken = { ...orderV1, fields: [...orderV1.fields, { name: 'currency', type: 'string' }] };
  await assert.rejects(avroRegistrySerde<Order>({ registry, schema: broken }).prepare([topic]), code('SCHEMA_INCOMPATIBLE'));

  // With a default it is backward compatible, and v2 reads v1 records (schema resolution).
  const v2Schema = { ...orderV1, fields: [...orderV1.fields, { name: 'currency', type: 'string', default: 'EUR' }] };
  const v2 = avroRegistrySerde<Order & { currency: string }>({ registry, schema: v2Schema });
  await v2.prepare([topic]);
  const old = v1.serialize({ id: 'o-1', amount: 3 }, topic);
  assert.deepEqual({ ...v2.deserialize(old, topic) }, { id: 'o-1', amount: 3, currency: 'EUR' });
});

test('autoRegister false: prepare() looks the schema up and fails with SCHEMA_NOT_FOUND when it is missing', async () => {
  const topic = topicName('strict');
  const registry = new SchemaRegistryClient({ url });
  await assert.rejects(avroRegistrySerde({ registry, schema: orderV1, autoRegister: false }).prepare([topic]), code('SCHEMA_NOT_FOUND'));
  const id = await registry.register(`${topic}-value`, { schema: JSON.stringify(orderV1), schemaType: 'AVRO' });
  const serde = avroRegistrySerde<Order>({ registry, schema: orderV1, autoRegister: false });
  await serde.prepare([topic]);
  assert.equal(decodeWire(serde.serialize({ id: 'a', amount: 1 }, topic)).schemaId, id);
});

test('RecordNameStrategy and TopicRecordNameStrategy register under the record name', async () => {
  const topic = topicName('named');
  const { registry, requests } = countingClient();
  const schema = { ...orderV1, namespace: `shop${randomUUID().slice(0, 8)}` };
  await avroRegistrySerde({ registry, schema, subjectNameStrategy: SubjectNameStrategies.recordName }).prepare([topic]);
  await avroRegistrySerde({ registry, schema, subjectNameStrategy: SubjectNameStrategies.topicRecordName }).prepare([topic]);
  assert.ok(requests.includes(`POST /subjects/${schema.namespace}.Order/versions`));
  assert.ok(requests.includes(`POST /subjects/${topic}-${schema.namespace}.Order/versions`));
});

test('a record with an unknown magic byte fails with DESERIALIZATION_FAILED', async () => {
  const topic = topicName('magic');
  const serde = avroRegistrySerde<Order>({ registry: new SchemaRegistryClient({ url }), schema: orderV1 });
  await serde.prepare([topic]);
  const bytes = Buffer.from(serde.serialize({ id: 'a', amount: 1 }, topic));
  bytes[0] = 1;
  assert.throws(() => serde.deserialize(bytes, topic), code('DESERIALIZATION_FAILED'));
});
