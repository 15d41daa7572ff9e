/**
 * The uncaught-exception handler (issue 15, item 5; Kafka Streams' StreamsUncaughtExceptionHandler):
 * a processor that throws once under 'log-and-fail' either gets its thread replaced (the app keeps
 * running and its outputs are those of a run without the failure: every count 1..n once) or shuts
 * the process down in ERROR.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLog } from '../../../connectors/embedded/index.ts';
import { Serdes, StreamsApp, type StreamsError, type StreamsState, type StreamThreadExceptionResponse } from '../../../index.ts';

const module = new URL('./fixtures/throw-once.ts', import.meta.url);
const str = Serdes.string();
const num = Serdes.number();
const SENTENCES = ['a b', 'b c', 'c boom a', 'a a', 'b boom', 'c'];

/** Every count the output topic holds per word, in order (read-committed, all partitions). */
async function counts(log: EmbeddedLog): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (let p = 0; p < 2; p++) {
    for (let offset = 0; ; ) {
      const r = await log.fetch({ topic: 'word-counts', partition: p }, offset, { readCommitted: true });
      for (const rec of r.records) {
        const word = str.deserialize(rec.key!, '');
        out.set(word, [...(out.get(word) ?? []), num.deserialize(rec.value!, '')]);
      }
      if (r.nextOffset >= r.endOffset) break;
      offset = r.nextOffset;
    }
  }
  return out;
}

async function runWith(response: StreamThreadExceptionResponse | undefined, check: (app: StreamsApp, log: EmbeddedLog, seen: StreamsError[], states: StreamsState[]) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-uncaught-'));
  process.env['BOOM_MARKER'] = join(dir, 'thrown');
  const log = await EmbeddedLog.open({ dir: join(dir, 'log') });
  const seen: StreamsError[] = [];
  const states: StreamsState[] = [];
  const app = new StreamsApp(
    { module },
    {
      applicationId: 'uncaught',
      // Outputs are checked update by update: the record cache off.
      cacheMaxBytes: 0,
      log,
      threads: 2,
      stateDir: join(dir, 'state'),
      ...(response !== undefined && {
        uncaughtExceptionHandler: (error: StreamsError) => {
          seen.push(error);
          return response;
        },
      }),
      onError: () => {},
    },
  );
  app.onStateChange((next) => states.push(next));
  try {
    await log.createTopic('sentences', { partitions: 2, cleanupPolicy: 'delete' });
    await log.createTopic('word-counts', { partitions: 2, cleanupPolicy: 'delete' });
    await app.start();
    await log.produce(SENTENCES.map((s, i) => ({ topic: 'sentences', partition: i % 2, records: [{ key: Buffer.from(`k${i}`), value: Buffer.from(s), timestamp: 1000 + i }] })));
    await check(app, log, seen, states);
  } finally {
    await app.close();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('REPLACE_THREAD: the failed thread is replaced, the app keeps running, and every count appears once', async () => {
  await runWith('REPLACE_THREAD', async (app, log, seen, states) => {
    const expected = new Map([['a', 4], ['b', 3], ['c', 3], ['boom', 2]]);
    await until(async () => {
      const now = await counts(log);
      return [...expected].every(([w, n]) => now.get(w)?.at(-1) === n);
    }, 'all counts');
    assert.ok(existsSync(process.env['BOOM_MARKER']!), 'the processor did throw');
    assert.equal(seen.length, 1, 'the handler heard of the failure once');
    assert.equal(seen[0]!.code, 'PROCESSING_FAILED');
    assert.match(seen[0]!.message, /boom, once/);
    for (const [word, n] of expected) assert.deepEqual((await counts(log)).get(word), Array.from({ length: n }, (_, i) => i + 1), `${word}: 1..${n}, no duplicate, no gap`);
    await until(async () => app.state === 'RUNNING', 'RUNNING again');
    assert.ok(!states.includes('ERROR'), `never ERROR: ${states.join(' -> ')}`);
    assert.equal(app.restarts.byReason.get('REPLACE_THREAD'), 1);
    // The replacement serves queries.
    const row = await app.queryKey('counts', { type: 'key', key: 'boom' });
    assert.equal((row.body as { value: number }).value, 2);
  });
});

for (const response of [undefined, 'SHUTDOWN_CLIENT', 'SHUTDOWN_APPLICATION'] as const) {
  test(`${response ?? 'no handler (SHUTDOWN_CLIENT)'}: the process shuts down in ERROR`, async () => {
    await runWith(response, async (app, _log, seen, states) => {
      await until(async () => app.state === 'NOT_RUNNING', 'shut down');
      assert.ok(states.includes('ERROR'), states.join(' -> '));
      assert.equal(seen.length, response === undefined ? 0 : 1);
    });
  });
}
