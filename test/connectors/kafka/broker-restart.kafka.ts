import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKafka } from '../../../scripts/kafka-broker.ts';
import { KafkaLog } from '../../../connectors/kafka/index.ts';
import { Serdes, StreamsApp } from '../../../index.ts';
import { unique } from './broker.ts';

const str = Serdes.string();
const num = Serdes.number();
const PARTITIONS = 3;
const WORDS = Array.from({ length: 12 }, (_, i) => `w${i}`);

async function readAll(log: KafkaLog, topic: string): Promise<{ key: string; value: Uint8Array }[]> {
  const out: { key: string; value: Uint8Array }[] = [];
  for (let p = 0; p < PARTITIONS; p++) {
    let offset = 0;
    for (;;) {
      const r = await log.fetch({ topic, partition: p }, offset);
      for (const rec of r.records) out.push({ key: rec.key === null ? '' : str.deserialize(rec.key, ''), value: rec.value! });
      if (r.nextOffset >= r.endOffset) break;
      offset = r.nextOffset;
    }
  }
  return out;
}

test('a broker restart under load loses nothing and duplicates nothing: the app rides it out and its counts are exactly once', { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-broker-restart-'));
  // A broker of its own (not the shared one), so that restarting it disturbs no other test.
  const kafka = await startKafka({ brokers: 1, port: 19392, dataDir: join(dir, 'kafka'), clean: true });
  const options = { bootstrapBrokers: kafka.bootstrap, unavailableRetryMs: 120_000 };
  const log = new KafkaLog({ ...options, clientId: unique('restart-test') });
  const input = unique('restart-in');
  const output = unique('restart-out');
  process.env.WC_INPUT = input;
  process.env.WC_OUTPUT = output;
  let app: StreamsApp | undefined;
  try {
    await log.createTopic(input, { partitions: PARTITIONS, cleanupPolicy: 'delete' });
    await log.createTopic(output, { partitions: PARTITIONS, cleanupPolicy: 'delete' });
    app = new StreamsApp(
      { module: new URL('./fixtures/word-count.ts', import.meta.url) },
      { applicationId: unique('restart-app'), log: new KafkaLog({ ...options, clientId: unique('restart-app') }), cacheMaxBytes: 0, threads: 2, stateDir: join(dir, 'state') },
    );
    const states: string[] = [];
    app.onStateChange((next) => states.push(next));
    await app.start();

    // Load: a sentence of one word every few ms; a produce that fails while the broker is down is
    // retried (the input as stored is the reference, so a retried batch that had landed counts).
    let stop = false;
    let sent = 0;
    const producer = (async () => {
      while (!stop) {
        const word = WORDS[sent % WORDS.length]!;
        try {
          await log.produce([{ topic: input, partition: sent % PARTITIONS, records: [{ key: Buffer.from(`k${sent}`), value: Buffer.from(word), timestamp: Date.now() }] }]);
          sent++;
        } catch {
          await new Promise((r) => setTimeout(r, 200));
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await new Promise((r) => setTimeout(r, 3000));
    await kafka.restartBroker(0);
    await new Promise((r) => setTimeout(r, 5000));
    stop = true;
    await producer;

    const stored = await readAll(log, input);
    const expected = new Map<string, number>();
    for (const r of stored) {
      const word = Buffer.from(r.value).toString();
      expected.set(word, (expected.get(word) ?? 0) + 1);
    }
    assert.ok(stored.length > 200, `load before and after the restart (${stored.length} records)`);
    const deadline = Date.now() + 120_000;
    let counts = new Map<string, number[]>();
    for (;;) {
      counts = new Map();
      for (const r of await readAll(log, output)) counts.set(r.key, [...(counts.get(r.key) ?? []), num.deserialize(r.value, '')]);
      if ([...expected].every(([w, n]) => counts.get(w)?.at(-1) === n)) break;
      if (Date.now() > deadline) assert.fail(`counts did not reach the input's: ${JSON.stringify([...counts].map(([w, c]) => [w, c.at(-1), expected.get(w)]))}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    for (const [word, n] of expected) assert.deepEqual(counts.get(word), Array.from({ length: n }, (_, i) => i + 1), `counts of ${word}: 1..${n}, no duplicate, no gap`);
    // Riding it out: never ERROR, and back to RUNNING (a thread restart after a commit the broker
    // could not take may still be under way when the counts are complete: CI at 82e9d6b ended in
    // REBALANCING with every count right).
    const settled = Date.now() + 60_000;
    while (app.state !== 'RUNNING' && Date.now() < settled) await new Promise((r) => setTimeout(r, 100));
    assert.equal(app.state, 'RUNNING', `the app rode the restart out (states: ${states.join(' -> ')})`);
    assert.ok(!states.includes('ERROR'), `never in ERROR (states: ${states.join(' -> ')})`);
  } finally {
    await app?.close();
    await log.close();
    await kafka.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
