/**
 * Exponential backoff with jitter: the wait before retry `attempt` (0 for the first retry) is
 * `min(maxMs, initialMs * multiplier^attempt)`, less a random part of at most `jitter` of it.
 * Jitter spreads the retries of many sinks (or many processes) that failed together, so a target
 * coming back is not hit by all of them at the same instant.
 */
import { StreamsError } from '../../engine/index.ts';

export interface BackoffOptions {
  /** Wait before the first retry (default 100 ms). */
  readonly initialMs?: number;
  /** Longest wait (default 30 s). */
  readonly maxMs?: number;
  /** Growth per attempt (default 2). */
  readonly multiplier?: number;
  /** Fraction of each wait drawn at random, 0 (none) to 1 (full jitter). Default 0.5. */
  readonly jitter?: number;
}

export interface Backoff {
  /** The wait in ms before retry number `attempt` (0-based). */
  delay(attempt: number): number;
}

/**
 * @example
 * const backoff = exponentialBackoff({ initialMs: 100, maxMs: 10_000 });
 * await sleep(backoff.delay(attempt));
 */
export function exponentialBackoff(options: BackoffOptions = {}, random: () => number = Math.random): Backoff {
  const initialMs = options.initialMs ?? 100;
  const maxMs = options.maxMs ?? 30_000;
  const multiplier = options.multiplier ?? 2;
  const jitter = options.jitter ?? 0.5;
  if (!(Number.isFinite(initialMs) && initialMs >= 0)) throw new StreamsError('INVALID_ARGUMENT', `backoff initialMs must be a non-negative number, got ${initialMs}`);
  if (!(Number.isFinite(maxMs) && maxMs >= initialMs)) throw new StreamsError('INVALID_ARGUMENT', `backoff maxMs must be a number >= initialMs (${initialMs}), got ${maxMs}`);
  if (!(Number.isFinite(multiplier) && multiplier >= 1)) throw new StreamsError('INVALID_ARGUMENT', `backoff multiplier must be >= 1, got ${multiplier}`);
  if (!(jitter >= 0 && jitter <= 1)) throw new StreamsError('INVALID_ARGUMENT', `backoff jitter must be in 0..1, got ${jitter}`);
  return {
    delay(attempt) {
      // multiplier^attempt overflows to Infinity after enough attempts: then the cap applies.
      const grown = initialMs === 0 ? 0 : initialMs * multiplier ** Math.max(0, attempt);
      const ceiling = Number.isFinite(grown) ? Math.min(maxMs, grown) : maxMs;
      return ceiling * (1 - jitter * random());
    },
  };
}
