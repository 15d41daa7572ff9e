/**
 * Side by side with Kafka Streams on the same broker: the topologies of bench/topologies.ts run by
 * Tributary (StreamsApp on KafkaLog) and by Kafka Streams 4.1.2 (bench/peers/kafka-streams/, the
 * same topologies in Java), on the same input topic, one after the other, each in a fresh process.
 *
 *   node bench/compare.ts [--records 500k] [--keys 100k] [--partitions 8] [--ms-per-record 0.25]
 *                         [--idle-every <half the records>] [--idle-gap-minutes 31]
 *                         [--topologies mapFilter,countByKey,windowedCount,sessionCount,enrichJoin]
 *                         [--threads 1,2] [--guarantees exactly_once_v2,at_least_once] [--repetitions 2]
 *                         [--commit-interval-ms 100] [--max-poll-records 1000] [--ks-cache-bytes 0]
 *                         [--java-opts "-Xms1g -Xmx1g"] [--bootstrap 127.0.0.1:9092] [--timeout-s 900]
 *                         [--latency-rate 2000] [--latency-seconds 15] [--latency-warmup-seconds 5] [--no-latency]
 *                         [--latency-threads 1] [--latency-guarantees exactly_once_v2] [--latency-repetitions 1]
 *                         [--no-raw-limits] [--skip-build] [--no-verify] [--keep-topics] [--no-json]
 *
 * Needs the broker of `node scripts/kafka.ts start`, Java 17 and Maven (the Java project is built
 * once, `mvn -q -f bench/peers/kafka-streams/pom.xml package`, unless --skip-build).
 *
 * 1. Preloads `bench-cmp-in-<run id>` (--partitions partitions) with the records of end-to-end.ts
 *    (common.ts: 100 bytes, --keys keys, partitioned by Kafka's default partitioner). Timestamps
 *    exercise the windows: record `seq` has t0 + floor(seq * --ms-per-record) + floor(seq /
 *    --idle-every) * --idle-gap-minutes, i.e. bursts of --idle-every records 0.25 ms apart (with
 *    100k keys, each key has a record every 25 s: 2-3 per 1-minute window, and with the default
 *    500k records ~2.5 per session) separated by idle gaps longer than sessionCount's 30-minute
 *    inactivity gap, so sessions close. By default one gap, in the middle of the input.
 *    t0 is a minute boundary chosen so that the last timestamp is before now (the broker's time
 *    retention goes by record timestamps; the topics also have retention.ms -1). When enrichJoin is
 *    among the topologies, first `bench-cmp-profiles-<run id>` (same partitions, same partitioner):
 *    one 60-byte profile per key id not divisible by 10, timestamps a minute before t0, so every
 *    profile precedes every event. The scheme is recorded in the results' config.timestamps.
 * 1b. Unless --no-raw-limits, the raw limits on as many records, with no processing (bench/raw-limits.ts):
 *    Tributary's Kafka client (bench/kafka-client.ts), the Java client (Kafka's ProducerPerformance
 *    and ConsumerPerformance) and the embedded log (bench/embedded-log.ts), each in a child process.
 * 2. For each repetition x topology x threads x guarantee, runs both engines on that input, in
 *    alternating order (from case to case, and for one case from repetition to repetition), each with
 *    a fresh application id, its own fresh output topic and a fresh state directory:
 *      - Kafka Streams: `java <--java-opts> -jar bench/peers/kafka-streams/target/kafka-streams-bench.jar`;
 *      - Tributary: this script again, `node bench/compare.ts --child <json>`, which runs a
 *        StreamsApp on KafkaLog with the topology module bench/topologies.ts (as end-to-end.ts
 *        --log kafka does: persistent stores, the same commit interval and max poll records).
 *    Each engine measures itself the same way: wall time and its process's CPU time (Tributary:
 *    process.cpuUsage(), every thread; Kafka Streams: OperatingSystemMXBean.getProcessCpuTime, every
 *    JVM thread) from the moment the app is running (Tributary: start() resolved; Kafka Streams:
 *    state RUNNING) to the moment its committed offsets, polled every 50 ms (read with
 *    requireStable), cover the end of the input (the event topic; enrichJoin's profiles are read
 *    in the same span but not counted). Each prints a JSON line when running and one when done.
 *    Over the same span this script reads, from /proc, the engine process's CPU (a cross-check,
 *    "procCpuSeconds"), the broker's CPU and the CPU of everything else on the machine ("other").
 * 3. Unless --no-verify, reads each output topic back (read-committed) and compares the two
 *    engines' outputs as multisets of (key bytes, value bytes), by record count and an
 *    order-independent digest (partitions and order are not compared), checks the count against
 *    the one the input implies, and counts the records of each application's internal topics. When
 *    the outputs differ it lists how (records per engine, keys whose records differ, examples).
 * 4. Unless --no-latency, latency at a fixed input rate, for each case of the first
 *    --latency-repetitions (1) repetitions and each engine (same order):
 *    a fresh input topic (and for enrichJoin a fresh profile topic, loaded before the engine
 *    starts), a fresh output topic and application id; the engine runs until stopped (Tributary
 *    `--child` with untilStopped, Kafka Streams `--until-stopped`: until a line on stdin). Once it
 *    reports running, this script produces --latency-warmup-seconds + --latency-seconds of records
 *    at --latency-rate records/s (every 10 ms the records due, same keys and values, timestamp =
 *    Date.now() when produced) and reads the output topic with one read-committed fetch loop
 *    (KafkaLog.fetchMany over every partition), taking `Date.now() - record.timestamp` for each
 *    output record: both engines give an output the timestamp of the input record that caused it
 *    (for the aggregations the latest of the record's and the aggregate's; in order, that is the
 *    record's). Not timed: outputs of records produced during the warm-up, and sessionCount's
 *    tombstones for merged-away sessions (their timestamp is the old session's end, i.e. the key's
 *    previous record, not the record that caused them). After the production it waits until the
 *    engine has committed the whole input and the output is read to its end, then stops the engine,
 *    which reports its CPU and peak RSS over the span. Reported: p50/p90/p99/max, count, and whether
 *    the producer kept the rate (achieved rate, longest gap between sends).
 * Topics of a case are deleted after it, the input at the end, unless --keep-topics.
 *
 * Results: a table per run, a summary (medians over repetitions, min–max) with the ratios
 * Tributary / Kafka Streams, and bench/results/<timestamp>-compare.json (rewritten after every case).
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
import { StreamsApp, partitionForKey, type FetchedRecord, type LogRecord, type PartitionBatch } from '../index.ts';
import {
  RECORD_BYTES,
  PROFILE_BYTES,
  cpuSecondsSince,
  fetchEndOffsets,
  hasProfile,
  kafkaBrokerPids,
  keyIdOf,
  keyString,
  latencyStats,
  machine,
  machineBusySeconds,
  median,
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
  spread,
  sum,
  timestampForFile,
  valueString,
  type Guarantee,
  type LatencyStats,
} from './common.ts';
import { formatRawLimits, measureRawLimits, type RawLimits } from './raw-limits.ts';
import { OUTPUT_TOPICS, SESSION_GAP_MS, type TopologyName } from './topologies.ts';

type Engine = 'kafka-streams' | 'tributary';
const COMPARED = ['mapFilter', 'countByKey', 'windowedCount', 'sessionCount', 'enrichJoin'] as const satisfies readonly TopologyName[];
type Compared = (typeof COMPARED)[number];
/** How often each engine checks its committed offsets (as end-to-end.ts --log kafka). */
const COMPLETION_POLL_MS = 50;
/** Latency runs: how often the producer sends the records due. */
const LATENCY_TICK_MS = 10;
/** Latency runs: how long to wait, after the production, for the engine to commit the input and the output to be read. */
const LATENCY_DRAIN_TIMEOUT_MS = 120_000;

/** What the Tributary child process runs (`--child <json>`). */
interface ChildSpec {
  readonly bootstrapBrokers: readonly string[];
  readonly input: string;
  /** enrichJoin's profile topic. */
  readonly profiles?: string;
  readonly partitions: number;
  readonly outputSuffix: string;
  readonly applicationId: string;
  readonly topology: TopologyName;
  readonly threads: number;
  readonly guarantee: Guarantee;
  readonly commitIntervalMs: number;
  readonly maxPollRecords: number;
  readonly timeoutMs: number;
  /** Run until a line on stdin (or its end, or SIGTERM) instead of until the input is committed. */
  readonly untilStopped: boolean;
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

// ---------------------------------------------------------------------------------------------
// Child: one Tributary run

/** Resolves on a line on stdin, the end of stdin or SIGTERM. */
function stopRequested(): Promise<string> {
  return new Promise((resolve) => {
    const lines = createInterface({ input: process.stdin });
    lines.once('line', () => resolve('stdin'));
    lines.once('close', () => resolve('stdin closed'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

async function runTributaryChild(spec: ChildSpec): Promise<void> {
  // Read by bench/topologies.ts in every stream thread (workers copy the environment at start).
  process.env.BENCH_INPUT_TOPIC = spec.input;
  process.env.BENCH_OUTPUT_SUFFIX = spec.outputSuffix;
  if (spec.profiles !== undefined) process.env.BENCH_PROFILE_TOPIC = spec.profiles;
  const log = new KafkaLog({ bootstrapBrokers: spec.bootstrapBrokers, clientId: spec.applicationId });
  const stateDir = mkdtempSync(join(tmpdir(), 'tributary-compare-'));
  const emit = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);
  const stop = spec.untilStopped ? stopRequested() : undefined;
  const committedInput = async (ends: readonly number[] | undefined) => {
    const committed = await log.committedOffsets(spec.applicationId);
    let n = 0;
    for (let p = 0; p < spec.partitions; p++) {
      const c = committed.get(`${spec.input}:${p}`) ?? 0;
      n += ends === undefined ? c : Math.min(ends[p]!, c);
    }
    return n;
  };
  let failure: Error | undefined;
  const notRunning = (state: string) => new Error(`${spec.applicationId} is ${state}${failure === undefined ? '' : `: ${failure.stack ?? failure.message}`}`);
  try {
    const ends = await fetchEndOffsets(log, spec.input, spec.partitions);
    let records = sum(ends);
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
        onError: (error) => (failure = error),
      },
    );
    const wall0 = performance.now();
    await app.start();
    const startupSeconds = (performance.now() - wall0) / 1000;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    emit({ event: 'running', startupSeconds });
    let seconds: number;
    let cpuSeconds: number;
    if (stop !== undefined) {
      let stopped = false;
      void stop.then(() => (stopped = true));
      while (!stopped) {
        if (app.state !== 'RUNNING') throw notRunning(app.state);
        await Promise.race([stop, sleep(COMPLETION_POLL_MS)]);
      }
      seconds = (performance.now() - t0) / 1000;
      cpuSeconds = cpuSecondsSince(cpu0);
      records = await committedInput(undefined);
    } else {
      const deadline = Date.now() + spec.timeoutMs;
      let lastReport = Date.now();
      for (;;) {
        if (app.state !== 'RUNNING') throw notRunning(app.state);
        const done = await committedInput(ends);
        if (done === records) break;
        if (Date.now() > deadline) throw new Error(`${spec.applicationId}: timed out with ${done} of ${records} records committed`);
        if (Date.now() - lastReport > 10_000) {
          lastReport = Date.now();
          process.stderr.write(`    ... ${si(done)} of ${si(records)} committed\n`);
        }
        await sleep(COMPLETION_POLL_MS);
      }
      seconds = (performance.now() - t0) / 1000;
      cpuSeconds = cpuSecondsSince(cpu0);
    }
    const metrics = await app.metrics();
    emit({
      event: 'done',
      engine: 'tributary',
      topology: spec.topology,
      threads: spec.threads,
      guarantee: spec.guarantee,
      applicationId: spec.applicationId,
      mode: spec.untilStopped ? 'until-stopped' : 'until-drained',
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
    records: { type: 'string', default: '500k' },
    keys: { type: 'string', default: '100k' },
    partitions: { type: 'string', default: '8' },
    'ms-per-record': { type: 'string', default: '0.25' },
    'idle-every': { type: 'string' },
    'idle-gap-minutes': { type: 'string', default: '31' },
    topologies: { type: 'string', default: COMPARED.join(',') },
    threads: { type: 'string', default: '1,2' },
    guarantees: { type: 'string', default: 'exactly_once_v2,at_least_once' },
    repetitions: { type: 'string', default: '2' },
    'commit-interval-ms': { type: 'string', default: '100' },
    'max-poll-records': { type: 'string', default: '1000' },
    'ks-cache-bytes': { type: 'string', default: '0' },
    'java-opts': { type: 'string', default: '-Xms1g -Xmx1g' },
    bootstrap: { type: 'string', default: '127.0.0.1:9092' },
    'timeout-s': { type: 'string', default: '900' },
    'latency-rate': { type: 'string', default: '2000' },
    'latency-seconds': { type: 'string', default: '15' },
    'latency-threads': { type: 'string', default: '1' },
    'latency-repetitions': { type: 'string', default: '1' },
    'latency-guarantees': { type: 'string', default: 'exactly_once_v2' },
    'latency-warmup-seconds': { type: 'string', default: '5' },
    'no-latency': { type: 'boolean', default: false },
    'no-raw-limits': { type: 'boolean', default: false },
    'skip-build': { type: 'boolean', default: false },
    'no-verify': { type: 'boolean', default: false },
    'keep-topics': { type: 'boolean', default: false },
    'no-json': { type: 'boolean', default: false },
  },
});

/** One engine's run, as the parent saw it. */
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

/** How the latency run's producer kept its schedule. */
interface Production {
  readonly targetRate: number;
  readonly records: number;
  /** From the start of the production to the last acknowledgement. */
  readonly seconds: number;
  /** Records over the time from the start of the production to the last send. */
  readonly achievedRate: number;
  /** Longest time between two sends (the schedule is one every LATENCY_TICK_MS). */
  readonly maxSendGapMs: number;
  readonly maxBatch: number;
  /** Sends that had to wait for an earlier one (64 in flight). */
  readonly waitsForInFlight: number;
  /**
   * Achieved rate within 2% of the target and no gap between sends of a second or more (each send
   * stamps its records with the time it is made, so a late send delays no record's clock: it only
   * makes the input burstier).
   */
  readonly keptRate: boolean;
}

/** One engine's latency run. */
interface LatencyRun extends EngineRun {
  readonly inputTopic: string;
  readonly production: Production;
  /** Output records of inputs produced after the warm-up, tombstones excluded. */
  readonly latency: LatencyStats;
  readonly outputRecordsSeen: number;
  readonly warmupRecords: number;
  /** Null-valued outputs (sessionCount: merged-away sessions), not timed. */
  readonly tombstones: number;
  /** The engine committed the whole input and the output was read to its end before it was stopped. */
  readonly drained: boolean;
}

interface CaseResult {
  readonly topology: Compared;
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
  /** How the outputs differ, when they do. */
  readonly outputDiff?: OutputDiff;
  readonly latency?: { readonly kafkaStreams?: LatencyRun; readonly tributary?: LatencyRun };
}

interface OutputDiff {
  readonly kafkaStreamsRecords: number;
  readonly tributaryRecords: number;
  readonly keysDiffering: number;
  readonly keysOnlyKafkaStreams: number;
  readonly keysOnlyTributary: number;
  readonly examples: readonly { key: string; kafkaStreams: number; tributary: number }[];
}

const here = fileURLToPath(new URL('.', import.meta.url));
const pom = join(here, 'peers', 'kafka-streams', 'pom.xml');
const jar = join(here, 'peers', 'kafka-streams', 'target', 'kafka-streams-bench.jar');

/**
 * The timestamps of the preloaded input: t0 + floor(seq * msPerRecord) + floor(seq / idleEvery) *
 * idleGapMs, with t0 a minute boundary at least a minute before `now` minus the whole span.
 */
function inputTimestamps(records: number, msPerRecord: number, idleEvery: number, idleGapMs: number, now: number) {
  const offset = (seq: number) => Math.floor(seq * msPerRecord) + Math.floor(seq / idleEvery) * idleGapMs;
  const spanMs = offset(records - 1);
  const t0 = Math.floor((now - spanMs) / 60_000 - 1) * 60_000;
  return { t0, spanMs, last: t0 + spanMs, idleGaps: Math.floor((records - 1) / idleEvery), timestampOf: (seq: number) => t0 + offset(seq) };
}

/** Output records each topology writes for this input (records in timestamp order per partition: none late). */
function expectedOutputs(records: number, keys: number, timestampOf: (seq: number) => number): Record<Compared, number> {
  let mapFilter = 0;
  let enrichJoin = 0;
  let tombstones = 0;
  const start = new Float64Array(keys).fill(Number.NaN);
  const end = new Float64Array(keys).fill(Number.NaN);
  for (let seq = 0; seq < records; seq++) {
    const id = keyIdOf(seq, keys);
    const t = timestampOf(seq);
    if ((seq % 997) % 2 === 0) mapFilter++; // amount = seq % 997, kept when even
    if (hasProfile(id)) enrichJoin++;
    // A session [start, end] of the key with end >= t - gap merges with the record; it is retracted
    // (a tombstone) unless the merged session is [t, t] itself.
    if (end[id]! >= t - SESSION_GAP_MS) {
      const s = Math.min(start[id]!, t);
      const e = Math.max(end[id]!, t);
      if (s !== t || e !== t) tombstones++;
      start[id] = s;
      end[id] = e;
    } else {
      start[id] = t;
      end[id] = t;
    }
  }
  return { mapFilter, countByKey: records, windowedCount: records, sessionCount: records + tombstones, enrichJoin };
}

async function main(): Promise<void> {
  const records = parseCount(args.records);
  const keys = parseCount(args.keys);
  const partitions = parseCount(args.partitions);
  const msPerRecord = Number(args['ms-per-record']);
  // One idle gap in the middle by default: sessions close once, whatever the input's size.
  const idleEvery = args['idle-every'] === undefined ? Math.ceil(records / 2) : parseCount(args['idle-every']);
  const idleGapMs = Math.round(Number(args['idle-gap-minutes']) * 60_000);
  if (!Number.isSafeInteger(idleGapMs) || idleGapMs < 0) throw new Error(`--idle-gap-minutes must be >= 0, not ${args['idle-gap-minutes']}`);
  const topologies = parseList(args.topologies, (t) => {
    if (!(COMPARED as readonly string[]).includes(t)) throw new Error(`unknown topology ${t}; one of ${COMPARED.join(', ')}`);
    return t as Compared;
  });
  const threadCounts = parseList(args.threads, parseCount);
  const guarantees = parseGuarantees(args.guarantees);
  const repetitions = parseCount(args.repetitions);
  const commitIntervalMs = Number(args['commit-interval-ms']);
  const maxPollRecords = parseCount(args['max-poll-records']);
  const ksCacheBytes = Number(args['ks-cache-bytes']);
  const javaOpts = args['java-opts'].split(/\s+/).filter(Boolean);
  const bootstrapBrokers = args.bootstrap.split(',');
  const timeoutMs = Number(args['timeout-s']) * 1000;
  const verify = !args['no-verify'];
  const latency = args['no-latency']
    ? undefined
    : {
        rate: parseCount(args['latency-rate']),
        seconds: Number(args['latency-seconds']),
        warmupSeconds: Number(args['latency-warmup-seconds']),
        // Latency at a rate below saturation hardly depends on the thread count: by default it is
        // measured for one thread and exactly-once only, in the first repetition, which keeps the
        // default run under 30 minutes.
        repetitions: parseCount(args['latency-repetitions']),
        threads: parseList(args['latency-threads'], parseCount),
        guarantees: parseGuarantees(args['latency-guarantees']),
      };
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
  // The latency runs' consumer fetches with its own connections: a fetch waiting for data on the
  // producer's connection would hold back the produce requests queued behind it.
  const consumerLog = new KafkaLog({ bootstrapBrokers, clientId: `bench-compare-${runId}-consumer` });
  const input = `bench-cmp-in-${runId}`;
  const withProfiles = topologies.includes('enrichJoin');
  const profiles = withProfiles ? `bench-cmp-profiles-${runId}` : undefined;
  const timestamps = inputTimestamps(records, msPerRecord, idleEvery, idleGapMs, Date.now());
  const profileTimestamp = timestamps.t0 - 60_000;
  const expected = expectedOutputs(records, keys, timestamps.timestampOf);
  const results: CaseResult[] = [];
  const resultsFile = new URL(`./results/${timestampForFile()}-compare.json`, import.meta.url);
  let kafkaStreamsVersion: unknown;
  /** The raw limits measured before the cases (unless --no-raw-limits). */
  const extra: { rawLimits?: RawLimits } = {};
  const config = {
    records,
    keys,
    partitions,
    recordBytes: RECORD_BYTES,
    msPerRecord,
    timestamps: {
      scheme: 't0 + floor(seq * msPerRecord) + floor(seq / idleEvery) * idleGapMs',
      t0: timestamps.t0,
      first: new Date(timestamps.t0).toISOString(),
      last: new Date(timestamps.last).toISOString(),
      spanMs: timestamps.spanMs,
      msPerRecord,
      idleEvery,
      idleGapMs,
      idleGaps: timestamps.idleGaps,
      sessionGapMs: SESSION_GAP_MS,
      ...(profiles !== undefined && { profiles: { topic: profiles, bytes: PROFILE_BYTES, timestamp: profileTimestamp, keys: 'every key id not divisible by 10' } }),
      latencyRuns: 'Date.now() when produced',
    },
    expectedOutputRecords: expected,
    commitIntervalMs,
    maxPollRecords,
    completionPollMs: COMPLETION_POLL_MS,
    repetitions,
    bootstrapBrokers,
    input,
    brokerPids,
    latency: latency === undefined ? null : { ...latency, tickMs: LATENCY_TICK_MS, drainTimeoutMs: LATENCY_DRAIN_TIMEOUT_MS },
    tributary: { state: 'persistent (LevelDB mirror)', log: 'KafkaLog, connector defaults' },
    kafkaStreams: { statestoreCacheMaxBytes: ksCacheBytes, javaOpts, state: 'RocksDB (defaults)' },
  };
  const writeResults = (complete: boolean) => {
    if (args['no-json']) return;
    mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
    writeFileSync(
      resultsFile,
      JSON.stringify({ benchmark: 'compare', complete, source: sourceVersion(), machine: m, uptime, java: javaVersion, kafkaStreamsVersion, config, ...extra, results }, null, 2),
    );
  };

  const partitionsOf = async (topic: string) => (await admin.metadata({ topics: [topic], forceUpdate: true })).topics.get(topic)?.partitionsCount ?? 0;

  /** Reads a topic back (read-committed): its records and an order-independent digest of (key, value). */
  const readBack = async (topic: string): Promise<{ records: number; digest: string }> => {
    let hi = 0;
    let lo = 0;
    const count = await readTopic(log, topic, await partitionsOf(topic), (record) => {
      const d = recordDigest(record);
      hi = (hi + d.readUInt32BE(0)) >>> 0;
      lo = (lo + d.readUInt32BE(4)) >>> 0;
    });
    return { records: count, digest: `${hi.toString(16).padStart(8, '0')}${lo.toString(16).padStart(8, '0')}` };
  };

  /** Per key (the key's bytes): how many records each output holds, and how they differ. */
  const diffOutputs = async (ksTopic: string, trTopic: string): Promise<OutputDiff> => {
    const perKey = new Map<string, { ks: number; tr: number; ksDigest: number; trDigest: number }>();
    const tally = (side: 'ks' | 'tr') => (record: FetchedRecord) => {
      const key = record.key === null ? '(null)' : Buffer.from(record.key).toString('latin1');
      let entry = perKey.get(key);
      if (entry === undefined) perKey.set(key, (entry = { ks: 0, tr: 0, ksDigest: 0, trDigest: 0 }));
      const d = recordDigest(record).readUInt32BE(0);
      if (side === 'ks') {
        entry.ks++;
        entry.ksDigest = (entry.ksDigest + d) >>> 0;
      } else {
        entry.tr++;
        entry.trDigest = (entry.trDigest + d) >>> 0;
      }
    };
    const kafkaStreamsRecords = await readTopic(log, ksTopic, await partitionsOf(ksTopic), tally('ks'));
    const tributaryRecords = await readTopic(log, trTopic, await partitionsOf(trTopic), tally('tr'));
    const differing = [...perKey].filter(([, e]) => e.ks !== e.tr || e.ksDigest !== e.trDigest);
    const printable = (key: string) => {
      const bytes = Buffer.from(key, 'latin1');
      // Windowed keys end in two 8-byte integers (start, end).
      if (bytes.length > 16 && bytes.subarray(0, bytes.length - 16).every((b) => b >= 0x20 && b < 0x7f)) {
        return `${bytes.subarray(0, bytes.length - 16).toString('utf8')}@[${Number(bytes.readBigUInt64BE(bytes.length - 16))},${Number(bytes.readBigUInt64BE(bytes.length - 8))}]`;
      }
      return bytes.every((b) => b >= 0x20 && b < 0x7f) ? bytes.toString('utf8') : bytes.toString('hex');
    };
    return {
      kafkaStreamsRecords,
      tributaryRecords,
      keysDiffering: differing.length,
      keysOnlyKafkaStreams: differing.filter(([, e]) => e.tr === 0).length,
      keysOnlyTributary: differing.filter(([, e]) => e.ks === 0).length,
      examples: differing.slice(0, 10).map(([key, e]) => ({ key: printable(key), kafkaStreams: e.ks, tributary: e.tr })),
    };
  };

  const internalTopics = async (applicationId: string) => (await admin.listTopics({ includeInternals: false })).filter((name) => name.startsWith(`${applicationId}-`));
  const deleteTopics = async (topics: string[], groups: string[]) => {
    if (args['keep-topics']) return;
    await admin.deleteTopics({ topics }).catch((e: unknown) => console.warn(`could not delete ${topics.join(', ')}: ${String(e)}`));
    if (groups.length > 0) await admin.deleteGroups({ groups }).catch(() => {});
  };

  /**
   * Starts one engine process; `running` resolves when it reports running, `finished` when it has
   * reported done and exited (with /proc samples taken at both lines); `stop` asks an engine started
   * until-stopped to stop (a line on its stdin).
   */
  const startProcess = (engine: Engine, command: string, argv: readonly string[], outputTopic: string, applicationId: string, untilStopped: boolean) => {
    const child = spawn(command, argv, { stdio: [untilStopped ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    const pid = child.pid!;
    const stderrTail: string[] = [];
    createInterface({ input: child.stderr! }).on('line', (line) => {
      process.stderr.write(`  [${engine}] ${line}\n`);
      stderrTail.push(line);
      if (stderrTail.length > 20) stderrTail.shift();
    });
    let at0: { broker: number; proc: number; machine: number; load: number } | undefined;
    let at1: { broker: number; proc: number; machine: number; load: number } | undefined;
    let report: EngineReport | undefined;
    let exited = false;
    child.on('close', () => (exited = true));
    let onRunning!: () => void;
    const running = new Promise<void>((resolve) => (onRunning = resolve));
    const sample = () => ({ broker: processCpuSeconds(brokerPids), proc: processCpuSeconds([pid]), machine: machineBusySeconds(), load: loadavg()[0]! });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) {
        process.stdout.write(`  [${engine}] ${line}\n`);
        return;
      }
      const message = JSON.parse(line) as { event?: string };
      if (message.event === 'running') {
        at0 = sample();
        onRunning();
      } else if (message.event === 'done') {
        at1 = sample();
        report = message as unknown as EngineReport;
      }
    });
    const finished = (async (): Promise<EngineRun> => {
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
    })();
    // Either running, or the process ended first (finished rejects or resolves without it).
    const runningOrExit = Promise.race([running, finished.then(() => Promise.reject(new Error(`${engine} (${applicationId}) finished before running`)))]);
    finished.catch(() => {});
    runningOrExit.catch(() => {});
    const stop = () => {
      child.stdin?.end('stop\n');
    };
    return { running: runningOrExit, finished, stop, exited: () => exited };
  };

  /** The command line of one engine run. */
  const engineCommand = (
    engine: Engine,
    o: { input: string; profiles: string | undefined; outputTopic: string; outputSuffix: string; applicationId: string; topology: TopologyName; threads: number; guarantee: Guarantee; untilStopped: boolean },
  ): [string, string[]] => {
    if (engine === 'kafka-streams') {
      return [
        java,
        [
          ...javaOpts,
          '-jar',
          jar,
          o.input,
          o.applicationId,
          ...['--topology', o.topology, '--output', o.outputTopic, '--threads', String(o.threads), '--guarantee', o.guarantee],
          ...(o.topology === 'enrichJoin' && o.profiles !== undefined ? ['--profiles', o.profiles] : []),
          ...['--commit-interval-ms', String(commitIntervalMs), '--cache-bytes', String(ksCacheBytes), '--max-poll-records', String(maxPollRecords)],
          ...['--bootstrap', bootstrapBrokers.join(','), '--poll-ms', String(COMPLETION_POLL_MS), '--timeout-s', String(timeoutMs / 1000)],
          ...(o.untilStopped ? ['--until-stopped'] : []),
        ],
      ];
    }
    const spec: ChildSpec = {
      bootstrapBrokers,
      input: o.input,
      ...(o.topology === 'enrichJoin' && o.profiles !== undefined && { profiles: o.profiles }),
      partitions,
      outputSuffix: o.outputSuffix,
      applicationId: o.applicationId,
      topology: o.topology,
      threads: o.threads,
      guarantee: o.guarantee,
      commitIntervalMs,
      maxPollRecords,
      timeoutMs,
      untilStopped: o.untilStopped,
    };
    return [process.execPath, [fileURLToPath(import.meta.url), '--child', JSON.stringify(spec)]];
  };

  const names = (engine: Engine, topology: TopologyName, threads: number, guarantee: Guarantee, caseId: string, phase: '' | 'lat') => {
    const tag = engine === 'kafka-streams' ? 'ks' : 'tr';
    const outputSuffix = `-${phase === '' ? '' : `${phase}-`}${caseId}-${tag}`;
    return {
      tag,
      outputSuffix,
      outputTopic: `${OUTPUT_TOPICS[topology]}${outputSuffix}`,
      applicationId: `bench-cmp-${phase === '' ? '' : `${phase}-`}${tag}-${topology}-${threads}t-${guarantee === 'exactly_once_v2' ? 'eos' : 'alos'}-${caseId}`,
    };
  };

  /** Throughput: one engine on the preloaded input. Returns the run and the topics to delete once both engines' outputs are compared. */
  const runEngine = async (engine: Engine, topology: TopologyName, threads: number, guarantee: Guarantee, caseId: string): Promise<{ run: EngineRun; topics: string[]; group: string }> => {
    const { outputSuffix, outputTopic, applicationId } = names(engine, topology, threads, guarantee, caseId, '');
    await log.createTopic(outputTopic, { partitions, cleanupPolicy: 'delete', retentionMs: -1 });
    try {
      const [command, argv] = engineCommand(engine, { input, profiles, outputTopic, outputSuffix, applicationId, topology, threads, guarantee, untilStopped: false });
      const run = await startProcess(engine, command, argv, outputTopic, applicationId, false).finished;
      if (engine === 'kafka-streams') kafkaStreamsVersion ??= run.report.kafkaStreamsVersion;
      const internal = await internalTopics(applicationId);
      const topics = [outputTopic, ...internal];
      if (!verify) return { run, topics, group: applicationId };
      const out = await readBack(outputTopic);
      let internalTopicRecords = 0;
      for (const name of internal) internalTopicRecords += (await readBack(name)).records;
      return { run: { ...run, outputRecords: out.records, outputDigest: out.digest, internalTopicRecords }, topics, group: applicationId };
    } catch (e) {
      await deleteTopics([outputTopic, ...(await internalTopics(applicationId))], [applicationId]);
      throw e;
    }
  };

  /** Produces `rate` records/s for `seconds` to `topic` (every LATENCY_TICK_MS the records due), timestamps Date.now(). */
  const produceAtRate = async (topic: string, rate: number, seconds: number, abort: () => boolean): Promise<Production> => {
    const keyBytes = Array.from({ length: keys }, (_, id) => Buffer.from(keyString(id)));
    const keyPartition = keyBytes.map((k) => partitionForKey(k, partitions));
    const total = Math.round(rate * seconds);
    const inFlight = new Set<Promise<unknown>>();
    let failure: unknown;
    let produced = 0;
    let maxBatch = 0;
    let waitsForInFlight = 0;
    let maxSendGapMs = 0;
    let lastSend: number | undefined;
    const p0 = performance.now();
    while (produced < total) {
      if (failure !== undefined) throw failure;
      if (abort()) throw new Error('the engine exited during the production');
      const now = performance.now();
      const due = Math.min(total, Math.floor(((now - p0) / 1000) * rate));
      if (due > produced) {
        const timestamp = Date.now();
        const byPartition: LogRecord[][] = Array.from({ length: partitions }, () => []);
        for (let seq = produced; seq < due; seq++) {
          const id = keyIdOf(seq, keys);
          byPartition[keyPartition[id]!]!.push({ key: keyBytes[id]!, value: Buffer.from(valueString(seq)), timestamp });
        }
        const batches: PartitionBatch[] = byPartition.flatMap((recs, partition) => (recs.length === 0 ? [] : [{ topic, partition, records: recs }]));
        const p = log.produce(batches);
        inFlight.add(p);
        p.then(
          () => inFlight.delete(p),
          (e: unknown) => (failure ??= e),
        );
        maxBatch = Math.max(maxBatch, due - produced);
        produced = due;
        if (lastSend !== undefined) maxSendGapMs = Math.max(maxSendGapMs, now - lastSend);
        lastSend = now;
        if (inFlight.size >= 64) {
          waitsForInFlight++;
          await Promise.race(inFlight);
        }
      }
      const elapsed = performance.now() - p0;
      await sleep(Math.max(0, (Math.floor(elapsed / LATENCY_TICK_MS) + 1) * LATENCY_TICK_MS - elapsed));
    }
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
    // All records were due by `seconds`; on schedule, the last send is within a tick of it.
    const achievedRate = total / (((lastSend ?? p0) - p0) / 1000);
    return {
      targetRate: rate,
      records: total,
      seconds: (performance.now() - p0) / 1000,
      achievedRate,
      maxSendGapMs,
      maxBatch,
      waitsForInFlight,
      keptRate: Math.abs(achievedRate - rate) <= 0.02 * rate && maxSendGapMs < 1000,
    };
  };

  /** Latency at a fixed input rate: one engine on a fresh input, started before the input is produced. */
  const runLatency = async (engine: Engine, topology: TopologyName, threads: number, guarantee: Guarantee, caseId: string): Promise<LatencyRun> => {
    const l = latency!;
    const { outputSuffix, outputTopic, applicationId, tag } = names(engine, topology, threads, guarantee, caseId, 'lat');
    const latInput = `bench-cmp-lat-in-${caseId}-${tag}`;
    const latProfiles = topology === 'enrichJoin' ? `bench-cmp-lat-profiles-${caseId}-${tag}` : undefined;
    const topics = [latInput, outputTopic, ...(latProfiles === undefined ? [] : [latProfiles])];
    try {
      for (const topic of topics) await log.createTopic(topic, { partitions, cleanupPolicy: 'delete', retentionMs: -1 });
      if (latProfiles !== undefined) await produceProfiles(log, latProfiles, { keys, partitions, timestamp: Date.now() - 60_000 });
      const [command, argv] = engineCommand(engine, { input: latInput, profiles: latProfiles, outputTopic, outputSuffix, applicationId, topology, threads, guarantee, untilStopped: true });
      const proc = startProcess(engine, command, argv, outputTopic, applicationId, true);
      try {
        await proc.running;
      } catch (e) {
        await proc.finished.catch(() => {});
        throw e;
      }
      // The output, read as it comes (read-committed), timed against each record's timestamp.
      const measureFrom = Date.now() + l.warmupSeconds * 1000;
      const latencies: number[] = [];
      let seen = 0;
      let warmupRecords = 0;
      let tombstones = 0;
      const offsets = new Array<number>(partitions).fill(0);
      let consuming = true;
      const consumer = (async () => {
        while (consuming) {
          const fetched = await consumerLog.fetchMany(offsets.map((offset, partition) => ({ tp: { topic: outputTopic, partition }, offset, options: { maxRecords: Number.MAX_SAFE_INTEGER } })));
          const now = Date.now();
          fetched.forEach((r, partition) => {
            for (const record of r.records) {
              seen++;
              if (record.value === null) tombstones++;
              else if (record.timestamp < measureFrom) warmupRecords++;
              else latencies.push(now - record.timestamp);
            }
            offsets[partition] = r.nextOffset;
          });
        }
      })();
      let consumerFailed = false;
      consumer.catch(() => (consumerFailed = true)); // and awaited below, which throws its error
      let production: Production;
      let drained = false;
      try {
        production = await produceAtRate(latInput, l.rate, l.warmupSeconds + l.seconds, proc.exited);
        // Drain: the engine has committed the whole input, and the output is read to its end.
        const inputEnds = await fetchEndOffsets(log, latInput, partitions);
        const deadline = Date.now() + LATENCY_DRAIN_TIMEOUT_MS;
        while (Date.now() < deadline && !proc.exited()) {
          const committed = await log.committedOffsets(applicationId);
          if (inputEnds.every((end, p) => (committed.get(`${latInput}:${p}`) ?? 0) >= end)) {
            const outputEnds = await fetchEndOffsets(log, outputTopic, partitions);
            while (Date.now() < deadline && !consumerFailed && !outputEnds.every((end, p) => offsets[p]! >= end)) await sleep(COMPLETION_POLL_MS);
            drained = outputEnds.every((end, p) => offsets[p]! >= end);
            break;
          }
          await sleep(COMPLETION_POLL_MS);
        }
        if (!drained && !proc.exited()) console.warn(`  [${engine}] latency run not drained after ${LATENCY_DRAIN_TIMEOUT_MS / 1000} s`);
      } finally {
        consuming = false;
        await consumer;
        proc.stop();
      }
      const run = await proc.finished;
      if (engine === 'kafka-streams') kafkaStreamsVersion ??= run.report.kafkaStreamsVersion;
      return { ...run, inputTopic: latInput, production, latency: latencyStats(latencies), outputRecordsSeen: seen, warmupRecords, tombstones, drained };
    } finally {
      await deleteTopics([...topics, ...(await internalTopics(applicationId))], [applicationId]);
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
    for (const [name, run] of [
      ['Kafka Streams', k],
      ['Tributary', t],
    ] as const) {
      if (run?.outputRecords !== undefined && run.outputRecords !== r.expectedOutputRecords) {
        console.log(`  ${name}: ${run.outputRecords} output records, the input implies ${r.expectedOutputRecords}`);
      }
    }
    if (r.outputDiff !== undefined) {
      const d = r.outputDiff;
      console.log(
        `  outputs differ: Kafka Streams ${d.kafkaStreamsRecords} records, Tributary ${d.tributaryRecords}; ${d.keysDiffering} keys differ (${d.keysOnlyKafkaStreams} only in Kafka Streams' output, ${d.keysOnlyTributary} only in Tributary's); e.g. ${d.examples.map((e) => `${e.key} ${e.kafkaStreams}/${e.tributary}`).join(', ')}`,
      );
    }
    for (const [name, run] of [
      ['KS', r.latency?.kafkaStreams],
      ['Tr', r.latency?.tributary],
    ] as const) {
      if (run === undefined) continue;
      const p = run.production;
      console.log(
        `  latency ${name}: p50 ${num(run.latency.p50Ms, 1)} ms, p99 ${num(run.latency.p99Ms, 1)}, max ${num(run.latency.maxMs, 0)} over ${run.latency.count} outputs (${run.warmupRecords} in warm-up, ${run.tombstones} tombstones not timed${run.drained ? '' : ', NOT DRAINED'}); produced ${si(p.records)} at ${si(p.achievedRate)}/s (target ${si(p.targetRate)}, longest gap ${p.maxSendGapMs.toFixed(0)} ms${p.keptRate ? '' : ', RATE NOT KEPT'}); CPU ${run.report.cpuSeconds.toFixed(1)} s, RSS ${run.report.peakRssMiB.toFixed(0)} MiB`,
      );
    }
    for (const e of r.errors) console.log(`  error: ${e}`);
  };

  try {
    const t = performance.now();
    if (profiles !== undefined) {
      await log.createTopic(profiles, { partitions, cleanupPolicy: 'delete', retentionMs: -1 });
      const n = await produceProfiles(log, profiles, { keys, partitions, timestamp: profileTimestamp });
      console.log(`preloaded ${si(n)} profiles into ${profiles} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
    const t1 = performance.now();
    await log.createTopic(input, { partitions, cleanupPolicy: 'delete', retentionMs: -1 });
    await produceInput(log, input, { records, keys, partitions, timestampOf: timestamps.timestampOf });
    const ends = await fetchEndOffsets(log, input, partitions);
    if (sum(ends) !== records) throw new Error(`${input} holds ${sum(ends)} offsets, expected ${records} records`);
    console.log(
      `preloaded ${si(records)} records into ${input} in ${((performance.now() - t1) / 1000).toFixed(1)} s; timestamps ${config.timestamps.first} .. ${config.timestamps.last} (${timestamps.idleGaps} idle gaps of ${idleGapMs / 60_000} min)`,
    );

    // The raw limits in the same run: the Kafka clients (Tributary's and Java's) and the embedded
    // log with no processing (bench/raw-limits.ts), on as many records as the engines get.
    if (!args['no-raw-limits']) {
      const t = performance.now();
      extra.rawLimits = await measureRawLimits({ records, bootstrapBrokers, partitions, keys, java, log: (line) => console.log(`  [raw] ${line}`) });
      console.log(`raw limits measured in ${((performance.now() - t) / 1000).toFixed(0)} s`);
      writeResults(false);
    }

    header();
    for (let repetition = 1; repetition <= repetitions; repetition++) {
      // The order alternates from case to case, and for each case from one repetition to the next.
      let caseIndex = repetition;
      for (const topology of topologies) {
        for (const threads of threadCounts) {
          for (const guarantee of guarantees) {
            const order: Engine[] = caseIndex++ % 2 === 1 ? ['kafka-streams', 'tributary'] : ['tributary', 'kafka-streams'];
            const caseId = `${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
            const runs: Partial<Record<Engine, EngineRun>> = {};
            const toDelete: { topics: string[]; groups: string[] } = { topics: [], groups: [] };
            const errors: string[] = [];
            let outputDiff: OutputDiff | undefined;
            try {
              for (const engine of order) {
                try {
                  const { run, topics, group } = await runEngine(engine, topology, threads, guarantee, caseId);
                  runs[engine] = run;
                  toDelete.topics.push(...topics);
                  toDelete.groups.push(group);
                } catch (e) {
                  errors.push(`${engine}: ${e instanceof Error ? e.message : String(e)}`);
                }
              }
              const k = runs['kafka-streams'];
              const tr = runs.tributary;
              // Per key, unless that is too much to hold (then --keep-topics and look by hand).
              if (k?.outputDigest !== undefined && tr?.outputDigest !== undefined && (k.outputDigest !== tr.outputDigest || k.outputRecords !== tr.outputRecords)) {
                if (Math.max(k.outputRecords!, tr.outputRecords!) <= 5e6) outputDiff = await diffOutputs(k.outputTopic, tr.outputTopic);
              }
            } finally {
              await deleteTopics(toDelete.topics, toDelete.groups);
            }
            const latencyRuns: { kafkaStreams?: LatencyRun; tributary?: LatencyRun } = {};
            if (latency !== undefined && repetition <= latency.repetitions && latency.threads.includes(threads) && latency.guarantees.includes(guarantee)) {
              for (const engine of order) {
                try {
                  const run = await runLatency(engine, topology, threads, guarantee, caseId);
                  if (engine === 'kafka-streams') latencyRuns.kafkaStreams = run;
                  else latencyRuns.tributary = run;
                } catch (e) {
                  errors.push(`latency, ${engine}: ${e instanceof Error ? e.message : String(e)}`);
                }
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
              expectedOutputRecords: expected[topology],
              ...(k?.outputDigest !== undefined && tr?.outputDigest !== undefined && { outputsAgree: k.outputDigest === tr.outputDigest && k.outputRecords === tr.outputRecords }),
              ...(outputDiff !== undefined && { outputDiff }),
              ...(latency !== undefined && { latency: latencyRuns }),
            };
            results.push(r);
            writeResults(false);
            row(r);
          }
        }
      }
    }
  } finally {
    if (!args['keep-topics']) {
      const topics = [input, ...(profiles === undefined ? [] : [profiles])];
      await admin.deleteTopics({ topics }).catch((e: unknown) => console.warn(`could not delete ${topics.join(', ')}: ${String(e)}`));
    }
    await log.close();
    await consumerLog.close();
    await admin.close();
  }

  summary(results, repetitions);
  if (extra.rawLimits !== undefined) console.log(`\nraw limits (no processing), same run:\n${formatRawLimits(extra.rawLimits)}`);
  writeResults(true);
  if (!args['no-json']) console.log(`results: ${resultsFile.pathname}`);
  if (results.some((r) => r.errors.length > 0 || r.outputsAgree === false)) process.exitCode = 1;
}

/** SHA-1 of (key bytes, 0xff, value bytes): the unit of the order-independent output digests. */
function recordDigest(record: FetchedRecord): Buffer {
  const h = createHash('sha1');
  if (record.key !== null) h.update(record.key);
  h.update(SEPARATOR);
  if (record.value !== null) h.update(record.value);
  return h.digest();
}
const SEPARATOR = Buffer.from([0xff]);

/** Medians over repetitions (min–max), with the ratios Tributary / Kafka Streams: throughput, then latency. */
function summary(results: readonly CaseResult[], repetitions: number): void {
  const groups = [...new Set(results.map((r) => `${r.topology}|${r.threads}|${r.guarantee}`))].map((key) => {
    const [topology, threads, guarantee] = key.split('|');
    return { label: `${topology} | ${threads} | ${guarantee}`, rs: results.filter((r) => `${r.topology}|${r.threads}|${r.guarantee}` === key) };
  });
  /** `median (min–max)` of one figure of both engines, and the ratio of the medians. */
  const cells = (k: number[], t: number[], f: (x: number) => string) => {
    const show = (xs: number[]) => (xs.length === 0 ? '-' : `${f(median(xs))}${spread(xs, f)}`);
    return [show(k), show(t), k.length === 0 || t.length === 0 ? '-' : (median(t) / median(k)).toFixed(2)];
  };
  const fixed = (digits: number) => (x: number) => x.toFixed(digits);
  const of = (rs: readonly CaseResult[], pick: (r: CaseResult) => number | undefined) => rs.flatMap((r) => {
    const x = pick(r);
    return x === undefined || Number.isNaN(x) ? [] : [x];
  });

  console.log(`\nsummary${repetitions > 1 ? ` (median of ${repetitions}, min–max)` : ''}: Tributary / Kafka Streams`);
  console.log(
    '| topology | threads | guarantee | Kafka Streams records/s | Tributary records/s | ratio | Kafka Streams CPU s/M | Tributary CPU s/M | ratio | Kafka Streams peak RSS MiB | Tributary peak RSS MiB | ratio | outputs agree |',
  );
  console.log('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const { label, rs } of groups) {
    const agree = rs.map((r) => (r.outputsAgree === undefined ? '-' : r.outputsAgree ? 'yes' : 'NO')).join(', ');
    console.log(
      `| ${label} | ${[
        ...cells(of(rs, (r) => r.kafkaStreams?.report.recordsPerSecond), of(rs, (r) => r.tributary?.report.recordsPerSecond), si),
        ...cells(of(rs, (r) => r.kafkaStreams?.report.cpuSecondsPerMillion), of(rs, (r) => r.tributary?.report.cpuSecondsPerMillion), fixed(2)),
        ...cells(of(rs, (r) => r.kafkaStreams?.report.peakRssMiB), of(rs, (r) => r.tributary?.report.peakRssMiB), fixed(0)),
      ].join(' | ')} | ${agree} |`,
    );
  }

  if (!results.some((r) => r.latency !== undefined)) return;
  const l = results.find((r) => r.latency?.kafkaStreams ?? r.latency?.tributary);
  const p = (l?.latency?.kafkaStreams ?? l?.latency?.tributary)?.production;
  console.log(`\nlatency at ${p === undefined ? '?' : si(p.targetRate)} records/s (ms from the input record's timestamp to the output read, read-committed)${repetitions > 1 ? `, median of ${repetitions} (min–max)` : ''}:`);
  console.log(
    '| topology | threads | guarantee | Kafka Streams p50 | Tributary p50 | ratio | Kafka Streams p99 | Tributary p99 | ratio | Kafka Streams max | Tributary max | outputs timed KS/Tr | rate kept and drained KS/Tr |',
  );
  console.log('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|');
  for (const { label, rs } of groups) {
    const ks = rs.flatMap((r) => (r.latency?.kafkaStreams === undefined ? [] : [r.latency.kafkaStreams]));
    const tr = rs.flatMap((r) => (r.latency?.tributary === undefined ? [] : [r.latency.tributary]));
    if (ks.length === 0 && tr.length === 0) continue; // not measured for this case (--latency-threads, --latency-guarantees)
    const pick = (runs: LatencyRun[], f: (run: LatencyRun) => number) => runs.map(f).filter((x) => !Number.isNaN(x));
    const counts = `${ks.map((r) => r.latency.count).join(',') || '-'} / ${tr.map((r) => r.latency.count).join(',') || '-'}`;
    const kept = `${ks.map((r) => (r.production.keptRate && r.drained ? 'yes' : 'NO')).join(',') || '-'} / ${tr.map((r) => (r.production.keptRate && r.drained ? 'yes' : 'NO')).join(',') || '-'}`;
    const [kMax, tMax] = cells(
      pick(ks, (r) => r.latency.maxMs),
      pick(tr, (r) => r.latency.maxMs),
      fixed(0),
    );
    console.log(
      `| ${label} | ${[
        ...cells(
          pick(ks, (r) => r.latency.p50Ms),
          pick(tr, (r) => r.latency.p50Ms),
          fixed(1),
        ),
        ...cells(
          pick(ks, (r) => r.latency.p99Ms),
          pick(tr, (r) => r.latency.p99Ms),
          fixed(1),
        ),
        kMax,
        tMax,
      ].join(' | ')} | ${counts} | ${kept} |`,
    );
  }
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
