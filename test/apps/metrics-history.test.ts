import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MetricsHistory, RingBuffer, type CounterSource } from '../../apps/metrics-history.ts';

test('a ring buffer keeps the newest items up to its capacity, oldest first', () => {
  const ring = new RingBuffer<number>(3);
  assert.deepEqual(ring.toArray(), []);
  ring.push(1);
  ring.push(2);
  assert.deepEqual(ring.toArray(), [1, 2]);
  for (let i = 3; i <= 10; i++) ring.push(i);
  assert.deepEqual([ring.toArray(), ring.size], [[8, 9, 10], 3]);
  assert.throws(() => new RingBuffer(0), RangeError);
});

test('the metrics history turns counters into rates, bounded, with gaps and counter resets handled', async () => {
  let clock = 1_000_000;
  let counters: CounterSource | undefined = { processed: 0, tasks: [{ lag: 5, streamTime: null }] };
  const history = new MetricsHistory(async () => counters, { capacity: 3, now: () => clock });
  await history.sample(); // the baseline: no point yet
  assert.deepEqual(history.samples(), []);
  clock += 2000;
  counters = { processed: 400, tasks: [{ lag: 7, streamTime: clock - 1500 }, { lag: 3, streamTime: clock - 9000 }] };
  await history.sample();
  assert.deepEqual(history.samples(), [{ at: clock, processedPerSec: 200, lag: 10, eventTimeLagMs: 1500 }]);
  // The app is not RUNNING: no point, and the next one is a new baseline (no rate across the gap).
  clock += 2000;
  counters = undefined;
  await history.sample();
  clock += 2000;
  counters = { processed: 1000, tasks: [] };
  await history.sample();
  assert.equal(history.samples().length, 1);
  // A thread restarted: its counter went down; the rate counts from zero, never negative.
  clock += 1000;
  counters = { processed: 50, tasks: [] };
  await history.sample();
  assert.deepEqual(history.samples().at(-1), { at: clock, processedPerSec: 50, lag: 0, eventTimeLagMs: null });
  for (let i = 0; i < 10; i++) {
    clock += 1000;
    counters = { processed: 50 + (i + 1) * 10, tasks: [] };
    await history.sample();
  }
  assert.deepEqual(history.samples().map((s) => s.processedPerSec), [10, 10, 10], 'only the newest samples are kept');
});
