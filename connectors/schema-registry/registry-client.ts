import { StreamsError } from '../../engine/index.ts';

const describeCause = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause));

/** The schema types of the Confluent API (AVRO is the default and is omitted on the wire). */
export type SchemaType = 'AVRO' | 'JSON';

/** A schema as the registry stores it: its text and type. */
export interface RegisteredSchema {
  readonly schema: string;
  readonly schemaType: SchemaType;
}

/** Compatibility levels of the Confluent API. */
export type CompatibilityLevel = 'NONE' | 'BACKWARD' | 'BACKWARD_TRANSITIVE' | 'FORWARD' | 'FORWARD_TRANSITIVE' | 'FULL' | 'FULL_TRANSITIVE';

export interface SchemaRegistryClientOptions {
  /** Base URL of a Confluent-compatible API, e.g. `http://localhost:8081` or Apicurio's `http://localhost:8080/apis/ccompat/v7`. */
  url: string;
  /** Per-request timeout in milliseconds. Default 10 000. */
  timeoutMs?: number;
  /** Extra headers (e.g. `Authorization`). */
  headers?: Record<string, string>;
  /** The fetch to use (defaults to the global one); tests pass a counting wrapper. */
  fetch?: typeof fetch;
}

/**
 * An async client of the Confluent Schema Registry REST API with the caches Confluent's client
 * keeps: schemas by id (ids are immutable, so forever) and ids by subject and schema text.
 * Everything here is async; serdes call it in `prepare()`, never on the per-record path.
 *
 * Errors are StreamsErrors: REGISTRY_UNAVAILABLE (network, timeout, 5xx; canRetry),
 * SCHEMA_NOT_FOUND (404), SCHEMA_INCOMPATIBLE (409), SCHEMA_INVALID (422).
 *
 * @example
 * const registry = new SchemaRegistryClient({ url: 'http://localhost:8081' });
 * const id = await registry.register('orders-value', { schema: '"string"', schemaType: 'AVRO' });
 * const { schema } = await registry.getById(id);
 */
export class SchemaRegistryClient {
  readonly url: string;
  readonly #timeoutMs: number;
  readonly #headers: Record<string, string>;
  readonly #fetch: typeof fetch;
  readonly #byId = new Map<number, RegisteredSchema>();
  readonly #idBySubjectSchema = new Map<string, number>();

  constructor(options: SchemaRegistryClientOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch (cause) {
      throw new StreamsError('INVALID_ARGUMENT', `the Schema Registry url "${options.url}" is not a URL`, { cause });
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new StreamsError('INVALID_ARGUMENT', `the Schema Registry url must be http(s), got "${options.url}"`);
    }
    this.url = options.url.replace(/\/+$/, '');
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#headers = options.headers ?? {};
    this.#fetch = options.fetch ?? fetch;
  }

  /** The schema with this id, if this client has already fetched or registered it (synchronous). */
  cachedById(id: number): RegisteredSchema | undefined {
    return this.#byId.get(id);
  }

  /** The schema with this id (one request per id for the client's lifetime). */
  async getById(id: number): Promise<RegisteredSchema> {
    const cached = this.#byId.get(id);
    if (cached) return cached;
    const body = (await this.#request('GET', `/schemas/ids/${id}`)) as { schema: string; schemaType?: SchemaType };
    const schema: RegisteredSchema = { schema: body.schema, schemaType: body.schemaType ?? 'AVRO' };
    this.#byId.set(id, schema);
    return schema;
  }

  /** Registers the schema under the subject (or finds it if already there) and returns its id. */
  async register(subject: string, schema: RegisteredSchema): Promise<number> {
    const key = `${subject}\u0000${schema.schemaType}\u0000${schema.schema}`;
    const cached = this.#idBySubjectSchema.get(key);
    if (cached !== undefined) return cached;
    const body = (await this.#request('POST', `/subjects/${encodeURIComponent(subject)}/versions`, wireSchema(schema))) as { id: number };
    this.#remember(key, body.id, schema);
    return body.id;
  }

  /** The id of a schema already registered under the subject; SCHEMA_NOT_FOUND when it is not. */
  async lookup(subject: string, schema: RegisteredSchema): Promise<number> {
    const key = `${subject}\u0000${schema.schemaType}\u0000${schema.schema}`;
    const cached = this.#idBySubjectSchema.get(key);
    if (cached !== undefined) return cached;
    const body = (await this.#request('POST', `/subjects/${encodeURIComponent(subject)}`, wireSchema(schema))) as { id: number };
    this.#remember(key, body.id, schema);
    return body.id;
  }

  /** The ids of every version of a subject, oldest first ([] when the subject does not exist). */
  async subjectSchemaIds(subject: string): Promise<number[]> {
    let versions: number[];
    try {
      versions = (await this.#request('GET', `/subjects/${encodeURIComponent(subject)}/versions`)) as number[];
    } catch (error) {
      if (error instanceof StreamsError && error.code === 'SCHEMA_NOT_FOUND') return [];
      throw error;
    }
    const ids: number[] = [];
    for (const version of versions) {
      const body = (await this.#request('GET', `/subjects/${encodeURIComponent(subject)}/versions/${version}`)) as {
        id: number;
        schema: string;
        schemaType?: SchemaType;
      };
      this.#byId.set(body.id, { schema: body.schema, schemaType: body.schemaType ?? 'AVRO' });
      ids.push(body.id);
    }
    return ids;
  }

  /** Sets the subject's compatibility level (PUT /config/{subject}). */
  async setCompatibility(subject: string, level: CompatibilityLevel): Promise<void> {
    await this.#request('PUT', `/config/${encodeURIComponent(subject)}`, { compatibility: level });
  }

  /** Deletes a subject (soft, then permanently when `permanent`); for tests and tooling. */
  async deleteSubject(subject: string, permanent = false): Promise<void> {
    await this.#request('DELETE', `/subjects/${encodeURIComponent(subject)}`);
    if (permanent) await this.#request('DELETE', `/subjects/${encodeURIComponent(subject)}?permanent=true`);
  }

  #remember(key: string, id: number, schema: RegisteredSchema): void {
    this.#idBySubjectSchema.set(key, id);
    if (!this.#byId.has(id)) this.#byId.set(id, schema);
  }

  async #request(method: string, path: string, body?: unknown): Promise<unknown> {
    const where = `${method} ${this.url}${path}`;
    let response: Response;
    try {
      response = await this.#fetch(`${this.url}${path}`, {
        method,
        headers: {
          accept: 'application/vnd.schemaregistry.v1+json, application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/vnd.schemaregistry.v1+json' }),
          ...this.#headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (cause) {
      throw new StreamsError('REGISTRY_UNAVAILABLE', `the Schema Registry did not answer ${where}: ${describeCause(cause)}`, { cause, canRetry: true });
    }
    const text = await response.text();
    if (response.ok) return text === '' ? undefined : JSON.parse(text);
    let detail = text;
    try {
      const parsed = JSON.parse(text) as { message?: string; error_code?: number };
      detail = `${parsed.message ?? text}${parsed.error_code === undefined ? '' : ` (error_code ${parsed.error_code})`}`;
    } catch {
      // not JSON: keep the text
    }
    const message = `${where} answered ${response.status}: ${detail}`;
    switch (response.status) {
      case 404:
        throw new StreamsError('SCHEMA_NOT_FOUND', message);
      case 409:
        throw new StreamsError('SCHEMA_INCOMPATIBLE', message);
      case 422:
        throw new StreamsError('SCHEMA_INVALID', message);
      default:
        throw new StreamsError('REGISTRY_UNAVAILABLE', message, { canRetry: response.status >= 500 || response.status === 429 });
    }
  }
}

function wireSchema(schema: RegisteredSchema): { schema: string; schemaType?: SchemaType } {
  // Confluent omits schemaType for Avro; older registries reject an explicit "AVRO" nowhere, but stay minimal.
  return schema.schemaType === 'AVRO' ? { schema: schema.schema } : { schema: schema.schema, schemaType: schema.schemaType };
}
