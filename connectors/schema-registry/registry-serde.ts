import type avro from 'avsc';
import { StreamsError, type Serde } from '../../engine/index.ts';
import type { SchemaRegistryClient } from './registry-client.ts';
import { avroFormat, jsonSchemaFormat, type JsonSchema, type SchemaFormat } from './schema-format.ts';
import { SubjectNameStrategies, type SubjectNameStrategy } from './subject-name-strategy.ts';
import { decodeWire, encodeWire } from './wire-format.ts';

export interface RegistrySerdeOptions<Schema> {
  /** The registry client; share one per application so its caches are shared. */
  registry: SchemaRegistryClient;
  /**
   * The serde's schema: what values are written with, and (Avro) the reader schema records written
   * with older or newer compatible schemas are resolved into. Optional for a read-only serde,
   * which then returns values in each record's writer schema.
   */
  schema?: Schema;
  /** Whether the serde is for keys (subjects `<topic>-key`). Default false. */
  isKey?: boolean;
  /**
   * Register the schema in `prepare()` when the subject lacks it (Confluent's auto.register.schemas,
   * default true). When false, `prepare()` looks the schema up and fails with SCHEMA_NOT_FOUND.
   */
  autoRegister?: boolean;
  /** Default: SubjectNameStrategies.topicName (`<topic>-key` / `<topic>-value`). */
  subjectNameStrategy?: SubjectNameStrategy;
}

/**
 * A serde in the Confluent wire format (magic byte 0, 4-byte big-endian schema id, payload) backed
 * by a Schema Registry.
 *
 * Tributary's serdes are synchronous (the per-record path does no I/O), so the registry is asked
 * ahead of time: `await serde.prepare(topics)` registers (or looks up) the schema under each
 * topic's subject and fetches every schema version of those subjects, filling the caches that
 * `serialize` and `deserialize` then read without I/O. Call it before records flow.
 *
 * Met mid-stream, a schema id that was not preloaded (a producer registered a new version after
 * `prepare()`) does not block the thread: that record fails with SCHEMA_NOT_FOUND (canRetry), which
 * the task reports as a DESERIALIZATION_FAILED through the deserialization error policy, and the
 * schema is fetched in the background so later records with that id decode. Serializing for a
 * topic whose subject was not prepared fails with SCHEMA_NOT_FOUND.
 */
export interface RegistrySerde<T> extends Serde<T> {
  /** Registers or looks up the schema for each topic's subject and preloads the subjects' schema versions. */
  prepare(topics: readonly string[]): Promise<void>;
  /** Fetches these schema ids ahead of time (e.g. ids known to be in a topic read by a read-only serde). */
  preloadIds(ids: readonly number[]): Promise<void>;
  /** The subject this serde uses for a topic. */
  subject(topic: string): string;
}

class RegistrySerdeImpl<T, S> implements RegistrySerde<T> {
  readonly #format: SchemaFormat<T, S>;
  readonly #registry: SchemaRegistryClient;
  readonly #schema: S | undefined;
  /** The user's schema as given (avsc's Type.schema() drops field defaults, so not re-exported). */
  readonly #schemaText: string | undefined;
  readonly #isKey: boolean;
  readonly #autoRegister: boolean;
  readonly #strategy: SubjectNameStrategy;
  readonly #idBySubject = new Map<string, number>();
  readonly #parsedById = new Map<number, S>();
  readonly #fetching = new Set<number>();

  constructor(format: SchemaFormat<T, S>, schemaText: string | undefined, options: RegistrySerdeOptions<unknown>) {
    this.#format = format;
    this.#registry = options.registry;
    this.#isKey = options.isKey ?? false;
    this.#autoRegister = options.autoRegister ?? true;
    this.#strategy = options.subjectNameStrategy ?? SubjectNameStrategies.topicName;
    this.#schemaText = schemaText;
    try {
      this.#schema = schemaText === undefined ? undefined : format.parse(schemaText);
    } catch (cause) {
      throw new StreamsError('SCHEMA_INVALID', `the ${format.schemaType} schema given to the serde is invalid: ${(cause as Error).message}`, { cause });
    }
  }

  subject(topic: string): string {
    return this.#strategy(topic, this.#isKey, this.#schema === undefined ? undefined : this.#format.recordName(this.#schema));
  }

  async prepare(topics: readonly string[]): Promise<void> {
    for (const topic of new Set(topics)) {
      const subject = this.subject(topic);
      if (this.#schema !== undefined && this.#schemaText !== undefined && !this.#idBySubject.has(subject)) {
        const registered = { schema: this.#schemaText, schemaType: this.#format.schemaType };
        const id = this.#autoRegister ? await this.#registry.register(subject, registered) : await this.#registry.lookup(subject, registered);
        this.#idBySubject.set(subject, id);
        this.#parsedById.set(id, this.#schema);
      }
      await this.preloadIds(await this.#registry.subjectSchemaIds(subject));
    }
  }

  async preloadIds(ids: readonly number[]): Promise<void> {
    for (const id of ids) {
      if (!this.#parsedById.has(id)) this.#parsedById.set(id, this.#parse(id, await this.#registry.getById(id)));
    }
  }

  serialize(value: T, topic: string): Uint8Array {
    if (this.#schema === undefined) {
      throw new StreamsError('INVALID_ARGUMENT', 'this registry serde has no schema: it can only deserialize');
    }
    const subject = this.subject(topic);
    const id = this.#idBySubject.get(subject);
    if (id === undefined) {
      throw new StreamsError('SCHEMA_NOT_FOUND', `no schema id for subject "${subject}": await serde.prepare(["${topic}"]) before records flow`);
    }
    return encodeWire(id, this.#format.encode(this.#schema, value));
  }

  deserialize(data: Uint8Array, _topic: string): T {
    const { schemaId, payload } = decodeWire(data);
    return this.#format.decode(this.#writer(schemaId), this.#schema, payload);
  }

  #writer(id: number): S {
    const parsed = this.#parsedById.get(id);
    if (parsed !== undefined) return parsed;
    const known = this.#registry.cachedById(id); // fetched by another serde sharing the client
    if (known) {
      const fresh = this.#parse(id, known);
      this.#parsedById.set(id, fresh);
      return fresh;
    }
    if (!this.#fetching.has(id)) {
      this.#fetching.add(id);
      // In the background: the record path must not wait on the network. A later record with
      // this id finds it in the client's cache; a failed fetch is retried by the next such record.
      this.#registry.getById(id).then(
        () => this.#fetching.delete(id),
        () => this.#fetching.delete(id),
      );
    }
    throw new StreamsError(
      'SCHEMA_NOT_FOUND',
      `schema id ${id} was not preloaded; it is being fetched now. Preload it with prepare()/preloadIds() before records flow`,
      { canRetry: true },
    );
  }

  #parse(id: number, registered: { schema: string; schemaType: string }): S {
    if (registered.schemaType !== this.#format.schemaType) {
      throw new StreamsError('DESERIALIZATION_FAILED', `schema id ${id} is a ${registered.schemaType} schema; this serde reads ${this.#format.schemaType}`);
    }
    try {
      return this.#format.parse(registered.schema);
    } catch (cause) {
      throw new StreamsError('SCHEMA_INVALID', `schema id ${id} cannot be parsed: ${(cause as Error).message}`, { cause });
    }
  }
}

/**
 * Avro in the Confluent wire format, with a Schema Registry.
 *
 * @example
 * const registry = new SchemaRegistryClient({ url: 'http://localhost:8080/apis/ccompat/v7' });
 * const orders = avroRegistrySerde<Order>({ registry, schema: { type: 'record', name: 'Order', fields: [...] } });
 * await orders.prepare(['orders']); // registers "orders-value", preloads its versions
 * builder.stream('orders', { keySerde: Serdes.string(), valueSerde: orders });
 */
export function avroRegistrySerde<T>(options: RegistrySerdeOptions<avro.Schema>): RegistrySerde<T> {
  return new RegistrySerdeImpl(avroFormat<T>(), options.schema === undefined ? undefined : JSON.stringify(options.schema), options);
}

/**
 * JSON Schema in the Confluent wire format, with a Schema Registry; values are validated (Ajv)
 * when written and when read. RecordNameStrategy uses the schema's `title`.
 *
 * @example
 * const clicks = jsonSchemaRegistrySerde<Click>({ registry, schema: { title: 'Click', type: 'object', properties: { url: { type: 'string' } } } });
 * await clicks.prepare(['clicks']);
 */
export function jsonSchemaRegistrySerde<T>(options: RegistrySerdeOptions<Record<string, unknown>>): RegistrySerde<T> {
  return new RegistrySerdeImpl<T, JsonSchema>(jsonSchemaFormat<T>(), options.schema === undefined ? undefined : JSON.stringify(options.schema), options);
}
