/**
 * What the HTTP server and the metrics need of a running application: its state, its stores and
 * queries routed to their owners, and its counters. StreamsApp implements it; the server depends
 * on this and not on StreamsApp, so either can change without the other.
 */
import type { Topology } from '../topology.ts';
import type { HistogramSnapshot, StoreQuery, TaskMetricsSnapshot } from './messages.ts';
import type { QueryResult } from './queries.ts';

export interface AppCounters {
  readonly tasks: TaskMetricsSnapshot[];
  readonly commits: number;
  readonly commitMs: number;
  readonly processed: number;
  readonly processMs: number;
  /**
   * Per stream thread: its own counters and histograms since it started. Exported per thread, so a
   * thread started again resets only its own series (Prometheus sees a counter reset, not a drop
   * in a sum over threads that rate() would misread).
   */
  readonly threads: readonly ThreadCounters[];
}

export interface ThreadCounters {
  readonly threadId: number;
  readonly commits: number;
  readonly processMs: number;
  readonly commitLatency: HistogramSnapshot;
  /** By output topic (topology name). */
  readonly endToEndLatency: Readonly<Record<string, HistogramSnapshot>>;
  /** The thread's V8 heap in use and reserved, as it answered. */
  readonly heapUsedBytes: number;
  readonly heapTotalBytes: number;
}

export interface QueryableApp {
  /** One of Kafka Streams' client states ('RUNNING', 'REBALANCING', ...). */
  readonly state: string;
  readonly applicationId: string;
  /** The topology, once started (for the serdes of its topics and stores). */
  readonly topology: Topology | undefined;
  readonly restarts: { readonly byReason: ReadonlyMap<string, number>; readonly rebalances: number };
  stores(): { name: string; partitions: number }[];
  storeHosts(store: string): { partition: number; host: string | null; local: boolean }[];
  query(store: string, partition: number, query: StoreQuery, options?: { stale?: boolean }): Promise<QueryResult>;
  queryLocal(store: string, partition: number, query: StoreQuery, stale?: boolean): Promise<QueryResult>;
  queryKey(store: string, query: StoreQuery & { key: string }, options?: { stale?: boolean }): Promise<QueryResult>;
  metrics(): Promise<AppCounters>;
}
