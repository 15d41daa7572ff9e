/**
 * The application's Prometheus metrics, registered on the application's registry (the one its
 * `/metrics` serves). Values live in the stream threads; they are collected on scrape: the first
 * metric prom-client collects asks every thread, and the other metrics of the same scrape share
 * that answer. So a scrape shows what the threads counted when it arrived, whoever scrapes (the
 * HTTP server, or a user's own endpoint over `app.metricsRegistry`); nothing is cached between
 * scrapes (a cache read before it was refreshed made counters lag one scrape behind).
 */
import { Counter, Gauge, collectDefaultMetrics, type Registry } from 'prom-client';
import type { FromThread, TaskMetricsSnapshot } from './messages.ts';
import type { AppCounters, QueryableApp, ThreadCounters } from './queryable-app.ts';
import { ThreadHistogram } from './thread-histogram.ts';

const restartReasons = ['TASK_MIGRATED', 'LOG_UNAVAILABLE', 'REPLACE_THREAD'];
const appStates = ['CREATED', 'REBALANCING', 'RUNNING', 'PENDING_SHUTDOWN', 'NOT_RUNNING', 'ERROR'];

/** Registers the metrics of `app` on `registry`. */
export function registerAppMetrics(registry: Registry, app: QueryableApp): void {
  const registers = [registry];
  collectDefaultMetrics({ register: registry });
  let asking: Promise<AppCounters | undefined> | undefined;
  /**
   * The threads' counters for the scrape under way. prom-client starts every metric's collect at
   * once, so they all get the same question; the next scrape asks again. Only a RUNNING
   * application is asked: during a rebalance its threads may be stopping and never answer.
   */
  const counters = (): Promise<AppCounters | undefined> => {
    if (asking === undefined) {
      const question = app.state === 'RUNNING' ? app.metrics().catch(() => undefined) : Promise.resolve(undefined);
      asking = question.finally(() => (asking = undefined));
    }
    return asking;
  };

  /** A counter (or gauge) with one series per task and per extra label, set from the threads' values. */
  const perTask = (kind: 'counter' | 'gauge', name: string, help: string, series: (t: TaskMetricsSnapshot) => [Record<string, string>, number][] | number | undefined, extraLabels: string[] = []) => {
    const labelNames = ['task', ...extraLabels];
    async function collect(this: Counter | Gauge): Promise<void> {
      const snapshot = await counters();
      this.reset();
      for (const t of snapshot?.tasks ?? []) {
        const values = series(t);
        if (values === undefined) continue;
        for (const [labels, value] of typeof values === 'number' ? [[{}, values] as [Record<string, string>, number]] : values) {
          if (this instanceof Counter) this.inc({ task: t.taskId, ...labels }, value);
          else this.set({ task: t.taskId, ...labels }, value);
        }
      }
    }
    return kind === 'counter' ? new Counter({ name, help, labelNames, registers, collect }) : new Gauge({ name, help, labelNames, registers, collect });
  };

  perTask('counter', 'tributary_records_in_total', 'Records read, per task', (t) => t.recordsIn);
  perTask('counter', 'tributary_records_out_total', 'Records written (outputs and repartition records), per task', (t) => t.recordsOut);
  perTask('gauge', 'tributary_consumer_lag', 'Records in the input partitions not yet processed, per task (as of its last fetch)', (t) => t.lag);
  perTask('counter', 'tributary_dropped_records_total', 'Records dropped, per task and reason (late records, null keys, skipped errors)', (t) => Object.entries(t.dropped).map(([reason, n]) => [{ reason }, n]), ['reason']);
  perTask('counter', 'tributary_dead_lettered_records_total', 'Records sent to the dead-letter topic, per task', (t) => t.deadLettered);
  perTask('gauge', 'tributary_restored_records', 'Changelog records replayed when each task started', (t) => t.restored);
  perTask('gauge', 'tributary_stream_time_seconds', 'Stream time: the newest record timestamp each task has processed (freshness: time() minus this)', (t) =>
    t.streamTime === null ? undefined : t.streamTime / 1000,
  );
  perTask('gauge', 'tributary_store_entries', 'Entries per store and task', (t) => t.stores.map((s) => [{ store: s.name }, s.entries]), ['store']);
  perTask('gauge', 'tributary_cache_hit_ratio', 'Cache hits / lookups of persistent key-value stores, per store and task', (t) =>
    t.stores.filter((s) => s.cacheHits + s.cacheMisses > 0).map((s) => [{ store: s.name }, s.cacheHits / (s.cacheHits + s.cacheMisses)]),
  ['store']);

  new Counter({
    name: 'tributary_thread_restarts_total',
    help: 'Stream threads started again after a commit the log refused (TASK_MIGRATED) or could not take (LOG_UNAVAILABLE), or replaced after a failure (REPLACE_THREAD)',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      for (const reason of restartReasons) this.inc({ reason }, app.restarts.byReason.get(reason) ?? 0);
    },
  });
  new Counter({
    name: 'tributary_rebalances_total',
    help: 'Group rebalances this process took part in (processes sharing the work on Kafka)',
    registers,
    collect() {
      this.reset();
      this.inc(app.restarts.rebalances);
    },
  });
  /** A counter per stream thread (a thread started again resets its own series only). */
  const perThread = (name: string, help: string, value: (t: ThreadCounters) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['thread'],
      registers,
      async collect() {
        const snapshot = await counters();
        this.reset();
        for (const t of snapshot?.threads ?? []) this.inc({ thread: String(t.threadId) }, value(t));
      },
    });
  perThread('tributary_commits_total', 'Commits, per stream thread', (t) => t.commits);
  perThread('tributary_process_seconds_total', 'Time spent processing records, per stream thread (rate: busy fraction; per record: divide by the rate of records in)', (t) => t.processMs / 1000);
  /** A gauge per stream thread. */
  const perThreadGauge = (name: string, help: string, value: (t: ThreadCounters) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['thread'],
      registers,
      async collect() {
        const snapshot = await counters();
        this.reset();
        for (const t of snapshot?.threads ?? []) this.set({ thread: String(t.threadId) }, value(t));
      },
    });
  // nodejs_heap_size_* are the main thread's: each stream thread is a worker with its own heap.
  perThreadGauge('tributary_thread_heap_used_bytes', 'V8 heap in use, per stream thread (a worker thread has its own heap)', (t) => t.heapUsedBytes);
  perThreadGauge('tributary_thread_heap_total_bytes', 'V8 heap reserved, per stream thread', (t) => t.heapTotalBytes);
  new ThreadHistogram({
    name: 'tributary_commit_latency_seconds',
    help: 'Time to commit (outputs, changelogs and input offsets), per stream thread',
    registry,
    collect: async () => ((await counters())?.threads ?? []).map((t) => ({ labels: { thread: String(t.threadId) }, snapshot: t.commitLatency })),
  });
  new ThreadHistogram({
    name: 'tributary_record_e2e_latency_seconds',
    help: 'Wall clock minus record timestamp when a task writes a record to an output topic, per topic and stream thread (Kafka Streams: record-e2e-latency)',
    registry,
    collect: async () =>
      ((await counters())?.threads ?? []).flatMap((t) => Object.entries(t.endToEndLatency).map(([topic, snapshot]) => ({ labels: { topic, thread: String(t.threadId) }, snapshot }))),
  });
  new Gauge({
    name: 'tributary_state',
    help: 'Application state (1 for the current state, 0 for the others)',
    labelNames: ['state'],
    registers,
    collect() {
      this.reset();
      // Every state has a series, so "not RUNNING" is a query (tributary_state{state="RUNNING"} == 0).
      for (const state of appStates) this.set({ state }, state === app.state ? 1 : 0);
      if (!appStates.includes(app.state)) this.set({ state: app.state }, 1);
    },
  });
}

/** The threads' answers to a `metrics` request as the application's counters (StreamsApp.metrics()). */
export function appCounters(replies: readonly Extract<FromThread, { kind: 'metrics' }>[]): AppCounters {
  const sum = (f: (r: (typeof replies)[number]) => number) => replies.reduce((n, r) => n + f(r), 0);
  return {
    tasks: replies.flatMap((r) => r.tasks),
    commits: sum((r) => r.commits),
    commitMs: sum((r) => r.commitMs),
    processed: sum((r) => r.processed),
    processMs: sum((r) => r.processMs),
    threads: replies.map((r) => ({ threadId: r.threadId, commits: r.commits, processMs: r.processMs, commitLatency: r.commitLatency, endToEndLatency: r.endToEndLatency, heapUsedBytes: r.heapUsedBytes, heapTotalBytes: r.heapTotalBytes })),
  };
}
