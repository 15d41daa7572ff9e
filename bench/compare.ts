/**
 * Side by side with Kafka Streams on the same broker: the topologies of bench/topologies.ts run by
 * Tributary (StreamsApp on KafkaLog) and by Kafka Streams 4.1.2 (bench/kafka-streams/, the same
 * topologies in Java), on the same input topic, one after the other, each in a fresh process.
 *
 *   node bench/compare.ts [--records 1M] [--keys 100k] [--partitions 8] [--ms-per-record 0.25]
 *                         [--topologies mapFilter,countByKey,windowedCount] [--threads 1,2]
 *                         [--guarantees exactly_once_v2,at_least_once] [--repetitions 1]
 *                         [--commit-interval-ms 100] [--max-poll-records 1000] [--ks-cache-bytes 0]
 *                         [--java-opts "-Xms1g -Xmx1g"] [--bootstrap 127.0.0.1:9092] [--timeout-s 900]
 *                         [--skip-build] [--no-verify] [--keep-topics] [--no-json]
 *
 * Needs the broker of `node scripts/kafka.ts start`, Java 17 and Maven (the Java project is built
 * once, `mvn -q -f bench/kafka-streams/pom.xml package`, unless --skip-build).
 *
 * 1. Preloads `bench-cmp-in-<run id>` (--partitions partitions) with the records of end-to-end.ts
 *    (common.ts: 100 bytes, --keys keys, partitioned by Kafka's default partitioner, timestamps
 *    advancing --ms-per-record and ending before now, since the broker's time retention goes by
 *    record timestamps).
 * 2. For each repetition x topology x threads x guarantee, runs both engines on that input, in
 *    alternating order (Kafka Streams first in even cases, Tributary first in odd ones), each with
 *    a fresh application id, its own fresh output topic and a fresh state directory:
 *      - Kafka Streams: `java <--java-opts> -jar bench/kafka-streams/target/kafka-streams-bench.jar`;
 *      - Tributary: this script again, `node bench/compare.ts --child <json>`, which runs a
 *        StreamsApp on KafkaLog with the topology module bench/topologies.ts (as end-to-end.ts
 *        --log kafka does: persistent stores, the same commit interval and max poll records).
 *    Each engine measures itself the same way: wall time and its process's CPU time (Tributary:
 *    process.cpuUsage(), every thread; Kafka Streams: OperatingSystemMXBean.getProcessCpuTime, every
 *    JVM thread) from the moment the app is running (Tributary: start() resolved; Kafka Streams:
 *    state RUNNING) to the moment its committed offsets, polled every 50 ms (read with
 *    requireStable), cover the end of the input. Each prints a JSON line when running and one when
 *    done. Over the same span this script reads, from /proc, the engine process's CPU (a cross-check,
 *    "procCpuSeconds"), the broker's CPU and the CPU of everything else on the machine ("other").
 * 3. Unless --no-verify, reads each output topic back (read-committed) and compares the two
 *    engines' outputs as multisets of (key bytes, value bytes), by record count and an
 *    order-independent digest (partitions and order are not compared), and counts the records of
 *    each application's internal (changelog) topics.
 * Topics of a case are deleted after it, the input at the end, unless --keep-topics.
 *
 * Results: a table per run, a summary (medians over repetitions) with the ratios Tributary / Kafka
 * Streams, and bench/results/<timestamp>-compare.json (rewritten after every case).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Admin } from '@platformatic/kafka';
import { KafkaLog } from '../connectors/kafka/index.ts';
import { StreamsApp, partitionForKey, type LogRecord } from '../index.ts';
import {
  RECORD_BYTES,
  cpuSecondsSince,
  kafkaBrokerPids,
  keyIdOf,
  keyString,
  machine,
  machineBusySeconds,
  parseCount,
  processCpuSeconds,
  si,
  sourceVersion,
  timestampForFile,
  valueString,
} from './common.ts';
import { OUTPUT_TOPICS, type TopologyName } from './topologies.ts';

type Guarantee = 'exactly_once_v2' | 'at_least_once';
type Engine = 'kafka-streams' | 'tributary';
const COMPARED: readonly TopologyName[] = ['mapFilter', 'countByKey', 'windowedCount'];
/** How often each engine checks its committed offsets (as end-to-end.ts --log kafka). */
const COMPLETION_POLL_MS = 50;

/** What the Tributary child process runs (`--child <json>`). */
interface ChildSpec {
  readonly bootstrapBrokers: readonly string[];
  readonly input: string;
  readonly partitions: number;
  readonly outputSuffix: string;
  readonly applicationId: string;
  readonly topology: TopologyName;
  readonly threads: number;
  readonly guarantee: Guarantee;
  readonly commitIntervalMs: number;
  readonly maxPollRecords: number;
  readonly timeoutMs: number;
}

/** The `done` line of either engine (fields both print). */
interface EngineReport {
  readonly engine: Engine;
  readonly records: number;
  readonly startupSeconds: number;
  readonly seconds: number;
  readonly recordsPerSecond: number;
  readonly cpuSeconds: number;
  readonly cpuSecondsPerMillion: number;
  readonly cores: number;
  readonly commits: number;
  readonly peakRssMiB: number;
  readonly [more: string]: unknown;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

/** End offsets (read-committed) of a topic's partitions. */
async function endOffsets(log: KafkaLog, topic: string, partitions: number): Promise<number[]> {
  const results = await log.fetchMany(Array.from({ length: partitions }, (_, partition) => ({ tp: { topic, partition }, offset: 0, options: { maxRecords: 0 } })));
  return results.map((r) => r.endOffset);
}

// ---------------------------------------------------------------------------------------------
// Child: one Tributary run

async function runTributaryChild(spec: ChildSpec): Promise<void> {
  // Read by bench/topologies.ts in every stream thread (workers copy the environment at start).
  process.env.BENCH_INPUT_TOPIC = spec.input;
  process.env.BENCH_OUTPUT_SUFFIX = spec.outputSuffix;
  const log = new KafkaLog({ bootstrapBrokers: spec.bootstrapBrokers, clientId: spec.applicationId });
  const stateDir = mkdtempSync(join(tmpdir(), 'tributary-compare-'));
  const emit = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);
  try {
    const ends = await endOffsets(log, spec.input, spec.partitions);
    const records = sum(ends);
    const app = new StreamsApp(
      { module: new URL('./topologies.ts', import.meta.url), export: spec.topology },
      {
        applicationId: spec.applicationId,
        log,
        threads: spec.threads,
        processingGuarantee: spec.guarantee,
        commitIntervalMs: spec.commitIntervalMs,
        maxPollRecords: spec.maxPollRecords,
        stateDir,
      },
    );
    const wall0 = performance.now();
    await app.start();
    const startupSeconds = (performance.now() - wall0) / 1000;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    emit({ event: 'running', startupSeconds });
    const deadline = Date.now() + spec.timeoutMs;
    let lastReport = Date.now();
    for (;;) {
      if (app.state !== 'RUNNING') throw new Error(`${spec.applicationId} is ${app.state}`);
      const committed = await log.committedOffsets(spec.applicationId);
      const done = ends.reduce((n, end, p) => n + Math.min(end, committed.get(`${spec.input}:${p}`) ?? 0), 0);
      if (done === records) break;
      if (Date.now() > deadline) throw new Error(`${spec.applicationId}: timed out with ${done} of ${records} records committed`);
      if (Date.now() - lastReport > 10_000) {
        lastReport = Date.now();
        process.stderr.write(`    ... ${si(done)} of ${si(records)} committed\n`);
      }
      await sleep(COMPLETION_POLL_MS);
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpuSeconds = cpuSecondsSince(cpu0);
    const metrics = await app.metrics();
    emit({
      event: 'done',
      engine: 'tributary',
      topology: spec.topology,
      threads: spec.threads,
      guarantee: spec.guarantee,
      applicationId: spec.applicationId,
      records,
      startupSeconds,
      seconds,
      recordsPerSecond: records / seconds,
      cpuSeconds,
      cpuSecondsPerMillion: cpuSeconds / (records / 1e6),
      cores: cpuSeconds / seconds,
      commits: metrics.commits,
      commitSeconds: metrics.commitMs / 1000,
      processSeconds: metrics.processMs / 1000,
      // ru_maxrss of the whole process (every worker thread), in KiB on Linux.
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
      node: process.version,
      execArgv: process.execArgv,
    } satisfies EngineReport & Record<string, unknown>);
    await app.close();
  } finally {
    await log.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Parent

const { values: args } = parseArgs({
  options: {
    child: { type: 'string' },
    records: { type: 'string', default: '1M' },
    keys: { type: 'string', default: '100k' },
    partitions: { type: 'string', default: '8' },
    'ms-per-record': { type: 'string', default: '0.25' },
    topologies: { type: 'string', default: COMPARED.join(',') },
    threads: { type: 'string', default: '1,2' },
    guarantees: { type: 'string', default: 'exactly_once_v2,at_least_once' },
    repetitions: { type: 'string', default: '1' },
    'commit-interval-ms': { type: 'string', default: '100' },
    'max-poll-records': { type: 'string', default: '1000' },
    'ks-cache-bytes': { type: 'string', default: '0' },
    'java-opts': { type: 'string', default: '-Xms1g -Xmx1g' },
    bootstrap: { type: 'string', default: '127.0.0.1:9092' },
    'timeout-s': { type: 'string', default: '900' },
    'skip-build': { type: 'boolean', default: false },
    'no-verify': { type: 'boolean', default: false },
    'keep-topics': { type: 'boolean', default: false },
    'no-json': { type: 'boolean', default: false },
  },
});

/** One engine's run of one case, as the parent saw it. */
interface EngineRun {
  readonly report: EngineReport;
  /** The engine process's CPU (utime + stime from /proc) between its `running` and `done` lines. */
  readonly procCpuSeconds: number;
  readonly brokerCpuSeconds: number;
  readonly brokerCpuSecondsPerMillion: number;
  /** CPU used by everything else on the machine over the span (all of /proc/stat minus engine and broker). */
  readonly otherCpuSeconds: number;
  readonly loadAverage: [number, number];
  readonly outputTopic: string;
  readonly outputRecords?: number;
  readonly outputDigest?: string;
  readonly internalTopicRecords?: number;
}

interface CaseResult {
  readonly topology: TopologyName;
  readonly threads: number;
  readonly guarantee: Guarantee;
  readonly repetition: number;
  readonly order: readonly Engine[];
  readonly kafkaStreams?: EngineRun;
  readonly tributary?: EngineRun;
  readonly errors: string[];
  /** Both outputs read back and equal as multisets of (key, value); undefined with --no-verify or a failed run. */
  readonly outputsAgree?: boolean;
  readonly expectedOutputRecords: number;
}

const here = fileURLToPath(new URL('.', import.meta.url));
const pom = join(here, 'kafka-streams', 'pom.xml');
const jar = join(here, 'kafka-streams', 'target', 'kafka-streams-bench.jar');

async function main(): Promise<void> {
  const records = parseCount(args.records);
  const keys = parseCount(args.keys);
  const partitions = parseCount(args.partitions);
  const msPerRecord = Number(args['ms-per-record']);
  const topologies = args.topologies.split(',').map((t) => {
    if (!(COMPARED as readonly string[]).includes(t)) throw new Error(`unknown topology ${t}; one of ${COMPARED.join(', ')}`);
    return t as TopologyName;
  });
  const threadCounts = args.threads.split(',').map(parseCount);
  const guarantees = args.guarantees.split(',').map((g) => {
    if (g !== 'exactly_once_v2' && g !== 'at_least_once') throw new Error(`unknown guarantee ${g}`);
    return g as Guarantee;
  });
  const repetitions = parseCount(args.repetitions);
  const commitIntervalMs = Number(args['commit-interval-ms']);
  const maxPollRecords = parseCount(args['max-poll-records']);
  const ksCacheBytes = Number(args['ks-cache-bytes']);
  const javaOpts = args['java-opts'].split(/\s+/).filter(Boolean);
  const bootstrapBrokers = args.bootstrap.split(',');
  const timeoutMs = Number(args['timeout-s']) * 1000;
  const verify = !args['no-verify'];
  const java = process.env.JAVA_HOME === undefined ? 'java' : join(process.env.JAVA_HOME, 'bin', 'java');

  const m = machine();
  const uptime = (() => {
    try {
      return execFileSync('uptime', { encoding: 'utf8' }).trim();
    } catch {
      return `load average ${loadavg().map((l) => l.toFixed(2)).join(', ')}`;
    }
  })();
  const javaVersion = spawnSync(java, ['-version'], { encoding: 'utf8' }).stderr.trim().split('\n')[0] ?? 'unknown';
  const brokerPids = kafkaBrokerPids();
  console.log(`compare on Kafka (${bootstrapBrokers.join(',')}): ${si(records)} records of ${RECORD_BYTES} bytes, ${si(keys)} keys, ${partitions} partitions; commit interval ${commitIntervalMs} ms`);
  console.log(`machine: ${m.nproc} cpus, ${m.cpuModel}, ${m.memoryGiB} GiB, Node ${m.node}, ${javaVersion}`);
  console.log(`uptime: ${uptime}`);
  if (brokerPids.length === 0) console.warn('no Kafka broker process found (.kafka/data/*.pid, pgrep -f kafka.Kafka): broker CPU is not measured');
  else console.log(`broker pid(s): ${brokerPids.join(', ')}`);

  if (!args['skip-build']) {
    const t = performance.now();
    execFileSync('mvn', ['-q', '-f', pom, 'package'], { stdio: 'inherit' });
    console.log(`built ${jar} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }

  const runId = `${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
  const admin = new Admin({ clientId: `bench-compare-${runId}-admin`, bootstrapBrokers });
  const log = new KafkaLog({ bootstrapBrokers, clientId: `bench-compare-${runId}` });
  const input = `bench-cmp-in-${runId}`;
  const results: CaseResult[] = [];
  const resultsFile = new URL(`./results/${timestampForFile()}-compare.json`, import.meta.url);
  let kafkaStreamsVersion: unknown;
  const config = {
    records,
    keys,
    partitions,
    recordBytes: RECORD_BYTES,
    msPerRecord,
    commitIntervalMs,
    maxPollRecords,
    completionPollMs: COMPLETION_POLL_MS,
    repetitions,
    bootstrapBrokers,
    input,
    brokerPids,
    tributary: { state: 'persistent (LevelDB mirror)', log: 'KafkaLog, connector defaults' },
    kafkaStreams: { statestoreCacheMaxBytes: ksCacheBytes, javaOpts, state: 'RocksDB (defaults)' },
  };
  const writeResults = (complete: boolean) => {
    if (args['no-json']) return;
    mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
    writeFileSync(
      resultsFile,
      JSON.stringify({ benchmark: 'compare', complete, source: sourceVersion(), machine: m, uptime, java: javaVersion, kafkaStreamsVersion, config, results }, null, 2),
    );
  };

  // mapFilter keeps records whose amount (seq % 997) is even.
  const expectedMapFilter = Array.from({ length: records }, (_, seq) => seq).filter((seq) => (seq % 997) % 2 === 0).length;

  /** Reads a topic back (read-committed): its records and an order-independent digest of (key, value). */
  const readBack = async (topic: string): Promise<{ records: number; digest: string }> => {
    const n = (await admin.metadata({ topics: [topic], forceUpdate: true })).topics.get(topic)?.partitionsCount ?? 0;
    const ends = await endOffsets(log, topic, n);
    const offsets = new Array<number>(n).fill(0);
    let count = 0;
    let hi = 0;
    let lo = 0;
    const separator = Buffer.from([0xff]);
    for (;;) {
      const wanted = offsets.flatMap((offset, partition) => (offset < ends[partition]! ? [{ partition, offset }] : []));
      if (wanted.length === 0) break;
      const fetched = await log.fetchMany(wanted.map((w) => ({ tp: { topic, partition: w.partition }, offset: w.offset, options: { maxRecords: Number.MAX_SAFE_INTEGER } })));
      fetched.forEach((r, i) => {
        for (const record of r.records) {
          const h = createHash('sha1');
          if (record.key !== null) h.update(record.key);
          h.update(separator);
          if (record.value !== null) h.update(record.value);
          const d = h.digest();
          hi = (hi + d.readUInt32BE(0)) >>> 0;
          lo = (lo + d.readUInt32BE(4)) >>> 0;
        }
        count += r.records.length;
        offsets[wanted[i]!.partition] = r.nextOffset;
      });
    }
    return { records: count, digest: `${hi.toString(16).padStart(8, '0')}${lo.toString(16).padStart(8, '0')}` };
  };
  const internalTopics = async (applicationId: string) => (await admin.listTopics({ includeInternals: false })).filter((name) => name.startsWith(`${applicationId}-`));

  /** Runs one engine process, sampling /proc when it reports running and done. */
  const runProcess = async (engine: Engine, command: string, argv: readonly string[], outputTopic: string, applicationId: string): Promise<EngineRun> => {
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    const pid = child.pid!;
    const stderrTail: string[] = [];
    createInterface({ input: child.stderr }).on('line', (line) => {
      process.stderr.write(`  [${engine}] ${line}\n`);
      stderrTail.push(line);
      if (stderrTail.length > 20) stderrTail.shift();
    });
    let at0: { broker: number; proc: number; machine: number; load: number } | undefined;
    let at1: { broker: number; proc: number; machine: number; load: number } | undefined;
    let report: EngineReport | undefined;
    const sample = () => ({ broker: processCpuSeconds(brokerPids), proc: processCpuSeconds([pid]), machine: machineBusySeconds(), load: loadavg()[0]! });
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (!line.startsWith('{')) {
        process.stdout.write(`  [${engine}] ${line}\n`);
        return;
      }
      const message = JSON.parse(line) as { event?: string };
      if (message.event === 'running') at0 = sample();
      else if (message.event === 'done') {
        at1 = sample();
        report = message as unknown as EngineReport;
      }
    });
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c) => resolve(c));
    });
    if (report === undefined || at0 === undefined || at1 === undefined) {
      throw new Error(`${engine} (${applicationId}) exited with ${code} before reporting; stderr: ${stderrTail.slice(-5).join(' | ')}`);
    }
    if (code !== 0) console.warn(`  [${engine}] exited with ${code} after reporting`);
    const brokerCpuSeconds = at1.broker - at0.broker;
    const procCpuSeconds = at1.proc - at0.proc;
    return {
      report,
      procCpuSeconds,
      brokerCpuSeconds,
      brokerCpuSecondsPerMillion: brokerCpuSeconds / (report.records / 1e6),
      otherCpuSeconds: at1.machine - at0.machine - procCpuSeconds - brokerCpuSeconds,
      loadAverage: [at0.load, at1.load],
      outputTopic,
    };
  };

  const runEngine = async (engine: Engine, topology: TopologyName, threads: number, guarantee: Guarantee, caseId: string): Promise<EngineRun> => {
    const tag = engine === 'kafka-streams' ? 'ks' : 'tr';
    const outputSuffix = `-${caseId}-${tag}`;
    const outputTopic = `${OUTPUT_TOPICS[topology]}${outputSuffix}`;
    const applicationId = `bench-cmp-${tag}-${topology}-${threads}t-${guarantee === 'exactly_once_v2' ? 'eos' : 'alos'}-${caseId}`;
    await log.createTopic(outputTopic, { partitions, cleanupPolicy: 'delete', retentionMs: -1 });
    try {
      let run: EngineRun;
      if (engine === 'kafka-streams') {
        run = await runProcess(
          engine,
          java,
          [
            ...javaOpts,
            '-jar',
            jar,
            input,
            applicationId,
            ...['--topology', topology, '--output', outputTopic, '--threads', String(threads), '--guarantee', guarantee],
            ...['--commit-interval-ms', String(commitIntervalMs), '--cache-bytes', String(ksCacheBytes), '--max-poll-records', String(maxPollRecords)],
            ...['--bootstrap', bootstrapBrokers.join(','), '--poll-ms', String(COMPLETION_POLL_MS), '--timeout-s', String(timeoutMs / 1000)],
          ],
          outputTopic,
          applicationId,
        );
        kafkaStreamsVersion ??= run.report.kafkaStreamsVersion;
      } else {
        const spec: ChildSpec = { bootstrapBrokers, input, partitions, outputSuffix, applicationId, topology, threads, guarantee, commitIntervalMs, maxPollRecords, timeoutMs };
        run = await runProcess(engine, process.execPath, [fileURLToPath(import.meta.url), '--child', JSON.stringify(spec)], outputTopic, applicationId);
      }
      if (!verify) return run;
      const out = await readBack(outputTopic);
      let internalTopicRecords = 0;
      for (const name of await internalTopics(applicationId)) internalTopicRecords += (await readBack(name)).records;
      return { ...run, outputRecords: out.records, outputDigest: out.digest, internalTopicRecords };
    } finally {
      if (!args['keep-topics']) {
        const topics = [outputTopic, ...(await internalTopics(applicationId))];
        await admin.deleteTopics({ topics }).catch((e: unknown) => console.warn(`could not delete ${topics.join(', ')}: ${String(e)}`));
        await admin.deleteGroups({ groups: [applicationId] }).catch(() => {});
      }
    }
  };

  const ratio = (t: number | undefined, k: number | undefined) => (t === undefined || k === undefined ? '-' : (t / k).toFixed(2));
  const num = (x: number | undefined, digits: number) => (x === undefined ? '-' : x.toFixed(digits));
  const rate = (x: number | undefined) => (x === undefined ? '-' : si(x));
  const header = () =>
    console.log(
      `${'topology'.padEnd(14)} ${'thr'.padStart(3)} ${'guarantee'.padEnd(15)} ${'rep'.padStart(3)} | ${'KS rec/s'.padStart(9)} ${'Tr rec/s'.padStart(9)} ${'Tr/KS'.padStart(6)} | ${'KS CPU s/M'.padStart(10)} ${'Tr CPU s/M'.padStart(10)} ${'Tr/KS'.padStart(6)} | ${'broker s/M KS/Tr'.padStart(16)} | ${'RSS MiB KS/Tr'.padStart(13)} | ${'out KS/Tr'.padStart(13)} ${'agree'.padStart(5)} | ${'load'.padStart(9)} ${'other s'.padStart(9)}`,
    );
  const row = (r: CaseResult) => {
    const k = r.kafkaStreams;
    const t = r.tributary;
    console.log(
      `${r.topology.padEnd(14)} ${String(r.threads).padStart(3)} ${r.guarantee.padEnd(15)} ${String(r.repetition).padStart(3)} | ${rate(k?.report.recordsPerSecond).padStart(9)} ${rate(t?.report.recordsPerSecond).padStart(9)} ${ratio(t?.report.recordsPerSecond, k?.report.recordsPerSecond).padStart(6)} | ${num(k?.report.cpuSecondsPerMillion, 2).padStart(10)} ${num(t?.report.cpuSecondsPerMillion, 2).padStart(10)} ${ratio(t?.report.cpuSecondsPerMillion, k?.report.cpuSecondsPerMillion).padStart(6)} | ${`${num(k?.brokerCpuSecondsPerMillion, 2)}/${num(t?.brokerCpuSecondsPerMillion, 2)}`.padStart(16)} | ${`${num(k?.report.peakRssMiB, 0)}/${num(t?.report.peakRssMiB, 0)}`.padStart(13)} | ${`${k?.outputRecords === undefined ? '-' : si(k.outputRecords)}/${t?.outputRecords === undefined ? '-' : si(t.outputRecords)}`.padStart(13)} ${(r.outputsAgree === undefined ? '-' : r.outputsAgree ? 'yes' : 'NO').padStart(5)} | ${`${num(k?.loadAverage[0], 1)}/${num(t?.loadAverage[0], 1)}`.padStart(9)} ${`${num(k?.otherCpuSeconds, 1)}/${num(t?.otherCpuSeconds, 1)}`.padStart(9)}`,
    );
    for (const e of r.errors) console.log(`  error: ${e}`);
  };

  try {
    const t = performance.now();
    await preload(log, input, records, keys, partitions, msPerRecord);
    const ends = await endOffsets(log, input, partitions);
    if (sum(ends) !== records) throw new Error(`${input} holds ${sum(ends)} offsets, expected ${records} records`);
    console.log(`preloaded ${si(records)} records into ${input} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    header();
    let caseIndex = 0;
    for (let repetition = 1; repetition <= repetitions; repetition++) {
      for (const topology of topologies) {
        for (const threads of threadCounts) {
          for (const guarantee of guarantees) {
            const order: Engine[] = caseIndex++ % 2 === 0 ? ['kafka-streams', 'tributary'] : ['tributary', 'kafka-streams'];
            const caseId = `${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
            const runs: Partial<Record<Engine, EngineRun>> = {};
            const errors: string[] = [];
            for (const engine of order) {
              try {
                runs[engine] = await runEngine(engine, topology, threads, guarantee, caseId);
              } catch (e) {
                errors.push(`${engine}: ${e instanceof Error ? e.message : String(e)}`);
              }
            }
            const k = runs['kafka-streams'];
            const tr = runs.tributary;
            const r: CaseResult = {
              topology,
              threads,
              guarantee,
              repetition,
              order,
              ...(k !== undefined && { kafkaStreams: k }),
              ...(tr !== undefined && { tributary: tr }),
              errors,
              expectedOutputRecords: topology === 'mapFilter' ? expectedMapFilter : records,
              ...(k?.outputDigest !== undefined && tr?.outputDigest !== undefined && { outputsAgree: k.outputDigest === tr.outputDigest && k.outputRecords === tr.outputRecords }),
            };
            results.push(r);
            writeResults(false);
            row(r);
          }
        }
      }
    }
  } finally {
    if (!args['keep-topics']) await admin.deleteTopics({ topics: [input] }).catch((e: unknown) => console.warn(`could not delete ${input}: ${String(e)}`));
    await log.close();
    await admin.close();
  }

  summary(results, repetitions);
  writeResults(true);
  if (!args['no-json']) console.log(`results: ${resultsFile.pathname}`);
  if (results.some((r) => r.errors.length > 0 || r.outputsAgree === false)) process.exitCode = 1;
}

/** Medians over repetitions, with the ratios Tributary / Kafka Streams. */
function summary(results: readonly CaseResult[], repetitions: number): void {
  const median = (xs: number[]) => {
    if (xs.length === 0) return Number.NaN;
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const spread = (xs: number[], f: (x: number) => string) => (xs.length > 1 ? ` (${f(Math.min(...xs))}–${f(Math.max(...xs))})` : '');
  console.log(`\nsummary${repetitions > 1 ? ` (median of ${repetitions}, min–max)` : ''}: Tributary / Kafka Streams`);
  console.log(`| topology | threads | guarantee | Kafka Streams records/s | Tributary records/s | ratio | Kafka Streams CPU s/M | Tributary CPU s/M | ratio | outputs agree |`);
  console.log(`|---|---:|---|---:|---:|---:|---:|---:|---:|---|`);
  const keys = [...new Set(results.map((r) => `${r.topology}|${r.threads}|${r.guarantee}`))];
  for (const key of keys) {
    const rs = results.filter((r) => `${r.topology}|${r.threads}|${r.guarantee}` === key);
    const kRate = rs.flatMap((r) => (r.kafkaStreams ? [r.kafkaStreams.report.recordsPerSecond] : []));
    const tRate = rs.flatMap((r) => (r.tributary ? [r.tributary.report.recordsPerSecond] : []));
    const kCpu = rs.flatMap((r) => (r.kafkaStreams ? [r.kafkaStreams.report.cpuSecondsPerMillion] : []));
    const tCpu = rs.flatMap((r) => (r.tributary ? [r.tributary.report.cpuSecondsPerMillion] : []));
    const agree = rs.map((r) => (r.outputsAgree === undefined ? '-' : r.outputsAgree ? 'yes' : 'NO')).join(', ');
    const [topology, threads, guarantee] = key.split('|');
    console.log(
      `| ${topology} | ${threads} | ${guarantee} | ${si(median(kRate))}${spread(kRate, si)} | ${si(median(tRate))}${spread(tRate, si)} | ${(median(tRate) / median(kRate)).toFixed(2)} | ${median(kCpu).toFixed(2)}${spread(kCpu, (x) => x.toFixed(2))} | ${median(tCpu).toFixed(2)}${spread(tCpu, (x) => x.toFixed(2))} | ${(median(tCpu) / median(kCpu)).toFixed(2)} | ${agree} |`,
    );
  }
}

/** The records of end-to-end.ts, produced in batches of 1000 per partition, 16 produce calls in flight. */
async function preload(log: KafkaLog, topic: string, records: number, keys: number, partitions: number, msPerRecord: number): Promise<void> {
  // Timestamps start at a minute boundary and end before now (the broker's time retention goes by them).
  const t0 = Math.floor((Date.now() - records * msPerRecord) / 60_000 - 1) * 60_000;
  await log.createTopic(topic, { partitions, cleanupPolicy: 'delete', retentionMs: -1 });
  const keyBytes = Array.from({ length: keys }, (_, id) => Buffer.from(keyString(id)));
  const keyPartition = keyBytes.map((k) => partitionForKey(k, partitions));
  const pending: LogRecord[][] = Array.from({ length: partitions }, () => []);
  const inFlight = new Set<Promise<unknown>>();
  const send = async (partition: number) => {
    const batch = pending[partition]!;
    pending[partition] = [];
    const p = log.produce([{ topic, partition, records: batch }]);
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    if (inFlight.size >= 16) await Promise.race(inFlight);
  };
  for (let seq = 0; seq < records; seq++) {
    const id = keyIdOf(seq, keys);
    const p = keyPartition[id]!;
    pending[p]!.push({ key: keyBytes[id]!, value: Buffer.from(valueString(seq)), timestamp: t0 + Math.floor(seq * msPerRecord) });
    if (pending[p]!.length === 1000) await send(p);
  }
  for (let p = 0; p < partitions; p++) if (pending[p]!.length > 0) await send(p);
  await Promise.all(inFlight);
}

if (args.child !== undefined) {
  try {
    await runTributaryChild(JSON.parse(args.child) as ChildSpec);
    process.exit(0);
  } catch (e) {
    console.error(e);
    process.exit(1);
  }
} else {
  await main();
}
