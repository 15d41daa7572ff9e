import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { COMMIT_BUCKETS, LatencyHistogram, OutputLatency } from '../../../../engine/runtime/thread/latency-histogram.ts';
import { ThreadHistogram } from '../../../../engine/runtime/thread-histogram.ts';

test('a latency histogram counts each observation in the first bucket whose bound is at least it', () => {
  const h = new LatencyHistogram([0.01, 0.1, 1]);
  for (const seconds of [0.005, 0.01, 0.05, 2, 0.1]) h.observe(seconds);
  const s = h.snapshot();
  assert.deepEqual(s.counts, [2, 2, 0, 1]);
  assert.equal(s.count, 5);
  assert.ok(Math.abs(s.sum - 2.165) < 1e-9);
});

test('end-to-end latency is kept per output topic, never for repartition topics', () => {
  const latency = new OutputLatency(['counts-repartition']);
  latency.observe('word-counts', 1_000, 1_250);
  latency.observe('counts-repartition', 1_000, 1_250);
  latency.observe('word-counts', 1_000, 1_000 + 3_600_001);
  const snapshot = latency.snapshot();
  assert.deepEqual(Object.keys(snapshot), ['word-counts']);
  assert.equal(snapshot['word-counts']!.count, 2);
  assert.equal(snapshot['word-counts']!.counts.at(-1), 1, 'over an hour: above every bound');
});

test('the threads\' histograms add up bucket by bucket into one Prometheus histogram per label set', async () => {
  const a = new LatencyHistogram(COMMIT_BUCKETS);
  const b = new LatencyHistogram(COMMIT_BUCKETS);
  a.observe(0.002);
  b.observe(0.002);
  b.observe(3);
  const registry = new Registry();
  new ThreadHistogram({
    name: 'x_seconds',
    help: 'x',
    registry,
    collect: async () => [
      { labels: { thread: '0' }, snapshot: a.snapshot() },
      { labels: { thread: '0' }, snapshot: b.snapshot() },
      { labels: { thread: '1' }, snapshot: b.snapshot() },
    ],
  });
  const text = await registry.metrics();
  assert.match(text, /# TYPE x_seconds histogram/);
  assert.match(text, /^x_seconds_bucket\{thread="0",le="0.001"\} 0$/m);
  assert.match(text, /^x_seconds_bucket\{thread="0",le="0.0025"\} 2$/m);
  assert.match(text, /^x_seconds_bucket\{thread="0",le="2.5"\} 2$/m);
  assert.match(text, /^x_seconds_bucket\{thread="0",le="5"\} 3$/m);
  assert.match(text, /^x_seconds_bucket\{thread="0",le="\+Inf"\} 3$/m);
  assert.match(text, /^x_seconds_count\{thread="0"\} 3$/m);
  assert.ok(Math.abs(Number(/^x_seconds_sum\{thread="0"\} (.+)$/m.exec(text)![1]) - 3.004) < 1e-9);
  assert.match(text, /^x_seconds_count\{thread="1"\} 2$/m);
});
