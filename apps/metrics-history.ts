/**
 * The engine's recent throughput and lag for the demo page's charts: a sample of the application's
 * counters every few seconds, kept in a fixed-size ring buffer (the oldest sample is overwritten),
 * so memory stays bounded however long the app runs. Prometheus keeps the long history (`/metrics`);
 * this only covers the last minutes, for a page that has no Prometheus behind it.
 */

/** One point of the charts. */
export interface MetricsSample {
  /** Wall-clock time of the sample (ms since the epoch). */
  readonly at: number;
  /** Records processed per second by every task since the previous sample. */
  readonly processedPerSec: number;
  /** Records left to read on the input partitions, summed over tasks. */
  readonly lag: number;
  /** How far the newest stream time is behind the wall clock (ms), null before any record. */
  readonly eventTimeLagMs: number | null;
}

/** What one sample reads: the application's counters (StreamsApp.metrics() has these fields). */
export interface CounterSource {
  readonly processed: number;
  readonly tasks: readonly { readonly lag: number; readonly streamTime: number | null }[];
}

/** A bounded buffer that keeps the newest `capacity` items, oldest first on read. */
export class RingBuffer<T> {
  readonly #items: (T | undefined)[];
  #next = 0;
  #size = 0;

  readonly capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.#items = new Array<T | undefined>(capacity);
  }

  push(item: T): void {
    this.#items[this.#next] = item;
    this.#next = (this.#next + 1) % this.capacity;
    this.#size = Math.min(this.#size + 1, this.capacity);
  }

  get size(): number {
    return this.#size;
  }

  /** The items, oldest first. */
  toArray(): T[] {
    const start = (this.#next - this.#size + this.capacity) % this.capacity;
    return Array.from({ length: this.#size }, (_, i) => this.#items[(start + i) % this.capacity]!);
  }
}

export interface MetricsHistoryOptions {
  /** Time between samples (default 2 s). */
  readonly intervalMs?: number;
  /** Samples kept (default 300: ten minutes at 2 s). */
  readonly capacity?: number;
  /** Wall clock (default Date.now). */
  readonly now?: () => number;
}

/**
 * Samples `read()` every `intervalMs` while started. A failed or skipped read (the app is not
 * RUNNING: `read` resolves undefined) leaves a gap rather than a made-up point; a counter that went
 * down (a stream thread restarted) counts as a reset, not a negative rate.
 *
 * @example
 * const history = new MetricsHistory(() => app.metrics());
 * history.start();
 * history.samples(); // [{ at, processedPerSec, lag, eventTimeLagMs }, ...] oldest first
 */
export class MetricsHistory {
  readonly #read: () => Promise<CounterSource | undefined>;
  readonly #buffer: RingBuffer<MetricsSample>;
  readonly #intervalMs: number;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #last: { at: number; processed: number } | undefined;
  #busy = false;

  constructor(read: () => Promise<CounterSource | undefined>, options: MetricsHistoryOptions = {}) {
    this.#read = read;
    this.#intervalMs = options.intervalMs ?? 2000;
    this.#buffer = new RingBuffer(options.capacity ?? 300);
    this.#now = options.now ?? Date.now;
  }

  get intervalMs(): number {
    return this.#intervalMs;
  }

  /** Starts sampling (idempotent); the timer does not keep the process alive. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.sample(), this.#intervalMs);
    this.#timer.unref();
    void this.sample();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Takes one sample now (the timer calls this; tests may too). */
  async sample(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const counters = await this.#read().catch(() => undefined);
      const at = this.#now();
      if (counters === undefined) {
        this.#last = undefined;
        return;
      }
      const previous = this.#last;
      this.#last = { at, processed: counters.processed };
      // The first sample only sets the baseline: a rate needs two points.
      if (previous === undefined || at <= previous.at) return;
      const delta = counters.processed >= previous.processed ? counters.processed - previous.processed : counters.processed;
      const streamTimes = counters.tasks.map((t) => t.streamTime).filter((t): t is number => t !== null);
      this.#buffer.push({
        at,
        processedPerSec: Math.round((delta * 1000) / (at - previous.at)),
        lag: counters.tasks.reduce((n, t) => n + t.lag, 0),
        eventTimeLagMs: streamTimes.length === 0 ? null : Math.max(0, at - Math.max(...streamTimes)),
      });
    } finally {
      this.#busy = false;
    }
  }

  /** The samples kept, oldest first. */
  samples(): MetricsSample[] {
    return this.#buffer.toArray();
  }
}
