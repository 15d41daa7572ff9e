/**
 * KStream.toSink: under the driver the sink's topic is an output like any other; in a StreamsApp,
 * startSinks runs a SinkRunner per declared sink (exactly once into DuckDB here, across a restart),
 * deletes from the sink's topic what the sink made durable, and shows the sinks on /metrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLog } from '../../../connectors/embedded/index.ts';
import { startSinks } from '../../../connectors/sinks/index.ts';
import { Serdes, StreamsApp, StreamsBuilder, TopologyTestDriver, type Sink, type TopologyError } from '../../../index.ts';
import { readDuckDb } from './duckdb/fixtures/reading-sinks.ts';
import { topology } from './fixtures/to-sink-topology.ts';

const str = Serdes.string();
const module = new URL('./fixtures/to-sink-topology.ts', import.meta.url);

test('under the driver, a sink is its topic <name>-sink; the factory is never called; names and serdes are checked', () => {
  const driver = new TopologyTestDriver(topology());
  driver.createInputTopic('lines', str, str).pipeInput('l1', 'a b a', 1);
  assert.deepEqual(driver.createOutputTopic('counts-warehouse-sink', str, Serdes.number()).readKeyValuesToMap(), new Map([['a', 2], ['b', 1]]));
  assert.deepEqual(driver.createOutputTopic('lines-warehouse-sink', str, str).readValuesToList(), ['a b a']);
  const b = new StreamsBuilder();
  const s = b.stream('x', { key: str, value: str });
  const never = (): Sink<string, string> => {
    throw new Error('not called at build time');
  };
  s.toSink(never, { name: 'one' });
  assert.throws(() => s.toSink(never, { name: 'one' }), (e: TopologyError) => e.code === 'DUPLICATE_NAME');
  assert.throws(() => s.toSink(never, { name: 'bad name' }), (e: TopologyError) => e.code === 'INVALID_ARGUMENT');
  assert.throws(() => s.mapValues((v) => v.length).toSink(() => undefined as never, { name: 'lengths' }), (e: TopologyError) => e.code === 'MISSING_SERDE');
});

test('startSinks runs the declared sinks: every line once and the latest counts in DuckDB across a restart, consumed records deleted, sinks on /metrics', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-to-sink-'));
  const db = join(dir, 'warehouse.duckdb');
  process.env['TO_SINK_DB'] = db;
  const log = await EmbeddedLog.open({ dir: join(dir, 'log') });
  const produce = (lines: string[], from: number) => log.produce([{ topic: 'lines', partition: 0, records: lines.map((l, i) => ({ key: Buffer.from(`l${from + i}`), value: Buffer.from(l), timestamp: from + i })) }]);
  let app: StreamsApp | undefined;
  let runners: Awaited<ReturnType<typeof startSinks>> = [];
  const stop = async () => {
    await app?.close();
    await Promise.all(runners.map((r) => r.close()));
  };
  try {
    await log.createTopic('lines', { partitions: 1, cleanupPolicy: 'delete' });
    await produce(['the cat', 'the dog'], 0);
    app = new StreamsApp({ module }, { applicationId: 'tosink', log, threads: 1, stateDir: join(dir, 'state'), http: { port: 0 } });
    await app.start();
    runners = await startSinks(app, { log, runner: { batch: { maxRecords: 100, lingerMs: 20 } } });
    assert.deepEqual(runners.map((r) => r.name).sort(), ['counts-warehouse', 'lines-warehouse']);
    const metrics = await (await fetch(`http://127.0.0.1:${app.httpAddress!.port}/metrics`)).text();
    assert.match(metrics, /tributary_sink_state\{sink="counts-warehouse"/);
    await until(() => runners.every((r) => r.status().lag === 0 && r.status().counters.recordsWritten > 0), 'the sinks caught up');
    await stop();

    await produce(['the end'], 2);
    app = new StreamsApp({ module }, { applicationId: 'tosink', log, threads: 1, stateDir: join(dir, 'state') });
    await app.start();
    runners = await startSinks(app, { log });
    await until(async () => (await readDuckDb<{ n: bigint }>(db, 'SELECT count(*) AS n FROM lines').catch(() => [{ n: 0n }]))[0]!.n === 3n, 'the third line');
    await until(() => runners.every((r) => r.status().lag === 0), 'the sinks caught up again');
    await stop();
    const counts = await readDuckDb<{ word: string; n: bigint }>(db, 'SELECT word, n FROM word_counts ORDER BY word');
    assert.deepEqual(counts.map((r) => [r.word, Number(r.n)]), [['cat', 1], ['dog', 1], ['end', 1], ['the', 3]]);
    const lines = await readDuckDb<{ line: string }>(db, 'SELECT line FROM lines ORDER BY line');
    assert.deepEqual(lines.map((r) => r.line), ['the cat', 'the dog', 'the end'], 'each line once');
    // What the sinks made durable is gone from their topics.
    const topic = await log.fetch({ topic: 'tosink-lines-warehouse-sink', partition: 0 }, 0);
    assert.equal(topic.records.length, 0);
    assert.ok(topic.nextOffset >= 3);
  } finally {
    await stop();
    await log.close();
    delete process.env['TO_SINK_DB'];
    rmSync(dir, { recursive: true, force: true });
  }
});

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
