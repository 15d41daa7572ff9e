import { StreamsError } from '../engine/index.ts';

function duration(what: string, ms: number, min: number): number {
  if (typeof ms !== 'number' || !Number.isSafeInteger(ms) || ms < min) {
    throw new StreamsError('INVALID_WINDOW', `${what} must be an integer number of milliseconds >= ${min}, got ${String(ms)}`);
  }
  return ms;
}

/**
 * Tumbling (advance = size) or hopping (advance < size) windows, aligned to the epoch:
 * a window covers `[start, start + size)` and starts at a multiple of `advanceMs`.
 *
 * @example
 * TimeWindows.ofSizeAndGrace(60_000, 10_000);                // 1-minute tumbling, 10 s grace
 * TimeWindows.ofSizeWithNoGrace(60_000).advanceBy(10_000);   // 1-minute windows every 10 s
 */
export class TimeWindows {
  readonly kind = 'time' as const;
  readonly sizeMs: number;
  readonly advanceMs: number;
  readonly graceMs: number;

  private constructor(sizeMs: number, advanceMs: number, graceMs: number) {
    this.sizeMs = sizeMs;
    this.advanceMs = advanceMs;
    this.graceMs = graceMs;
    Object.freeze(this);
  }

  static ofSizeWithNoGrace(sizeMs: number): TimeWindows {
    return TimeWindows.ofSizeAndGrace(sizeMs, 0);
  }

  static ofSizeAndGrace(sizeMs: number, graceMs: number): TimeWindows {
    const size = duration('window size', sizeMs, 1);
    return new TimeWindows(size, size, duration('grace', graceMs, 0));
  }

  /** Makes hopping windows: a new window every `advanceMs`; 0 < advance <= size. */
  advanceBy(advanceMs: number): TimeWindows {
    const advance = duration('window advance', advanceMs, 1);
    if (advance > this.sizeMs) {
      throw new StreamsError('INVALID_WINDOW', `window advance (${advance} ms) must not exceed the window size (${this.sizeMs} ms)`);
    }
    return new TimeWindows(this.sizeMs, advance, this.graceMs);
  }

  /** Starts of every window that contains `timestamp`, ascending. */
  windowStartsFor(timestamp: number): number[] {
    const first = Math.max(0, timestamp - this.sizeMs + this.advanceMs);
    const starts: number[] = [];
    for (let start = first - (first % this.advanceMs); start <= timestamp; start += this.advanceMs) {
      starts.push(start);
    }
    return starts;
  }
}

/**
 * Sliding windows for aggregations: every window of `timeDifferenceMs` that has records, each
 * window `[start, end]` inclusive on both ends, as Kafka Streams' SlidingWindows.
 */
export class SlidingWindows {
  readonly kind = 'sliding' as const;
  readonly timeDifferenceMs: number;
  readonly graceMs: number;

  private constructor(timeDifferenceMs: number, graceMs: number) {
    this.timeDifferenceMs = timeDifferenceMs;
    this.graceMs = graceMs;
    Object.freeze(this);
  }

  static ofTimeDifferenceWithNoGrace(timeDifferenceMs: number): SlidingWindows {
    return SlidingWindows.ofTimeDifferenceAndGrace(timeDifferenceMs, 0);
  }

  static ofTimeDifferenceAndGrace(timeDifferenceMs: number, graceMs: number): SlidingWindows {
    return new SlidingWindows(duration('time difference', timeDifferenceMs, 1), duration('grace', graceMs, 0));
  }
}

/**
 * Session windows: records of a key less than `inactivityGapMs` apart belong to one session;
 * a record that bridges two sessions merges them. Session bounds are inclusive.
 */
export class SessionWindows {
  readonly kind = 'session' as const;
  readonly inactivityGapMs: number;
  readonly graceMs: number;

  private constructor(inactivityGapMs: number, graceMs: number) {
    this.inactivityGapMs = inactivityGapMs;
    this.graceMs = graceMs;
    Object.freeze(this);
  }

  static ofInactivityGapWithNoGrace(inactivityGapMs: number): SessionWindows {
    return SessionWindows.ofInactivityGapAndGrace(inactivityGapMs, 0);
  }

  static ofInactivityGapAndGrace(inactivityGapMs: number, graceMs: number): SessionWindows {
    return new SessionWindows(duration('inactivity gap', inactivityGapMs, 1), duration('grace', graceMs, 0));
  }
}

/**
 * The window of a stream-stream join: a record at `t` on the left joins right records with
 * timestamps in `[t - beforeMs, t + afterMs]`.
 */
export class JoinWindows {
  readonly kind = 'join' as const;
  readonly beforeMs: number;
  readonly afterMs: number;
  readonly graceMs: number;

  private constructor(beforeMs: number, afterMs: number, graceMs: number) {
    if (beforeMs + afterMs < 0) {
      throw new StreamsError('INVALID_WINDOW', `a join window needs before + after >= 0, got ${beforeMs} + ${afterMs}`);
    }
    this.beforeMs = beforeMs;
    this.afterMs = afterMs;
    this.graceMs = graceMs;
    Object.freeze(this);
  }

  static ofTimeDifferenceWithNoGrace(timeDifferenceMs: number): JoinWindows {
    return JoinWindows.ofTimeDifferenceAndGrace(timeDifferenceMs, 0);
  }

  static ofTimeDifferenceAndGrace(timeDifferenceMs: number, graceMs: number): JoinWindows {
    const diff = duration('time difference', timeDifferenceMs, 0);
    return new JoinWindows(diff, diff, duration('grace', graceMs, 0));
  }

  /** Only right records up to `timeDifferenceMs` before the left record join. */
  before(timeDifferenceMs: number): JoinWindows {
    return new JoinWindows(duration('time difference', timeDifferenceMs, Number.MIN_SAFE_INTEGER), this.afterMs, this.graceMs);
  }

  /** Only right records up to `timeDifferenceMs` after the left record join. */
  after(timeDifferenceMs: number): JoinWindows {
    return new JoinWindows(this.beforeMs, duration('time difference', timeDifferenceMs, Number.MIN_SAFE_INTEGER), this.graceMs);
  }

  get sizeMs(): number {
    return this.beforeMs + this.afterMs;
  }
}

/** When a windowed aggregation emits: on every update (default) or once, when the window closes. */
export class EmitStrategy {
  readonly type: 'on-window-update' | 'on-window-close';

  private constructor(type: EmitStrategy['type']) {
    this.type = type;
  }

  static onWindowUpdate(): EmitStrategy {
    return new EmitStrategy('on-window-update');
  }

  static onWindowClose(): EmitStrategy {
    return new EmitStrategy('on-window-close');
  }
}

/** Default retention of a window store, as in Kafka Streams: the window size plus grace. */
export function defaultRetentionMs(sizeMs: number, graceMs: number): number {
  return sizeMs + graceMs;
}
