/**
 * The application's Prometheus metrics (prom-client gauges over the threads' counters), registered
 * on the HTTP server's registry. The counters are read from the threads once per scrape, before
 * the gauges collect them, so every scrape is current.
 */
import { Gauge, collectDefaultMetrics, type Registry } from 'prom-client';
import type { TaskMetricsSnapshot } from './messages.ts';
import type { AppCounters, QueryableApp } from './queryable-app.ts';

/** Registers the metrics of `app` on `registry`; returns the function that reads the counters before a scrape. */
export function registerAppMetrics(registry: Registry, app: QueryableApp): () => Promise<void> {
  const registers = [registry];
  collectDefaultMetrics({ register: registry });
  let snapshot: AppCounters | undefined;
  const tasks = () => snapshot?.tasks ?? [];

  /** A gauge with one series per task. */
  const perTask = (name: string, help: string, value: (t: TaskMetricsSnapshot) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['task'],
      registers,
      collect() {
        this.reset();
        for (const t of tasks()) this.set({ task: t.taskId }, value(t));
      },
    });
  /** A gauge of one value for the whole process. */
  const total = (name: string, help: string, value: () => number) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(value());
      },
    });

  perTask('tributary_records_in_total', 'Records read per task', (t) => t.recordsIn);
  perTask('tributary_records_out_total', 'Records written per task (outputs and repartition records)', (t) => t.recordsOut);
  perTask('tributary_consumer_lag', 'Records not yet read, per task', (t) => t.lag);
  new Gauge({
    name: 'tributary_dropped_records_total',
    help: 'Records dropped, per task and reason (late records, null keys, skipped errors)',
    labelNames: ['task', 'reason'],
    registers,
    collect() {
      this.reset();
      for (const t of tasks()) for (const [reason, n] of Object.entries(t.dropped)) this.set({ task: t.taskId, reason }, n);
    },
  });
  perTask('tributary_dead_lettered_records_total', 'Records sent to the dead-letter topic, per task', (t) => t.deadLettered);
  new Gauge({
    name: 'tributary_thread_restarts_total',
    help: 'Stream threads started again after a commit the log refused (TASK_MIGRATED) or could not take (LOG_UNAVAILABLE), or replaced after a failure (REPLACE_THREAD)',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      for (const reason of ['TASK_MIGRATED', 'LOG_UNAVAILABLE', 'REPLACE_THREAD']) this.set({ reason }, app.restarts.byReason.get(reason) ?? 0);
    },
  });
  total('tributary_rebalances_total', 'Group rebalances this process took part in (processes sharing the work on Kafka)', () => app.restarts.rebalances);
  perTask('tributary_restored_records', 'Changelog records replayed when each task started', (t) => t.restored);
  new Gauge({
    name: 'tributary_store_entries',
    help: 'Entries per store and task',
    labelNames: ['task', 'store'],
    registers,
    collect() {
      this.reset();
      for (const t of tasks()) for (const s of t.stores) this.set({ task: t.taskId, store: s.name }, s.entries);
    },
  });
  new Gauge({
    name: 'tributary_cache_hit_ratio',
    help: 'Cache hits / lookups of persistent key-value stores, per store and task',
    labelNames: ['task', 'store'],
    registers,
    collect() {
      this.reset();
      for (const t of tasks()) {
        for (const s of t.stores) if (s.cacheHits + s.cacheMisses > 0) this.set({ task: t.taskId, store: s.name }, s.cacheHits / (s.cacheHits + s.cacheMisses));
      }
    },
  });
  total('tributary_commits_total', 'Commits of all threads', () => snapshot?.commits ?? 0);
  total('tributary_commit_latency_avg_ms', 'Average commit latency (ms)', () => (snapshot === undefined || snapshot.commits === 0 ? 0 : snapshot.commitMs / snapshot.commits));
  total('tributary_process_latency_avg_us', 'Average processing time per record (microseconds), all threads', () =>
    snapshot === undefined || snapshot.processed === 0 ? 0 : (snapshot.processMs * 1000) / snapshot.processed,
  );
  new Gauge({
    name: 'tributary_state',
    help: 'Application state (1 for the current state)',
    labelNames: ['state'],
    registers,
    collect() {
      this.reset();
      this.set({ state: app.state }, 1);
    },
  });
  return async () => {
    snapshot = app.state === 'RUNNING' ? await app.metrics() : undefined;
  };
}
