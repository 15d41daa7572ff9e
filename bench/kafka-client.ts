/**
 * The raw limit of the Kafka client (@platformatic/kafka) on the broker of `node scripts/kafka.ts
 * start`: produce N records of 100 bytes and read them back with no processing, and the latency of
 * small transaction commits (a stream thread awaits one per commit interval).
 *
 *   node bench/kafka-client.ts [--records 1M] [--partitions 8] [--batch 1000] [--inflight 8]
 *                              [--tx-sizes 1000,10000] [--commits 300] [--commit-gap-ms 100] [--bootstrap 127.0.0.1:9092]
 *                              [--no-warmup] [--keep-topics] [--no-json] [--json-out <path>]
 *
 * Phases (each produce phase writes its own fresh topic; names are unique per run, since the broker
 * keeps its data; the topics are deleted at the end unless --keep-topics):
 *   - produce, idempotent (acks all), one send() of --batch records to one partition at a time
 *     (partitions in turn), each awaited; then with up to --inflight sends outstanding. The client
 *     keeps one request in flight per connection for idempotent producers, so concurrent sends
 *     overlap encoding with the round trip but are written one after the other.
 *   - produce, transactional: one transaction per --tx-sizes records; each transaction sends its
 *     records in sends of --batch records spread over every partition (as a stream thread's
 *     outputs are), then commits.
 *   - read: KafkaLog.fetchMany (the stream threads' fetch: raw Fetch requests at explicit offsets,
 *     read-committed, every partition in one request) from offset 0 to the end, touching every key
 *     and value; at most 1000 records per partition per fetch (the stream threads' maxPollRecords),
 *     then with no record limit (whatever the 1 MiB per partition of a fetch holds).
 *   - commit latency, --commits small commits one after the other, 1 record to each partition
 *     (and, where the stream thread sends them, the consumer offsets of 8 partitions):
 *       * raw client: beginTransaction + send + commit, the commit (EndTxn) timed apart;
 *       * KafkaLog transaction (what an exactly-once stream thread awaits): produce + sendOffsets + commit;
 *       * KafkaLog at-least-once (what an at-least-once stream thread awaits): produce, then commitOffsets;
 *       * the same steps as KafkaLog's transaction with the raw client, each step timed;
 *     back to back, then (the two KafkaLog cases) --commit-gap-ms apart, as a stream thread commits
 *     once per commit interval. Back to back, the next transaction's AddPartitionsToTxn often finds
 *     the previous one still completing (CONCURRENT_TRANSACTIONS) and is retried after the
 *     producer's retryDelay (10 ms, as KafkaLog sets it).
 *
 * CPU: `process.cpuUsage()` of this process, and the broker's CPU (utime + stime of its JVM from
 * /proc/<pid>/stat, all of its threads) over the same span; both per million records.
 * Results are printed and written to bench/results/<timestamp>-kafka-client.json, or to --json-out
 * (bench/raw-limits.ts runs this script and reads that file).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { Admin, Producer, type Consumer, type Message, type MessageToProduce } from '@platformatic/kafka';
import { KafkaLog } from '../connectors/kafka/index.ts';
import type { LogRecord, PartitionBatch } from '../index.ts';
import {
  RECORD_BYTES,
  cpuSecondsSince,
  kafkaBrokerPids,
  keyIdOf,
  keyString,
  machine,
  parseCount,
  latencyStats,
  processCpuSeconds,
  readTopic,
  si,
  sleep,
  sourceVersion,
  timestampForFile,
  valueString,
} from './common.ts';

const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '1M' },
    partitions: { type: 'string', default: '8' },
    batch: { type: 'string', default: '1000' },
    inflight: { type: 'string', default: '8' },
    'tx-sizes': { type: 'string', default: '1000,10000' },
    commits: { type: 'string', default: '300' },
    'commit-gap-ms': { type: 'string', default: '100' },
    keys: { type: 'string', default: '100000' },
    bootstrap: { type: 'string', default: '127.0.0.1:9092' },
    'no-warmup': { type: 'boolean', default: false },
    'keep-topics': { type: 'boolean', default: false },
    'no-json': { type: 'boolean', default: false },
    'json-out': { type: 'string' },
  },
});

const records = parseCount(args.records);
const partitions = parseCount(args.partitions);
const batchSize = parseCount(args.batch);
const inflight = parseCount(args.inflight);
const txSizes = args['tx-sizes'].split(',').map(parseCount);
const commits = parseCount(args.commits);
const gapMs = Number(args['commit-gap-ms']);
const keys = parseCount(args.keys);
const bootstrapBrokers = args.bootstrap.split(',');
const runId = `${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
const brokerPids = kafkaBrokerPids();
if (brokerPids.length === 0) console.warn('no Kafka broker process found (.kafka/data/*.pid, pgrep -f kafka.Kafka): broker CPU is not measured');

/** Records built once and reused (cycling through a pool), so timings cover the client, not the making of records. */
const POOL = 64 * 1000;
const poolKeys: Buffer[] = [];
const poolValues: Buffer[] = [];
for (let seq = 0; seq < POOL; seq++) {
  poolKeys.push(Buffer.from(keyString(keyIdOf(seq, keys))));
  poolValues.push(Buffer.from(valueString(seq)));
}
/** Recent timestamps: the broker's time retention (24 h) goes by record timestamps. */
const T0 = BigInt(Date.now() - 3_600_000);
const message = (topic: string, partition: number, seq: number): MessageToProduce => ({
  topic,
  partition,
  key: poolKeys[seq % POOL]!,
  value: poolValues[seq % POOL]!,
  timestamp: T0 + BigInt(seq),
});
/** Records first..first+count, each to one `partition`. */
const onePartition = (topic: string, partition: number, first: number, count: number) => Array.from({ length: count }, (_, i) => message(topic, partition, first + i));
/** Records first..first+count spread over every partition (record i to partition i mod P). */
const spread = (topic: string, first: number, count: number) => Array.from({ length: count }, (_, i) => message(topic, (first + i) % partitions, first + i));

interface Row {
  phase: string;
  records: number;
  seconds: number;
  recordsPerSecond: number;
  megabytesPerSecond: number;
  cpuSeconds: number;
  cpuSecondsPerMillion: number;
  brokerCpuSeconds: number;
  brokerCpuSecondsPerMillion: number;
  loadAverage: [number, number];
}

interface LatencyRow {
  what: string;
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  /** Commits per second when issued back to back. */
  perSecond: number;
  cpuMsPerCommit: number;
  brokerCpuMsPerCommit: number;
}

const rows: Row[] = [];
const latencies: LatencyRow[] = [];

/** Runs `work` and measures wall time, this process's CPU and the broker's CPU. */
async function measure<T>(run: () => Promise<T>): Promise<{ value: T; seconds: number; cpu: number; brokerCpu: number; load: [number, number] }> {
  const load0 = loadavg()[0]!;
  const broker0 = processCpuSeconds(brokerPids);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await run();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSecondsSince(cpu0);
  const brokerCpu = processCpuSeconds(brokerPids) - broker0;
  return { value, seconds, cpu, brokerCpu, load: [load0, loadavg()[0]!] };
}

function report(phase: string, n: number, m: { seconds: number; cpu: number; brokerCpu: number; load: [number, number] }): void {
  const r: Row = {
    phase,
    records: n,
    seconds: m.seconds,
    recordsPerSecond: n / m.seconds,
    megabytesPerSecond: (n * RECORD_BYTES) / m.seconds / 1e6,
    cpuSeconds: m.cpu,
    cpuSecondsPerMillion: m.cpu / (n / 1e6),
    brokerCpuSeconds: m.brokerCpu,
    brokerCpuSecondsPerMillion: m.brokerCpu / (n / 1e6),
    loadAverage: m.load,
  };
  rows.push(r);
  console.log(
    `  ${phase.padEnd(52)} ${si(r.recordsPerSecond).padStart(8)} records/s ${r.megabytesPerSecond.toFixed(0).padStart(4)} MB/s  CPU ${r.cpuSecondsPerMillion.toFixed(2).padStart(5)} s/M  broker ${r.brokerCpuSecondsPerMillion.toFixed(2).padStart(5)} s/M  (${r.seconds.toFixed(2)} s, load ${m.load[0].toFixed(1)}/${m.load[1].toFixed(1)})`,
  );
}

const log = new KafkaLog({ bootstrapBrokers, clientId: `bench-client-${runId}` });
const admin = new Admin({ clientId: `bench-client-${runId}-admin`, bootstrapBrokers });
const created: string[] = [];
const producers: Producer[] = [];

async function topic(name: string): Promise<string> {
  const full = `bench-client-${name}-${runId}`;
  await log.createTopic(full, { partitions, cleanupPolicy: 'delete' });
  created.push(full);
  return full;
}

function idempotentProducer(): Producer {
  const p = new Producer({ clientId: `bench-client-${runId}-idempotent`, bootstrapBrokers, idempotent: true });
  producers.push(p);
  return p;
}

function transactionalProducer(id: string): Producer {
  // As KafkaLog creates them: producer id/epoch -1 (InitProducerId bumps the epoch), short retry delay.
  const p = new Producer({
    clientId: `bench-client-${runId}-${id}`,
    bootstrapBrokers,
    idempotent: true,
    transactionalId: `bench-client-${runId}-${id}`,
    producerId: -1n,
    producerEpoch: -1,
    retryDelay: 10,
  });
  producers.push(p);
  return p;
}

async function produceSerial(producer: Producer, name: string, n: number): Promise<void> {
  for (let first = 0, i = 0; first < n; first += batchSize, i++) {
    await producer.send({ messages: onePartition(name, i % partitions, first, Math.min(batchSize, n - first)) });
  }
}

async function producePipelined(producer: Producer, name: string, n: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const first = next;
      next += batchSize;
      await producer.send({ messages: onePartition(name, (first / batchSize) % partitions, first, Math.min(batchSize, n - first)) });
    }
  };
  await Promise.all(Array.from({ length: inflight }, worker));
}

async function produceTransactions(producer: Producer, name: string, n: number, perTx: number): Promise<void> {
  for (let first = 0; first < n; first += perTx) {
    const end = Math.min(n, first + perTx);
    const tx = await producer.beginTransaction();
    for (let at = first; at < end; at += batchSize) await tx.send({ messages: spread(name, at, Math.min(batchSize, end - at)) });
    await tx.commit();
  }
}

/** Reads every partition from 0 to its end with KafkaLog.fetchMany; returns the records read. */
async function readAll(name: string, maxRecords: number): Promise<number> {
  let bytes = 0;
  const count = await readTopic(log, name, partitions, (rec) => (bytes += rec.key!.byteLength + rec.value!.byteLength), maxRecords);
  if (bytes !== count * RECORD_BYTES) throw new Error(`read ${bytes} bytes for ${count} records`);
  return count;
}

/** Times `n` calls of `one` one after the other; `one` may return the durations of its steps (ms), reported apart. */
async function latency(what: string, n: number, one: (i: number) => Promise<Record<string, number> | void>, gapMs = 0): Promise<void> {
  const times: number[] = [];
  const steps = new Map<string, number[]>();
  const m = await measure(async () => {
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      const parts = await one(i);
      times.push(performance.now() - t);
      if (gapMs > 0) await sleep(gapMs);
      for (const [step, ms] of Object.entries(parts ?? {})) {
        let list = steps.get(step);
        if (list === undefined) steps.set(step, (list = []));
        list.push(ms);
      }
    }
  });
  const add = (label: string, list: number[]) => {
    const row: LatencyRow = {
      what: label,
      ...latencyStats(list),
      perSecond: n / m.seconds,
      cpuMsPerCommit: (m.cpu * 1000) / n,
      brokerCpuMsPerCommit: (m.brokerCpu * 1000) / n,
    };
    latencies.push(row);
    console.log(
      `  ${label.padEnd(66)} p50 ${row.p50Ms.toFixed(2).padStart(6)} ms  p90 ${row.p90Ms.toFixed(2).padStart(6)}  p99 ${row.p99Ms.toFixed(2).padStart(6)}  max ${row.maxMs.toFixed(1).padStart(6)}  mean ${row.meanMs.toFixed(2).padStart(6)}`,
    );
  };
  add(what, times);
  for (const [step, list] of steps) add(`  ${step}`, list);
  console.log(
    `  ${''.padEnd(66)} ${(n / m.seconds).toFixed(0)} commits/s; CPU ${((m.cpu * 1000) / n).toFixed(2)} ms, broker CPU ${((m.brokerCpu * 1000) / n).toFixed(2)} ms per commit (load ${m.load[0].toFixed(1)}/${m.load[1].toFixed(1)})`,
  );
}

/** One record to each partition (a stream thread's commit touches every partition it writes). */
const tinyBatches = (name: string, i: number): PartitionBatch[] =>
  Array.from({ length: partitions }, (_, partition) => ({ topic: name, partition, records: [{ key: poolKeys[i % POOL]!, value: poolValues[i % POOL]!, timestamp: Number(T0) + i } satisfies LogRecord] }));
const tinyOffsets = (input: string, i: number) => new Map(Array.from({ length: partitions }, (_, p) => [`${input}:${p}`, i + 1]));

const m = machine();
console.log(`kafka client: ${si(records)} records of ${RECORD_BYTES} bytes, ${partitions} partitions, sends of ${batchSize}, bootstrap ${bootstrapBrokers.join(',')}`);
console.log(`machine: ${m.nproc} cpus, ${m.cpuModel}, Node ${m.node}; broker pid(s) ${brokerPids.join(', ') || 'unknown'}; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
/** The broker's own background CPU (cores) with no client talking to it: part of every broker CPU figure below. */
const brokerIdleCores = await (async () => {
  const b0 = processCpuSeconds(brokerPids);
  await sleep(3000);
  return (processCpuSeconds(brokerPids) - b0) / 3;
})();
console.log(`broker CPU while idle: ${brokerIdleCores.toFixed(3)} cores (3 s sample; included in the broker figures)`);
try {
  if (!args['no-warmup']) {
    // Every phase once on a throwaway topic (100k records), so the first measured one does not pay for the JIT.
    const warm = await topic('warmup');
    const n = Math.min(records, 100_000);
    const p = idempotentProducer();
    await produceSerial(p, warm, n / 2);
    await producePipelined(p, warm, n / 2);
    await produceTransactions(transactionalProducer('warmup'), warm, n / 2, 1000);
    await readAll(warm, 1000);
    console.log('  (warmed up on 100k records)');
  }

  const serial = await topic('serial');
  const p = idempotentProducer();
  report(`produce, idempotent, ${batchSize}/send, 1 in flight`, records, await measure(() => produceSerial(p, serial, records)));
  const pipelined = await topic('pipelined');
  report(`produce, idempotent, ${batchSize}/send, ${inflight} in flight`, records, await measure(() => producePipelined(p, pipelined, records)));
  const txTopics: string[] = [];
  for (const perTx of txSizes) {
    const name = await topic(`tx${perTx}`);
    txTopics.push(name);
    const tp = transactionalProducer(`tx${perTx}`);
    report(`produce, transactional, ${si(perTx)} records/transaction`, records, await measure(() => produceTransactions(tp, name, records, perTx)));
  }
  for (const [name, label] of [
    [pipelined, 'idempotent'],
    [txTopics.at(-1)!, `transactional (${si(txSizes.at(-1)!)}/tx)`],
  ] as const) {
    for (const maxRecords of [1000, Number.MAX_SAFE_INTEGER]) {
      const got = await measure(() => readAll(name, maxRecords));
      if (got.value !== records) throw new Error(`read ${got.value} records of ${name}, produced ${records}`);
      report(`read ${label} topic, fetchMany, ${maxRecords === 1000 ? '<= 1000/partition' : 'no record limit'}`, records, got);
    }
  }

  console.log(`commit latency (${commits} commits, one after the other; 1 record to each of ${partitions} partitions):`);
  const small = await topic('commits');
  const raw = transactionalProducer('commits-raw');
  await latency('raw client: beginTransaction + send + commit', commits, async (i) => {
    const t0 = performance.now();
    const tx = await raw.beginTransaction();
    const t1 = performance.now();
    await tx.send({ messages: spread(small, i * partitions, partitions) });
    const t2 = performance.now();
    await tx.commit();
    return { beginTransaction: t1 - t0, 'send (AddPartitionsToTxn + Produce)': t2 - t1, 'commit (EndTxn)': performance.now() - t2 };
  });
  const group = `bench-client-${runId}-group`;
  // The steps of KafkaLog's transaction commit (connectors/kafka/kafka-log.ts #commit), timed apart:
  // Produce, AddOffsetsToTxn, one TxnOffsetCommit per partition (made one at a time there), EndTxn.
  const [coordinator] = await admin.findCoordinator({ keyType: 0, keys: [group] });
  const steps = transactionalProducer('commits-steps');
  await latency(`raw client, KafkaLog's steps: send + offsets of ${partitions} partitions + commit`, commits, async (i) => {
    const t0 = performance.now();
    const tx = await steps.beginTransaction();
    await tx.send({ messages: spread(small, i * partitions, partitions) });
    const t1 = performance.now();
    await tx.addConsumer({ groupId: group } as unknown as Consumer);
    const t2 = performance.now();
    for (let p = 0; p < partitions; p++) {
      await tx.addOffset({
        topic: small,
        partition: p,
        offset: BigInt(i),
        metadata: { consumer: { groupId: group, generationId: -1, memberId: '', coordinatorId: coordinator!.nodeId } },
      } as unknown as Message);
    }
    const t3 = performance.now();
    await tx.commit();
    return {
      'begin + send (AddPartitionsToTxn + Produce)': t1 - t0,
      'addConsumer (AddOffsetsToTxn)': t2 - t1,
      [`addOffset x ${partitions} (TxnOffsetCommit, one at a time)`]: t3 - t2,
      'commit (EndTxn)': performance.now() - t3,
    };
  });
  const eos = await log.initTransactions(`bench-client-${runId}-commits-log`);
  const eosCommit = async (i: number) => {
    const tx = eos.begin();
    tx.produce(tinyBatches(small, i));
    tx.sendOffsets(group, tinyOffsets(small, i));
    await tx.commit();
  };
  const alosCommit = async (i: number) => {
    const t0 = performance.now();
    await log.produce(tinyBatches(small, i));
    const t1 = performance.now();
    await log.commitOffsets(`${group}-alos`, tinyOffsets(small, i));
    return { produce: t1 - t0, commitOffsets: performance.now() - t1 };
  };
  await latency(`KafkaLog transaction: produce + offsets of ${partitions} partitions + commit`, commits, eosCommit);
  await latency(`KafkaLog at-least-once: produce, then commitOffsets (${partitions})`, commits, alosCommit);
  if (gapMs > 0) {
    // A stream thread commits once per commit interval: the broker has finished the previous
    // transaction (markers written) by the time the next one starts.
    console.log(`the same with ${gapMs} ms between commits (a stream thread's commit interval; CPU figures include the idle gaps):`);
    await latency(`KafkaLog transaction, ${gapMs} ms apart`, commits, (i) => eosCommit(commits + i), gapMs);
    await latency(`KafkaLog at-least-once, ${gapMs} ms apart`, commits, (i) => alosCommit(commits + i), gapMs);
  }
  await latency(`KafkaLog at-least-once: commitOffsets (${partitions}) alone`, commits, async (i) => {
    await log.commitOffsets(`${group}-alos`, tinyOffsets(small, commits + i));
  });
} finally {
  await Promise.allSettled(producers.map((p) => p.close(true)));
  if (!args['keep-topics'] && created.length > 0) await admin.deleteTopics({ topics: created }).catch((e: unknown) => console.warn(`could not delete ${created.join(', ')}: ${String(e)}`));
  await admin.close();
  await log.close();
}

if (!args['no-json']) {
  const out = args['json-out'] !== undefined ? resolve(args['json-out']) : new URL(`./results/${timestampForFile()}-kafka-client.json`, import.meta.url).pathname;
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    JSON.stringify(
      {
        benchmark: 'kafka-client',
        source: sourceVersion(),
        machine: m,
        config: { records, partitions, batchSize, inflight, txSizes, commits, commitGapMs: gapMs, keys, bootstrapBrokers, brokerPids },
        brokerIdleCores,
        results: rows,
        commitLatency: latencies,
      },
      null,
      2,
    ),
  );
  console.log(`results: ${out}`);
}
