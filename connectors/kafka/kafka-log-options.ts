/**
 * The options of KafkaLog (kafka-log.ts re-exports them), in a file of their own so that every
 * part of the log can read the ones it needs without importing the facade.
 */
export interface KafkaLogOptions {
  /** `host:port` of one or more brokers. */
  readonly bootstrapBrokers: readonly string[];
  /** Prefix of the client ids (default `tributary`). */
  readonly clientId?: string;
  /** Replication factor of the topics this log creates (default: the broker's default). */
  readonly replicationFactor?: number;
  /**
   * Transaction timeout (transaction.timeout.ms, default 10 s as in Kafka Streams under
   * exactly-once): the broker aborts a transaction open longer than this and fences its producer.
   * It bounds how long a crashed process's unfinished transaction holds read-committed readers back.
   */
  readonly transactionTimeoutMs?: number;
  /** Longest time a fetch waits on the broker for records to arrive (default 50 ms). */
  readonly fetchMaxWaitMs?: number;
  /** Most bytes a fetch returns per partition (default 1 MiB; at least one batch is returned). */
  readonly fetchMaxBytesPerPartition?: number;
  /**
   * How long an unreachable broker is retried (with backoff from 100 ms to 5 s) before a call
   * fails with LOG_UNAVAILABLE (default 60 s); a stream thread that gets it fails, and the
   * application goes to ERROR.
   */
  readonly unavailableRetryMs?: number;
  /**
   * Options passed to every @platformatic/kafka client as they are (TLS, SASL, timeouts, retries,
   * connection settings...). Options this connector sets itself (transactional ids, idempotence,
   * isolation level) win.
   */
  readonly client?: Readonly<Record<string, unknown>>;
}
