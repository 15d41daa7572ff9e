import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { EmbeddedLog } from '../../../connectors/embedded/index.ts';
import { Serdes, StreamsError, type Log } from '../../../engine/index.ts';
import {
  SinkRunner,
  registerSinkMetrics,
  type PositionStore,
  type Sink,
  type SinkBatch,
  type SinkGuarantee,
  type SinkPositions,
  type SinkRecord,
  type SinkRunnerOptions,
} from '../../../connectors/sinks/index.ts';

/**
 * A target in memory that can be taken down. With positions in the target it keeps them with the
 * rows, atomically, and skips records below them (as the PostgreSQL sink does in its transaction).
 */
class FakeTarget implements Sink<string, string> {
  readonly name: string;
  readonly guarantee: SinkGuarantee;
  readonly positions: PositionStore;
  up = true;
  /** Fail this many writes with a non-retryable error. */
  poison = false;
  /** The next write lands, but its caller hears a failure (a commit whose answer was lost). */
  loseNextAnswer = false;
  rows: SinkRecord<string, string>[] = [];
  batches: SinkBatch<string, string>[] = [];
  stored = new Map<number, number>();
  attempts = 0;
  opens = 0;
  closed = false;

  constructor(options: { name?: string; guarantee?: SinkGuarantee; positions?: PositionStore } = {}) {
    this.name = options.name ?? 'fake';
    this.guarantee = options.guarantee ?? 'at-least-once';
    this.positions = options.positions ?? 'log';
  }

  async open(): Promise<SinkPositions | void> {
    this.opens++;
    if (!this.up) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    return this.positions === 'target' ? new Map(this.stored) : undefined;
  }

  async write(batch: SinkBatch<string, string>): Promise<void> {
    this.attempts++;
    await sleep(1);
    if (!this.up) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    if (this.poison) throw new StreamsError('SINK_WRITE_FAILED', 'value too long for column', { canRetry: false });
    this.batches.push(batch);
    for (const part of batch.parts) {
      const from = this.positions === 'target' ? (this.stored.get(part.partition) ?? 0) : 0;
      for (const r of part.records) if (r.offset >= from) this.rows.push(r);
      if (this.positions === 'target') this.stored.set(part.partition, Math.max(from, part.nextOffset));
    }
    if (this.loseNextAnswer) {
      this.loseNextAnswer = false;
      throw Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Rows by partition, as `p@offset` in arrival order. */
  arrival(partition: number): number[] {
    return this.rows.filter((r) => r.partition === partition).map((r) => r.offset);
  }
}

async function withLog(partitions: number, body: (log: Log, produce: (n: number, from?: number) => Promise<void>) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-sink-runner-'));
  const log = await EmbeddedLog.open({ dir, cleanIntervalMs: 0, fsync: false });
  let produced = 0;
  try {
    await log.createTopic('out', { partitions, cleanupPolicy: 'delete' });
    const produce = async (n: number) => {
      const byPartition = new Map<number, { key: Uint8Array; value: Uint8Array; timestamp: number }[]>();
      for (let i = 0; i < n; i++) {
        const id = produced++;
        const p = id % partitions;
        let list = byPartition.get(p);
        if (list === undefined) byPartition.set(p, (list = []));
        list.push({ key: Buffer.from(`k${id % 7}`), value: Buffer.from(`v${id}`), timestamp: 1_000_000 + id });
      }
      await log.produce([...byPartition].map(([partition, records]) => ({ topic: 'out', partition, records })));
    };
    await body(log, produce);
  } finally {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const fast = {
  pollIntervalMs: 5,
  batch: { lingerMs: 5 },
  retry: { initialMs: 5, maxMs: 20 },
  breaker: { failureThreshold: 3, open: { initialMs: 30, maxMs: 60 } },
} satisfies Partial<SinkRunnerOptions<string, string>>;

function runner(log: Log, sink: Sink<string, string>, options: Partial<SinkRunnerOptions<string, string>> = {}) {
  return new SinkRunner({ log, topic: 'out', sink, keySerde: Serdes.string(), valueSerde: Serdes.string(), ...fast, ...options });
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const ends = (partitions: number, total: number) => new Map(Array.from({ length: partitions }, (_, p) => [p, Math.floor(total / partitions) + (p < total % partitions ? 1 : 0)]));

test('the runner writes every record once, in offset order per partition, in batches of at most maxRecords, and commits its positions to its group', async () => {
  await withLog(3, async (log, produce) => {
    await produce(250);
    const target = new FakeTarget();
    const r = runner(log, target, { batch: { maxRecords: 40, lingerMs: 10 } });
    await r.start();
    assert.equal(r.state, 'RUNNING');
    await produce(50);
    await r.waitFor(ends(3, 300));
    for (let p = 0; p < 3; p++) assert.deepEqual(target.arrival(p), Array.from({ length: 100 }, (_, i) => i));
    assert.ok(target.batches.every((b) => b.size <= 40));
    assert.ok(target.batches.length >= 8);
    assert.equal(target.rows[0]!.key, 'k0');
    assert.equal(target.rows[0]!.value, 'v0');
    await r.close();
    assert.equal(r.state, 'CLOSED');
    assert.equal(target.closed, true);
    assert.deepEqual(await log.committedOffsets('sink-fake'), new Map([['out:0', 100], ['out:1', 100], ['out:2', 100]]));
    const s = r.status();
    assert.equal(s.counters.recordsWritten, 300);
    assert.equal(s.lag, 0);

    // A new runner resumes from the committed positions: nothing is written twice.
    await produce(6);
    const again = new FakeTarget();
    const r2 = runner(log, again);
    await r2.start();
    await r2.waitFor(ends(3, 306));
    await r2.close();
    assert.deepEqual(again.rows.map((x) => `${x.partition}@${x.offset}`).sort(), ['0@100', '0@101', '1@100', '1@101', '2@100', '2@101']);
  });
});

test('batching by time: a few records wait lingerMs and go as one batch', async () => {
  await withLog(1, async (log, produce) => {
    const target = new FakeTarget();
    const r = runner(log, target, { batch: { maxRecords: 1000, lingerMs: 300 } });
    await r.start();
    const started = Date.now();
    await produce(3);
    await sleep(60);
    await produce(2);
    await r.waitFor(new Map([[0, 5]]));
    const waited = Date.now() - started;
    await r.close();
    assert.equal(target.batches.length, 1, 'one batch');
    assert.equal(target.batches[0]!.size, 5);
    assert.ok(waited >= 250, `the batch waited for the linger time (${waited} ms)`);
  });
});

test('an outage: retries with backoff, the breaker opens, fetching stops (one batch in memory) while the log grows, and the runner catches up when the target returns', async () => {
  await withLog(2, async (log, produce) => {
    const target = new FakeTarget();
    const r = runner(log, target, { batch: { maxRecords: 50, lingerMs: 5 } });
    const breaker: string[] = [];
    const states: string[] = [];
    r.onEvent((e) => {
      if (e.kind === 'breaker') breaker.push(e.to);
      if (e.kind === 'state') states.push(e.to);
    });
    await r.start();
    await produce(100);
    await r.waitFor(ends(2, 100));

    target.up = false;
    await produce(400);
    await until('the breaker to open', () => r.status().breaker === 'open');
    assert.equal(r.state, 'PAUSED');
    const fetches = r.status().counters.fetches;
    // While down: more records arrive, nothing more is fetched, at most one batch is held, probes keep failing.
    for (let i = 0; i < 5; i++) {
      await produce(100);
      await sleep(100);
      const s = r.status();
      assert.ok(s.inFlight <= 50, `in memory: ${s.inFlight}`);
      assert.equal(s.counters.fetches, fetches, 'no fetch while the target is down');
    }
    await sleep(1500); // the lag is refreshed once a second while paused
    const down = r.status();
    assert.equal(down.lag, 900, 'the lag shows what waits in the log');
    assert.ok(down.counters.breakerOpened >= 2, 'failed probes open the circuit again');
    assert.equal(down.lastError?.code, 'ECONNREFUSED');
    assert.equal(target.rows.length, 100);

    target.up = true;
    await r.waitFor(ends(2, 1000));
    const s = r.status();
    assert.equal(s.state, 'RUNNING');
    assert.equal(s.breaker, 'closed');
    assert.equal(s.lag, 0);
    for (let p = 0; p < 2; p++) assert.deepEqual(target.arrival(p), Array.from({ length: 500 }, (_, i) => i), 'nothing lost, nothing twice, in order');
    assert.ok(breaker.includes('open') && breaker.includes('half-open') && breaker.at(-1) === 'closed');
    assert.deepEqual(states.slice(0, 2), ['STARTING', 'RUNNING']);
    assert.ok(states.includes('PAUSED'));
    await r.close();
  });
});

test('a target down at start: the runner starts PAUSED, keeps trying, and runs once the target is up', async () => {
  await withLog(1, async (log, produce) => {
    await produce(10);
    const target = new FakeTarget();
    target.up = false;
    const r = runner(log, target);
    await r.start();
    assert.equal(r.state, 'PAUSED');
    await sleep(50);
    assert.ok(target.opens >= 2);
    target.up = true;
    await r.waitFor(new Map([[0, 10]]));
    assert.equal(r.state, 'RUNNING');
    await r.close();
    assert.equal(target.rows.length, 10);
  });
});

test('positions in the target: a write whose answer was lost is retried, and the target skips what it already holds (exactly once); a new runner resumes from the target', async () => {
  await withLog(2, async (log, produce) => {
    await produce(40);
    const target = new FakeTarget({ name: 'warehouse', guarantee: 'exactly-once', positions: 'target' });
    target.loseNextAnswer = true;
    const r = runner(log, target, { batch: { maxRecords: 10, lingerMs: 1 } });
    await r.start();
    await r.waitFor(ends(2, 40));
    await r.close();
    assert.ok(r.status().counters.writeFailures >= 1);
    for (let p = 0; p < 2; p++) assert.deepEqual(target.arrival(p), Array.from({ length: 20 }, (_, i) => i));
    assert.deepEqual(await log.committedOffsets('sink-warehouse'), new Map([['out:0', 20], ['out:1', 20]]), 'a copy in the log for lag tools');

    // The log's copy is not what the runner trusts: rewind it, and the target's positions still win.
    await log.commitOffsets('sink-warehouse', new Map([['out:0', 0], ['out:1', 0]]));
    await produce(4);
    const r2 = runner(log, target);
    await r2.start();
    await r2.waitFor(ends(2, 44));
    await r2.close();
    for (let p = 0; p < 2; p++) assert.deepEqual(target.arrival(p), Array.from({ length: 22 }, (_, i) => i));
  });
});

test('an error the sink cannot retry stops the runner in FAILED, with the error in its status', async () => {
  await withLog(1, async (log, produce) => {
    await produce(5);
    const target = new FakeTarget();
    target.poison = true;
    const r = runner(log, target);
    await r.start();
    await until('FAILED', () => r.state === 'FAILED');
    assert.equal(r.status().lastError?.code, 'SINK_WRITE_FAILED');
    assert.equal(target.attempts, 1, 'not retried');
    await assert.rejects(r.waitFor(new Map([[0, 5]])), (e: unknown) => e instanceof StreamsError && e.code === 'ILLEGAL_STATE');
    await r.close();
    assert.equal(r.state, 'CLOSED');
    assert.deepEqual(await log.committedOffsets('sink-fake'), new Map(), 'nothing committed');
  });
});

test('undecodable records stop the runner, or are skipped and counted with onDeserializationError: skip', async () => {
  await withLog(1, async (log) => {
    await log.produce([{ topic: 'out', partition: 0, records: [1, 2, 3].map((n) => ({ key: null, value: Buffer.from(JSON.stringify(n === 2 ? '{' : n)).subarray(0, n === 2 ? 1 : undefined), timestamp: n })) }]);
    const json = Serdes.json<number>();
    const make = (sink: FakeTarget, skip: boolean) =>
      new SinkRunner({ log, topic: 'out', sink: sink as unknown as Sink<string, number>, keySerde: Serdes.string(), valueSerde: json, ...fast, ...(skip && { onDeserializationError: 'skip' as const }) });
    const failing = make(new FakeTarget({ name: 'a' }), false);
    await failing.start();
    await until('FAILED', () => failing.state === 'FAILED');
    assert.equal(failing.status().lastError?.code, 'DESERIALIZATION_FAILED');
    await failing.close();

    const target = new FakeTarget({ name: 'b' });
    const skipping = make(target, true);
    await skipping.start();
    await skipping.waitFor(new Map([[0, 3]]));
    await skipping.close();
    assert.deepEqual(
      target.rows.map((x) => x.value),
      [1, 3],
    );
    assert.equal(skipping.status().counters.recordsSkipped, 1);
  });
});

test('a sink that stages: only the positions it reports durable are committed, the rest is flushed at close', async () => {
  await withLog(1, async (log, produce) => {
    await produce(30);
    const staged: SinkRecord<string, string>[] = [];
    const files: number[][] = [];
    let durable = 0;
    const finish = () => {
      if (staged.length > 0) files.push(staged.splice(0).map((r) => r.offset));
      durable = (files.at(-1)?.at(-1) ?? -1) + 1;
      return new Map([[0, durable]]);
    };
    const lake: Sink<string, string> = {
      name: 'lake',
      guarantee: 'idempotent',
      positions: 'log',
      async open() {},
      async write(batch) {
        for (const part of batch.parts) staged.push(...part.records);
        // Rolls a file every 25 records; the rest stays staged.
        if (staged.length >= 25) return finish();
        return new Map([[0, durable]]);
      },
      async flush(reason) {
        return reason === 'close' ? finish() : new Map([[0, durable]]);
      },
      async close() {},
    };
    const r = runner(log, lake, { batch: { maxRecords: 10, lingerMs: 1 } });
    await r.start();
    await r.waitFor(new Map([[0, 20]])); // the first roll at 30 records: positions jump from 0 to 30
    await until('everything read', () => r.status().inFlight === 0 && staged.length + files.flat().length === 30);
    assert.deepEqual(await log.committedOffsets('sink-lake'), new Map([['out:0', 30]]));
    await produce(5);
    await until('staged', () => staged.length === 5);
    assert.deepEqual(await log.committedOffsets('sink-lake'), new Map([['out:0', 30]]), 'staged records are not committed');
    await r.close();
    assert.deepEqual(await log.committedOffsets('sink-lake'), new Map([['out:0', 35]]), 'flushed and committed at close');
    assert.deepEqual(files.map((f) => [f[0], f.length]), [
      [0, 30],
      [30, 5],
    ]);
  });
});

test('options are checked before any I/O; a missing topic fails the start with UNKNOWN_TOPIC', async () => {
  await withLog(1, async (log) => {
    const code = (c: string) => (e: unknown) => e instanceof StreamsError && e.code === c;
    assert.throws(() => runner(log, new FakeTarget({ guarantee: 'exactly-once', positions: 'log' })), code('INVALID_ARGUMENT'));
    assert.throws(() => runner(log, new FakeTarget(), { pollIntervalMs: 0 }), code('INVALID_ARGUMENT'));
    assert.throws(() => runner(log, new FakeTarget(), { batch: { maxRecords: 0 } }), code('INVALID_ARGUMENT'));
    assert.throws(() => new SinkRunner({ log, topic: 'out', sink: new FakeTarget() } as unknown as SinkRunnerOptions<string, string>), code('MISSING_SERDE'));
    const r = runner(log, new FakeTarget(), { topic: 'nope' });
    await assert.rejects(r.start(), code('UNKNOWN_TOPIC'));
    assert.equal(r.state, 'FAILED');
    await r.close();
    await assert.rejects(runner(log, new FakeTarget(), { partitions: [3] }).start(), code('INVALID_ARGUMENT'));
  });
});

test('metrics: state, breaker, lag, counters and a write-latency histogram per sink, current at each scrape', async () => {
  await withLog(1, async (log, produce) => {
    await produce(20);
    const target = new FakeTarget({ name: 'm' });
    const r = runner(log, target);
    const registry = new Registry();
    registerSinkMetrics(registry, [r as unknown as SinkRunner<unknown, unknown>]);
    await r.start();
    await r.waitFor(new Map([[0, 20]]));
    let text = await registry.metrics();
    assert.match(text, /tributary_sink_records_written_total\{sink="m"\} 20/);
    assert.match(text, /tributary_sink_state\{sink="m",state="RUNNING"\} 1/);
    assert.match(text, /tributary_sink_breaker_state\{sink="m",state="closed"\} 1/);
    assert.match(text, /tributary_sink_lag\{sink="m"\} 0/);
    assert.match(text, /tributary_sink_write_duration_seconds_count\{sink="m",outcome="ok"\} [1-9]/);
    assert.match(text, /# TYPE tributary_sink_records_written_total counter/);
    target.up = false;
    await produce(5);
    await until('open', () => r.status().breaker === 'open');
    text = await registry.metrics();
    assert.match(text, /tributary_sink_breaker_state\{sink="m",state="open"\} 1/);
    assert.match(text, /tributary_sink_state\{sink="m",state="PAUSED"\} 1/);
    assert.match(text, /tributary_sink_write_failures_total\{sink="m"\} [3-9]/);
    await r.close();
  });
});
