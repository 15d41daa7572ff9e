/**
 * Runs the sinks a topology declares with KStream.toSink: one SinkRunner per sink, reading the
 * sink's internal topic (`<applicationId>-<name>-sink`) with the sink's guarantee, deleting what
 * the sink made durable, its metrics on the app's /metrics.
 *
 * Where to run them: in one process of the application, or in each process when every sink keeps
 * its positions in the target (PostgreSQL, DuckDB, Redis, the lake: `positions: 'target'`), whose
 * transactions make concurrent runners write each record once (at the cost of duplicate work).
 * A sink keeping its positions in the log's group must run in one process only.
 */
import { StreamsError, type Log } from '../../engine/index.ts';
import type { StreamsApp } from '../../engine/index.ts';
import { SinkRunner, type SinkRunnerOptions } from './sink-runner.ts';
import { registerSinkMetrics } from './sink-metrics.ts';

export interface StartSinksOptions {
  readonly log: Log;
  /** Runner settings for every sink (batch, retry, breaker, pollIntervalMs...). */
  readonly runner?: Partial<Omit<SinkRunnerOptions<unknown, unknown>, 'log' | 'topic' | 'sink' | 'keySerde' | 'valueSerde'>>;
  /** Settings of one sink, by name, on top of `runner`. */
  readonly sinks?: Readonly<Record<string, Partial<Omit<SinkRunnerOptions<unknown, unknown>, 'log' | 'topic' | 'sink' | 'keySerde' | 'valueSerde'>>>>;
}

/** Starts a runner for each sink the started app's topology declares; close them before the log. */
export async function startSinks(app: StreamsApp, options: StartSinksOptions): Promise<SinkRunner<unknown, unknown>[]> {
  const topology = app.topology;
  if (topology === undefined) throw new StreamsError('ILLEGAL_STATE', 'startSinks needs a started app (await app.start() first): the sinks read topics the app creates');
  const runners = topology.sinkDeclarations().map(
    (d) =>
      new SinkRunner<unknown, unknown>({
        ...options.runner,
        ...options.sinks?.[d.name],
        log: options.log,
        topic: `${app.applicationId}-${d.topic}`,
        sink: d.factory(),
        keySerde: d.keySerde,
        valueSerde: d.valueSerde,
        deleteConsumed: true,
      }),
  );
  await Promise.all(runners.map((r) => r.start()));
  registerSinkMetrics(app.metricsRegistry, runners);
  return runners;
}
