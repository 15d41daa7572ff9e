/**
 * Windowed aggregations: time (tumbling/hopping), sliding and session windows, each with
 * grace, late-record dropping and the two emit strategies. Semantics follow Kafka Streams'
 * KStreamWindowAggregate, KStreamSlidingWindowAggregate and KStreamSessionWindowAggregate
 * (boundaries noted at each check). One difference: Kafka Streams throttles emit-on-close
 * by wall-clock time (an internal config, 1 s by default); here closed windows are emitted
 * as soon as a record moves stream time past them. Emit-on-close stores keep windows one ms
 * longer than the retention, so the window a record closes is still there to emit (Kafka
 * Streams' emit-on-close store makes the same exception at its retention boundary).
 */
import type { AnyStore, Change, CommittedTime, SessionStore, Windowed, WindowStore } from '../../engine/index.ts';
import type { SessionWindows, SlidingWindows, TimeWindows } from '../windows.ts';
import { setFlushListener } from '../../engine/state/record-cache.ts';
import { StoreProcessor, type Ctx, type Rec } from './processors.ts';

export interface WindowAggregation {
  readonly init: () => unknown;
  readonly add: (key: unknown, value: unknown, aggregate: unknown) => unknown;
  /** Session windows only: combines the aggregates of two sessions that merge. */
  readonly merge?: (key: unknown, left: unknown, right: unknown) => unknown;
}

function windowed(key: unknown, start: number, end: number): Windowed<unknown> {
  return { key, window: { start, end } };
}

abstract class WindowAggregateBase<S extends AnyStore> extends StoreProcessor<S> {
  protected readonly agg: WindowAggregation;
  protected readonly emitOnClose: boolean;
  /**
   * Highest timestamp this processor has seen (its own stream time, as in Kafka Streams), and the
   * close time up to which final results were emitted (emit-on-close). Both are committed with the
   * task's offsets, so a restart neither accepts a record that was late nor emits a window twice.
   */
  protected observed!: CommittedTime;
  protected emitted!: CommittedTime;
  /**
   * Name of those committed times; the node's name by default. The processors of a cogroup (one
   * per input, one store) share one name, so a window closed for one input is closed for all.
   */
  readonly #timeName: string | undefined;

  constructor(storeName: string, agg: WindowAggregation, emitOnClose: boolean, timeName: string | undefined) {
    super(storeName);
    this.agg = agg;
    this.emitOnClose = emitOnClose;
    this.#timeName = timeName;
  }

  /** The store caches (time windows emitting updates): updates are forwarded from its flushes. */
  #cached = false;

  override init(ctx: Ctx): void {
    super.init(ctx);
    const name = this.#timeName ?? ctx.nodeName;
    this.observed = ctx.committedTime(`${name}:observed`);
    this.emitted = ctx.committedTime(`${name}:emitted`);
    if (this.store.kind === 'window' && !this.emitOnClose) {
      const sizeMs = this.store.windowSizeMs;
      this.#cached = setFlushListener(this.store, (flush) =>
        this.ctx.forward({
          key: windowed(flush.key, flush.windowStart, flush.windowStart + sizeMs),
          value: { newValue: flush.newValue, oldValue: flush.oldValue } satisfies Change<unknown>,
          timestamp: flush.timestamp,
          ...(flush.headers !== undefined && { headers: flush.headers }),
        }),
      );
    }
  }

  protected forwardUpdate(key: unknown, start: number, end: number, newValue: unknown, oldValue: unknown, timestamp: number): void {
    if (this.emitOnClose || this.#cached) return;
    this.ctx.forward({ key: windowed(key, start, end), value: { newValue, oldValue } satisfies Change<unknown>, timestamp });
  }

  protected forwardFinal(key: unknown, start: number, end: number, value: unknown, timestamp: number): void {
    this.ctx.forward({ key: windowed(key, start, end), value: { newValue: value, oldValue: null } satisfies Change<unknown>, timestamp });
  }
}

/** Tumbling and hopping windows: `[start, start + size)`. */
export class TimeWindowAggregateProcessor extends WindowAggregateBase<WindowStore<unknown, unknown>> {
  readonly #windows: TimeWindows;

  constructor(storeName: string, windows: TimeWindows, agg: WindowAggregation, emitOnClose: boolean, timeName?: string) {
    super(storeName, agg, emitOnClose, timeName);
    this.#windows = windows;
  }

  process(record: Rec): void {
    if (record.key === null || record.key === undefined) {
      this.ctx.recordDropped('null-key');
      return;
    }
    // Null values are aggregated (the aggregator decides), as in Kafka Streams' window aggregation.
    const { sizeMs, graceMs } = this.#windows;
    this.observed.advance(record.timestamp);
    const close = this.observed.value - graceMs;
    // Emit what this record's time closes before writing it: the write may expire those windows.
    if (this.emitOnClose) this.#emitClosed(close);
    for (const start of this.#windows.windowStartsFor(record.timestamp)) {
      const end = start + sizeMs;
      // A window is closed once stream time - grace reaches its (exclusive) end.
      if (end <= close) {
        this.ctx.recordDropped('late-record');
        continue;
      }
      const old = this.store.fetchWithTimestamp(record.key, start);
      const timestamp = old === undefined ? record.timestamp : Math.max(record.timestamp, old.timestamp);
      const newValue = this.agg.add(record.key, record.value, old === undefined ? this.agg.init() : old.value);
      this.store.put(record.key, newValue, start, timestamp);
      this.forwardUpdate(record.key, start, end, newValue, old?.value ?? null, timestamp);
    }
  }

  /** Emits every window with `end <= close` not emitted before, by start then key. */
  #emitClosed(close: number): void {
    const lastEmitClose = this.emitted.value;
    if (close <= lastEmitClose) return;
    const { sizeMs, advanceMs } = this.#windows;
    const from = lastEmitClose === Number.NEGATIVE_INFINITY ? 0 : lastEmitClose - sizeMs + 1;
    // Window starts are multiples of the advance: most records close no window, and need no scan.
    const firstStart = Math.ceil(Math.max(0, from) / advanceMs) * advanceMs;
    if (firstStart > close - sizeMs) {
      this.emitted.advance(close);
      return;
    }
    const rows = this.store.fetchAll(from, close - sizeMs);
    rows.sort((a, b) => a.window.start - b.window.start);
    for (const row of rows) this.forwardFinal(row.key, row.window.start, row.window.start + sizeMs, row.value, row.timestamp);
    this.emitted.advance(close);
  }
}

/**
 * Sliding windows `[start, start + d]`, both ends inclusive. Each record has a left window
 * ending at it, `[t - d, t]` (or `[0, d]` while t < d), and a right window `[t + 1, t + 1 + d]`
 * that exists once another record falls in it. Only aggregates are stored; a new window's
 * aggregate is seeded from an existing window holding exactly the same earlier records.
 */
export class SlidingWindowAggregateProcessor extends WindowAggregateBase<WindowStore<unknown, unknown>> {
  readonly #windows: SlidingWindows;

  constructor(storeName: string, windows: SlidingWindows, agg: WindowAggregation, emitOnClose: boolean, timeName?: string) {
    super(storeName, agg, emitOnClose, timeName);
    this.#windows = windows;
  }

  process(record: Rec): void {
    if (record.key === null || record.key === undefined) {
      this.ctx.recordDropped('null-key');
      return;
    }
    if (record.value === null || record.value === undefined) {
      this.ctx.recordDropped('null-value');
      return;
    }
    const d = this.#windows.timeDifferenceMs;
    const t = record.timestamp;
    this.observed.advance(t);
    const close = this.observed.value - this.#windows.graceMs;
    if (this.emitOnClose) this.#emitClosed(close);
    // Late when even the right-most window that could hold it (its left window) is closed.
    if (t + d < close) {
      this.ctx.recordDropped('late-record');
    } else if (t < d) {
      this.#processEarly(record, close);
    } else {
      this.#process(record, close);
    }
  }

  /** Adds the record to the window starting at `start` (creating it from `seed`) if it is still open. */
  #update(record: Rec, start: number, seed: { value: unknown; timestamp: number } | undefined, close: number): void {
    const end = start + this.#windows.timeDifferenceMs;
    // Sliding windows accept updates while end >= close (end is inclusive); the record itself
    // was not late, so a closed window here is skipped, not counted as a drop.
    if (end < close) return;
    const base = seed ?? { value: this.agg.init(), timestamp: record.timestamp };
    const newValue = this.agg.add(record.key, record.value, base.value);
    const timestamp = Math.max(record.timestamp, base.timestamp);
    this.store.put(record.key, newValue, start, timestamp);
    this.forwardUpdate(record.key, start, end, newValue, seed === undefined ? null : base.value, timestamp);
  }

  #process(record: Rec, close: number): void {
    const d = this.#windows.timeDifferenceMs;
    const t = record.timestamp;
    const key = record.key;
    // Every window that can matter starts in [t - 2d, t + 1]; walk them latest start first.
    const rows = this.store.fetch(key, Math.max(0, t - 2 * d), t + 1).reverse();
    const starts = new Set(rows.map((r) => r.window.start));
    let rightAgg: { value: unknown; timestamp: number } | undefined;
    let leftAgg: { value: unknown; timestamp: number } | undefined;
    let leftExists = false;
    let previous: number | undefined; // timestamp of the latest earlier record within reach
    for (const row of rows) {
      const start = row.window.start;
      const end = start + d;
      if (start === t + 1) continue; // this record's right window already exists
      if (end > t) {
        // Contains t. The latest-starting such window holds exactly the records after t in
        // [t + 1, t + 1 + d]: the seed of this record's right window if that must be created.
        rightAgg ??= { value: row.value, timestamp: row.timestamp };
        this.#update(record, start, row, close);
      } else if (end === t) {
        leftExists = true;
        if (row.timestamp >= t) {
          // A record at t was seen before: every window this record needs already exists.
          this.#update(record, start, row, close);
          return;
        }
        previous = row.timestamp;
        this.#update(record, start, row, close);
      } else {
        // The window with the latest end before t holds exactly the earlier records in [t - d, t).
        leftAgg = { value: row.value, timestamp: row.timestamp };
        previous = row.timestamp;
        break;
      }
    }
    // The previous record's right window, if it has none yet and this record falls in it.
    if (previous !== undefined && !starts.has(previous + 1) && previous + 1 + d >= t) {
      this.#update(record, previous + 1, undefined, close);
    }
    if (!leftExists) {
      const seed = previous !== undefined && t - d <= previous ? leftAgg : undefined;
      this.#update(record, t - d, seed, close);
    }
    this.#createRightWindow(record, rightAgg, starts, close);
  }

  /** A record out of order, with later records within d after it, gets a right window of their records. */
  #createRightWindow(
    record: Rec,
    rightAgg: { value: unknown; timestamp: number } | undefined,
    starts: ReadonlySet<number>,
    close: number,
  ): void {
    const t = record.timestamp;
    const d = this.#windows.timeDifferenceMs;
    if (starts.has(t + 1) || rightAgg === undefined || rightAgg.timestamp <= t) return;
    if (t + 1 + d < close) return;
    this.store.put(record.key, rightAgg.value, t + 1, rightAgg.timestamp);
    this.forwardUpdate(record.key, t + 1, t + 1 + d, rightAgg.value, null, rightAgg.timestamp);
  }

  /** Records before time d share the left window [0, d]. */
  #processEarly(record: Rec, close: number): void {
    const t = record.timestamp;
    const key = record.key;
    const rows = this.store.fetch(key, 0, t + 1);
    const starts = new Set(rows.map((r) => r.window.start));
    let combined: { value: unknown; timestamp: number } | undefined;
    let rightAgg: { value: unknown; timestamp: number } | undefined;
    let previous: number | undefined;
    for (const row of rows) {
      const start = row.window.start;
      if (start === 0) {
        combined = row;
        if (row.timestamp < t) previous = row.timestamp;
      } else if (start <= t) {
        rightAgg = { value: row.value, timestamp: row.timestamp };
        this.#update(record, start, row, close);
      }
    }
    if (rightAgg === undefined && combined !== undefined && combined.timestamp > t) rightAgg = combined;
    this.#createRightWindow(record, rightAgg, starts, close);
    if (previous !== undefined && !starts.has(previous + 1)) this.#update(record, previous + 1, undefined, close);
    this.#update(record, 0, combined, close);
  }

  /** Emits windows with `end < close`, by start then key. */
  #emitClosed(close: number): void {
    const lastEmitClose = this.emitted.value;
    if (close <= lastEmitClose) return;
    const d = this.#windows.timeDifferenceMs;
    const from = lastEmitClose === Number.NEGATIVE_INFINITY ? 0 : Math.max(0, lastEmitClose - d);
    const rows = this.store.fetchAll(from, close - d - 1);
    rows.sort((a, b) => a.window.start - b.window.start);
    for (const row of rows) this.forwardFinal(row.key, row.window.start, row.window.start + d, row.value, row.timestamp);
    this.emitted.advance(close);
  }
}

/** Session windows: `[first, last]` record of a burst, both inclusive; bridging records merge sessions. */
export class SessionWindowAggregateProcessor extends WindowAggregateBase<SessionStore<unknown, unknown>> {
  readonly #windows: SessionWindows;

  constructor(storeName: string, windows: SessionWindows, agg: WindowAggregation, emitOnClose: boolean, timeName?: string) {
    super(storeName, agg, emitOnClose, timeName);
    this.#windows = windows;
  }

  process(record: Rec): void {
    if (record.key === null || record.key === undefined) {
      this.ctx.recordDropped('null-key');
      return;
    }
    const { inactivityGapMs: gap, graceMs } = this.#windows;
    const t = record.timestamp;
    this.observed.advance(t);
    const close = this.observed.value - graceMs - gap;
    // Emit what this record's time closes before writing it: the write may expire those sessions.
    if (this.emitOnClose) this.#emitClosed(close);
    const overlapping = this.store.findSessions(record.key, t - gap, t + gap);
    let aggregate = this.agg.init();
    let start = t;
    let end = t;
    for (const session of overlapping) {
      aggregate = this.agg.merge!(record.key, aggregate, session.value);
      start = Math.min(start, session.key.window.start);
      end = Math.max(end, session.key.window.end);
    }
    // Late when even the merged session ends before the close time.
    if (end < close) {
      this.ctx.recordDropped('late-record');
    } else {
      if (start !== t || end !== t) {
        // Retract the sessions merged away: downstream sees each old session deleted.
        for (const session of overlapping) {
          const w = session.key.window;
          this.store.remove(session.key);
          this.forwardUpdate(record.key, w.start, w.end, null, session.value, w.end);
        }
      }
      aggregate = this.agg.add(record.key, record.value, aggregate);
      this.store.put(windowed(record.key, start, end), aggregate);
      this.forwardUpdate(record.key, start, end, aggregate, null, end);
    }
  }

  /** Emits sessions with `end < close`, by end. Sessions merged away before closing emit nothing. */
  #emitClosed(close: number): void {
    const lastEmitClose = this.emitted.value;
    if (close <= lastEmitClose) return;
    const from = Math.max(0, lastEmitClose);
    const rows = this.store.sessionsEndingIn(from, close);
    for (const row of rows) this.forwardFinal(row.key.key, row.key.window.start, row.key.window.end, row.value, row.key.window.end);
    this.emitted.advance(close);
  }
}
