/**
 * Exception handlers as functions (Kafka Streams' DeserializationExceptionHandler and
 * ProcessingExceptionHandler, KIP-1033, with the dead-letter records of KIP-1034): given the
 * failed record's context and the error, a handler answers `resume` (skip the record and go on)
 * or `fail` (stop the thread, as 'log-and-fail'), and may hand back records to write, typically
 * to a dead-letter topic. Those records are written in the same transaction as the input offsets
 * that move past the failed record, so under exactly-once each is written once.
 *
 * In a StreamsApp a handler is named by module and export (`{ module, export }`), the way Kafka
 * Streams names a handler class in its config: every stream thread imports it (functions cannot
 * cross to worker threads). The TopologyTestDriver takes the function itself.
 */
import { StreamsError, describeCause } from './errors.ts';
import type { Headers } from './record.ts';
import type { RawRecord } from './internals/stream-task.ts';

/** What a handler learns of the record that failed (Kafka Streams' ErrorHandlerContext). */
export interface ErrorHandlerContext {
  /** Where the failed record was read, as the topology names the topic. */
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
  readonly headers: Headers | undefined;
  /** The record as read, before any deserialization (KIP-1034's sourceRawKey / sourceRawValue). */
  readonly sourceRawKey: Uint8Array | null;
  readonly sourceRawValue: Uint8Array | null;
  /** The task that read it, `<subtopology>_<partition>`. */
  readonly taskId: string;
  /** The processor that threw (processing errors only). */
  readonly processorNodeId?: string;
}

/** A record a handler asks to write (to a topic that exists, with raw bytes). */
export interface DeadLetterQueueRecord {
  readonly topic: string;
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly headers?: Headers;
  /** Default: the failed record's timestamp. */
  readonly timestamp?: number;
}

/** A handler's answer. Build it with `ExceptionHandlerResponse.resume()` or `.fail()`. */
export interface ExceptionHandlerResponse {
  readonly result: 'resume' | 'fail';
  readonly deadLetterQueueRecords: readonly DeadLetterQueueRecord[];
}

/**
 * @example
 * export const toDeadLetters: ProcessingExceptionHandler = (context, error) =>
 *   ExceptionHandlerResponse.resume([{ topic: 'clicks-dlq', key: context.sourceRawKey, value: context.sourceRawValue, headers: { error: error.code } }]);
 */
export const ExceptionHandlerResponse = {
  /** Skip the failed record and go on; write `records` with the next commit. */
  resume(records: readonly DeadLetterQueueRecord[] = []): ExceptionHandlerResponse {
    return { result: 'resume', deadLetterQueueRecords: records };
  },
  /** Stop (the thread fails, as with 'log-and-fail'); `records` are not written. */
  fail(records: readonly DeadLetterQueueRecord[] = []): ExceptionHandlerResponse {
    return { result: 'fail', deadLetterQueueRecords: records };
  },
} as const;

/** Decides about a record whose key or value cannot be deserialized. */
export type DeserializationExceptionHandler = (context: ErrorHandlerContext, error: StreamsError) => ExceptionHandlerResponse;

/** Decides about a record a processor threw on. */
export type ProcessingExceptionHandler = (context: ErrorHandlerContext, error: StreamsError) => ExceptionHandlerResponse;

/** An output record a sink could not produce, as the topology made it (before serialization). */
export interface ProducedRecord {
  readonly topic: string;
  readonly key: unknown;
  readonly value: unknown;
  readonly timestamp: number;
}

/** A production error's context: the input record being processed, and the output that failed. */
export interface ProductionErrorContext extends ErrorHandlerContext {
  readonly record: ProducedRecord;
}

/**
 * Decides about an output record that cannot be produced (Kafka Streams' ProductionExceptionHandler,
 * with KIP-399's serialization errors): its key or value failed to serialize
 * (`SERIALIZATION_FAILED`) or it is larger than `maxRecordBytes` (`RECORD_TOO_LARGE`). `resume`
 * drops that output and goes on; the input record's other outputs are kept.
 */
export type ProductionExceptionHandler = (context: ProductionErrorContext, error: StreamsError) => ExceptionHandlerResponse;

type AnyHandler = DeserializationExceptionHandler | ProcessingExceptionHandler | ProductionExceptionHandler;

/** A handler in a StreamsApp: the module every stream thread imports, and the export to call. */
export interface ExceptionHandlerRef {
  readonly module: string | URL;
  readonly export: string;
}

/**
 * Calls a handler and checks its answer. A handler that throws, or answers something else than a
 * response, fails the record with a coded error naming the handler's mistake.
 */
export function callHandler(handler: AnyHandler, context: ErrorHandlerContext, error: StreamsError): ExceptionHandlerResponse {
  let response: unknown;
  try {
    response = (handler as (context: ErrorHandlerContext, error: StreamsError) => unknown)(context, error);
  } catch (thrown) {
    throw new StreamsError('PROCESSING_FAILED', `the exception handler threw on ${context.topic}-${context.partition}@${context.offset} (${describeCause(thrown)}); the original error: ${error.message}`, { cause: thrown });
  }
  const r = response as Partial<ExceptionHandlerResponse> | undefined;
  if (r === undefined || r === null || (r.result !== 'resume' && r.result !== 'fail') || !Array.isArray(r.deadLetterQueueRecords ?? [])) {
    throw new StreamsError('INVALID_ARGUMENT', `an exception handler must return ExceptionHandlerResponse.resume() or .fail(), got ${JSON.stringify(response)}; the original error: ${error.message}`, { cause: error });
  }
  return { result: r.result, deadLetterQueueRecords: r.deadLetterQueueRecords ?? [] };
}

/**
 * Applies a handler to a failed record, for a StreamsApp's threads and the TopologyTestDriver
 * alike: builds its context, calls it, and on `resume` hands each dead-letter record to `write`
 * (timestamped like the failed record unless it says otherwise). Returns what the task does next.
 */
export function applyHandler(
  handler: AnyHandler,
  error: StreamsError,
  raw: RawRecord,
  taskId: string,
  node: string | undefined,
  write: (record: DeadLetterQueueRecord & { readonly timestamp: number }) => void,
  produced?: ProducedRecord,
): 'continue' | 'fail' {
  const context: ErrorHandlerContext = {
    topic: raw.topic,
    partition: raw.partition,
    offset: raw.offset,
    timestamp: raw.timestamp,
    headers: raw.headers,
    sourceRawKey: raw.key,
    sourceRawValue: raw.value,
    taskId,
    ...(node !== undefined && { processorNodeId: node }),
    ...(produced !== undefined && { record: produced }),
  };
  const response = callHandler(handler, context, error);
  if (response.result === 'fail') return 'fail';
  for (const r of response.deadLetterQueueRecords) write({ ...r, timestamp: r.timestamp ?? raw.timestamp });
  return 'continue';
}

/** Imports a handler named by module and export (in a stream thread), or fails with a coded error. */
export async function loadHandler<H extends AnyHandler>(ref: { readonly module: string; readonly export: string }): Promise<H> {
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(ref.module)) as Record<string, unknown>;
  } catch (cause) {
    throw new StreamsError('INVALID_ARGUMENT', `cannot import the exception handler module ${ref.module}: ${describeCause(cause)}`, { cause });
  }
  const handler = loaded[ref.export];
  if (typeof handler !== 'function') throw new StreamsError('INVALID_ARGUMENT', `${ref.module} has no function export "${ref.export}" to use as an exception handler`);
  return handler as H;
}
