import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLog } from '../../../connectors/embedded/index.ts';
import { SinkRunner, registerSinkMetrics, type Sink } from '../../../connectors/sinks/index.ts';
import { Serdes, StreamsApp } from '../../../index.ts';

const module = new URL('./fixtures/word-count.ts', import.meta.url);

async function until(check: () => Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The sum of every sample of `name` (any labels) in Prometheus text. */
function total(text: string, name: string): number {
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
}

async function withApp(http: boolean, fn: (app: StreamsApp, log: EmbeddedLog, dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-metrics-'));
  const log = await EmbeddedLog.open({ dir: join(dir, 'log') });
  await log.createTopic('sentences', { partitions: 2, cleanupPolicy: 'delete' });
  await log.createTopic('word-counts', { partitions: 2, cleanupPolicy: 'delete' });
  const app = new StreamsApp({ module }, { applicationId: 'wc-metrics', log, cacheMaxBytes: 0, threads: 2, stateDir: join(dir, 'state'), ...(http && { http: { port: 0 } }) });
  try {
    await app.start();
    await fn(app, log, dir);
  } finally {
    await app.close();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function sentence(log: EmbeddedLog, n: number): Promise<void> {
  await log.produce([{ topic: 'sentences', partition: n % 2, records: [{ key: Buffer.from(`s${n}`), value: Buffer.from(`w${n} common`), timestamp: Date.now() }] }]);
}

test('the registry is current at every scrape, whoever scrapes it (collected on scrape, no value kept from the last one)', async () => {
  await withApp(false, async (app, log) => {
    const registry = app.metricsRegistry;
    assert.equal(total(await registry.metrics(), 'tributary_records_in_total'), 0);
    // Scrape after scrape, each right after the records were processed: each shows them all.
    // (A value refreshed after collecting, or by the previous scrape, shows the one before.)
    for (let n = 1; n <= 4; n++) {
      await sentence(log, n);
      // Both words counted: 'common' alone could be counted before w<n> (two records of the repartition topic).
      await until(async () => (await app.get<number>('counts', 'common')) === n && (await app.get<number>('counts', `w${n}`)) === 1, `sentence ${n} counted`);
      const text = await registry.metrics();
      // Each sentence is read once, and its two words once each from the repartition topic.
      assert.equal(total(text, 'tributary_records_in_total'), 3 * n, `scrape ${n}:\n${text}`);
      assert.equal(total(text, 'tributary_records_out_total'), 4 * n);
    }
    assert.match(await registry.metrics(), /# TYPE tributary_records_in_total counter/);
  });
});

test('latencies are histograms: commits, end to end per output topic, HTTP requests per route; stream time for freshness', async () => {
  await withApp(true, async (app, log) => {
    const base = `http://127.0.0.1:${app.httpAddress!.port}`;
    await sentence(log, 1);
    await until(async () => (await app.get<number>('counts', 'common')) === 1, 'counted');
    await fetch(`${base}/stores/counts/keys/common`);
    // Outputs reach the histogram when they are written, commits when they complete.
    await until(async () => total(await app.metricsRegistry.metrics(), 'tributary_commit_latency_seconds_count') > 0, 'a commit');
    const text = await (await fetch(`${base}/metrics`)).text();
    assert.match(text, /# TYPE tributary_commit_latency_seconds histogram/);
    assert.equal(total(text, 'tributary_commit_latency_seconds_count'), total(text, 'tributary_commits_total'));
    assert.match(text, /tributary_commit_latency_seconds_bucket\{thread="\d+",le="\+Inf"\} [1-9]/);
    assert.doesNotMatch(text, /_avg/, 'no averages');
    // Two counts written to word-counts; nothing measured on the repartition topic.
    assert.match(text, /# TYPE tributary_record_e2e_latency_seconds histogram/);
    assert.equal(total(text, 'tributary_record_e2e_latency_seconds_count'), 2);
    assert.match(text, /tributary_record_e2e_latency_seconds_count\{topic="word-counts",thread="\d+"\} /);
    assert.doesNotMatch(text, /tributary_record_e2e_latency_seconds_count\{topic="[^"]*repartition/);
    const byThread = new Map<string, number[]>();
    for (const [, thread, count] of text.matchAll(/^tributary_record_e2e_latency_seconds_bucket\{topic="word-counts",thread="(\d+)",le="[^"]+"\} (\d+)$/gm)) {
      byThread.set(thread!, [...(byThread.get(thread!) ?? []), Number(count)]);
    }
    for (const buckets of byThread.values()) {
      assert.equal(buckets.length, 17, 'every bucket and +Inf');
      assert.deepEqual(buckets, [...buckets].sort((a, b) => a - b), 'cumulative buckets');
    }
    assert.match(text, /tributary_http_request_duration_seconds_bucket\{le="[^"]+",route="\/stores",status="200"\} 1/);
    const now = Date.now() / 1000;
    const streamTimes = [...text.matchAll(/^tributary_stream_time_seconds\{task="[^"]+"\} ([0-9.e+]+)$/gm)].map((m) => Number(m[1]));
    assert.ok(streamTimes.length > 0 && streamTimes.every((t) => t <= now && t > now - 60), `stream times ${streamTimes.join(', ')}`);
    assert.match(text, /tributary_state\{state="RUNNING"\} 1/);
    assert.match(text, /tributary_state\{state="ERROR"\} 0/);
    // Each stream thread's own heap (a worker's isolate), one series per thread.
    const heaps = [...text.matchAll(/^tributary_thread_heap_used_bytes\{thread="(\d+)"\} (\d+)$/gm)];
    assert.equal(heaps.length, 2, 'two threads');
    for (const [, , used] of heaps) assert.ok(Number(used) > 1e6 && Number(used) <= total(text, 'tributary_thread_heap_total_bytes'), `heap ${used}`);
  });
});

test('a sink runner registered on app.metricsRegistry is served on the same /metrics', async () => {
  await withApp(true, async (app, log) => {
    const written: unknown[] = [];
    const sink: Sink<string, Uint8Array> = {
      name: 'counts-copy',
      guarantee: 'at-least-once',
      positions: 'log',
      open: async () => {},
      write: async (batch) => void written.push(...batch.parts.flatMap((p) => p.records)),
      close: async () => {},
    };
    const runner = new SinkRunner({ log, topic: 'word-counts', sink, keySerde: Serdes.string(), valueSerde: Serdes.bytes() });
    registerSinkMetrics(app.metricsRegistry, [runner]);
    await runner.start();
    try {
      await sentence(log, 1);
      await until(async () => written.length === 2, 'the sink wrote both counts');
      const text = await (await fetch(`http://127.0.0.1:${app.httpAddress!.port}/metrics`)).text();
      assert.match(text, /tributary_sink_records_written_total\{sink="counts-copy"\} 2/);
      assert.match(text, /tributary_sink_state\{sink="counts-copy",state="RUNNING"\} 1/);
      assert.match(text, /tributary_records_in_total\{task="/);
    } finally {
      await runner.close();
    }
  });
});
