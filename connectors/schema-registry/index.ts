export {
  SchemaRegistryClient,
  type SchemaRegistryClientOptions,
  type RegisteredSchema,
  type SchemaType,
  type CompatibilityLevel,
} from './registry-client.ts';
export { avroRegistrySerde, jsonSchemaRegistrySerde, type RegistrySerde, type RegistrySerdeOptions } from './registry-serde.ts';
export { SubjectNameStrategies, type SubjectNameStrategy } from './subject-name-strategy.ts';
export { encodeWire, decodeWire, MAGIC_BYTE } from './wire-format.ts';
