import { StreamsError } from '../engine/index.ts';

/**
 * How much a suppression buffer may hold, and what to do when it is full, as in Kafka Streams'
 * `Suppressed.BufferConfig`. Bytes count each buffered entry's serialized key and value (the
 * value holds the new and the old row and two timestamps).
 *
 * @example
 * Suppressed.untilTimeLimit(60_000, BufferConfig.maxRecords(10_000).withMaxBytes(8 * 1024 * 1024).emitEarlyWhenFull())
 */
export class BufferConfig {
  readonly maxRecords: number;
  readonly maxBytes: number;
  readonly whenFull: 'emit-early' | 'shut-down';

  private constructor(maxRecords: number, maxBytes: number, whenFull: BufferConfig['whenFull']) {
    this.maxRecords = maxRecords;
    this.maxBytes = maxBytes;
    this.whenFull = whenFull;
  }

  /** No bound (the buffer is bounded by the number of open windows times keys); full never happens. */
  static unbounded(): BufferConfig {
    return new BufferConfig(Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY, 'shut-down');
  }

  /** At most `n` records; shuts down when full unless `emitEarlyWhenFull()`. */
  static maxRecords(n: number): BufferConfig {
    return BufferConfig.unbounded().withMaxRecords(n);
  }

  /** At most `n` bytes; shuts down when full unless `emitEarlyWhenFull()`. */
  static maxBytes(n: number): BufferConfig {
    return BufferConfig.unbounded().withMaxBytes(n);
  }

  withMaxRecords(n: number): BufferConfig {
    return new BufferConfig(positive('maxRecords', n), this.maxBytes, this.whenFull);
  }

  withMaxBytes(n: number): BufferConfig {
    return new BufferConfig(this.maxRecords, positive('maxBytes', n), this.whenFull);
  }

  /** Removes both bounds. */
  withNoBound(): BufferConfig {
    return new BufferConfig(Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY, this.whenFull);
  }

  /** When full, emit the entries due first, early, instead of failing (not allowed for untilWindowCloses). */
  emitEarlyWhenFull(): BufferConfig {
    return new BufferConfig(this.maxRecords, this.maxBytes, 'emit-early');
  }

  /** When full, stop the stream thread with BUFFER_FULL rather than emit a result that is not final. */
  shutDownWhenFull(): BufferConfig {
    return new BufferConfig(this.maxRecords, this.maxBytes, 'shut-down');
  }
}

function positive(what: string, n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new StreamsError('INVALID_ARGUMENT', `${what} must be an integer >= 1, got ${n}`);
  return n;
}

/**
 * When a table's updates are passed on. `untilWindowCloses` emits one final result per window
 * once stream time passes the window end plus grace; `untilTimeLimit` emits the latest value of a
 * key once it has been buffered for `timeToWaitMs` of stream time. The buffer is a store with a
 * changelog (`<name>-store`), and its stream time is committed with the task's offsets: a
 * restart neither loses nor repeats a result.
 */
export class Suppressed {
  readonly type: 'until-window-closes' | 'until-time-limit';
  readonly timeToWaitMs: number;
  readonly buffer: BufferConfig;

  private constructor(type: Suppressed['type'], timeToWaitMs: number, buffer: BufferConfig) {
    this.type = type;
    this.timeToWaitMs = timeToWaitMs;
    this.buffer = buffer;
  }

  static untilWindowCloses(buffer: BufferConfig = BufferConfig.unbounded()): Suppressed {
    if (buffer.whenFull === 'emit-early') {
      throw new StreamsError('INVALID_ARGUMENT', 'untilWindowCloses emits final results only: its buffer cannot emit early');
    }
    return new Suppressed('until-window-closes', 0, buffer);
  }

  static untilTimeLimit(timeToWaitMs: number, buffer: BufferConfig = BufferConfig.unbounded()): Suppressed {
    if (!Number.isSafeInteger(timeToWaitMs) || timeToWaitMs < 0) {
      throw new StreamsError('INVALID_ARGUMENT', `timeToWaitMs must be >= 0, got ${timeToWaitMs}`);
    }
    return new Suppressed('until-time-limit', timeToWaitMs, buffer);
  }
}
