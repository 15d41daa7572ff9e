import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StreamsBuilder, Serdes, TimeWindows, SessionWindows, SlidingWindows, JoinWindows, Materialized } from '../../index.ts';

const INVALID = { code: 'INVALID_WINDOW' };

describe('window validation', () => {
  describe('TimeWindows', () => {
    test('a size of 0 or less is INVALID_WINDOW', () => {
      assert.throws(() => TimeWindows.ofSizeWithNoGrace(0), INVALID);
      assert.throws(() => TimeWindows.ofSizeWithNoGrace(-5), INVALID);
      assert.throws(() => TimeWindows.ofSizeAndGrace(0, 10), INVALID);
    });

    test('a negative grace is INVALID_WINDOW; 0 is fine', () => {
      assert.throws(() => TimeWindows.ofSizeAndGrace(100, -1), INVALID);
      assert.equal(TimeWindows.ofSizeAndGrace(100, 0).graceMs, 0);
    });

    test('non-integer or non-finite durations are INVALID_WINDOW', () => {
      assert.throws(() => TimeWindows.ofSizeWithNoGrace(1.5), INVALID);
      assert.throws(() => TimeWindows.ofSizeWithNoGrace(Number.NaN), INVALID);
      assert.throws(() => TimeWindows.ofSizeWithNoGrace(Number.POSITIVE_INFINITY), INVALID);
    });

    test('advanceBy must be in (0, size]', () => {
      const w = TimeWindows.ofSizeWithNoGrace(100);
      assert.throws(() => w.advanceBy(101), INVALID);
      assert.throws(() => w.advanceBy(0), INVALID);
      assert.throws(() => w.advanceBy(-10), INVALID);
      assert.equal(w.advanceBy(100).advanceMs, 100); // advance == size: tumbling
      const hopping = w.advanceBy(25);
      assert.deepEqual([hopping.sizeMs, hopping.advanceMs, hopping.graceMs], [100, 25, 0]);
    });

    test('valid windows keep their parameters; advanceBy keeps the grace', () => {
      const w = TimeWindows.ofSizeAndGrace(1, 0);
      assert.deepEqual([w.sizeMs, w.advanceMs, w.graceMs], [1, 1, 0]);
      const h = TimeWindows.ofSizeAndGrace(60, 7).advanceBy(20);
      assert.deepEqual([h.sizeMs, h.advanceMs, h.graceMs], [60, 20, 7]);
    });
  });

  describe('SessionWindows', () => {
    test('an inactivity gap of 0 or less is INVALID_WINDOW', () => {
      assert.throws(() => SessionWindows.ofInactivityGapWithNoGrace(0), INVALID);
      assert.throws(() => SessionWindows.ofInactivityGapWithNoGrace(-1), INVALID);
      assert.throws(() => SessionWindows.ofInactivityGapAndGrace(0, 5), INVALID);
    });

    test('a negative grace is INVALID_WINDOW', () => {
      assert.throws(() => SessionWindows.ofInactivityGapAndGrace(10, -1), INVALID);
      const s = SessionWindows.ofInactivityGapAndGrace(10, 0);
      assert.deepEqual([s.inactivityGapMs, s.graceMs], [10, 0]);
    });
  });

  describe('SlidingWindows and JoinWindows', () => {
    test('a negative time difference or grace is INVALID_WINDOW', () => {
      assert.throws(() => SlidingWindows.ofTimeDifferenceWithNoGrace(-1), INVALID);
      assert.throws(() => SlidingWindows.ofTimeDifferenceAndGrace(10, -1), INVALID);
      assert.throws(() => JoinWindows.ofTimeDifferenceWithNoGrace(-1), INVALID);
      assert.throws(() => JoinWindows.ofTimeDifferenceAndGrace(10, -1), INVALID);
    });

    test('JoinWindows: before + after must not be negative', () => {
      const w = JoinWindows.ofTimeDifferenceWithNoGrace(10);
      assert.throws(() => w.before(-11), INVALID); // -11 + 10 < 0
      assert.doesNotThrow(() => w.before(-10)); // -10 + 10 == 0
      assert.throws(() => w.after(-11), INVALID);
    });
  });

  describe('windowed stores', () => {
    test('a retention shorter than window size + grace is INVALID_WINDOW when the aggregation is defined', () => {
      const b = new StreamsBuilder();
      const grouped = b.stream('in', { key: Serdes.string(), value: Serdes.string() }).groupByKey();
      assert.throws(
        () => grouped.windowedBy(TimeWindows.ofSizeAndGrace(100, 50)).count({ materialized: Materialized.as('w', { retentionMs: 149 }) }),
        INVALID,
      );
      assert.doesNotThrow(() =>
        grouped.windowedBy(TimeWindows.ofSizeAndGrace(100, 50)).count({ materialized: Materialized.as('w2', { retentionMs: 150 }) }),
      );
    });
  });
});
