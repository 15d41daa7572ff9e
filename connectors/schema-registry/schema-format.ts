import avro from 'avsc';
import { Ajv, type ValidateFunction } from 'ajv';
import { StreamsError } from '../../engine/index.ts';
import type { SchemaType } from './registry-client.ts';

/**
 * What a registry serde needs to know about one schema language: its type name on the wire, the
 * record name the subject strategies use, and how to write and read a payload.
 * `W` is a parsed writer schema (cached per schema id), `R` the serde's own (reader) schema.
 */
export interface SchemaFormat<T, S> {
  readonly schemaType: SchemaType;
  /** Parses schema text from the registry (or the user's schema, serialized). */
  parse(text: string): S;
  /** The Avro record full name or the JSON Schema title, for RecordNameStrategy. */
  recordName(schema: S): string | undefined;
  encode(schema: S, value: T): Uint8Array;
  /** Decodes a payload written with `writer`, into the shape of `reader` when one is given. */
  decode(writer: S, reader: S | undefined, payload: Buffer): T;
}

/** Avro binary through avsc; reading resolves the writer schema into the reader schema (evolution). */
export function avroFormat<T>(): SchemaFormat<T, avro.Type> {
  const resolvers = new WeakMap<avro.Type, WeakMap<avro.Type, avro.Resolver>>();
  return {
    schemaType: 'AVRO',
    parse: (text) => avro.Type.forSchema(JSON.parse(text) as avro.Schema),
    recordName: (type) => type.name,
    encode: (type, value) => type.toBuffer(value),
    decode(writer, reader, payload) {
      if (!reader || reader === writer) return writer.fromBuffer(payload) as T;
      let byWriter = resolvers.get(reader);
      if (!byWriter) resolvers.set(reader, (byWriter = new WeakMap()));
      let resolver = byWriter.get(writer);
      if (!resolver) byWriter.set(writer, (resolver = reader.createResolver(writer)));
      return reader.fromBuffer(payload, resolver) as T;
    },
  };
}

/** A JSON Schema with its compiled validator. */
export interface JsonSchema {
  readonly schema: Record<string, unknown>;
  readonly validate: ValidateFunction;
}

/**
 * JSON text validated with Ajv (draft-07 and 2019-09 keywords, as Confluent's JSON Schema serde
 * defaults to draft-07): values are checked against the writer schema on write and on read.
 */
export function jsonSchemaFormat<T>(): SchemaFormat<T, JsonSchema> {
  // strict: false: registry schemas carry annotations (e.g. "javaType") Ajv would reject.
  const ajv = new Ajv({ strict: false, allErrors: false });
  const check = (schema: JsonSchema, value: unknown, what: string, code: 'SERIALIZATION_FAILED' | 'DESERIALIZATION_FAILED') => {
    if (!schema.validate(value)) {
      throw new StreamsError(code, `${what} does not match the JSON Schema: ${ajv.errorsText(schema.validate.errors)}`);
    }
  };
  return {
    schemaType: 'JSON',
    parse(text) {
      const schema = JSON.parse(text) as Record<string, unknown>;
      return { schema, validate: ajv.compile(schema) };
    },
    recordName: (schema) => (typeof schema.schema.title === 'string' ? schema.schema.title : undefined),
    encode(schema, value) {
      check(schema, value, 'the value', 'SERIALIZATION_FAILED');
      return Buffer.from(JSON.stringify(value), 'utf8');
    },
    decode(writer, _reader, payload) {
      const value = JSON.parse(payload.toString('utf8')) as unknown;
      check(writer, value, 'the record', 'DESERIALIZATION_FAILED');
      return value as T;
    },
  };
}
