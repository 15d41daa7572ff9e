/**
 * A latency histogram a stream thread keeps (bucket counts, sum, count) and sends with its metrics
 * answer. The main thread adds the threads' histograms up into one Prometheus histogram per scrape
 * (thread-histogram.ts): bucket counts add up across threads, averages and percentiles do not.
 */
import type { HistogramSnapshot } from '../messages.ts';

/** Commit latency buckets (seconds): a commit takes from a millisecond to a few seconds (fsync, a broker). */
export const COMMIT_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * End-to-end latency buckets (seconds), from a record's timestamp to its output: milliseconds when
 * live, up to hours while catching up on a backlog (where the top buckets tell how far behind).
 */
export const END_TO_END_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

export class LatencyHistogram {
  readonly #bounds: readonly number[];
  /** counts[i]: observations in (bounds[i-1], bounds[i]]; the last one is above every bound. */
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.#counts = new Array<number>(bounds.length + 1).fill(0);
  }

  /** Records one latency, in seconds. */
  observe(seconds: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && seconds > bounds[i]!) i++;
    this.#counts[i]!++;
    this.#sum += seconds;
    this.#count++;
  }

  snapshot(): HistogramSnapshot {
    return { bounds: this.#bounds, counts: [...this.#counts], sum: this.#sum, count: this.#count };
  }
}

/**
 * End-to-end latency per output topic (Kafka Streams' record-e2e-latency at terminal nodes): the
 * wall clock minus the record's timestamp when a task writes it to a topic of the user's.
 * Repartition topics are internal hops, not outputs, and are left out.
 */
export class OutputLatency {
  readonly #internal: ReadonlySet<string>;
  readonly #byTopic = new Map<string, LatencyHistogram>();

  /** `internalTopics`: topology names of the repartition topics. */
  constructor(internalTopics: Iterable<string>) {
    this.#internal = new Set(internalTopics);
  }

  observe(topic: string, timestamp: number, now: number = Date.now()): void {
    if (this.#internal.has(topic)) return;
    let histogram = this.#byTopic.get(topic);
    if (histogram === undefined) this.#byTopic.set(topic, (histogram = new LatencyHistogram(END_TO_END_BUCKETS)));
    histogram.observe(Math.max(0, now - timestamp) / 1000);
  }

  snapshot(): Record<string, HistogramSnapshot> {
    return Object.fromEntries([...this.#byTopic].map(([topic, h]) => [topic, h.snapshot()]));
  }
}
