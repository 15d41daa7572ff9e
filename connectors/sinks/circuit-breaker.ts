/**
 * A circuit breaker per sink: after `failureThreshold` failures in a row the circuit opens and no
 * write is tried for a while; then one probe goes (half-open); its success closes the circuit, its
 * failure opens it again for longer (the open time grows with exponential backoff and jitter).
 *
 *               failureThreshold failures in a row
 *     CLOSED ───────────────────────────────────────► OPEN ◄──────────┐
 *       ▲                                              │              │ probe failed
 *       │ probe succeeded                              │ open time    │ (opens for longer)
 *       │                                              ▼ elapsed      │
 *       └────────────────────────────────────────── HALF_OPEN ────────┘
 *
 * The breaker decides only when a write may be tried; the runner does the waiting (and, while
 * the circuit is open, stops fetching: the log is the buffer).
 */
import { StreamsError } from '../../engine/index.ts';
import { exponentialBackoff, type Backoff, type BackoffOptions } from './backoff.ts';

export type BreakerState = 'closed' | 'open' | 'half-open';

const transitions: Readonly<Record<BreakerState, readonly BreakerState[]>> = {
  closed: ['open'],
  open: ['half-open'],
  'half-open': ['closed', 'open'],
};

export interface CircuitBreakerOptions {
  /** Failures in a row that open the circuit (default 5). */
  readonly failureThreshold?: number;
  /** How long the circuit stays open: the first time `initialMs` (default 1 s), growing to `maxMs` (default 60 s). */
  readonly open?: BackoffOptions;
  /** The clock (ms); tests pass their own. */
  readonly now?: () => number;
  /** Random numbers for the jitter; tests pass their own. */
  readonly random?: () => number;
}

export class CircuitBreaker {
  readonly failureThreshold: number;
  readonly #openTime: Backoff;
  readonly #now: () => number;
  #state: BreakerState = 'closed';
  #failures = 0;
  /** Openings since the circuit last closed: how long the next one lasts. */
  #reopenings = 0;
  #probeAt = 0;
  #probing = false;
  #listeners: ((to: BreakerState, from: BreakerState) => void)[] = [];
  /** Times the circuit opened (from closed or half-open). */
  opened = 0;

  constructor(options: CircuitBreakerOptions = {}) {
    const threshold = options.failureThreshold ?? 5;
    if (!Number.isInteger(threshold) || threshold < 1) throw new StreamsError('INVALID_ARGUMENT', `failureThreshold must be a positive integer, got ${threshold}`);
    this.failureThreshold = threshold;
    this.#openTime = exponentialBackoff({ initialMs: 1000, maxMs: 60_000, ...options.open }, options.random);
    this.#now = options.now ?? Date.now;
  }

  /** The state now (an open circuit whose time is up reads as open until `tryAcquire` probes). */
  get state(): BreakerState {
    return this.#state;
  }

  /** Failures in a row so far. */
  get consecutiveFailures(): number {
    return this.#failures;
  }

  /** When an open circuit lets a probe through (ms, the breaker's clock); 0 unless open. */
  get probeAt(): number {
    return this.#state === 'open' ? this.#probeAt : 0;
  }

  /** Calls `listener(to, from)` on every transition. */
  onTransition(listener: (to: BreakerState, from: BreakerState) => void): void {
    this.#listeners.push(listener);
  }

  /**
   * Whether a write may be tried now. Closed: yes. Open: no, until the open time is up; then the
   * circuit goes half-open and this call is the probe. Half-open: no while the probe runs.
   */
  tryAcquire(): boolean {
    if (this.#state === 'closed') return true;
    if (this.#state === 'open') {
      if (this.#now() < this.#probeAt) return false;
      this.#move('half-open');
    }
    if (this.#probing) return false;
    this.#probing = true;
    return true;
  }

  /** The write (or probe) succeeded. */
  onSuccess(): void {
    this.#failures = 0;
    if (this.#state === 'half-open') {
      this.#probing = false;
      this.#reopenings = 0;
      this.#move('closed');
    }
  }

  /** The write (or probe) failed. */
  onFailure(): void {
    this.#failures++;
    if (this.#state === 'half-open') {
      this.#probing = false;
      this.#open();
    } else if (this.#state === 'closed' && this.#failures >= this.failureThreshold) {
      this.#open();
    }
  }

  #open(): void {
    this.#probeAt = this.#now() + this.#openTime.delay(this.#reopenings++);
    this.opened++;
    this.#move('open');
  }

  #move(to: BreakerState): void {
    const from = this.#state;
    if (!transitions[from].includes(to)) throw new StreamsError('ILLEGAL_STATE', `circuit breaker cannot go from ${from} to ${to}`);
    this.#state = to;
    for (const listener of this.#listeners) listener(to, from);
  }
}
