import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Serdes, StreamsError, Topology, TopologyTestDriver } from '../../../engine/index.ts';
import { SchemaRegistryClient, avroRegistrySerde, encodeWire } from '../../../connectors/schema-registry/index.ts';

// No registry answers here (port 9): these records fail before any lookup, as they must on the record path.
const registry = new SchemaRegistryClient({ url: 'http://127.0.0.1:9', timeoutMs: 500 });

test('a bad record read with a registry serde goes through the deserialization error policy', () => {
  const value = avroRegistrySerde<{ id: string }>({ registry, schema: { type: 'record', name: 'Order', fields: [{ name: 'id', type: 'string' }] } });
  const topology = new Topology()
    .addSource('src', { topics: 'orders', key: Serdes.string(), value })
    .addSink('snk', { topic: 'out', key: Serdes.string(), value: Serdes.json() }, 'src');
  const seen: { code: string; cause: string | undefined }[] = [];
  const driver = new TopologyTestDriver(topology, {
    onDeserializationError: (error) => {
      seen.push({ code: error.code, cause: error.cause instanceof StreamsError ? error.cause.code : undefined });
      return 'continue';
    },
  });
  const raw = driver.createInputTopic('orders', Serdes.string(), Serdes.bytes());
  raw.pipeInput('a', Buffer.from('{"id":"plain json"}'), 1); // magic byte '{'
  raw.pipeInput('b', encodeWire(4242, Buffer.from([2, 0x61])), 2); // an id nobody preloaded
  assert.deepEqual(seen, [
    { code: 'DESERIALIZATION_FAILED', cause: 'DESERIALIZATION_FAILED' },
    { code: 'DESERIALIZATION_FAILED', cause: 'SCHEMA_NOT_FOUND' },
  ]);
  assert.equal(driver.droppedRecords()['deserialization-error'], 2);
  driver.close();
});

test('with the default policy a bad magic byte stops processing with DESERIALIZATION_FAILED', () => {
  const value = avroRegistrySerde<string>({ registry, schema: 'string' });
  const topology = new Topology()
    .addSource('src', { topics: 'orders', key: Serdes.string(), value })
    .addSink('snk', { topic: 'out', key: Serdes.string(), value: Serdes.string() }, 'src');
  const driver = new TopologyTestDriver(topology);
  const raw = driver.createInputTopic('orders', Serdes.string(), Serdes.bytes());
  assert.throws(() => raw.pipeInput('a', new Uint8Array([1, 0, 0, 0, 1, 2, 0x61]), 1), { code: 'DESERIALIZATION_FAILED', part: 'value' });
  driver.close();
});
