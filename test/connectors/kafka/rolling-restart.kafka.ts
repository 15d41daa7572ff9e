/**
 * Issue 15: cooperative rebalancing. Three processes share word count on Kafka under a steady
 * load, with queries running; each process in turn is stopped (SIGTERM) and started again with its
 * state directory: a rolling restart. Through every step the tasks that do not move keep running:
 * on the process that keeps them, their counters never go back to zero (an eager rebalance
 * restarts every thread, and a restarted task counts from zero). Nothing is lost or duplicated:
 * each word's counts are 1, 2, ..., n. The longest processing and query gaps per task are printed
 * (`ROLLING ...` lines), not asserted: timings belong to bench/.
 */
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
const TASKS = PARTITIONS * 2; // sub-topology 0 reads the input, 1 the repartition topic
const WORDS = Array.from({ length: 24 }, (_, i) => `w${i}`);

type Child = ReadyChild;
const startChild = (name: string, env: Record<string, string>) => startReady(SCALE_CHILD, env, name);

/** Task id -> records it processed, as a process's /metrics reports them (its live tasks only). */
async function taskCounters(port: number): Promise<Map<string, number>> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    return new Map([...text.matchAll(/^tributary_records_in_total\{task="([^"]+)"\} (\d+)/gm)].map((m) => [m[1]!, Number(m[2])]));
  } catch {
    return new Map();
  }
}

async function outputs(log: KafkaLog, topic: string): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (let p = 0; p < PARTITIONS; p++) {
    for (let offset = 0; ; ) {
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

test('a rolling restart of three processes under load: tasks that stay never stop, outputs are exactly once', { timeout: 600_000 }, async () => {
  const log = openLog();
  const dir = mkdtempSync(join(tmpdir(), 'tributary-rolling-'));
  const env = { KAFKA_BOOTSTRAP: bootstrap.join(','), WC_INPUT: unique('rolling-in'), WC_OUTPUT: unique('rolling-out'), APP_ID: unique('rolling-app') };
  const children = new Map<string, Child>();
  const expected = new Map<string, number>();
  let producing = true;
  let sampling = true;
  try {
    await log.createTopic(env.WC_INPUT, { partitions: PARTITIONS, cleanupPolicy: 'delete' });
    await log.createTopic(env.WC_OUTPUT, { partitions: PARTITIONS, cleanupPolicy: 'delete' });
    for (const name of ['a', 'b', 'c']) children.set(name, await startChild(name, { ...env, STATE_DIR: join(dir, name) }));

    /** Who runs what: process name -> its task counters, sampled every 100 ms. */
    let latest = new Map<string, Map<string, number>>();
    const sample = async () => {
      const next = new Map<string, Map<string, number>>();
      await Promise.all([...children].map(async ([name, c]) => next.set(name, await taskCounters(c.port))));
      return next;
    };
    const settled = (view: Map<string, Map<string, number>>) => {
      const all = [...view.values()].flatMap((m) => [...m.keys()]);
      return view.size === 3 && [...view.values()].every((m) => m.size > 0) && all.length === TASKS && new Set(all).size === TASKS;
    };
    const waitSettled = async (what: string) => {
      const deadline = Date.now() + 120_000;
      while (!settled(latest)) {
        if (Date.now() > deadline) assert.fail(`the group did not settle (${what}): ${JSON.stringify([...latest].map(([n, m]) => [n, [...m.keys()]]))}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };

    // Load: a batch of words every 20 ms, spread over every partition.
    let sent = 0;
    const producer = (async () => {
      while (producing) {
        const batches = [];
        for (let i = 0; i < PARTITIONS; i++, sent++) {
          const word = WORDS[(sent * 7) % WORDS.length]!;
          expected.set(word, (expected.get(word) ?? 0) + 1);
          batches.push({ topic: env.WC_INPUT, partition: sent % PARTITIONS, records: [{ key: Buffer.from(`k${sent}`), value: Buffer.from(word), timestamp: 1000 + sent }] });
        }
        await log.produce(batches);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    // Sampling: per task, the longest time without progress; per word, the longest time a query
    // (to any live process, routed to the owner) went unanswered.
    const lastProgress = new Map<string, number>();
    const longestGap = new Map<string, number>();
    /** The same, within the current restart step. */
    const stepGap = new Map<string, number>();
    /** Per task, the longest gap within a step it stayed through. */
    const keptGap = new Map<string, number>();
    /** Tasks whose counter went back on the process that ran them: restarted, not kept. */
    const restartedInPlace = new Set<string>();
    let step = '';
    const lastAnswer = new Map<string, number>();
    const longestQueryGap = new Map<string, number>();
    const sampler = (async () => {
      while (sampling) {
        const next = await sample();
        const now = Date.now();
        for (const [name, counters] of next) {
          const before = latest.get(name);
          for (const [task, n] of counters) {
            const was = before?.get(task);
            if (was !== undefined && n < was) restartedInPlace.add(`${step}: ${task} on ${name} (${was} -> ${n})`);
            if (was === undefined || n > was) {
              const last = lastProgress.get(task);
              if (last !== undefined) {
                longestGap.set(task, Math.max(longestGap.get(task) ?? 0, now - last));
                stepGap.set(task, Math.max(stepGap.get(task) ?? 0, now - last));
              }
              lastProgress.set(task, now);
            }
          }
        }
        latest = next;
        const word = WORDS[Math.floor(now / 100) % WORDS.length]!;
        const live = [...children.values()].filter((c) => c.process.exitCode === null);
        const asked = live[Math.floor(now / 100) % Math.max(1, live.length)];
        if (asked !== undefined) {
          const ok = await fetch(`http://127.0.0.1:${asked.port}/stores/counts/keys/${word}`).then((r) => r.status === 200, () => false);
          if (ok) {
            const last = lastAnswer.get(word);
            if (last !== undefined) longestQueryGap.set(word, Math.max(longestQueryGap.get(word) ?? 0, now - last));
            lastAnswer.set(word, now);
          }
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    await waitSettled('start');
    const stayed: string[] = [];
    for (const name of ['a', 'b', 'c']) {
      step = `restart of ${name}`;
      // The tasks the other two processes run now: those that stay with them through this step.
      const keptBy = new Map([...latest].filter(([n]) => n !== name).flatMap(([n, m]) => [...m.keys()].map((t) => [t, n] as const)));
      stepGap.clear();
      const child = children.get(name)!;
      child.process.kill('SIGTERM');
      await child.exited;
      children.delete(name);
      await new Promise((r) => setTimeout(r, 1000));
      children.set(name, await startChild(name, { ...env, STATE_DIR: join(dir, name) }));
      await waitSettled(step);
      for (const [task, owner] of keptBy) {
        if (!latest.get(owner)?.has(task)) continue;
        stayed.push(`${step}: ${task} on ${owner}`);
        keptGap.set(task, Math.max(keptGap.get(task) ?? 0, stepGap.get(task) ?? 0));
      }
    }
    producing = false;
    await producer;
    await new Promise((r) => setTimeout(r, 500));
    sampling = false;
    await sampler;

    console.log(`ROLLING tasks kept through a restart: ${stayed.length}`);
    console.log(`ROLLING longest processing gap per task while it stayed (ms): ${JSON.stringify(Object.fromEntries([...keptGap].sort()))}`);
    console.log(`ROLLING longest processing gap per task over the run, moves included (ms): ${JSON.stringify(Object.fromEntries([...longestGap].sort()))}`);
    console.log(`ROLLING longest query gap per word (ms): ${JSON.stringify(Object.fromEntries([...longestQueryGap].sort()))}`);
    assert.ok(stayed.length > 0, 'some tasks stayed where they were through a restart');
    assert.deepEqual([...restartedInPlace], [], 'no task was restarted on the process that kept it');

    const deadline = Date.now() + 120_000;
    let seen = new Map<string, number[]>();
    for (;;) {
      seen = await outputs(log, env.WC_OUTPUT);
      if ([...expected].every(([w, n]) => seen.get(w)?.at(-1) === n)) break;
      if (Date.now() > deadline) {
        const logs = [...children].map(([name, c]) => `--- ${name}:\n${c.lines.slice(-40).join('\n')}`).join('\n');
        const tasks = JSON.stringify([...(await sample())].map(([n, m]) => [n, [...m]]));
        // Lag and restore per task, and where every input and output partition ends (read committed).
        const metrics = await Promise.all(
          [...children].map(async ([name, c]) => `${name}: ${(await (await fetch(`http://127.0.0.1:${c.port}/metrics`)).text()).split('\n').filter((l) => /^tributary_(consumer_lag|restored_records|thread_restarts_total|rebalances_total)/.test(l)).join(' ')}`),
        ).catch((error: unknown) => [`metrics: ${String(error)}`]);
        const ends = await Promise.all(
          [...(await log.topics())].filter(([n]) => n.startsWith(env.APP_ID) || n === env.WC_INPUT || n === env.WC_OUTPUT).map(async ([n, c]) => `${n}: ${JSON.stringify(await Promise.all(Array.from({ length: c.partitions }, (_, p) => log.fetch({ topic: n, partition: p }, 0, { maxRecords: 0 }).then((r) => [r.startOffset, r.endOffset]))))}`),
        );
        console.log(`ROLLING failure detail\n${metrics.join('\n')}\n${ends.join('\n')}\ncommitted: ${JSON.stringify([...(await log.committedOffsets(env.APP_ID))])}`);
        assert.fail(`outputs did not reach the expected counts: ${JSON.stringify([...seen].map(([w, c]) => [w, c.at(-1), expected.get(w)]))}\ntasks: ${tasks}\n${logs}`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    for (const [word, n] of expected) assert.deepEqual(seen.get(word), Array.from({ length: n }, (_, i) => i + 1), `counts of ${word}: exactly once`);
  } finally {
    producing = false;
    sampling = false;
    for (const c of children.values()) c.process.kill('SIGTERM');
    await Promise.all([...children.values()].map((c) => Promise.race([c.exited, new Promise((r) => setTimeout(r, 20_000))])));
    for (const c of children.values()) c.process.kill('SIGKILL');
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A free TCP port on loopback (for a process that must come back on the same one). */
async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function rebalances(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(/^tributary_rebalances_total (\d+)/m.exec(text)?.[1] ?? -1);
}

test('static membership: a process restarted with the same groupInstanceId takes its tasks back without a rebalance', { timeout: 300_000 }, async () => {
  const log = openLog();
  const dir = mkdtempSync(join(tmpdir(), 'tributary-static-'));
  const env = { KAFKA_BOOTSTRAP: bootstrap.join(','), WC_INPUT: unique('static-in'), WC_OUTPUT: unique('static-out'), APP_ID: unique('static-app') };
  const children = new Map<string, Child>();
  const envOf = new Map<string, Record<string, string>>();
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
  const layout = async () => new Map(await Promise.all([...children].map(async ([name, c]) => [name, [...(await taskCounters(c.port)).keys()].sort().join(',')] as const)));
  try {
    await log.createTopic(env.WC_INPUT, { partitions: PARTITIONS, cleanupPolicy: 'delete' });
    await log.createTopic(env.WC_OUTPUT, { partitions: PARTITIONS, cleanupPolicy: 'delete' });
    for (const name of ['a', 'b', 'c']) {
      envOf.set(name, { ...env, STATE_DIR: join(dir, name), GROUP_INSTANCE_ID: `instance-${name}`, HTTP_PORT: String(await freePort()) });
      children.set(name, await startChild(name, envOf.get(name)!));
    }
    // Settled: the twelve tasks split among the three, each once, and no rebalance for 3 s (tasks
    // with state move in steps after their warm-up copies catch up, KIP-441).
    const deadline = Date.now() + 120_000;
    const counters = async () => JSON.stringify(await Promise.all([...children.values()].map((c) => rebalances(c.port))));
    let before = await layout();
    let stableSince = Date.now();
    let last = `${JSON.stringify([...before])} ${await counters()}`;
    for (;;) {
      const all = [...before.values()].flatMap((l) => (l === '' ? [] : l.split(',')));
      const complete = all.length === TASKS && new Set(all).size === TASKS && [...before.values()].every((l) => l !== '');
      if (complete && Date.now() - stableSince >= 3000) break;
      if (Date.now() > deadline) assert.fail(`the group did not settle: ${JSON.stringify([...before])}`);
      await new Promise((r) => setTimeout(r, 200));
      before = await layout();
      const now = `${JSON.stringify([...before])} ${await counters()}`;
      if (now !== last || !complete) stableSince = Date.now();
      last = now;
    }
    await send(300);
    const counted = { b: await rebalances(children.get('b')!.port), c: await rebalances(children.get('c')!.port) };

    // a stops (no LeaveGroup: a static member keeps its place) and comes back with the same id.
    const a = children.get('a')!;
    a.process.kill('SIGTERM');
    await a.exited;
    await send(300);
    children.set('a', await startChild('a', envOf.get('a')!));
    await send(300);

    const outDeadline = Date.now() + 120_000;
    let seen = new Map<string, number[]>();
    for (;;) {
      seen = await outputs(log, env.WC_OUTPUT);
      if ([...expected].every(([w, n]) => seen.get(w)?.at(-1) === n)) break;
      if (Date.now() > outDeadline) assert.fail(`outputs did not reach the expected counts: ${JSON.stringify([...seen].map(([w, c]) => [w, c.at(-1), expected.get(w)]))}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    for (const [word, n] of expected) assert.deepEqual(seen.get(word), Array.from({ length: n }, (_, i) => i + 1), `counts of ${word}: exactly once`);
    assert.deepEqual(await layout(), before, 'every task is where it was: a took its own back');
    assert.deepEqual({ b: await rebalances(children.get('b')!.port), c: await rebalances(children.get('c')!.port) }, counted, 'b and c saw no rebalance');
    // The restarted process answers queries for its own partitions and routes the others.
    for (const word of WORDS) {
      const res = await fetch(`http://127.0.0.1:${children.get('a')!.port}/stores/counts/keys/${word}`);
      assert.equal(res.status, 200, `a answers for ${word}`);
      assert.equal(((await res.json()) as { value: number }).value, expected.get(word));
    }
  } finally {
    for (const c of children.values()) c.process.kill('SIGTERM');
    await Promise.all([...children.values()].map((c) => Promise.race([c.exited, new Promise((r) => setTimeout(r, 20_000))])));
    for (const c of children.values()) c.process.kill('SIGKILL');
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
