/**
 * Every error Tributary raises is a {@link StreamsError} with a stable `code`.
 * Tests and callers match on `code`, never on message text.
 */
export const errorCodes = [
  // topology construction (raised by build())
  'INVALID_WINDOW',
  'INVALID_ARGUMENT',
  'MISSING_SERDE',
  'DUPLICATE_NAME',
  'UNKNOWN_STORE',
  'STORE_NOT_CONNECTED',
  'UNKNOWN_NODE',
  'INVALID_TOPOLOGY',
  // runtime
  'DESERIALIZATION_FAILED',
  'SERIALIZATION_FAILED',
  /** An output record is larger than the application's maxRecordBytes (the producer's max.request.size). */
  'RECORD_TOO_LARGE',
  'PROCESSING_FAILED',
  'ILLEGAL_STATE',
  'UNKNOWN_TOPIC',
  /** A suppression buffer configured with shutDownWhenFull() is full: the thread stops, whatever the error policy. */
  'BUFFER_FULL',
  /** Another process's uncaught-exception handler answered SHUTDOWN_APPLICATION. */
  'APPLICATION_SHUTDOWN',
  /** The HTTP port asked for is taken by another process. */
  'ADDRESS_IN_USE',
  // logs
  'TOPIC_CONFLICT',
  'PRODUCER_FENCED',
  'INVALID_OFFSET',
  'CORRUPT_DATA',
  'LOG_CLOSED',
  'LOG_LOCKED',
  'LOG_UNAVAILABLE',
  'TASK_MIGRATED',
  'STATE_LOCKED',
  // sinks
  /** A sink's target refused a write; `canRetry` says whether the same write may succeed later. */
  'SINK_WRITE_FAILED',
  /** Another live process writes the sink's target (a lake folder); retried, so it takes over once that one stops. */
  'SINK_LOCKED',
  // Schema Registry (connectors/schema-registry)
  /** The registry has no such subject, version or schema id, or a serde was not prepared for it. */
  'SCHEMA_NOT_FOUND',
  /** The registry refused a schema under the subject's compatibility level (HTTP 409). */
  'SCHEMA_INCOMPATIBLE',
  /** The registry refused a schema as malformed (HTTP 422). */
  'SCHEMA_INVALID',
  /** The registry could not be reached, timed out or failed (canRetry for network errors and 5xx). */
  'REGISTRY_UNAVAILABLE',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

export interface StreamsErrorOptions {
  cause?: unknown;
  /** True when retrying the same operation may succeed. */
  canRetry?: boolean;
}

export class StreamsError extends Error {
  readonly code: ErrorCode;
  readonly canRetry: boolean;

  constructor(code: ErrorCode, message: string, options: StreamsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StreamsError';
    this.code = code;
    this.canRetry = options.canRetry ?? false;
  }
}

/** Raised when the topology is built: it names the operator at fault. */
export class TopologyError extends StreamsError {
  readonly operator: string | undefined;

  constructor(code: ErrorCode, message: string, operator?: string, options?: StreamsErrorOptions) {
    super(code, operator === undefined ? message : `${message} (operator "${operator}")`, options);
    this.name = 'TopologyError';
    this.operator = operator;
  }
}

/** Where a record came from, for errors that must point at it. */
export interface RecordOrigin {
  topic: string;
  partition: number;
  offset: number;
}

/** A record's key or value could not be decoded with the serde configured for its topic. */
export class DeserializationError extends StreamsError {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly part: 'key' | 'value';

  constructor(origin: RecordOrigin, part: 'key' | 'value', cause: unknown) {
    super(
      'DESERIALIZATION_FAILED',
      `cannot deserialize the ${part} of the record at ${origin.topic}-${origin.partition}@${origin.offset}: ${describeCause(cause)}`,
      { cause },
    );
    this.name = 'DeserializationError';
    this.topic = origin.topic;
    this.partition = origin.partition;
    this.offset = origin.offset;
    this.part = part;
  }
}

/** A key or value could not be encoded for the topic or store it is written to. */
export class SerializationError extends StreamsError {
  readonly topic: string;
  readonly part: 'key' | 'value';

  constructor(topic: string, part: 'key' | 'value', cause: unknown) {
    super('SERIALIZATION_FAILED', `cannot serialize the ${part} for ${topic}: ${describeCause(cause)}`, { cause });
    this.name = 'SerializationError';
    this.topic = topic;
    this.part = part;
  }
}

export function describeCause(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
