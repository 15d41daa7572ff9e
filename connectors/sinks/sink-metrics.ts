/**
 * Prometheus metrics of sink runners, registered on a prom-client Registry (the StreamsApp's HTTP
 * registry, or the caller's own). Every value is read from `runner.status()` when Prometheus
 * scrapes, so a scrape is current; write latency is a histogram fed as batches are written.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { SinkRunner, SinkRunnerState } from './sink-runner.ts';
import type { BreakerState } from './circuit-breaker.ts';

const runnerStates: readonly SinkRunnerState[] = ['CREATED', 'STARTING', 'RUNNING', 'PAUSED', 'FAILED', 'CLOSING', 'CLOSED'];
const breakerStates: readonly BreakerState[] = ['closed', 'open', 'half-open'];

/** A runner whose status the metrics read (any key and value types). */
type AnyRunner = Pick<SinkRunner<unknown, unknown>, 'name' | 'status' | 'onEvent'>;

/**
 * Registers the metrics of `runners` on `registry` (the same runners for the registry's life).
 *
 * @example
 * const registry = new Registry();
 * registerSinkMetrics(registry, [warehouse]);
 * // tributary_sink_state{sink="sessions-warehouse",state="RUNNING"} 1, tributary_sink_lag{...}, ...
 */
export function registerSinkMetrics(registry: Registry, runners: readonly AnyRunner[]): void {
  const registers = [registry];
  const statuses = () => runners.map((r) => r.status());

  const counter = (name: string, help: string, value: (s: ReturnType<AnyRunner['status']>) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['sink'],
      registers,
      collect() {
        this.reset();
        for (const s of statuses()) this.inc({ sink: s.sink }, value(s));
      },
    });
  const gauge = (name: string, help: string, value: (s: ReturnType<AnyRunner['status']>) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: ['sink'],
      registers,
      collect() {
        this.reset();
        for (const s of statuses()) {
          const v = value(s);
          if (v !== undefined) this.set({ sink: s.sink }, v);
        }
      },
    });

  counter('tributary_sink_records_written_total', 'Records written to the target and made durable, per sink', (s) => s.counters.recordsWritten);
  counter('tributary_sink_batches_written_total', 'Batches written, per sink', (s) => s.counters.batchesWritten);
  counter('tributary_sink_bytes_written_total', 'Key and value bytes written, per sink', (s) => s.counters.bytesWritten);
  counter('tributary_sink_write_failures_total', 'Failed writes (and opens) of the target, per sink; each is retried', (s) => s.counters.writeFailures);
  counter('tributary_sink_log_failures_total', 'Failed fetches and commits of the log, per sink', (s) => s.counters.logFailures);
  counter('tributary_sink_breaker_opened_total', 'Times the circuit breaker opened, per sink', (s) => s.counters.breakerOpened);
  counter('tributary_sink_records_skipped_total', 'Records skipped: undecodable key or value, per sink', (s) => s.counters.recordsSkipped);
  counter('tributary_sink_records_lost_total', 'Records removed by retention before the sink read them, per sink', (s) => s.counters.recordsLost);
  gauge('tributary_sink_lag', 'Records in the log not yet durable in the target, per sink', (s) => s.lag);
  gauge('tributary_sink_in_flight_records', 'Records held in memory (the batch being gathered or written), per sink', (s) => s.inFlight);
  gauge('tributary_sink_last_record_timestamp_seconds', 'Event time of the newest record written, per sink (freshness: time() minus this)', (s) =>
    s.lastRecordTimestamp === undefined ? undefined : s.lastRecordTimestamp / 1000,
  );
  new Gauge({
    name: 'tributary_sink_partition_lag',
    help: 'Records not yet durable in the target, per sink and partition',
    labelNames: ['sink', 'partition'],
    registers,
    collect() {
      this.reset();
      for (const s of statuses()) for (const p of s.partitions) this.set({ sink: s.sink, partition: String(p.partition) }, p.lag);
    },
  });
  new Gauge({
    name: 'tributary_sink_state',
    help: 'Sink runner state, per sink (1 for the current state)',
    labelNames: ['sink', 'state'],
    registers,
    collect() {
      this.reset();
      for (const s of statuses()) for (const state of runnerStates) this.set({ sink: s.sink, state }, s.state === state ? 1 : 0);
    },
  });
  new Gauge({
    name: 'tributary_sink_breaker_state',
    help: 'Circuit breaker state, per sink (1 for the current state)',
    labelNames: ['sink', 'state'],
    registers,
    collect() {
      this.reset();
      for (const s of statuses()) for (const state of breakerStates) this.set({ sink: s.sink, state }, s.breaker === state ? 1 : 0);
    },
  });
  const latency = new Histogram({
    name: 'tributary_sink_write_duration_seconds',
    help: 'Time to write a batch to the target and make it durable, per sink and outcome',
    labelNames: ['sink', 'outcome'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const batchSize = new Histogram({
    name: 'tributary_sink_batch_records',
    help: 'Records per batch written, per sink',
    labelNames: ['sink'],
    buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
    registers,
  });
  for (const runner of runners) {
    runner.onEvent((event) => {
      if (event.kind === 'written') {
        latency.observe({ sink: runner.name, outcome: 'ok' }, event.ms / 1000);
        batchSize.observe({ sink: runner.name }, event.records);
      } else if (event.kind === 'write-failed') {
        latency.observe({ sink: runner.name, outcome: 'failed' }, event.ms / 1000);
      }
    });
  }
}
