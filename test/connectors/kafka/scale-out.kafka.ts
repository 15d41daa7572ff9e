import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Serdes } from '../../../index.ts';
import type { KafkaLog } from '../../../connectors/kafka/index.ts';
import { bootstrap, openLog, unique } from './broker.ts';
import { startReady, SCALE_CHILD, type ReadyChild } from './children.ts';

const str = Serdes.string();
const num = Serdes.number();
const PARTITIONS = 6;
const WORDS = Array.from({ length: 24 }, (_, i) => `w${i}`);

type Child = ReadyChild;
const startChild = (name: string, env: Record<string, string>) => startReady(SCALE_CHILD, env, name);

/** Every output record per word, in partition order. */
async function outputs(log: KafkaLog, topic: string): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (let p = 0; p < PARTITIONS; p++) {
    let offset = 0;
    for (;;) {
      const r = await log.fetch({ topic, partition: p }, offset);
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

test('three processes split the tasks; one is SIGKILLed mid-stream and one joins later: outputs are exactly once and any process answers queries for any key', { timeout: 300_000 }, async () => {
  const log = openLog();
  const dir = mkdtempSync(join(tmpdir(), 'tributary-scale-'));
  const env = {
    KAFKA_BOOTSTRAP: bootstrap.join(','),
    WC_INPUT: unique('scale-in'),
    WC_OUTPUT: unique('scale-out'),
    APP_ID: unique('scale-app'),
    // The processes guard their HTTP with a token and send it when they forward queries to each other.
    TRIBUTARY_HTTP_TOKEN: 'scale-token',
  };
  const auth = { headers: { authorization: 'Bearer scale-token' } };
  const children: Child[] = [];
  try {
    await log.createTopic(env.WC_INPUT, { partitions: PARTITIONS, cleanupPolicy: 'delete' });
    await log.createTopic(env.WC_OUTPUT, { partitions: PARTITIONS, cleanupPolicy: 'delete' });
    const expected = new Map<string, number>();
    let sent = 0;
    const send = async (n: number) => {
      const batches = [];
      for (let i = 0; i < n; i++, sent++) {
        const word = WORDS[(sent * 7) % WORDS.length]!;
        expected.set(word, (expected.get(word) ?? 0) + 1);
        batches.push({ topic: env.WC_INPUT, partition: sent % PARTITIONS, records: [{ key: Buffer.from(`k${sent}`), value: Buffer.from(word), timestamp: 1000 + sent }] });
      }
      await log.produce(batches);
    };

    for (const name of ['a', 'b', 'c']) children.push(await startChild(name, { ...env, STATE_DIR: join(dir, name) }));
    await send(300);
    await new Promise((r) => setTimeout(r, 1500));
    // b dies without leaving the group: its tasks move once the broker notices (session timeout).
    children[1]!.process.kill('SIGKILL');
    await children[1]!.exited;
    await send(300);
    children.push(await startChild('d', { ...env, STATE_DIR: join(dir, 'd') }));
    await send(300);

    const live = children.filter((c) => c.name !== 'b');
    const deadline = Date.now() + 120_000;
    let seen = new Map<string, number[]>();
    for (;;) {
      seen = await outputs(log, env.WC_OUTPUT);
      if ([...expected].every(([w, n]) => seen.get(w)?.at(-1) === n)) break;
      if (Date.now() > deadline) assert.fail(`outputs did not reach the expected counts in 120 s: ${JSON.stringify([...seen].map(([w, c]) => [w, c.at(-1)]))}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    // Exactly once: each word's counts are 1, 2, ..., n (a duplicate repeats one, a loss skips one).
    for (const [word, n] of expected) assert.deepEqual(seen.get(word), Array.from({ length: n }, (_, i) => i + 1), `counts of ${word}`);

    // Any live process answers for any key, from the owner's store. (A query that lands during a
    // rebalance gets 503, "retry": the broker may still be settling the last membership change.)
    const ask = async (c: Child, word: string) => {
      const until = Date.now() + 30_000;
      for (;;) {
        const res = await fetch(`http://127.0.0.1:${c.port}/stores/counts/keys/${word}`, auth);
        if (res.status !== 503 || Date.now() > until) return { status: res.status, body: (await res.json()) as { value?: number } };
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    for (const c of live) {
      for (const word of WORDS) {
        const { status, body } = await ask(c, word);
        assert.equal(status, 200, `${c.name} answers for ${word}`);
        assert.equal(body.value, expected.get(word), `${c.name} gives the count of ${word}`);
      }
    }
    // /stores shows who hosts each partition: every partition has a host, and the hosts are the live processes.
    // a went through the rebalances (b, c joining; b's death; d joining) and reports them.
    assert.equal((await fetch(`http://127.0.0.1:${live[0]!.port}/stores/counts/keys/${WORDS[0]}`)).status, 401, 'no token, no answer');
    const metrics = await (await fetch(`http://127.0.0.1:${live[0]!.port}/metrics`, auth)).text();
    assert.ok(Number(/^tributary_rebalances_total (\d+)/m.exec(metrics)?.[1] ?? 0) >= 2, 'rebalances counted');
    await ask(live[0]!, WORDS[0]!);
    const stores = (await (await fetch(`http://127.0.0.1:${live[0]!.port}/stores`, auth)).json()) as { name: string; hosts: { partition: number; host: string | null }[] }[];
    const hosts = stores.find((s) => s.name === 'counts')!.hosts;
    assert.equal(hosts.length, PARTITIONS);
    const livePorts = new Set(live.map((c) => String(c.port)));
    for (const h of hosts) assert.ok(h.host !== null && livePorts.has(h.host.split(':')[1]!), `partition ${h.partition} hosted by a live process: ${h.host}`);
  } finally {
    for (const c of children) c.process.kill('SIGTERM');
    await Promise.all(children.map((c) => Promise.race([c.exited, new Promise((r) => setTimeout(r, 20_000))])));
    for (const c of children) c.process.kill('SIGKILL');
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
