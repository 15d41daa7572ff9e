import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { StreamsError } from '../../../engine/index.ts';
import { exponentialBackoff } from '../../../connectors/sinks/index.ts';

test('backoff doubles from initialMs up to maxMs; without jitter it is exact', () => {
  const b = exponentialBackoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
  assert.deepEqual([0, 1, 2, 3, 4, 5, 100, 5000].map((a) => b.delay(a)), [100, 200, 400, 800, 1000, 1000, 1000, 1000]);
});

test('jitter takes at most its fraction off each wait', () => {
  assert.equal(exponentialBackoff({ initialMs: 100, maxMs: 1000, jitter: 0.5 }, () => 0).delay(2), 400);
  assert.equal(exponentialBackoff({ initialMs: 100, maxMs: 1000, jitter: 0.5 }, () => 0.999999).delay(2) > 200, true);
  assert.equal(exponentialBackoff({ initialMs: 100, maxMs: 1000, jitter: 1 }, () => 0.5).delay(0), 50);
});

test('backoff options are validated before use', () => {
  for (const options of [{ initialMs: -1 }, { initialMs: 100, maxMs: 50 }, { multiplier: 0.5 }, { jitter: 2 }, { initialMs: Number.NaN }]) {
    assert.throws(() => exponentialBackoff(options), (e: unknown) => e instanceof StreamsError && e.code === 'INVALID_ARGUMENT');
  }
});

test('property: every wait is within [(1 - jitter) * ceiling, ceiling], the ceiling never falls as attempts grow, and never passes maxMs', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 10_000 }),
      fc.integer({ min: 0, max: 100_000 }),
      fc.double({ min: 1, max: 10, noNaN: true }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.array(fc.integer({ min: 0, max: 2000 }), { minLength: 1, maxLength: 20 }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      (initialMs, extra, multiplier, jitter, attempts, r) => {
        const maxMs = initialMs + extra;
        const exact = exponentialBackoff({ initialMs, maxMs, multiplier, jitter: 0 });
        const jittered = exponentialBackoff({ initialMs, maxMs, multiplier, jitter }, () => r);
        const sorted = [...attempts].sort((a, b) => a - b);
        let previous = 0;
        for (const a of sorted) {
          const ceiling = exact.delay(a);
          assert.ok(Number.isFinite(ceiling) && ceiling <= maxMs && ceiling >= previous);
          previous = ceiling;
          const d = jittered.delay(a);
          assert.ok(d <= ceiling + 1e-9 && d >= (1 - jitter) * ceiling - 1e-9, `attempt ${a}: ${d} outside [${(1 - jitter) * ceiling}, ${ceiling}]`);
        }
      },
    ),
    { numRuns: 300 },
  );
});
