import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { StreamsError } from '../../../engine/index.ts';
import { CircuitBreaker, type BreakerState } from '../../../connectors/sinks/index.ts';

function clock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

test('the circuit opens after failureThreshold failures in a row, lets one probe through after the open time, and closes on its success', () => {
  const c = clock();
  const breaker = new CircuitBreaker({ failureThreshold: 3, open: { initialMs: 1000, maxMs: 8000, jitter: 0 }, now: c.now });
  const seen: string[] = [];
  breaker.onTransition((to, from) => seen.push(`${from}->${to}`));
  assert.equal(breaker.tryAcquire(), true);
  breaker.onFailure();
  breaker.onFailure();
  breaker.onSuccess(); // a success in between resets the count
  breaker.onFailure();
  breaker.onFailure();
  assert.equal(breaker.state, 'closed');
  breaker.onFailure();
  assert.equal(breaker.state, 'open');
  assert.equal(breaker.probeAt, 1000);
  assert.equal(breaker.tryAcquire(), false);
  c.advance(999);
  assert.equal(breaker.tryAcquire(), false);
  c.advance(1);
  assert.equal(breaker.tryAcquire(), true, 'the probe');
  assert.equal(breaker.state, 'half-open');
  assert.equal(breaker.tryAcquire(), false, 'one probe at a time');
  breaker.onFailure();
  assert.equal(breaker.state, 'open');
  assert.equal(breaker.probeAt, 1000 + 2000, 'opens for longer after a failed probe');
  c.advance(2000);
  assert.equal(breaker.tryAcquire(), true);
  breaker.onSuccess();
  assert.equal(breaker.state, 'closed');
  assert.equal(breaker.opened, 2);
  assert.deepEqual(seen, ['closed->open', 'open->half-open', 'half-open->open', 'open->half-open', 'half-open->closed']);
  // After closing, the next opening is short again.
  for (let i = 0; i < 3; i++) breaker.onFailure();
  assert.equal(breaker.probeAt, c.now() + 1000);
});

test('breaker options are validated', () => {
  assert.throws(() => new CircuitBreaker({ failureThreshold: 0 }), (e: unknown) => e instanceof StreamsError && e.code === 'INVALID_ARGUMENT');
  assert.throws(() => new CircuitBreaker({ open: { initialMs: -5 } }), (e: unknown) => e instanceof StreamsError && e.code === 'INVALID_ARGUMENT');
});

/** The model: the breaker's rules written as plainly as possible. */
class Model {
  state: BreakerState = 'closed';
  failures = 0;
  reopenings = 0;
  probeAt = 0;
  probing = false;
  opened = 0;
  readonly threshold: number;
  readonly initialMs: number;
  readonly maxMs: number;
  constructor(threshold: number, initialMs: number, maxMs: number) {
    this.threshold = threshold;
    this.initialMs = initialMs;
    this.maxMs = maxMs;
  }
  open(now: number) {
    this.state = 'open';
    this.probeAt = now + Math.min(this.maxMs, this.initialMs * 2 ** this.reopenings++);
    this.opened++;
  }
  acquire(now: number): boolean {
    if (this.state === 'closed') return true;
    if (this.state === 'open' && now >= this.probeAt) this.state = 'half-open';
    if (this.state === 'open' || this.probing) return false;
    this.probing = true;
    return true;
  }
  success() {
    this.failures = 0;
    if (this.state === 'half-open') Object.assign(this, { state: 'closed', probing: false, reopenings: 0 });
  }
  failure(now: number) {
    this.failures++;
    if (this.state === 'half-open') {
      this.probing = false;
      this.open(now);
    } else if (this.state === 'closed' && this.failures >= this.threshold) this.open(now);
  }
}

type Step = { kind: 'acquire' } | { kind: 'success' } | { kind: 'failure' } | { kind: 'advance'; ms: number };

test('property: the breaker follows its model over any sequence of attempts, outcomes and elapsed time', () => {
  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.constant({ kind: 'acquire' as const }),
    fc.constant({ kind: 'success' as const }),
    fc.constant({ kind: 'failure' as const }),
    fc.integer({ min: 0, max: 5000 }).map((ms) => ({ kind: 'advance' as const, ms })),
  );
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 0, max: 20_000 }), fc.array(step, { maxLength: 120 }), (threshold, initialMs, extra, steps) => {
      const c = clock();
      const maxMs = initialMs + extra;
      const breaker = new CircuitBreaker({ failureThreshold: threshold, open: { initialMs, maxMs, jitter: 0 }, now: c.now });
      const model = new Model(threshold, initialMs, maxMs);
      const transitions: string[] = [];
      breaker.onTransition((to, from) => transitions.push(`${from}->${to}`));
      for (const s of steps) {
        // Outcomes are only reported for attempts that were let through, as the runner does.
        if (s.kind === 'acquire') assert.equal(breaker.tryAcquire(), model.acquire(c.now()));
        else if (s.kind === 'advance') c.advance(s.ms);
        else if (model.state !== 'open' && (model.state === 'closed' || model.probing)) {
          if (s.kind === 'success') {
            breaker.onSuccess();
            model.success();
          } else {
            breaker.onFailure();
            model.failure(c.now());
          }
        }
        assert.equal(breaker.state, model.state);
        assert.equal(breaker.probeAt, model.state === 'open' ? model.probeAt : 0);
        assert.equal(breaker.opened, model.opened);
      }
      // Every transition the breaker made is one its table allows.
      const allowed = new Set(['closed->open', 'open->half-open', 'half-open->closed', 'half-open->open']);
      for (const t of transitions) assert.ok(allowed.has(t), t);
    }),
    { numRuns: 300 },
  );
});
