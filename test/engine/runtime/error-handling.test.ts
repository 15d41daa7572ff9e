import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLog } from '../../../connectors/embedded/index.ts';
import { Serdes, StreamsApp, type StreamsError } from '../../../index.ts';

const module = new URL('./fixtures/poison.ts', import.meta.url);
const json = (v: unknown) => Buffer.from(JSON.stringify(v));

async function setup(): Promise<{ dir: string; log: EmbeddedLog }> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-errors-'));
  const log = await EmbeddedLog.open({ dir });
  await log.createTopic('events', { partitions: 1, cleanupPolicy: 'delete' });
  await log.createTopic('doubled', { partitions: 1, cleanupPolicy: 'delete' });
  await log.produce([
    {
      topic: 'events',
      partition: 0,
      records: [
        { key: Buffer.from('a'), value: json({ n: 1 }), timestamp: 1 },
        { key: Buffer.from('b'), value: Buffer.from('{not json'), timestamp: 2 },
        { key: Buffer.from('c'), value: json({ n: 3, boom: true }), timestamp: 3 },
        { key: Buffer.from('d'), value: json({ n: 4 }), timestamp: 4 },
      ],
    },
  ]);
  return { dir, log };
}

async function readAll(log: EmbeddedLog, topic: string) {
  return (await log.fetch({ topic, partition: 0 }, 0)).records;
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('dead-letter: poison records go to the DLQ with their origin and the error; the rest is processed', async () => {
  const { dir, log } = await setup();
  const app = new StreamsApp(
    { module },
    { applicationId: 'dlq', log, threads: 1, stateDir: join(dir, 'state'), deserializationExceptionHandler: 'dead-letter', processingExceptionHandler: 'dead-letter' },
  );
  try {
    await app.start();
    await until(async () => (await readAll(log, 'doubled')).length === 2, 'outputs');
    await until(async () => (await log.topics()).has('dlq-dlq') && (await readAll(log, 'dlq-dlq')).length === 2, 'dead letters');
    assert.deepEqual((await readAll(log, 'doubled')).map((r) => Serdes.number().deserialize(r.value!, '')), [2, 8]);
    const dead = await readAll(log, 'dlq-dlq');
    assert.deepEqual(
      dead.map((r) => [Buffer.from(r.key!).toString(), Buffer.from(r.value!).toString(), r.headers?.['tributary.error.code'], r.headers?.['tributary.source.offset']]),
      [
        ['b', '{not json', 'DESERIALIZATION_FAILED', '1'],
        ['c', JSON.stringify({ n: 3, boom: true }), 'PROCESSING_FAILED', '2'],
      ],
    );
    assert.match(dead[1]!.headers!['tributary.error.message']!, /cannot double 3/);
    const metrics = await app.metrics();
    assert.equal(metrics.tasks[0]!.deadLettered, 2);
  } finally {
    await app.close();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('log-and-continue skips poison records; log-and-fail stops the application in ERROR with the reason', async () => {
  const { dir, log } = await setup();
  const skipping = new StreamsApp(
    { module },
    { applicationId: 'skip', log, threads: 1, stateDir: join(dir, 'state'), deserializationExceptionHandler: 'log-and-continue', processingExceptionHandler: 'log-and-continue' },
  );
  const errors: StreamsError[] = [];
  const failing = new StreamsApp({ module }, { applicationId: 'fail', log, threads: 1, stateDir: join(dir, 'state'), onError: (e) => errors.push(e) });
  try {
    await skipping.start();
    await until(async () => (await readAll(log, 'doubled')).length === 2, 'outputs');
    await skipping.close();

    await failing.start().catch(() => {});
    await until(async () => failing.state === 'NOT_RUNNING', 'the failing app to stop');
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.code, 'DESERIALIZATION_FAILED');
    assert.match(errors[0]!.message, /events-0@1/);
    // The failing app committed nothing: the output it had buffered for `a` was never written.
    assert.equal((await readAll(log, 'doubled')).length, 2);
    assert.equal((await log.committedOffsets('fail')).size, 0);
  } finally {
    await skipping.close();
    await failing.close();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('exception handlers by module (KIP-1033/1034): each thread imports them; their dead-letter records are written once, the rest is processed', async () => {
  const { dir, log } = await setup();
  await log.createTopic('handled-dlq', { partitions: 1, cleanupPolicy: 'delete' });
  const handler = { module: new URL('./fixtures/handlers.ts', import.meta.url), export: 'toDeadLetters' };
  const app = new StreamsApp({ module }, { applicationId: 'handled', log, threads: 1, stateDir: join(dir, 'state'), deserializationExceptionHandler: handler, processingExceptionHandler: handler });
  try {
    await app.start();
    await until(async () => (await readAll(log, 'doubled')).length === 2 && (await readAll(log, 'handled-dlq')).length === 2, 'outputs and dead letters');
    // A restart replays nothing twice: the dead letters went out with the offsets past them.
    await app.close();
    const again = new StreamsApp({ module }, { applicationId: 'handled', log, threads: 1, stateDir: join(dir, 'state'), deserializationExceptionHandler: handler, processingExceptionHandler: handler });
    await again.start();
    await again.close();
    const dead = await readAll(log, 'handled-dlq');
    assert.deepEqual(
      dead.map((r) => [Buffer.from(r.key!).toString(), r.headers?.['code'], r.headers?.['where']?.replace(/\/KSTREAM-[A-Z]+-[0-9a-f]+@/, '/<processor>@')]),
      [
        ['b', 'DESERIALIZATION_FAILED', '0_0/source@1'],
        ['c', 'PROCESSING_FAILED', '0_0/<processor>@2'],
      ],
    );
    assert.equal(Buffer.from(dead[1]!.value!).toString(), JSON.stringify({ n: 3, boom: true }));
    assert.deepEqual((await readAll(log, 'doubled')).map((r) => Serdes.number().deserialize(r.value!, '')), [2, 8]);
  } finally {
    await app.close();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a handler reference that does not name a function stops the start with INVALID_ARGUMENT', async () => {
  const { dir, log } = await setup();
  const app = new StreamsApp(
    { module },
    { applicationId: 'bad-handler', log, threads: 1, stateDir: join(dir, 'state'), processingExceptionHandler: { module: new URL('./fixtures/handlers.ts', import.meta.url), export: 'notAHandler' } },
  );
  try {
    await assert.rejects(app.start(), (error: StreamsError) => error.code === 'INVALID_ARGUMENT' && /no function export "notAHandler"/.test(error.message));
    assert.equal(app.state, 'NOT_RUNNING');
    await assert.rejects(
      new StreamsApp({ module }, { applicationId: 'bad-setting', log, processingExceptionHandler: 'skip' as never }).start(),
      (error: StreamsError) => error.code === 'INVALID_ARGUMENT' && /processingExceptionHandler must be/.test(error.message),
    );
  } finally {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a production handler by module: an output larger than maxRecordBytes goes to its dead letters, once; the others are produced', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-errors-'));
  const log = await EmbeddedLog.open({ dir });
  for (const topic of ['events', 'sized', 'handled-dlq']) await log.createTopic(topic, { partitions: 1, cleanupPolicy: 'delete' });
  await log.produce([{ topic: 'events', partition: 0, records: ['a', 'b', 'c'].map((k, i) => ({ key: Buffer.from(k), value: json({ n: [3, 500, 4][i] }), timestamp: i })) }]);
  const options = {
    log,
    threads: 1,
    stateDir: join(dir, 'state'),
    maxRecordBytes: 100,
    productionExceptionHandler: { module: new URL('./fixtures/handlers.ts', import.meta.url), export: 'toDeadLetters' },
  };
  const sized = new URL('./fixtures/sized.ts', import.meta.url);
  let app = new StreamsApp({ module: sized }, { applicationId: 'sized', ...options });
  try {
    await app.start();
    await until(async () => (await readAll(log, 'sized')).length === 2 && (await readAll(log, 'handled-dlq')).length === 1, 'outputs and the dead letter');
    await app.close();
    app = new StreamsApp({ module: sized }, { applicationId: 'sized', ...options });
    await app.start();
    await app.close();
    assert.deepEqual((await readAll(log, 'sized')).map((r) => Buffer.from(r.key!).toString()), ['a', 'c']);
    const dead = await readAll(log, 'handled-dlq');
    assert.deepEqual(dead.map((r) => [Buffer.from(r.key!).toString(), r.headers?.['code']]), [['b', 'RECORD_TOO_LARGE']]);
  } finally {
    await app.close();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
