/**
 * `tributary/connectors/sinks`: the sink SPI (Kafka Connect's sink task, with each sink's
 * guarantee stated), the SinkRunner that drives a sink over a topic (batching, retries with
 * backoff, a circuit breaker, backpressure, status and metrics), and the parts it is made of.
 * Sinks for particular targets live in their own entry points (`connectors/sinks/postgres`), so
 * that importing this one loads no database driver.
 */
export type { Sink, SinkBatch, SinkContext, SinkGuarantee, SinkPartitionBatch, SinkPositions, SinkRecord, PositionStore } from './sink.ts';
export { SinkRunner } from './sink-runner.ts';
export type { SinkRunnerOptions, SinkRunnerState, SinkStatus, SinkPartitionStatus, SinkCounters, SinkEvent } from './sink-runner.ts';
export { CircuitBreaker } from './circuit-breaker.ts';
export type { BreakerState, CircuitBreakerOptions } from './circuit-breaker.ts';
export { exponentialBackoff } from './backoff.ts';
export type { Backoff, BackoffOptions } from './backoff.ts';
export type { BatchPolicy, BatchTrigger } from './batch-builder.ts';
export { registerSinkMetrics } from './sink-metrics.ts';
export { startSinks } from './start-sinks.ts';
export type { StartSinksOptions } from './start-sinks.ts';
