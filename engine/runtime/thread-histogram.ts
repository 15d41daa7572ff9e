/**
 * A Prometheus histogram whose buckets the stream threads keep (thread/latency-histogram.ts): at
 * each scrape it adds up the threads' bucket counts, per label set. prom-client's Histogram can
 * only `observe` one value at a time, and the observations happen in other threads, so this is a
 * collector of its own, registered on the same Registry and rendered by it like any histogram.
 */
import type { Histogram, Registry } from 'prom-client';
import type { HistogramSnapshot } from './messages.ts';

/** What prom-client's Registry renders: a metric's name, help, type and sample lines. */
interface HistogramData {
  readonly name: string;
  readonly help: string;
  readonly type: 'histogram';
  readonly aggregator: 'sum';
  readonly values: { labels: Record<string, string | number>; value: number; metricName: string }[];
}

export interface ThreadHistogramOptions {
  readonly name: string;
  readonly help: string;
  readonly registry: Registry;
  /** The threads' snapshots as of this scrape, each with its labels (several with the same labels add up). */
  collect(): Promise<readonly { readonly labels: Readonly<Record<string, string>>; readonly snapshot: HistogramSnapshot }[]>;
}

export class ThreadHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  readonly #collect: ThreadHistogramOptions['collect'];

  constructor(options: ThreadHistogramOptions) {
    this.name = options.name;
    this.help = options.help;
    this.#collect = options.collect;
    // The Registry renders any object with get(); its typings name only prom-client's own classes.
    options.registry.registerMetric(this as unknown as Histogram);
  }

  async get(): Promise<HistogramData> {
    const merged = new Map<string, { labels: Readonly<Record<string, string>>; bounds: readonly number[]; counts: number[]; sum: number; count: number }>();
    for (const { labels, snapshot } of await this.#collect()) {
      const id = JSON.stringify(labels);
      const into = merged.get(id);
      if (into === undefined) merged.set(id, { labels, bounds: snapshot.bounds, counts: [...snapshot.counts], sum: snapshot.sum, count: snapshot.count });
      else {
        snapshot.counts.forEach((n, i) => (into.counts[i] = (into.counts[i] ?? 0) + n));
        into.sum += snapshot.sum;
        into.count += snapshot.count;
      }
    }
    const values: HistogramData['values'] = [];
    for (const { labels, bounds, counts, sum, count } of merged.values()) {
      let cumulative = 0;
      bounds.forEach((le, i) => {
        cumulative += counts[i]!;
        values.push({ labels: { ...labels, le }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { ...labels, le: '+Inf' }, value: count, metricName: `${this.name}_bucket` });
      values.push({ labels, value: sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' };
  }

  /** Nothing to reset here: the counts live in the threads. */
  reset(): void {}
}
