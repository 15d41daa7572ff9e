import { StreamsError } from '../engine/index.ts';

/** How much a suppression buffer may hold, and what to do when it is full. */
export class BufferConfig {
  readonly maxRecords: number;
  readonly whenFull: 'emit-early' | 'shut-down';

  private constructor(maxRecords: number, whenFull: BufferConfig['whenFull']) {
    this.maxRecords = maxRecords;
    this.whenFull = whenFull;
  }

  /** No bound on records (the buffer is bounded by the number of open windows times keys). */
  static unbounded(): BufferConfig {
    return new BufferConfig(Number.POSITIVE_INFINITY, 'shut-down');
  }

  static maxRecords(n: number): BufferConfig {
    if (!Number.isSafeInteger(n) || n < 1) throw new StreamsError('INVALID_ARGUMENT', `maxRecords must be >= 1, got ${n}`);
    return new BufferConfig(n, 'shut-down');
  }

  /** When full, emit the oldest record early instead of failing (not allowed for untilWindowCloses). */
  emitEarlyWhenFull(): BufferConfig {
    return new BufferConfig(this.maxRecords, 'emit-early');
  }

  /** When full, fail the task with BUFFER_FULL rather than emit a non-final result. */
  shutDownWhenFull(): BufferConfig {
    return new BufferConfig(this.maxRecords, 'shut-down');
  }
}

/**
 * When a table's updates are passed on. `untilWindowCloses` emits one final result per window
 * once stream time passes the window end plus grace; `untilTimeLimit` emits the latest value of a
 * key once it has been buffered for `timeToWaitMs` of stream time.
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
