/**
 * End to end: StreamsApp on the embedded log (or on Kafka, --log kafka). Preloads `bench-in` (8
 * partitions) with N records of ~100 bytes over 100k distinct keys, then for each topology x
 * threads x processing guarantee starts a StreamsApp with a fresh applicationId and measures the
 * time and CPU until its committed offsets reach the end of `bench-in`.
 *
 *   node bench/end-to-end.ts [--records 5M] [--keys 100k] [--partitions 8]
 *                            [--topologies mapFilter,countByKey,windowedCount,sessionCount,enrichJoin(,windowedCountOnClose)] [--threads 1,2]
 *                            [--guarantees exactly_once_v2,at_least_once] [--commit-interval-ms 100]
 *                            [--fsync on|off] [--state persistent|memory] [--ms-per-record 0.25]
 *                            [--clean-interval-ms N] [--dir /path] [--no-json]
 *                            [--log embedded|kafka] [--bootstrap 127.0.0.1:9092] [--kafka-input TOPIC] [--keep-topics]
 *                            [--fetch-max-bytes N] [--cache-max-bytes N]
 *
 * Timestamps advance by --ms-per-record per record (5M records span about 21 minutes), so the
 * 1-minute windows of `windowedCount` close as stream time moves on.
 *
 * Time is measured from the moment `start()` resolves (every thread has restored and is polling)
 * to the moment the committed offsets cover all input; startup is reported apart. CPU is
 * `process.cpuUsage()` over the same span: it is the whole process (getrusage RUSAGE_SELF), so it
 * includes the stream threads (worker threads) and the main thread serving the log; this script
 * checks that at startup by burning CPU in a worker.
 *
 * --cache-max-bytes sets StreamsApp's cacheMaxBytes (the record cache, KIP-63; 0 turns it off);
 * without it the app's default applies.
 *
 * Persistent stores (the default) live under <data dir>/run/state; --state memory passes
 * `stateDir: false` (in-memory stores with changelogs).
 *
 * The input is preloaded once into <data dir>/input; every run gets its own copy of it
 * (<data dir>/run, deleted after the run), so no run sees the outputs, changelogs or cleaning
 * work of an earlier one. --clean-interval-ms is passed to the embedded log (default: its own).
 *
 * --dir keeps the data directory and reuses its preloaded input if it holds exactly N records.
 * Results are printed and written to bench/results/<timestamp>.json.
 *
 * --log kafka runs against the broker at --bootstrap (`node scripts/kafka.ts start`) through
 * KafkaLog; every stream thread opens its own clients (`workerSpec`). A broker keeps its topics, so
 * names are unique: the input is preloaded once per invocation into `bench-in-<run id>`, with
 * timestamps that end before the run starts (not the fixed ones of the embedded runs: the broker's
 * time retention goes by record timestamps), each case writes `bench-out-*-<case id>`
 * (the topologies read the names from BENCH_INPUT_TOPIC / BENCH_OUTPUT_SUFFIX) and uses a fresh
 * applicationId, hence fresh changelogs and transactional ids. Completion is detected the same way
 * (the app's committed offsets, now read from the broker with requireStable, every 50 ms instead
 * of 10: see completionPollMs). --fetch-max-bytes sets KafkaLog's bytes per partition per fetch
 * (default 1 MiB, about 9000 of these records). The broker's JVM is
 * another process, so its CPU (utime + stime from /proc/<pid>/stat, pid from .kafka/data/*.pid or
 * `pgrep -f kafka.Kafka`) over the same span is reported apart ("broker s/M"). Output and changelog
 * records are counted by reading the topics back after the measured span (end offsets would count
 * transaction markers too). A case's output and changelog topics (and its consumer group) are
 * deleted after it, the input at the end, unless --keep-topics; --kafka-input reuses an existing
 * input topic holding exactly N records (and keeps it). --fsync and --clean-interval-ms do not
 * apply to Kafka (the broker flushes as configured: by default it leaves that to the OS).
 */
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { Admin } from '@platformatic/kafka';
import { EmbeddedLog } from '../connectors/embedded/index.ts';
import { KafkaLog } from '../connectors/kafka/index.ts';
import { StreamsApp, type Log } from '../index.ts';
import {
  RECORD_BYTES,
  cpuSecondsSince,
  fetchEndOffsets,
  kafkaBrokerPids,
  machineBusySeconds,
  machine,
  parseCount,
  parseGuarantees,
  parseList,
  processCpuSeconds,
  produceInput,
  produceProfiles,
  readTopic,
  si,
  sleep,
  sourceVersion,
  sum,
  timestampForFile,
  type Guarantee,
} from './common.ts';
import { INPUT_TOPIC, OUTPUT_TOPICS, PROFILE_TOPIC, type TopologyName } from './topologies.ts';

const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '5M' },
    keys: { type: 'string', default: '100k' },
    partitions: { type: 'string', default: '8' },
    topologies: { type: 'string', default: 'mapFilter,countByKey,windowedCount' },
    threads: { type: 'string', default: '1,2' },
    guarantees: { type: 'string', default: 'exactly_once_v2,at_least_once' },
    'commit-interval-ms': { type: 'string', default: '100' },
    'max-poll-records': { type: 'string', default: '1000' },
    fsync: { type: 'string', default: 'on' },
    state: { type: 'string', default: 'persistent' },
    'ms-per-record': { type: 'string', default: '0.25' },
    'timeout-s': { type: 'string', default: '900' },
    'clean-interval-ms': { type: 'string' },
    dir: { type: 'string' },
    'no-json': { type: 'boolean', default: false },
    log: { type: 'string', default: 'embedded' },
    bootstrap: { type: 'string', default: '127.0.0.1:9092' },
    'kafka-input': { type: 'string' },
    'fetch-max-bytes': { type: 'string' },
    'cache-max-bytes': { type: 'string' },
    'keep-topics': { type: 'boolean', default: false },
  },
});
if (args.log !== 'embedded' && args.log !== 'kafka') throw new Error(`--log must be embedded or kafka, not ${args.log}`);
const onKafka = args.log === 'kafka';
const bootstrapBrokers = args.bootstrap.split(',');
/** --log kafka: KafkaLog's fetchMaxBytesPerPartition (default: the connector's, 1 MiB). */
const fetchMaxBytes = args['fetch-max-bytes'] === undefined ? undefined : parseCount(args['fetch-max-bytes']);
/** StreamsApp's cacheMaxBytes (absent: the app's default). */
const cacheMaxBytes = args['cache-max-bytes'] === undefined ? undefined : args['cache-max-bytes'] === '0' ? 0 : parseCount(args['cache-max-bytes']);
/**
 * How often completion is checked. On Kafka each check is an OffsetFetch round trip (~1 ms of this
 * process's CPU and ~1 ms of the broker's), which at 10 ms would be a tenth of a core of broker CPU
 * charged to the run; 50 ms bounds that to a fiftieth, and the end of a run is still known within
 * half a commit interval.
 */
const completionPollMs = onKafka ? 50 : 10;

const records = parseCount(args.records);
const keys = parseCount(args.keys);
const partitions = parseCount(args.partitions);
const topologies = parseList(args.topologies, (t) => {
  if (!(t in OUTPUT_TOPICS)) throw new Error(`unknown topology ${t}; one of ${Object.keys(OUTPUT_TOPICS).join(', ')}`);
  return t as TopologyName;
});
const threadCounts = parseList(args.threads, parseCount);
const guarantees = parseGuarantees(args.guarantees);
const commitIntervalMs = Number(args['commit-interval-ms']);
const maxPollRecords = parseCount(args['max-poll-records']);
const fsync = args.fsync === 'on';
if (args.state !== 'persistent' && args.state !== 'memory') throw new Error(`--state must be persistent or memory, not ${args.state}`);
const persistentState = args.state === 'persistent';
const msPerRecord = Number(args['ms-per-record']);
const timeoutMs = Number(args['timeout-s']) * 1000;
const cleanIntervalMs = args['clean-interval-ms'] === undefined ? undefined : Number(args['clean-interval-ms']);
/**
 * A minute boundary, so the first 1-minute window starts with the first record. On Kafka, a recent
 * one (the records end before now): the broker applies time retention (24 h by default) to record
 * timestamps, and would delete whole segments of years-old records in the middle of a run.
 */
const T0 = onKafka ? Math.floor((Date.now() - records * msPerRecord) / 60_000 - 1) * 60_000 : 1_699_999_980_000;

/** Burns ~300 ms of CPU in a worker thread and checks that process.cpuUsage() of this thread saw it. */
async function checkCpuUsageCoversWorkers(): Promise<{ workerBusyMs: number; seenByMainMs: number; ok: boolean }> {
  const before = process.cpuUsage();
  const worker = new Worker('const t = Date.now(); let x = 0; while (Date.now() - t < 300) x++;', { eval: true });
  await new Promise((resolve) => worker.on('exit', resolve));
  const seen = cpuSecondsSince(before) * 1000;
  return { workerBusyMs: 300, seenByMainMs: Math.round(seen), ok: seen >= 250 };
}

async function endOffsets(log: EmbeddedLog, topic: string): Promise<number[]> {
  const n = (await log.topics()).get(topic)?.partitions ?? 0;
  return Array.from({ length: n }, (_, partition) => log.offsets({ topic, partition }).end);
}

/** Records of a Kafka topic that a read-committed reader sees (offsets also count transaction markers). */
async function kafkaCountRecords(log: KafkaLog, topic: string): Promise<number> {
  const n = (await admin!.metadata({ topics: [topic], forceUpdate: true })).topics.get(topic)?.partitionsCount ?? 0;
  return readTopic(log, topic, n);
}

/** Topics whose names start with `prefix` (the internal topics of an application). */
async function kafkaTopicsStartingWith(prefix: string): Promise<string[]> {
  return (await admin!.listTopics({ includeInternals: false })).filter((name) => name.startsWith(prefix));
}

async function preload(log: Log, topic = INPUT_TOPIC): Promise<void> {
  // On Kafka, infinite retention, so that an input kept with --keep-topics stays whole.
  await log.createTopic(topic, { partitions, cleanupPolicy: 'delete', ...(onKafka && { retentionMs: -1 }) });
  await produceInput(log, topic, { records, keys, partitions, timestampOf: (seq) => T0 + Math.floor(seq * msPerRecord) });
}

interface Result {
  topology: TopologyName;
  threads: number;
  guarantee: Guarantee;
  applicationId: string;
  records: number;
  startupSeconds: number;
  seconds: number;
  recordsPerSecond: number;
  cpuSeconds: number;
  cpuSecondsPerMillion: number;
  /** CPU seconds per wall second: how many cores were busy on average. */
  cores: number;
  outputRecords: number;
  changelogRecords: number;
  commits: number;
  /** Time the stream threads spent in commits (awaiting the log included), summed over threads. */
  commitSeconds: number;
  /** Time the stream threads spent processing records, summed over threads. */
  processSeconds: number;
  /** 1-minute load average when the run started and ended (other processes on the machine skew the numbers). */
  loadAverage: [number, number];
  /** --log kafka: CPU seconds of the broker process(es) over the same span (not in cpuSeconds). */
  brokerCpuSeconds?: number;
  brokerCpuSecondsPerMillion?: number;
  /**
   * --log kafka: CPU seconds used over the same span by everything else on the machine (all CPU
   * time in /proc/stat minus this process and the broker): other work competing for the CPUs.
   */
  otherCpuSeconds?: number;
}

/** What runOne needs from the log it runs on. */
interface Target {
  readonly log: Log;
  readonly input: string;
  /** The case's output topic (embedded: the topology's; Kafka: a fresh one, created by runOne's caller). */
  readonly output: string;
  /** Records in a topic (embedded: the sum of its end offsets). */
  count(topic: string): Promise<number>;
  /** The topics holding the changelogs of an application. */
  changelogs(applicationId: string): Promise<string[]>;
  /** Before `start()`: e.g. the environment the threads read their topic names from. */
  readonly env?: Readonly<Record<string, string>>;
  /** Broker pids whose CPU is measured apart (Kafka). */
  readonly brokerPids?: readonly number[];
}

function applicationIdFor(topology: TopologyName, threads: number, guarantee: Guarantee): string {
  return `bench-${topology}-${threads}t-${guarantee === 'exactly_once_v2' ? 'eos' : 'alos'}-${Date.now()}`;
}

async function runOne(
  target: Target,
  stateDir: string,
  topology: TopologyName,
  threads: number,
  guarantee: Guarantee,
  ends: number[],
  applicationId = applicationIdFor(topology, threads, guarantee),
): Promise<Result> {
  const { log, input, output } = target;
  const outBefore = await target.count(output);
  for (const [name, value] of Object.entries(target.env ?? {})) process.env[name] = value;
  const app = new StreamsApp(
    { module: new URL('./topologies.ts', import.meta.url), export: topology },
    { applicationId, log, threads, processingGuarantee: guarantee, commitIntervalMs, maxPollRecords, stateDir: persistentState ? stateDir : false, ...(cacheMaxBytes !== undefined && { cacheMaxBytes }) },
  );
  const load0 = loadavg()[0]!;
  const wall0 = performance.now();
  await app.start();
  const startupSeconds = (performance.now() - wall0) / 1000;
  const brokerPids = target.brokerPids ?? [];
  const broker0 = processCpuSeconds(brokerPids);
  const machine0 = machineBusySeconds();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const deadline = Date.now() + timeoutMs;
  let lastReport = Date.now();
  for (;;) {
    if (app.state !== 'RUNNING') throw new Error(`${applicationId} is ${app.state}`);
    const committed = await log.committedOffsets(applicationId);
    const done = ends.reduce((n, end, p) => n + Math.min(end, committed.get(`${input}:${p}`) ?? 0), 0);
    if (done === records) break;
    if (Date.now() > deadline) throw new Error(`${applicationId}: timed out with ${done} of ${records} records committed`);
    if (Date.now() - lastReport > 10_000) {
      lastReport = Date.now();
      process.stdout.write(`    ... ${si(done)} of ${si(records)} committed\n`);
    }
    await sleep(completionPollMs);
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpuSeconds = cpuSecondsSince(cpu0);
  const brokerCpuSeconds = processCpuSeconds(brokerPids) - broker0;
  const otherCpuSeconds = machineBusySeconds() - machine0 - cpuSeconds - brokerCpuSeconds;
  const metrics = await app.metrics();
  await app.close();
  const outputRecords = (await target.count(output)) - outBefore;
  let changelogRecords = 0;
  for (const name of await target.changelogs(applicationId)) changelogRecords += await target.count(name);
  return {
    topology,
    threads,
    guarantee,
    applicationId,
    records,
    startupSeconds,
    seconds,
    recordsPerSecond: records / seconds,
    cpuSeconds,
    cpuSecondsPerMillion: cpuSeconds / (records / 1e6),
    cores: cpuSeconds / seconds,
    outputRecords,
    changelogRecords,
    commits: metrics.commits,
    commitSeconds: metrics.commitMs / 1000,
    processSeconds: metrics.processMs / 1000,
    loadAverage: [load0, loadavg()[0]!],
    ...(brokerPids.length > 0 && { brokerCpuSeconds, brokerCpuSecondsPerMillion: brokerCpuSeconds / (records / 1e6), otherCpuSeconds }),
  };
}

const m = machine();
console.log(
  onKafka
    ? `end to end on Kafka (${bootstrapBrokers.join(',')}): ${si(records)} records of ${RECORD_BYTES} bytes, ${si(keys)} keys, ${partitions} partitions; commit interval ${commitIntervalMs} ms, ${args.state} stores`
    : `end to end: ${si(records)} records of ${RECORD_BYTES} bytes, ${si(keys)} keys, ${partitions} partitions; fsync ${fsync ? 'on' : 'off'}, commit interval ${commitIntervalMs} ms, ${args.state} stores`,
);
console.log(`machine: ${m.nproc} cpus, ${m.cpuModel}, Node ${m.node}`);
const cpuCheck = await checkCpuUsageCoversWorkers();
console.log(`process.cpuUsage() includes worker threads: ${cpuCheck.ok ? 'yes' : 'NO'} (a worker burned ${cpuCheck.workerBusyMs} ms, the main thread saw ${cpuCheck.seenByMainMs} ms)`);

const resultsFile = new URL(`./results/${timestampForFile()}.json`, import.meta.url);
const dir = args.dir ?? mkdtempSync(join(tmpdir(), 'tributary-bench-e2e-'));
/** The preloaded input, never run against: each run gets a copy of it. */
const template = join(dir, 'input');
const results: Result[] = [];
/** --log kafka: the admin client (topic listing and deletion) and the broker's pids. */
let admin: Admin | undefined;
let kafkaInput: string | undefined;
let brokerPids: number[] = [];

function printHeader(): void {
  console.log(
    `${'topology'.padEnd(20)} ${'threads'.padStart(7)} ${'guarantee'.padEnd(16)} ${'records/s'.padStart(10)} ${'CPU s/M'.padStart(8)} ${'cores'.padStart(5)} ${'wall s'.padStart(7)} ${'start s'.padStart(7)} ${'out'.padStart(8)} ${'changelog'.padStart(9)} ${'commits'.padStart(7)} ${'commit s'.padStart(8)} ${'process s'.padStart(9)} ${'load'.padStart(9)}${onKafka ? ` ${'broker s/M'.padStart(10)} ${'other s'.padStart(7)}` : ''}`,
  );
}

function printRow(r: Result): void {
  console.log(
    `${r.topology.padEnd(20)} ${String(r.threads).padStart(7)} ${r.guarantee.padEnd(16)} ${si(r.recordsPerSecond).padStart(10)} ${r.cpuSecondsPerMillion.toFixed(2).padStart(8)} ${r.cores.toFixed(2).padStart(5)} ${r.seconds.toFixed(2).padStart(7)} ${r.startupSeconds.toFixed(2).padStart(7)} ${si(r.outputRecords).padStart(8)} ${si(r.changelogRecords).padStart(9)} ${String(r.commits).padStart(7)} ${r.commitSeconds.toFixed(1).padStart(8)} ${r.processSeconds.toFixed(1).padStart(9)} ${`${r.loadAverage[0].toFixed(1)}/${r.loadAverage[1].toFixed(1)}`.padStart(9)}${r.brokerCpuSecondsPerMillion !== undefined ? ` ${r.brokerCpuSecondsPerMillion.toFixed(2).padStart(10)} ${(r.otherCpuSeconds ?? Number.NaN).toFixed(1).padStart(7)}` : ''}`,
  );
}

async function runEmbedded(): Promise<void> {
  let reuse = false;
  if (existsSync(join(template, 'wal'))) {
    const probe = await EmbeddedLog.open({ dir: template, fsync: false, cleanIntervalMs: 0 });
    const existing = await probe.topics();
    reuse = existing.has(INPUT_TOPIC) && existing.has(PROFILE_TOPIC) && sum(await endOffsets(probe, INPUT_TOPIC)) === records;
    await probe.close();
  }
  if (!reuse) {
    rmSync(template, { recursive: true, force: true });
    mkdirSync(template, { recursive: true });
    const t = performance.now();
    const loader = await EmbeddedLog.open({ dir: template, fsync: false, cleanIntervalMs: 0 });
    await preload(loader);
    // enrichJoin's table: one profile per key id not divisible by 10, timestamped before every event.
    await loader.createTopic(PROFILE_TOPIC, { partitions, cleanupPolicy: 'delete' });
    await produceProfiles(loader, PROFILE_TOPIC, { keys, partitions, timestamp: T0 - 60_000 });
    for (const topic of Object.values(OUTPUT_TOPICS)) await loader.createTopic(topic, { partitions, cleanupPolicy: 'delete' });
    await loader.close();
    console.log(`preloaded ${si(records)} records into ${template} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  } else {
    console.log(`reusing the ${si(records)} records preloaded in ${template}`);
  }

  printHeader();
  for (const topology of topologies) {
    for (const threads of threadCounts) {
      for (const guarantee of guarantees) {
        // Every run starts from the same state: a copy of the input alone, and no state directory.
        const runDir = join(dir, 'run');
        rmSync(runDir, { recursive: true, force: true });
        cpSync(template, join(runDir, 'log'), { recursive: true });
        const log = await EmbeddedLog.open({ dir: join(runDir, 'log'), fsync, ...(cleanIntervalMs !== undefined && { cleanIntervalMs }) });
        const ends = await endOffsets(log, INPUT_TOPIC);
        if (sum(ends) !== records) throw new Error(`${INPUT_TOPIC} holds ${sum(ends)} records, expected ${records}`);
        try {
          const target: Target = {
            log,
            input: INPUT_TOPIC,
            output: OUTPUT_TOPICS[topology],
            count: async (topic) => sum(await endOffsets(log, topic)),
            changelogs: async (applicationId) => [...(await log.topics()).keys()].filter((name) => name.startsWith(`${applicationId}-`)),
          };
          const r = await runOne(target, join(runDir, 'state'), topology, threads, guarantee, ends);
          results.push(r);
          // Written after every run, so that a crash keeps what was measured before it.
          writeResults(false);
          printRow(r);
        } finally {
          await log.close();
          rmSync(runDir, { recursive: true, force: true });
        }
      }
    }
  }
}

async function runKafka(): Promise<void> {
  brokerPids = kafkaBrokerPids();
  if (brokerPids.length === 0) console.warn('no Kafka broker process found (.kafka/data/*.pid, pgrep -f kafka.Kafka): broker CPU is not measured');
  else console.log(`broker pid(s): ${brokerPids.join(', ')}`);
  const runId = `${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
  admin = new Admin({ clientId: `bench-e2e-${runId}-admin`, bootstrapBrokers });
  // The main thread's log: preload, topic creation, the committed offsets polled for completion.
  // The stream threads open their own (workerSpec).
  const log = new KafkaLog({ bootstrapBrokers, clientId: `bench-e2e-${runId}`, ...(fetchMaxBytes !== undefined && { fetchMaxBytesPerPartition: fetchMaxBytes }) });
  const input = args['kafka-input'] ?? `${INPUT_TOPIC}-${runId}`;
  try {
    if (args['kafka-input'] === undefined) {
      const t = performance.now();
      kafkaInput = input;
      await preload(log, input);
      console.log(`preloaded ${si(records)} records into Kafka topic ${input} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    } else {
      console.log(`reusing Kafka topic ${input}`);
    }
    const ends = await fetchEndOffsets(log, input, partitions);
    if (sum(ends) !== records) throw new Error(`${input} holds ${sum(ends)} offsets, expected ${records} records`);

    printHeader();
    for (const topology of topologies) {
      for (const threads of threadCounts) {
        for (const guarantee of guarantees) {
          const caseId = `${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
          const output = `${OUTPUT_TOPICS[topology]}-${caseId}`;
          await log.createTopic(output, { partitions, cleanupPolicy: 'delete', retentionMs: -1 });
          const stateDir = join(dir, 'run', 'state');
          rmSync(join(dir, 'run'), { recursive: true, force: true });
          const applicationId = applicationIdFor(topology, threads, guarantee);
          try {
            const target: Target = {
              log,
              input,
              output,
              count: (topic) => kafkaCountRecords(log, topic),
              changelogs: (appId) => kafkaTopicsStartingWith(`${appId}-`),
              env: { BENCH_INPUT_TOPIC: input, BENCH_OUTPUT_SUFFIX: `-${caseId}` },
              brokerPids,
            };
            const r = await runOne(target, stateDir, topology, threads, guarantee, ends, applicationId);
            results.push(r);
            writeResults(false);
            printRow(r);
          } finally {
            rmSync(join(dir, 'run'), { recursive: true, force: true });
            if (!args['keep-topics']) {
              const topics = [output, ...(await kafkaTopicsStartingWith(`${applicationId}-`))];
              await admin.deleteTopics({ topics }).catch((e: unknown) => console.warn(`could not delete ${topics.join(', ')}: ${String(e)}`));
              await admin.deleteGroups({ groups: [applicationId] }).catch(() => {});
            }
          }
        }
      }
    }
  } finally {
    if (kafkaInput !== undefined && !args['keep-topics']) await admin.deleteTopics({ topics: [kafkaInput] }).catch((e: unknown) => console.warn(`could not delete ${kafkaInput}: ${String(e)}`));
    await log.close();
    await admin.close();
  }
}

try {
  if (onKafka) await runKafka();
  else await runEmbedded();
} finally {
  if (args.dir === undefined) rmSync(dir, { recursive: true, force: true });
}

function writeResults(complete: boolean): void {
  if (args['no-json']) return;
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  const config = {
    records,
    keys,
    partitions,
    recordBytes: RECORD_BYTES,
    commitIntervalMs,
    maxPollRecords,
    fsync,
    msPerRecord,
    state: args.state,
    cleanIntervalMs: cleanIntervalMs ?? 'log default',
    log: args.log,
    cacheMaxBytes: cacheMaxBytes ?? 'app default',
    ...(onKafka && { bootstrapBrokers, kafkaInput: args['kafka-input'] ?? kafkaInput, brokerPids, fetchMaxBytesPerPartition: fetchMaxBytes ?? 'connector default', completionPollMs }),
  };
  writeFileSync(resultsFile, JSON.stringify({ benchmark: 'end-to-end', complete, source: sourceVersion(), machine: m, cpuUsageIncludesWorkers: cpuCheck, config, results }, null, 2));
}
writeResults(true);
if (!args['no-json']) console.log(`results: ${resultsFile.pathname}`);
