/**
 * How the parts of KafkaLog call Kafka, and what a failure means: one policy for all of them.
 *
 * - `brokerError` and the predicates recognize Kafka's errors by name, wherever the client nested
 *   them (a fetch, a commit and a group request all see the same errors).
 * - `retrying` repeats one broker request on the errors its caller names (a new leader, a
 *   coordinator that loads or moved): the retries a request needs to succeed at all.
 * - `Calls` runs a whole log operation: refused once the log is closed, retried while the broker
 *   is unreachable (up to unavailableRetryMs, then LOG_UNAVAILABLE), and every other failure
 *   turned into a coded StreamsError, so callers see codes, never the client's errors.
 */
import { findErrorBy } from '@platformatic/kafka';
import { StreamsError, describeCause } from '../../engine/errors.ts';
import type { KafkaLogOptions } from './kafka-log-options.ts';

/** Tries of an OffsetCommit, a TxnOffsetCommit or an InitProducerId on retriable errors (several seconds of backoff in all). */
export const COORDINATOR_ATTEMPTS = 30;

/** A broker error by its Kafka name, wherever the client nested it. */
export function brokerError(error: unknown, ...names: string[]): boolean {
  if (!(error instanceof Error)) return false;
  return names.some((name) => (findErrorBy(error, 'apiId', name) ?? undefined) !== undefined);
}

/** The names of the broker errors inside a client error (e.g. "CONCURRENT_TRANSACTIONS"), outermost first. */
export function brokerErrorNames(error: unknown): string[] {
  const names: string[] = [];
  const walk = (e: unknown, depth: number): void => {
    if (!(e instanceof Error) || depth > 8) return;
    const apiId = (e as { apiId?: unknown }).apiId;
    if (typeof apiId === 'string' && !names.includes(apiId)) names.push(apiId);
    if (e instanceof AggregateError) for (const inner of e.errors) walk(inner, depth + 1);
    walk(e.cause, depth + 1);
  };
  walk(error, 0);
  return names;
}

/** A client error as a sentence: its message and the broker's error names, which the message leaves out. */
export function describeKafkaCause(error: unknown): string {
  const names = brokerErrorNames(error);
  return names.length === 0 ? describeCause(error) : `${describeCause(error)} (${names.join(', ')})`;
}

/** The broker could not be reached or did not answer in time (worth retrying). */
export function isUnreachable(error: unknown): boolean {
  if (!(error instanceof Error) || error instanceof StreamsError) return false;
  return [findErrorBy(error, 'code', 'PLT_KFK_NETWORK'), findErrorBy(error, 'code', 'PLT_KFK_TIMEOUT')].some((e) => e !== null && e !== undefined);
}

/** A newer instance of the transactional id took over: this producer is a zombie. */
export function isFenced(error: unknown): boolean {
  return brokerError(error, 'PRODUCER_FENCED', 'INVALID_PRODUCER_EPOCH', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED');
}

/** The commit came from a member whose generation is over: its tasks belong to someone else now. */
export function isMigrated(error: unknown): boolean {
  return brokerError(error, 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'REBALANCE_IN_PROGRESS', 'FENCED_INSTANCE_ID');
}

/**
 * Runs one broker request, again after an error `retriable` accepts (it may first drop a
 * connection or look a coordinator up again), up to `attempts` tries with `backoffMs(attempt)`
 * between them. The request's own state (sequence numbers, transaction) is the caller's: a retry
 * sends the same request.
 */
export async function retrying<T>(
  attempts: number,
  backoffMs: (attempt: number) => number,
  run: (attempt: number) => Promise<T>,
  retriable: (error: unknown, attempt: number) => boolean | Promise<boolean>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run(attempt);
    } catch (error) {
      if (attempt >= attempts || !(await retriable(error, attempt))) throw error;
      await new Promise((resolve) => setTimeout(resolve, backoffMs(attempt)));
    }
  }
}

/** A failure of a client call as a coded error. */
function coded(what: string, error: unknown): StreamsError {
  if (error instanceof StreamsError) return error;
  if (brokerError(error, 'UNKNOWN_TOPIC_OR_PARTITION', 'UNKNOWN_TOPIC_ID')) {
    return new StreamsError('UNKNOWN_TOPIC', `${what}: the topic does not exist (${describeCause(error)})`, { cause: error });
  }
  if (brokerError(error, 'OFFSET_METADATA_TOO_LARGE')) {
    return new StreamsError(
      'INVALID_ARGUMENT',
      `${what}: the metadata committed with an offset is longer than the broker keeps (offset.metadata.max.bytes, 4096 by default); ` +
        'commit less metadata per partition, or raise offset.metadata.max.bytes on the brokers',
      { cause: error },
    );
  }
  return new StreamsError('ILLEGAL_STATE', `${what} failed on Kafka: ${describeKafkaCause(error)}`, { cause: error, canRetry: true });
}

/** Runs the log's operations (see the module comment); knows whether the log is closed. */
export class Calls {
  readonly #options: KafkaLogOptions;
  #closed = false;

  constructor(options: KafkaLogOptions) {
    this.#options = options;
  }

  /** Closes: every later call fails with LOG_CLOSED. False when it was closed already. */
  close(): boolean {
    if (this.#closed) return false;
    this.#closed = true;
    return true;
  }

  /**
   * Runs a client call, mapping its errors to coded ones. With `retry`, an unreachable broker (a
   * network error or timeout) is retried with exponential backoff for up to `unavailableRetryMs`,
   * then fails with LOG_UNAVAILABLE. Calls that are not safe to repeat (produce, commit) pass
   * `retry: false`.
   */
  async run<T>(what: string, run: () => Promise<T>, retry = true): Promise<T> {
    if (this.#closed) throw new StreamsError('LOG_CLOSED', 'the Kafka log is closed');
    const deadline = Date.now() + (this.#options.unavailableRetryMs ?? 60_000);
    for (let delay = 100; ; delay = Math.min(delay * 2, 5000)) {
      try {
        return await run();
      } catch (error) {
        if (!isUnreachable(error)) throw coded(what, error);
        const left = deadline - Date.now();
        if (!retry || left <= 0 || this.#closed) {
          throw new StreamsError(
            'LOG_UNAVAILABLE',
            `${what}: Kafka is unreachable at ${this.#options.bootstrapBrokers.join(',')} (${describeCause(error)}); is the broker running, and are bootstrapBrokers right?`,
            { cause: error, canRetry: true },
          );
        }
        console.warn(`[tributary] ${what}: Kafka unreachable at ${this.#options.bootstrapBrokers.join(',')}; retrying in ${delay} ms (${Math.ceil(left / 1000)} s left)`);
        await new Promise((resolve) => setTimeout(resolve, Math.min(delay, left)));
      }
    }
  }
}
