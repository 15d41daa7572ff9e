import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Serdes, StreamsApp } from '../../../index.ts';
import type { KafkaLog } from '../../../connectors/kafka/index.ts';
import { openLog, unique } from './broker.ts';

const str = Serdes.string();
const num = Serdes.number();
const module = new URL('./fixtures/word-count.ts', import.meta.url);

async function latestCounts(log: KafkaLog, topic: string, partitions: number): Promise<Map<string, number>> {
  const latest = new Map<string, number>();
  for (let p = 0; p < partitions; p++) {
    let offset = 0;
    for (;;) {
      const r = await log.fetch({ topic, partition: p }, offset);
      for (const rec of r.records) latest.set(str.deserialize(rec.key!, ''), num.deserialize(rec.value!, ''));
      if (r.nextOffset >= r.endOffset) break;
      offset = r.nextOffset;
    }
  }
  return latest;
}

async function until(check: () => Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('word count on Kafka: each stream thread owns its clients; exactly-once outputs equal the reference; state survives a restart', async () => {
  const log = openLog();
  const dir = mkdtempSync(join(tmpdir(), 'tributary-kafka-app-'));
  const input = unique('sentences');
  const output = unique('word-counts');
  const applicationId = unique('wc');
  process.env.WC_INPUT = input;
  process.env.WC_OUTPUT = output;
  let app: StreamsApp | undefined;
  try {
    await log.createTopic(input, { partitions: 2, cleanupPolicy: 'delete' });
    await log.createTopic(output, { partitions: 2, cleanupPolicy: 'delete' });
    const sentences = ['the cat', 'the dog', 'a cat', 'the end'];
    const send = (list: string[], from: number) =>
      log.produce(list.map((s, i) => ({ topic: input, partition: (from + i) % 2, records: [{ key: Buffer.from(`k${from + i}`), value: Buffer.from(s), timestamp: 1000 + from + i }] })));
    await send(sentences, 0);

    app = new StreamsApp({ module }, { applicationId, log, threads: 2, stateDir: join(dir, 'state'), http: { port: 0 } });
    await app.start();
    const expected = new Map(Object.entries({ the: 3, cat: 2, dog: 1, a: 1, end: 1 }));
    await until(async () => JSON.stringify([...(await latestCounts(log, output, 2))].sort()) === JSON.stringify([...expected].sort()), 'the first counts');
    // Interactive query through HTTP, answered by the thread that owns the key's task.
    const res = await fetch(`http://127.0.0.1:${app.httpAddress!.port}/stores/counts/keys/the`);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { value: number }).value, 3);
    // The internal topics exist on the broker with the right partition counts and policies.
    const topics = await log.topics();
    const changelog = [...topics].find(([name]) => name.startsWith(applicationId) && name.endsWith('-changelog'));
    assert.deepEqual(changelog?.[1], { partitions: 2, cleanupPolicy: 'compact' });
    await app.close();

    // A restart resumes from the committed offsets with the stores as they were.
    await send(['the cat again'], 4);
    app = new StreamsApp({ module }, { applicationId, log, threads: 1, stateDir: join(dir, 'state') });
    await app.start();
    expected.set('the', 4).set('cat', 3).set('again', 1);
    await until(async () => JSON.stringify([...(await latestCounts(log, output, 2))].sort()) === JSON.stringify([...expected].sort()), 'counts after the restart');
    const committed = await log.committedOffsets(applicationId);
    assert.equal(committed.get(`${input}:0`)! + committed.get(`${input}:1`)!, 5, 'every input record consumed once');
  } finally {
    await app?.close();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
