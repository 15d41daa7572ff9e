/**
 * Side by side with Kafka Streams at steady state: the topologies of bench/topologies.ts run by
 * Tributary (StreamsApp on KafkaLog), by Kafka Streams 4.1.2 (bench/peers/kafka-streams/, the same
 * topologies in Java) on the same input topic of one broker, and by Tributary on the embedded log
 * (no broker) on the same records, one engine after the other, each in a fresh process.
 *
 *   node bench/compare.ts [--min-seconds 12] [--warmup-seconds 5] [--repetitions 3] [--plan]
 *                         [--topologies mapFilter,countByKey,windowedCount,sessionCount,enrichJoin]
 *                         [--threads 1,2] [--guarantees exactly_once_v2 (add ,at_least_once)]
 *                         [--cache off|default] [--key-distribution uniform|zipf] [--zipf-exponent 1.0]
 *                         [--no-embedded] [--embedded-repetitions 1] [--rates topology[:threads]=rate,...] [--embedded-rates ...]
 *                         [--records N --warmup-records W] [--keys 100k] [--partitions 8] [--ms-per-record 0.25]
 *                         [--idle-every <half of each input>] [--idle-gap-minutes 31]
 *                         [--commit-interval-ms 100] [--max-poll-records 1000] [--java-opts "-Xms1g -Xmx1g"]
 *                         [--bootstrap 127.0.0.1:9092] [--timeout-s 900]
 *                         [--quiet-idle 0.85] [--quiet-seconds 3] [--quiet-timeout-s 60]
 *                         [--latency] [--latency-rate 2000] [--latency-seconds 15] [--latency-warmup-seconds 5]
 *                         [--latency-threads 1] [--latency-guarantees exactly_once_v2] [--latency-repetitions 1]
 *                         [--raw-limits] [--raw-limits-records 1M]
 *                         [--skip-build] [--verify-repetitions 1] [--no-verify] [--keep-topics] [--no-json]
 *
 * Needs the broker of `node scripts/kafka.ts start`, Java 17 and Maven (the Java project is built
 * once, `mvn -q -f bench/peers/kafka-streams/pom.xml package`, unless --skip-build).
 *
 * Steady state. Each input is a warm-up segment followed by the measured segment. Both are sized
 * per topology and thread count from an estimate of the faster engine's steady-state records/s
 * (RATES below, or --rates; the embedded log has its own, EMBEDDED_RATES or --embedded-rates):
 * --warmup-seconds and --min-seconds of it. The warm-up records are produced first (the end
 * offsets after them are recorded, "marks"). Every engine processes the whole input, and its
 * figures are split at the "mark": the first completion poll at which its committed offsets cover
 * as many input records in all as the warm-up holds (a total rather than per partition, so that
 * an engine that serves its partitions unevenly is not held in the warm-up). The warm-up (from
 * running to the mark: JIT, caches, the profile table of enrichJoin) is reported apart, and
 * records/s and CPU per record are those of the measured span (from the mark to the end of the
 * input; the records committed after the mark). A measured span shorter than 90% of --min-seconds
 * is flagged ("short"). The rates are estimates, and a faster engine makes them stale: when the
 * faster engine's run of the first repetition is short, the input is sized again from the rate it
 * reached (x 1.1) and the first repetition run again (once per input; the short one stays in the
 * JSON marked "calibration", out of the summary). --records N (with --warmup-records,
 * by default the same share of N as warm-up / (warm-up + min)) sizes every input alike instead:
 * for quick checks. --plan prints the input sizes and a rough duration (estimateMinutes) and stops.
 *
 * 1. The cases run topology by topology, and for each thread count on its own input:
 *    `bench-cmp-in-<run id>-<topology>-<threads>t` (--partitions partitions) holds the records of
 *    end-to-end.ts (common.ts: 100 bytes, --keys keys, partitioned by Kafka's default partitioner).
 *    Keys: --key-distribution uniform is keyIdOf (every key once per --keys records); zipf draws
 *    key ranks with probability ~ 1 / rank^--zipf-exponent from a hash of the record's number (hot
 *    keys, where a record cache matters). Default: zipf with --cache default, uniform otherwise.
 *    Timestamps exercise the windows: record `seq` has t0 + floor(seq * --ms-per-record) +
 *    floor(seq / --idle-every) * --idle-gap-minutes, i.e. bursts of --idle-every records 0.25 ms
 *    apart separated by idle gaps longer than sessionCount's 30-minute inactivity gap, so sessions
 *    close (by default one gap, in the middle of each input). t0 is a minute boundary chosen so that
 *    the last timestamp is before now (the broker's time retention goes by record timestamps; the
 *    topics also have retention.ms -1). For enrichJoin, first a profile topic (same partitions,
 *    same partitioner): one 60-byte profile per key id not divisible by 10, timestamps a minute
 *    before t0, so every profile precedes every event. The scheme is in the results' config.
 *    Unless --no-embedded, the same records (its own count, from its own rate) go into an embedded
 *    log in a temporary directory (fsync off while loading); each embedded run gets a copy of it.
 *    The embedded runs are in the first --embedded-repetitions (1) repetitions only: the time budget.
 * 1b. With --raw-limits, first the raw limits on --raw-limits-records records, with no processing
 *    (bench/raw-limits.ts): Tributary's Kafka client, the Java client and the embedded log.
 * 2. For each repetition x guarantee, runs every engine on that input (Kafka Streams and Tributary
 *    alternating from case to case, and so from one repetition of a case to the next; the embedded
 *    run first, in the middle or last in turn), each with a fresh application id, its own fresh
 *    output topic and a fresh state directory:
 *      - Kafka Streams: `java <--java-opts> -jar bench/peers/kafka-streams/target/kafka-streams-bench.jar`;
 *      - Tributary: this script again, `node bench/compare.ts --child <json>`, which runs a
 *        StreamsApp with the topology module bench/topologies.ts on KafkaLog (persistent stores,
 *        the same commit interval and max poll records), or on the embedded log (fsync on).
 *    Before each run the script waits (at most --quiet-timeout-s) until the machine has been at
 *    least --quiet-idle idle over --quiet-seconds (/proc/stat), and records how long it waited and
 *    whether it gave up. Each engine measures itself the same way: wall time and its process's CPU
 *    time (Tributary: process.cpuUsage(), every thread; Kafka Streams:
 *    OperatingSystemMXBean.getProcessCpuTime, every JVM thread), from the moment the app is running
 *    (Tributary: start() resolved; Kafka Streams: state RUNNING) to the mark, and from the mark to
 *    the moment its committed offsets, polled every 50 ms (10 ms on the embedded log; on Kafka read
 *    without requireStable: the offsets of committed transactions, answered at once), cover the end
 *    of the input (the event topic; enrichJoin's profiles are read in the warm-up but not counted). Each prints a JSON line when running, one at the mark and
 *    one when done. Over the same spans this script reads, from /proc, the engine process's CPU (a
 *    cross-check, "procCpuSeconds"), the broker's CPU and the CPU of everything else on the machine
 *    ("other"), and the 1-minute load average when the run starts and ends.
 * 3. Cache modes (--cache): `off` (default): Kafka Streams with statestore.cache.max.bytes 0 and
 *    Tributary with cacheMaxBytes 0: every update is emitted. `default`: both engines as their users
 *    run them (Kafka Streams' 10 MiB; Tributary without cacheMaxBytes).
 * 4. In the first --verify-repetitions (1) repetitions, unless --no-verify, reads both Kafka output
 *    topics back (read-committed; in the others only the figures are taken). With --cache off it
 *    compares them as multisets of (key bytes, value bytes), by record count and an
 *    order-independent digest (partitions and order are not compared), checks the count against the
 *    one the input implies and lists how they differ when they do. With --cache default the engines
 *    may emit different numbers of updates, so it compares final values instead: per partition,
 *    the last record of each output key in offset order (a key's records are in one partition as
 *    long as both engines use the same partitioner on the output key's bytes; the records not in
 *    their key's partition by Kafka's default partitioner are counted, "offPartitioner", and then
 *    "final" is per partition), a null final (a tombstone: a merged-away session) counting as no
 *    record, and reports how many records each engine emitted. It also counts the records of each
 *    application's internal topics. The embedded run's output and changelogs are counted (by
 *    offsets) by the child, and the output count checked against the input with --cache off.
 * 5. With --latency, latency at a fixed input rate, for each case of the first
 *    --latency-repetitions (1) repetitions and each Kafka engine: a fresh input topic (and for
 *    enrichJoin a fresh profile topic, loaded before the engine starts), a fresh output topic and
 *    application id; the engine runs until stopped (Tributary `--child` with untilStopped, Kafka
 *    Streams `--until-stopped`: until a line on stdin). Once it reports running, this script
 *    produces --latency-warmup-seconds + --latency-seconds of records at --latency-rate records/s
 *    (every 10 ms the records due, same keys and values, timestamp = Date.now() when produced) and
 *    reads the output topic with one read-committed fetch loop, taking `Date.now() -
 *    record.timestamp` for each output record. Not timed: outputs of records produced during the
 *    warm-up, and sessionCount's tombstones (their timestamp is the old session's end). After the
 *    production it waits until the engine has committed the whole input and the output is read to
 *    its end, then stops the engine. Reported: p50/p90/p99/max, count, and whether the producer kept
 *    the rate.
 * Topics of a case are deleted after it, an input after its cases, unless --keep-topics.
 *
 * Results: a line per engine run, a summary (medians over repetitions, min–max) with the ratios
 * Tributary / Kafka Streams, and bench/results/<timestamp>-compare.json (rewritten after every
 * case; a summary: per-run figures and the medians, no per-record data).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Admin } from '@platformatic/kafka';
import { EmbeddedLog } from '../connectors/embedded/index.ts';
import { KafkaLog } from '../connectors/kafka/index.ts';
import { StreamsApp, partitionForKey, type FetchedRecord, type Log, type LogRecord, type PartitionBatch, type StreamsAppOptions } from '../index.ts';
import {
  RECORD_BYTES,
  PROFILE_BYTES,
  cpuSecondsSince,
  fetchEndOffsets,
  hasProfile,
  kafkaBrokerPids,
  keyChooser,
  keyString,
  latencyStats,
  machine,
  machineBusySeconds,
  machineCpuTicks,
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
  type KeyDistribution,
  type LatencyStats,
} from './common.ts';
import { formatRawLimits, measureRawLimits, type RawLimits } from './raw-limits.ts';
import { INPUT_TOPIC, OUTPUT_TOPICS, PROFILE_TOPIC, SESSION_GAP_MS, type TopologyName } from './topologies.ts';

type Engine = 'kafka-streams' | 'tributary' | 'tributary-embedded';
const COMPARED = ['mapFilter', 'countByKey', 'windowedCount', 'sessionCount', 'enrichJoin'] as const satisfies readonly TopologyName[];
type Compared = (typeof COMPARED)[number];
type CacheMode = 'off' | 'default';
/** How often each engine checks its committed offsets on Kafka (as end-to-end.ts --log kafka). */
const COMPLETION_POLL_MS = 50;
/** The same on the embedded log, where a check costs no round trip (as end-to-end.ts). */
const EMBEDDED_COMPLETION_POLL_MS = 10;
/** Latency runs: how often the producer sends the records due. */
const LATENCY_TICK_MS = 10;
/** Latency runs: how long to wait, after the production, for the engine to commit the input and the output to be read. */
const LATENCY_DRAIN_TIMEOUT_MS = 120_000;
/** A measured span shorter than this share of --min-seconds is flagged as short. */
const SHORT_SHARE = 0.9;

/**
 * Estimated steady-state records/s of the faster of Kafka Streams and Tributary on Kafka, per
 * topology and thread count, for sizing the inputs (not results). 1 thread, mapFilter, countByKey
 * and windowedCount: Kafka Streams' medians of the first steady-state run (bench/README.md, "Steady
 * state, 1 thread, cache off"), rounded up; the rest from short runs of this script (1M records,
 * 350k of them warm-up, one repetition) or guessed (2 threads), on the 2-vCPU machine of
 * bench/README.md. Override with --rates; a short first repetition sizes the input again anyway.
 */
const RATES: Record<Compared, Record<1 | 2, number>> = {
  mapFilter: { 1: 1_350_000, 2: 1_500_000 },
  countByKey: { 1: 250_000, 2: 330_000 },
  windowedCount: { 1: 240_000, 2: 280_000 },
  sessionCount: { 1: 95_000, 2: 100_000 },
  enrichJoin: { 1: 350_000, 2: 400_000 },
};
/** The same for Tributary on the embedded log (1 thread of the first three: that run; the rest short runs or guesses). */
const EMBEDDED_RATES: Record<Compared, Record<1 | 2, number>> = {
  mapFilter: { 1: 1_000_000, 2: 1_300_000 },
  countByKey: { 1: 240_000, 2: 300_000 },
  windowedCount: { 1: 175_000, 2: 200_000 },
  sessionCount: { 1: 70_000, 2: 120_000 },
  enrichJoin: { 1: 450_000, 2: 600_000 },
};

/** What the Tributary child process runs (`--child <json>`). */
interface ChildSpec {
  readonly log: { readonly kind: 'kafka'; readonly bootstrapBrokers: readonly string[] } | { readonly kind: 'embedded'; readonly dir: string };
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
  /** StreamsApp's cacheMaxBytes (KIP-63 record cache); absent: the engine's default. */
  readonly cacheMaxBytes?: number;
  /** Input records of the warm-up segment: the mark is where this many are committed in all; absent: no warm-up phase. */
  readonly warmupRecords?: number;
  readonly timeoutMs: number;
  /** Run until a line on stdin (or its end, or SIGTERM) instead of until the input is committed. */
  readonly untilStopped: boolean;
}

/** The `done` line of any engine (fields all print). Figures are those of the measured span. */
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
  /** With a mark: input records committed by the mark, and the warm-up's wall and CPU time. */
  readonly warmupRecords?: number;
  readonly warmupSeconds?: number;
  readonly warmupCpuSeconds?: number;
  /** Embedded runs: records in the output topic and in the application's internal topics (offsets). */
  readonly outputRecords?: number;
  readonly internalTopicRecords?: number;
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

/** End offsets of a topic of the embedded log (records: the embedded log writes no transaction markers). */
async function embeddedEnds(log: EmbeddedLog, topic: string): Promise<number[]> {
  const n = (await log.topics()).get(topic)?.partitions ?? 0;
  return Array.from({ length: n }, (_, partition) => log.offsets({ topic, partition }).end);
}

async function runTributaryChild(spec: ChildSpec): Promise<void> {
  // Read by bench/topologies.ts in every stream thread (workers copy the environment at start).
  process.env.BENCH_INPUT_TOPIC = spec.input;
  process.env.BENCH_OUTPUT_SUFFIX = spec.outputSuffix;
  if (spec.profiles !== undefined) process.env.BENCH_PROFILE_TOPIC = spec.profiles;
  const embedded = spec.log.kind === 'embedded' ? await EmbeddedLog.open({ dir: spec.log.dir }) : undefined;
  const log: Log = embedded ?? new KafkaLog({ bootstrapBrokers: spec.log.kind === 'kafka' ? spec.log.bootstrapBrokers : [], clientId: spec.applicationId });
  const pollMs = embedded === undefined ? COMPLETION_POLL_MS : EMBEDDED_COMPLETION_POLL_MS;
  const stateDir = mkdtempSync(join(tmpdir(), 'tributary-compare-'));
  const emit = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);
  const stop = spec.untilStopped ? stopRequested() : undefined;
  // On Kafka the committed offsets are read without requireStable (Kafka Streams' side does the
  // same): the offsets of committed transactions, at once. With requireStable the broker answers
  // UNSTABLE_OFFSET_COMMIT while a transaction holds pending offsets, and KafkaLog.committedOffsets
  // retries until none does; Tributary's next transaction adds its offsets soon enough that such a
  // read could wait for most of a run, which held the mark (and once the end) back.
  const admin = spec.log.kind === 'kafka' ? new Admin({ clientId: `${spec.applicationId}-bench-admin`, bootstrapBrokers: [...spec.log.bootstrapBrokers] }) : undefined;
  const readCommitted = async (): Promise<ReadonlyMap<string, number>> => {
    if (admin === undefined) return log.committedOffsets(spec.applicationId);
    const out = new Map<string, number>();
    for (const g of await admin.listConsumerGroupOffsets({ groups: [spec.applicationId], requireStable: false })) {
      for (const t of g.topics) for (const p of t.partitions) if (p.committedOffset >= 0n) out.set(`${t.name}:${p.partitionIndex}`, Number(p.committedOffset));
    }
    return out;
  };
  /** Input records committed (at most `ends` per partition). */
  const committedInput = async (ends: readonly number[] | undefined) => {
    const committed = await readCommitted();
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
    const ends = embedded === undefined ? await fetchEndOffsets(log as KafkaLog, spec.input, spec.partitions) : await embeddedEnds(embedded, spec.input);
    let records = sum(ends);
    const options: StreamsAppOptions = {
      applicationId: spec.applicationId,
      log,
      threads: spec.threads,
      processingGuarantee: spec.guarantee,
      commitIntervalMs: spec.commitIntervalMs,
      maxPollRecords: spec.maxPollRecords,
      stateDir,
      onError: (error) => (failure = error),
    };
    // cacheMaxBytes (the KIP-63 record cache) only when set: absent means the engine's default.
    const app = new StreamsApp(
      { module: new URL('./topologies.ts', import.meta.url), export: spec.topology },
      spec.cacheMaxBytes === undefined ? options : { ...options, cacheMaxBytes: spec.cacheMaxBytes },
    );
    const wall0 = performance.now();
    await app.start();
    const startupSeconds = (performance.now() - wall0) / 1000;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    emit({ event: 'running', startupSeconds });
    let seconds: number;
    let cpuSeconds: number;
    let warmup: { records: number; seconds: number; cpuSeconds: number } | undefined;
    if (stop !== undefined) {
      let stopped = false;
      void stop.then(() => (stopped = true));
      while (!stopped) {
        if (app.state !== 'RUNNING') throw notRunning(app.state);
        await Promise.race([stop, sleep(pollMs)]);
      }
      seconds = (performance.now() - t0) / 1000;
      cpuSeconds = cpuSecondsSince(cpu0);
      records = await committedInput(undefined);
    } else {
      const deadline = Date.now() + spec.timeoutMs;
      let lastReport = Date.now();
      let tMark = t0;
      let cpuMark = cpu0;
      for (;;) {
        if (app.state !== 'RUNNING') throw notRunning(app.state);
        const done = await committedInput(ends);
        // The mark: as many records committed in all as the warm-up segment holds (a total, not
        // per partition: an engine that serves its partitions unevenly is not held in the warm-up).
        if (warmup === undefined && spec.warmupRecords !== undefined && done >= spec.warmupRecords) {
          tMark = performance.now();
          cpuMark = process.cpuUsage();
          warmup = { records: done, seconds: (tMark - t0) / 1000, cpuSeconds: cpuSecondsSince(cpu0) };
          emit({ event: 'warm', warmupRecords: done });
        }
        if (done === records) break;
        if (Date.now() > deadline) throw new Error(`${spec.applicationId}: timed out with ${done} of ${records} records committed`);
        if (Date.now() - lastReport > 10_000) {
          lastReport = Date.now();
          process.stderr.write(`    ... ${si(done)} of ${si(records)} committed\n`);
        }
        await sleep(pollMs);
      }
      seconds = (performance.now() - tMark) / 1000;
      cpuSeconds = cpuSecondsSince(cpuMark);
      if (warmup !== undefined) records -= warmup.records;
    }
    const metrics = await app.metrics();
    let counts: { outputRecords: number; internalTopicRecords: number } | undefined;
    if (embedded !== undefined) {
      const output = `${OUTPUT_TOPICS[spec.topology]}${spec.outputSuffix}`;
      let internalTopicRecords = 0;
      for (const name of (await embedded.topics()).keys()) {
        if (name.startsWith(`${spec.applicationId}-`)) internalTopicRecords += sum(await embeddedEnds(embedded, name));
      }
      counts = { outputRecords: sum(await embeddedEnds(embedded, output)), internalTopicRecords };
    }
    emit({
      event: 'done',
      engine: embedded === undefined ? 'tributary' : 'tributary-embedded',
      applicationId: spec.applicationId,
      mode: spec.untilStopped ? 'until-stopped' : 'until-drained',
      records,
      startupSeconds,
      seconds,
      recordsPerSecond: records / seconds,
      cpuSeconds,
      cpuSecondsPerMillion: cpuSeconds / (records / 1e6),
      cores: cpuSeconds / seconds,
      ...(warmup !== undefined && { warmupRecords: warmup.records, warmupSeconds: warmup.seconds, warmupCpuSeconds: warmup.cpuSeconds }),
      commits: metrics.commits,
      commitSeconds: metrics.commitMs / 1000,
      processSeconds: metrics.processMs / 1000,
      // ru_maxrss of the whole process (every worker thread), in KiB on Linux.
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
      ...counts,
      node: process.version,
      execArgv: process.execArgv,
      cacheMaxBytes: spec.cacheMaxBytes ?? 'default',
    } satisfies EngineReport & Record<string, unknown>);
    await app.close();
  } finally {
    await admin?.close();
    await log.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Parent

const { values: args } = parseArgs({
  options: {
    child: { type: 'string' },
    // 12 s measured (after the warm-up), not the issue's ~30 s: the default matrix must take under
    // 45 minutes on the 2-vCPU machine, and with 30 s it takes ~75 (bench/README.md, "Duration").
    'min-seconds': { type: 'string', default: '12' },
    'warmup-seconds': { type: 'string', default: '5' },
    records: { type: 'string' },
    'warmup-records': { type: 'string' },
    rates: { type: 'string', default: '' },
    'embedded-rates': { type: 'string', default: '' },
    keys: { type: 'string', default: '100k' },
    partitions: { type: 'string', default: '8' },
    'ms-per-record': { type: 'string', default: '0.25' },
    'idle-every': { type: 'string' },
    'idle-gap-minutes': { type: 'string', default: '31' },
    topologies: { type: 'string', default: COMPARED.join(',') },
    threads: { type: 'string', default: '1,2' },
    guarantees: { type: 'string', default: 'exactly_once_v2' },
    repetitions: { type: 'string', default: '3' },
    cache: { type: 'string', default: 'off' },
    'key-distribution': { type: 'string' },
    'zipf-exponent': { type: 'string', default: '1.0' },
    'no-embedded': { type: 'boolean', default: false },
    'embedded-repetitions': { type: 'string', default: '1' },
    'commit-interval-ms': { type: 'string', default: '100' },
    'max-poll-records': { type: 'string', default: '1000' },
    'java-opts': { type: 'string', default: '-Xms1g -Xmx1g' },
    bootstrap: { type: 'string', default: '127.0.0.1:9092' },
    'timeout-s': { type: 'string', default: '900' },
    'quiet-idle': { type: 'string', default: '0.85' },
    'quiet-seconds': { type: 'string', default: '3' },
    'quiet-timeout-s': { type: 'string', default: '60' },
    latency: { type: 'boolean', default: false },
    'latency-rate': { type: 'string', default: '2000' },
    'latency-seconds': { type: 'string', default: '15' },
    'latency-threads': { type: 'string', default: '1' },
    'latency-repetitions': { type: 'string', default: '1' },
    'latency-guarantees': { type: 'string', default: 'exactly_once_v2' },
    'latency-warmup-seconds': { type: 'string', default: '5' },
    'raw-limits': { type: 'boolean', default: false },
    'raw-limits-records': { type: 'string', default: '1M' },
    'skip-build': { type: 'boolean', default: false },
    'no-verify': { type: 'boolean', default: false },
    plan: { type: 'boolean', default: false },
    'verify-repetitions': { type: 'string', default: '1' },
    'keep-topics': { type: 'boolean', default: false },
    'no-json': { type: 'boolean', default: false },
  },
});

/** How long a run waited for a quiet machine before it started. */
interface Quiet {
  readonly waitedSeconds: number;
  /** The machine was not quiet within --quiet-timeout-s: the run started anyway. */
  readonly gaveUp: boolean;
  /** Idle share of the CPUs over the last --quiet-seconds before the run. */
  readonly idle: number;
}

/** CPU figures of one span (warm-up or measured) of a run, as this script saw them from /proc. */
interface Span {
  readonly procCpuSeconds: number;
  readonly brokerCpuSeconds: number;
  /** CPU used by everything else on the machine over the span (all of /proc/stat minus engine and broker). */
  readonly otherCpuSeconds: number;
}

/** One engine's run, as the parent saw it. The report's figures are those of the measured span. */
interface EngineRun extends Span {
  readonly report: EngineReport;
  readonly brokerCpuSecondsPerMillion: number;
  /** The warm-up: from running to the mark (absent without a mark, e.g. latency runs). */
  readonly warmup?: Span & { readonly records: number; readonly seconds: number; readonly cpuSeconds: number; readonly recordsPerSecond: number; readonly cpuSecondsPerMillion: number };
  /** 1-minute load average when the process was started and when it reported done. */
  readonly loadAverage: [number, number];
  /** The measured span was shorter than SHORT_SHARE of --min-seconds. */
  readonly short?: boolean;
  readonly quiet?: Quiet;
  /** The whole run as this script saw it: copying the input (embedded), the quiet wait, the process, reading the outputs back. */
  readonly wallSeconds?: number;
  /** From the engine's done line to its process's exit (closing the app), and reading its outputs back. */
  readonly closeSeconds?: number;
  readonly verifySeconds?: number;
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

/** --cache default: the final value per output key (per partition) of both engines. */
interface FinalsComparison {
  /** Output keys whose final record is not a tombstone. */
  readonly kafkaStreamsKeys: number;
  readonly tributaryKeys: number;
  /** Keys whose final values differ (or that one engine has and the other has not). */
  readonly keysDiffering: number;
  readonly examples: readonly { key: string; partition: number; kafkaStreams: string; tributary: string }[];
  /** Records not in the partition Kafka's default partitioner gives their key's bytes. */
  readonly offPartitioner: { readonly kafkaStreams: number; readonly tributary: number };
}

interface CaseResult {
  /** A first repetition on an input that turned out too small: sized again and repeated; not in the summary. */
  readonly calibration?: boolean;
  readonly topology: Compared;
  readonly threads: number;
  readonly guarantee: Guarantee;
  readonly repetition: number;
  readonly order: readonly Engine[];
  readonly kafkaStreams?: EngineRun;
  readonly tributary?: EngineRun;
  readonly embedded?: EngineRun;
  readonly errors: string[];
  /**
   * --cache off: both outputs read back and equal as multisets of (key, value); --cache default:
   * equal final values per key. Undefined with --no-verify or a failed run.
   */
  readonly outputsAgree?: boolean;
  /** Output records the input implies (--cache off; with --cache default only for the stateless topologies). */
  readonly expectedOutputRecords?: number;
  readonly expectedEmbeddedOutputRecords?: number;
  /** How the outputs differ, when they do (--cache off). */
  readonly outputDiff?: OutputDiff;
  /** --cache default. */
  readonly finals?: FinalsComparison;
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

/** One input: its records, where its warm-up ends, its timestamps and the outputs it implies. */
interface InputPlan {
  readonly records: number;
  readonly warmupRecords: number;
  readonly idleEvery: number;
  readonly timestamps: ReturnType<typeof inputTimestamps>;
  readonly expected: Record<Compared, number>;
}

const here = fileURLToPath(new URL('.', import.meta.url));
const pom = join(here, 'peers', 'kafka-streams', 'pom.xml');
const jar = join(here, 'peers', 'kafka-streams', 'target', 'kafka-streams-bench.jar');

/**
 * The timestamps of an input: t0 + floor(seq * msPerRecord) + floor(seq / idleEvery) * idleGapMs,
 * with t0 a minute boundary at least a minute before `now` minus the whole span.
 */
function inputTimestamps(records: number, msPerRecord: number, idleEvery: number, idleGapMs: number, now: number) {
  const offset = (seq: number) => Math.floor(seq * msPerRecord) + Math.floor(seq / idleEvery) * idleGapMs;
  const spanMs = offset(records - 1);
  const t0 = Math.floor((now - spanMs) / 60_000 - 1) * 60_000;
  return { t0, spanMs, last: t0 + spanMs, idleGaps: Math.floor((records - 1) / idleEvery), timestampOf: (seq: number) => t0 + offset(seq) };
}

/** Output records each topology writes for this input with the record cache off (records in timestamp order per partition: none late). */
function expectedOutputs(records: number, keys: number, keyOf: (seq: number) => number, timestampOf: (seq: number) => number): Record<Compared, number> {
  let mapFilter = 0;
  let enrichJoin = 0;
  let tombstones = 0;
  const start = new Float64Array(keys).fill(Number.NaN);
  const end = new Float64Array(keys).fill(Number.NaN);
  for (let seq = 0; seq < records; seq++) {
    const id = keyOf(seq);
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

/** `topology[:threads]=rate,...` over a table of rates. */
function parseRates(text: string, base: Record<Compared, Record<1 | 2, number>>): (topology: Compared, threads: number) => number {
  const overrides = new Map<string, number>();
  for (const item of parseList(text, (x) => x)) {
    const m = /^(\w+)(?::(\d+))?=(.+)$/.exec(item);
    if (m === null || !(COMPARED as readonly string[]).includes(m[1]!)) throw new Error(`a rate is topology[:threads]=records/s, e.g. mapFilter:2=400k, not ${item}`);
    overrides.set(m[2] === undefined ? m[1]! : `${m[1]}:${m[2]}`, parseCount(m[3]!));
  }
  return (topology, threads) =>
    overrides.get(`${topology}:${threads}`) ?? overrides.get(topology) ?? base[topology][threads === 1 ? 1 : 2] * (threads > 2 ? threads / 2 : 1);
}

/** Waits until the machine's CPUs have been at least `idle` idle over `seconds`, at most `timeoutS`. */
async function waitForQuiet(idle: number, seconds: number, timeoutS: number): Promise<Quiet> {
  const t0 = performance.now();
  for (;;) {
    const a = machineCpuTicks();
    await sleep(seconds * 1000);
    const b = machineCpuTicks();
    const share = a === undefined || b === undefined || b.total === a.total ? 1 : (b.idle - a.idle) / (b.total - a.total);
    const waitedSeconds = (performance.now() - t0) / 1000;
    if (share >= idle) return { waitedSeconds, gaveUp: false, idle: share };
    if (waitedSeconds >= timeoutS) return { waitedSeconds, gaveUp: true, idle: share };
  }
}

/** Drops from a report what is the same in every run of an engine (kept once, in the results' `engines`). */
function slim(report: EngineReport, engines: Record<string, Record<string, unknown>>): EngineReport {
  const { event: _event, jvm, gc, jvmArgs, config, kafkaStreamsVersion, node, execArgv, topology: _topology, threads: _threads, guarantee: _guarantee, ...rest } = report;
  const shared = Object.fromEntries(Object.entries({ jvm, gc, jvmArgs, kafkaStreamsVersion, node, execArgv, exampleConfig: config }).filter(([, v]) => v !== undefined));
  engines[report.engine] ??= shared;
  return rest as EngineReport;
}

/**
 * How long a matrix takes, in minutes, roughly: a model fitted to short runs on the 2-vCPU machine
 * of bench/README.md when it was quiet. Per run, besides the quiet wait and processing, ~4 s
 * (process start, app startup, closing, creating and deleting topics, copying the embedded input);
 * Kafka Streams' warm-up takes ~2 s more than the input's warm-up segment is sized for (its JIT);
 * the slower Kafka engine takes 1.4 times as long as the faster; outputs and internal topics are
 * read back at ~1M records/s (per input record: mapFilter 0.5, enrichJoin 0.9, the counts 2,
 * sessionCount 3.6); preloading runs at ~250k records/s on Kafka and ~400k on the embedded log.
 */
function estimateMinutes(
  sizes: readonly { topology: Compared; kafka: number; embedded: number; kafkaRate: number; embeddedRate: number }[],
  o: { repetitions: number; embeddedRepetitions: number; verifyRepetitions: number; guarantees: number; quietSeconds: number; warmupSeconds: number },
): { total: number; preload: number; kafka: number; embedded: number; verify: number } {
  const RUN_OVERHEAD_S = 4;
  const KS_EXTRA_WARMUP_S = 2;
  const SLOWER = 1.4;
  const READ_BACK_PER_S = 1_000_000;
  const READ_BACK_SHARE: Record<Compared, number> = { mapFilter: 0.5, countByKey: 2, windowedCount: 2, sessionCount: 3.6, enrichJoin: 0.9 };
  let preload = 0;
  let kafka = 0;
  let embedded = 0;
  let verify = 0;
  for (const s of sizes) {
    preload += s.kafka / 250_000 + s.embedded / 400_000;
    const processing = s.kafka / s.kafkaRate;
    kafka += o.guarantees * o.repetitions * (2 * (o.quietSeconds + RUN_OVERHEAD_S) + KS_EXTRA_WARMUP_S + processing * (1 + SLOWER));
    embedded += o.guarantees * o.embeddedRepetitions * (o.quietSeconds + RUN_OVERHEAD_S + s.embedded / s.embeddedRate);
    verify += o.guarantees * Math.min(o.verifyRepetitions, o.repetitions) * ((2 * s.kafka * READ_BACK_SHARE[s.topology]) / READ_BACK_PER_S);
  }
  const minutes = (x: number) => x / 60;
  return { total: minutes(preload + kafka + embedded + verify), preload: minutes(preload), kafka: minutes(kafka), embedded: minutes(embedded), verify: minutes(verify) };
}

/** `key` bytes as text: windowed keys (the key, then two 8-byte integers) as key@[start,end], other non-printable bytes in hex. */
function printable(key: string): string {
  const bytes = Buffer.from(key, 'latin1');
  if (bytes.length > 16 && bytes.subarray(0, bytes.length - 16).every((b) => b >= 0x20 && b < 0x7f)) {
    return `${bytes.subarray(0, bytes.length - 16).toString('utf8')}@[${Number(bytes.readBigUInt64BE(bytes.length - 16))},${Number(bytes.readBigUInt64BE(bytes.length - 8))}]`;
  }
  return bytes.every((b) => b >= 0x20 && b < 0x7f) ? bytes.toString('utf8') : bytes.toString('hex');
}

async function main(): Promise<void> {
  const keys = parseCount(args.keys);
  const partitions = parseCount(args.partitions);
  const msPerRecord = Number(args['ms-per-record']);
  const idleGapMs = Math.round(Number(args['idle-gap-minutes']) * 60_000);
  if (!Number.isSafeInteger(idleGapMs) || idleGapMs < 0) throw new Error(`--idle-gap-minutes must be >= 0, not ${args['idle-gap-minutes']}`);
  const minSeconds = Number(args['min-seconds']);
  const warmupSeconds = Number(args['warmup-seconds']);
  if (!(minSeconds > 0) || !(warmupSeconds >= 0)) throw new Error('--min-seconds must be > 0 and --warmup-seconds >= 0');
  const fixedRecords = args.records === undefined ? undefined : parseCount(args.records);
  const fixedWarmup = args['warmup-records'] === undefined ? undefined : parseCount(args['warmup-records']);
  const topologies = parseList(args.topologies, (t) => {
    if (!(COMPARED as readonly string[]).includes(t)) throw new Error(`unknown topology ${t}; one of ${COMPARED.join(', ')}`);
    return t as Compared;
  });
  const threadCounts = parseList(args.threads, parseCount);
  const guarantees = parseGuarantees(args.guarantees);
  const repetitions = parseCount(args.repetitions);
  const commitIntervalMs = Number(args['commit-interval-ms']);
  const maxPollRecords = parseCount(args['max-poll-records']);
  if (args.cache !== 'off' && args.cache !== 'default') throw new Error(`--cache is off or default, not ${args.cache}`);
  const cache: CacheMode = args.cache;
  const distributionName = args['key-distribution'] ?? (cache === 'default' ? 'zipf' : 'uniform');
  if (distributionName !== 'uniform' && distributionName !== 'zipf') throw new Error(`--key-distribution is uniform or zipf, not ${distributionName}`);
  const keyDistribution: KeyDistribution = distributionName === 'zipf' ? { kind: 'zipf', exponent: Number(args['zipf-exponent']) } : { kind: 'uniform' };
  const keyOf = keyChooser(keyDistribution, keys);
  const withEmbedded = !args['no-embedded'];
  /** The embedded runs are in the first --embedded-repetitions repetitions (see bench/README.md: the time budget). */
  const embeddedRepetitions = Math.min(parseCount(args['embedded-repetitions']), repetitions);
  const rateOf = parseRates(args.rates, RATES);
  const embeddedRateOf = parseRates(args['embedded-rates'], EMBEDDED_RATES);
  const quietSettings = { idle: Number(args['quiet-idle']), seconds: Number(args['quiet-seconds']), timeoutS: Number(args['quiet-timeout-s']) };
  const javaOpts = args['java-opts'].split(/\s+/).filter(Boolean);
  const bootstrapBrokers = args.bootstrap.split(',');
  const timeoutMs = Number(args['timeout-s']) * 1000;
  /** Outputs are read back and compared in the first --verify-repetitions repetitions (reading millions of records back takes a while). */
  const verifyRepetitions = args['no-verify'] ? 0 : parseCount(args['verify-repetitions']);
  const latency = !args.latency
    ? undefined
    : {
        rate: parseCount(args['latency-rate']),
        seconds: Number(args['latency-seconds']),
        warmupSeconds: Number(args['latency-warmup-seconds']),
        // Latency at a rate below saturation hardly depends on the thread count: by default it is
        // measured for one thread and exactly-once only, in the first repetition.
        repetitions: parseCount(args['latency-repetitions']),
        threads: parseList(args['latency-threads'], parseCount),
        guarantees: parseGuarantees(args['latency-guarantees']),
      };
  const java = process.env.JAVA_HOME === undefined ? 'java' : join(process.env.JAVA_HOME, 'bin', 'java');

  /** The records of an input sized for `rate` records/s (or --records), its mark and what it implies. */
  const planInput = (rate: number): InputPlan => {
    const records = fixedRecords ?? Math.ceil(rate * (warmupSeconds + minSeconds));
    const warmupRecords =
      fixedRecords === undefined ? Math.ceil(rate * warmupSeconds) : (fixedWarmup ?? Math.round((fixedRecords * warmupSeconds) / (warmupSeconds + minSeconds)));
    if (warmupRecords >= records) throw new Error(`the warm-up (${warmupRecords} records) must be shorter than the input (${records})`);
    // One idle gap in the middle by default: sessions close once, whatever the input's size.
    const idleEvery = args['idle-every'] === undefined ? Math.ceil(records / 2) : parseCount(args['idle-every']);
    const timestamps = inputTimestamps(records, msPerRecord, idleEvery, idleGapMs, Date.now());
    return { records, warmupRecords, idleEvery, timestamps, expected: expectedOutputs(records, keys, keyOf, timestamps.timestampOf) };
  };
  const engineList: Engine[] = ['kafka-streams', 'tributary', ...(withEmbedded ? (['tributary-embedded'] as const) : [])];

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
  console.log(
    `compare on Kafka (${bootstrapBrokers.join(',')}): ${RECORD_BYTES}-byte records, ${si(keys)} keys (${keyDistribution.kind === 'zipf' ? `Zipf, exponent ${keyDistribution.exponent}` : 'uniform'}), ${partitions} partitions; commit interval ${commitIntervalMs} ms; record cache ${cache}; engines ${engineList.join(', ')}`,
  );
  console.log(
    fixedRecords === undefined
      ? `steady state: each input is sized for ${warmupSeconds} s of warm-up and ${minSeconds} s measured at the estimated rate of the faster engine; ${repetitions} repetitions`
      : `fixed input: ${si(fixedRecords)} records, the first ${si(planInput(1).warmupRecords)} of them the warm-up; ${repetitions} repetitions`,
  );
  console.log(`machine: ${m.nproc} cpus, ${m.cpuModel}, ${m.memoryGiB} GiB, Node ${m.node}, ${javaVersion}`);
  console.log(`uptime: ${uptime}`);
  if (brokerPids.length === 0) console.warn('no Kafka broker process found (.kafka/data/*.pid, pgrep -f kafka.Kafka): broker CPU is not measured');
  else console.log(`broker pid(s): ${brokerPids.join(', ')}`);

  // The plan: input sizes per topology and thread count, and a rough lower bound of the duration.
  const sizes = topologies.flatMap((topology) =>
    threadCounts.map((threads) => ({
      topology,
      threads,
      kafka: fixedRecords ?? Math.ceil(rateOf(topology, threads) * (warmupSeconds + minSeconds)),
      embedded: withEmbedded ? (fixedRecords ?? Math.ceil(embeddedRateOf(topology, threads) * (warmupSeconds + minSeconds))) : 0,
      kafkaRate: rateOf(topology, threads),
      embeddedRate: embeddedRateOf(topology, threads),
    })),
  );
  // A rough duration (the model is in estimateMinutes); --plan prints it and stops.
  const estimate = estimateMinutes(sizes, {
    repetitions,
    embeddedRepetitions: withEmbedded ? embeddedRepetitions : 0,
    verifyRepetitions,
    guarantees: guarantees.length,
    quietSeconds: quietSettings.seconds,
    warmupSeconds,
  });
  for (const s of sizes) {
    console.log(
      `  input ${s.topology}, ${s.threads} thread(s): ${si(s.kafka)} records on Kafka (estimate ${si(s.kafkaRate)}/s)${withEmbedded ? `, ${si(s.embedded)} on the embedded log (${si(s.embeddedRate)}/s)` : ''}`,
    );
  }
  console.log(
    `rough estimate: ${estimate.total.toFixed(0)} min (preload ${estimate.preload.toFixed(1)}, Kafka runs ${estimate.kafka.toFixed(1)}, embedded runs ${estimate.embedded.toFixed(1)}, reading outputs back ${estimate.verify.toFixed(1)}; more if the machine is busy or an engine is slower than estimated)`,
  );
  if (args.plan) return;

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
  const results: CaseResult[] = [];
  const resultsFile = new URL(`./results/${timestampForFile()}-compare.json`, import.meta.url);
  /** What every run of an engine reports alike (JVM, Node, flags), once. */
  const engines: Record<string, Record<string, unknown>> = {};
  /** Per topology and thread count: the inputs' sizes, marks and timestamps. */
  const inputs: Record<string, unknown>[] = [];
  /** The raw limits measured before the cases (--raw-limits). */
  const extra: { rawLimits?: RawLimits } = {};
  const config = {
    minSeconds,
    warmupSeconds,
    fixedRecords: fixedRecords ?? null,
    rates: Object.fromEntries(sizes.map((s) => [`${s.topology}:${s.threads}`, { kafka: s.kafkaRate, ...(withEmbedded && { embedded: s.embeddedRate }) }])),
    keys,
    keyDistribution,
    partitions,
    recordBytes: RECORD_BYTES,
    timestamps: {
      scheme: 't0 + floor(seq * msPerRecord) + floor(seq / idleEvery) * idleGapMs (per input; see inputs)',
      msPerRecord,
      idleGapMs,
      sessionGapMs: SESSION_GAP_MS,
      profiles: { bytes: PROFILE_BYTES, timestamp: 'a minute before t0', keys: 'every key id not divisible by 10' },
      latencyRuns: 'Date.now() when produced',
    },
    cache,
    commitIntervalMs,
    maxPollRecords,
    completionPollMs: { kafka: COMPLETION_POLL_MS, embedded: EMBEDDED_COMPLETION_POLL_MS },
    repetitions,
    guarantees,
    threads: threadCounts,
    engines: engineList,
    quiet: quietSettings,
    bootstrapBrokers,
    brokerPids,
    latency: latency === undefined ? null : { ...latency, tickMs: LATENCY_TICK_MS, drainTimeoutMs: LATENCY_DRAIN_TIMEOUT_MS },
    tributary: {
      state: 'persistent (LevelDB mirror)',
      log: 'KafkaLog, connector defaults',
      cacheMaxBytes: cache === 'off' ? 0 : 'default',
      ...(withEmbedded && { embeddedLog: 'EmbeddedLog, fsync on (its default)' }),
    },
    kafkaStreams: { statestoreCacheMaxBytes: cache === 'off' ? 0 : 'default (10 MiB)', javaOpts, state: 'RocksDB (defaults)' },
  };
  const writeResults = (complete: boolean) => {
    if (args['no-json']) return;
    mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
    writeFileSync(
      resultsFile,
      JSON.stringify(
        { benchmark: 'compare', complete, source: sourceVersion(), machine: m, uptime, java: javaVersion, engines, config, inputs, ...extra, summary: summaryRows(results), results },
        // Five significant digits are plenty for figures that vary by percents from run to run, and keep the file small.
        (_key, value: unknown) => (typeof value === 'number' && !Number.isInteger(value) ? Number(value.toPrecision(5)) : value),
        1,
      ),
    );
  };

  const partitionsOf = async (topic: string) => (await admin.metadata({ topics: [topic], forceUpdate: true })).topics.get(topic)?.partitionsCount ?? 0;

  /** Reads a topic back (read-committed): its records and an order-independent digest of (key, value). */
  const readBack = async (topic: string): Promise<{ records: number; digest: string }> => {
    let hi = 0;
    let lo = 0;
    const count = await readTopic(log, topic, await partitionsOf(topic), (record) => {
      const [a, b] = recordDigest(record);
      hi = (hi + a) >>> 0;
      lo = (lo + b) >>> 0;
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
      const d = recordDigest(record)[0];
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
    return {
      kafkaStreamsRecords,
      tributaryRecords,
      keysDiffering: differing.length,
      keysOnlyKafkaStreams: differing.filter(([, e]) => e.tr === 0).length,
      keysOnlyTributary: differing.filter(([, e]) => e.ks === 0).length,
      examples: differing.slice(0, 10).map(([key, e]) => ({ key: printable(key), kafkaStreams: e.ks, tributary: e.tr })),
    };
  };

  /**
   * --cache default: per partition (one at a time, to bound memory), the last record of each output
   * key in offset order, in both outputs; a tombstone final counts as no record.
   */
  const compareFinals = async (ksTopic: string, trTopic: string): Promise<FinalsComparison> => {
    const offPartitioner = { kafkaStreams: 0, tributary: 0 };
    let kafkaStreamsKeys = 0;
    let tributaryKeys = 0;
    let keysDiffering = 0;
    const examples: { key: string; partition: number; kafkaStreams: string; tributary: string }[] = [];
    const ends = { kafkaStreams: await fetchEndOffsets(log, ksTopic, partitions), tributary: await fetchEndOffsets(log, trTopic, partitions) };
    const finalsOf = async (topic: string, side: 'kafkaStreams' | 'tributary', partition: number) => {
      const finals = new Map<string, string | null>();
      let offset = 0;
      while (offset < ends[side][partition]!) {
        const [r] = await log.fetchMany([{ tp: { topic, partition }, offset, options: { maxRecords: Number.MAX_SAFE_INTEGER } }]);
        for (const record of r!.records) {
          const key = record.key === null ? '(null)' : Buffer.from(record.key).toString('latin1');
          finals.set(key, record.value === null ? null : Buffer.from(record.value).toString('latin1'));
          if (record.key !== null && partitionForKey(Buffer.from(record.key), partitions) !== partition) offPartitioner[side]++;
        }
        offset = r!.nextOffset;
      }
      return finals;
    };
    const show = (key: string, value: string | null | undefined) => {
      if (value === null || value === undefined) return '(none)';
      // Counts are 8-byte doubles (Serdes.number()).
      return value.length === 8 && !/^[\x20-\x7e]{8}$/.test(value) ? String(Buffer.from(value, 'latin1').readDoubleBE(0)) : value;
    };
    for (let partition = 0; partition < partitions; partition++) {
      const ks = await finalsOf(ksTopic, 'kafkaStreams', partition);
      const tr = await finalsOf(trTopic, 'tributary', partition);
      for (const [key, value] of ks) {
        if (value !== null) kafkaStreamsKeys++;
        const other = tr.get(key) ?? null;
        if (value !== other) {
          keysDiffering++;
          if (examples.length < 10) examples.push({ key: printable(key), partition, kafkaStreams: show(key, value), tributary: show(key, other) });
        }
      }
      for (const [key, value] of tr) {
        if (value === null) continue;
        tributaryKeys++;
        if (!ks.has(key)) {
          keysDiffering++;
          if (examples.length < 10) examples.push({ key: printable(key), partition, kafkaStreams: '(none)', tributary: show(key, value) });
        }
      }
    }
    return { kafkaStreamsKeys, tributaryKeys, keysDiffering, examples, offPartitioner };
  };

  const internalTopics = async (applicationId: string) => (await admin.listTopics({ includeInternals: false })).filter((name) => name.startsWith(`${applicationId}-`));
  const deleteTopics = async (topics: string[], groups: string[]) => {
    if (args['keep-topics'] || topics.length === 0) return;
    await admin.deleteTopics({ topics }).catch((e: unknown) => console.warn(`could not delete ${topics.join(', ')}: ${String(e)}`));
    if (groups.length > 0) await admin.deleteGroups({ groups }).catch(() => {});
  };

  /**
   * Starts one engine process; `running` resolves when it reports running, `finished` when it has
   * reported done and exited (with /proc samples taken at its start and at the running, warm and
   * done lines); `stop` asks an engine started until-stopped to stop (a line on its stdin).
   */
  const startProcess = (engine: Engine, command: string, argv: readonly string[], outputTopic: string, applicationId: string, untilStopped: boolean) => {
    const loadAtStart = loadavg()[0]!;
    const child = spawn(command, argv, { stdio: [untilStopped ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    const pid = child.pid!;
    const stderrTail: string[] = [];
    createInterface({ input: child.stderr! }).on('line', (line) => {
      process.stderr.write(`  [${engine}] ${line}\n`);
      stderrTail.push(line);
      if (stderrTail.length > 20) stderrTail.shift();
    });
    type Sample = { broker: number; proc: number; machine: number; load: number };
    let at0: Sample | undefined;
    let atWarm: Sample | undefined;
    let at1: Sample | undefined;
    let report: EngineReport | undefined;
    let doneAt = 0;
    let exited = false;
    child.on('close', () => (exited = true));
    let onRunning!: () => void;
    const running = new Promise<void>((resolve) => (onRunning = resolve));
    const sample = (): Sample => ({ broker: processCpuSeconds(brokerPids), proc: processCpuSeconds([pid]), machine: machineBusySeconds(), load: loadavg()[0]! });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) {
        process.stdout.write(`  [${engine}] ${line}\n`);
        return;
      }
      const message = JSON.parse(line) as { event?: string };
      if (message.event === 'running') {
        at0 = sample();
        onRunning();
      } else if (message.event === 'warm') {
        atWarm = sample();
      } else if (message.event === 'done') {
        at1 = sample();
        doneAt = performance.now();
        report = message as unknown as EngineReport;
      }
    });
    const span = (from: Sample, to: Sample): Span => {
      const procCpuSeconds = to.proc - from.proc;
      const brokerCpuSeconds = to.broker - from.broker;
      return { procCpuSeconds, brokerCpuSeconds, otherCpuSeconds: to.machine - from.machine - procCpuSeconds - brokerCpuSeconds };
    };
    const finished = (async (): Promise<EngineRun> => {
      const code = await new Promise<number | null>((resolve, reject) => {
        child.on('error', reject);
        child.on('close', (c) => resolve(c));
      });
      if (report === undefined || at0 === undefined || at1 === undefined) {
        throw new Error(`${engine} (${applicationId}) exited with ${code} before reporting; stderr: ${stderrTail.slice(-5).join(' | ')}`);
      }
      if (code !== 0) console.warn(`  [${engine}] exited with ${code} after reporting`);
      const closeSeconds = (performance.now() - doneAt) / 1000;
      const r = report;
      const measured = span(atWarm ?? at0, at1);
      const warmup =
        atWarm === undefined || r.warmupRecords === undefined || r.warmupSeconds === undefined || r.warmupCpuSeconds === undefined
          ? undefined
          : {
              ...span(at0, atWarm),
              records: r.warmupRecords,
              seconds: r.warmupSeconds,
              cpuSeconds: r.warmupCpuSeconds,
              recordsPerSecond: r.warmupRecords / r.warmupSeconds,
              cpuSecondsPerMillion: r.warmupCpuSeconds / (r.warmupRecords / 1e6),
            };
      return {
        report: slim(r, engines),
        ...measured,
        brokerCpuSecondsPerMillion: measured.brokerCpuSeconds / (r.records / 1e6),
        ...(warmup !== undefined && { warmup }),
        loadAverage: [loadAtStart, at1.load],
        closeSeconds,
        ...(!untilStopped && r.seconds < SHORT_SHARE * minSeconds && { short: true }),
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
    o: {
      input: string;
      profiles: string | undefined;
      outputTopic: string;
      outputSuffix: string;
      applicationId: string;
      topology: TopologyName;
      threads: number;
      guarantee: Guarantee;
      untilStopped: boolean;
      warmupRecords?: number;
      embeddedDir?: string;
    },
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
          ...['--commit-interval-ms', String(commitIntervalMs), '--cache-bytes', cache === 'off' ? '0' : 'default', '--max-poll-records', String(maxPollRecords)],
          ...['--bootstrap', bootstrapBrokers.join(','), '--poll-ms', String(COMPLETION_POLL_MS), '--timeout-s', String(timeoutMs / 1000)],
          ...(o.warmupRecords === undefined ? [] : ['--warmup-records', String(o.warmupRecords)]),
          ...(o.untilStopped ? ['--until-stopped'] : []),
        ],
      ];
    }
    const spec: ChildSpec = {
      log: engine === 'tributary-embedded' ? { kind: 'embedded', dir: o.embeddedDir! } : { kind: 'kafka', bootstrapBrokers },
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
      ...(cache === 'off' && { cacheMaxBytes: 0 }),
      ...(o.warmupRecords !== undefined && { warmupRecords: o.warmupRecords }),
      timeoutMs,
      untilStopped: o.untilStopped,
    };
    return [process.execPath, [fileURLToPath(import.meta.url), '--child', JSON.stringify(spec)]];
  };

  const names = (engine: Engine, topology: TopologyName, threads: number, guarantee: Guarantee, caseId: string, phase: '' | 'lat') => {
    const tag = engine === 'kafka-streams' ? 'ks' : engine === 'tributary' ? 'tr' : 'emb';
    const outputSuffix = `-${phase === '' ? '' : `${phase}-`}${caseId}-${tag}`;
    return {
      tag,
      outputSuffix,
      outputTopic: `${OUTPUT_TOPICS[topology]}${outputSuffix}`,
      applicationId: `bench-cmp-${phase === '' ? '' : `${phase}-`}${tag}-${topology}-${threads}t-${guarantee === 'exactly_once_v2' ? 'eos' : 'alos'}-${caseId}`,
    };
  };

  /** An input on the broker: the warm-up records, the mark, then the rest (and enrichJoin's profiles first). */
  interface KafkaInput {
    readonly topic: string;
    readonly profiles?: string;
    readonly marks: readonly number[];
    readonly plan: InputPlan;
  }
  /** The same records in an embedded log (a template directory, copied for every run). */
  interface EmbeddedInput {
    readonly dir: string;
    readonly marks: readonly number[];
    readonly plan: InputPlan;
  }

  /** Loads an input into a log: profiles (enrichJoin), the warm-up records, the mark (end offsets), the rest. */
  const loadInput = async (target: Log, topic: string, profiles: string | undefined, plan: InputPlan, ends: () => Promise<number[]>): Promise<number[]> => {
    if (profiles !== undefined) {
      await target.createTopic(profiles, { partitions, cleanupPolicy: 'delete', retentionMs: -1 });
      await produceProfiles(target, profiles, { keys, partitions, timestamp: plan.timestamps.t0 - 60_000 });
    }
    await target.createTopic(topic, { partitions, cleanupPolicy: 'delete', retentionMs: -1 });
    const spec = { records: plan.warmupRecords, keys, partitions, timestampOf: plan.timestamps.timestampOf, keyOf };
    await produceInput(target, topic, spec);
    const marks = await ends();
    if (sum(marks) !== plan.warmupRecords) throw new Error(`${topic} holds ${sum(marks)} offsets after the warm-up, expected ${plan.warmupRecords} records`);
    await produceInput(target, topic, { ...spec, records: plan.records, from: plan.warmupRecords });
    const all = await ends();
    if (sum(all) !== plan.records) throw new Error(`${topic} holds ${sum(all)} offsets, expected ${plan.records} records`);
    return marks;
  };

  const prepareKafkaInput = async (topology: Compared, threads: number, plan: InputPlan, suffix = ''): Promise<KafkaInput> => {
    const t = performance.now();
    const topic = `bench-cmp-in-${runId}-${topology}-${threads}t${suffix}`;
    const profiles = topology === 'enrichJoin' ? `bench-cmp-profiles-${runId}-${threads}t${suffix}` : undefined;
    const marks = await loadInput(log, topic, profiles, plan, () => fetchEndOffsets(log, topic, partitions));
    console.log(
      `preloaded ${si(plan.records)} records (${si(plan.warmupRecords)} of warm-up) into ${topic}${profiles === undefined ? '' : ` (and profiles into ${profiles})`} in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );
    return { topic, ...(profiles !== undefined && { profiles }), marks, plan };
  };

  const prepareEmbeddedInput = async (topology: Compared, plan: InputPlan): Promise<EmbeddedInput> => {
    const t = performance.now();
    const dir = mkdtempSync(join(tmpdir(), 'tributary-compare-embedded-'));
    const target = await EmbeddedLog.open({ dir, fsync: false, cleanIntervalMs: 0 });
    try {
      const marks = await loadInput(target, INPUT_TOPIC, topology === 'enrichJoin' ? PROFILE_TOPIC : undefined, plan, () => embeddedEnds(target, INPUT_TOPIC));
      await target.createTopic(OUTPUT_TOPICS[topology], { partitions, cleanupPolicy: 'delete', retentionMs: -1 });
      console.log(`preloaded ${si(plan.records)} records (${si(plan.warmupRecords)} of warm-up) into an embedded log in ${((performance.now() - t) / 1000).toFixed(1)} s`);
      return { dir, marks, plan };
    } finally {
      await target.close();
    }
  };

  /** Throughput: one engine on a preloaded input. Returns the run and the topics to delete once the outputs are compared. */
  const runEngine = async (
    engine: Engine,
    topology: Compared,
    threads: number,
    guarantee: Guarantee,
    caseId: string,
    input: KafkaInput | EmbeddedInput,
    verify: boolean,
  ): Promise<{ run: EngineRun; topics: string[]; group: string }> => {
    const { outputSuffix, outputTopic, applicationId } = names(engine, topology, threads, guarantee, caseId, '');
    const t0 = performance.now();
    const wallSeconds = () => (performance.now() - t0) / 1000;
    if ('dir' in input) {
      // Every embedded run starts from a copy of the loaded input alone (see end-to-end.ts).
      const runDir = mkdtempSync(join(tmpdir(), 'tributary-compare-embedded-run-'));
      try {
        cpSync(input.dir, runDir, { recursive: true });
        const quiet = await waitForQuiet(quietSettings.idle, quietSettings.seconds, quietSettings.timeoutS);
        const [command, argv] = engineCommand(engine, {
          input: INPUT_TOPIC,
          profiles: PROFILE_TOPIC,
          outputTopic: OUTPUT_TOPICS[topology],
          outputSuffix: '',
          applicationId,
          topology,
          threads,
          guarantee,
          untilStopped: false,
          warmupRecords: input.plan.warmupRecords,
          embeddedDir: runDir,
        });
        const run = await startProcess(engine, command, argv, OUTPUT_TOPICS[topology], applicationId, false).finished;
        return {
          run: { ...run, quiet, outputRecords: run.report.outputRecords!, internalTopicRecords: run.report.internalTopicRecords!, wallSeconds: wallSeconds() },
          topics: [],
          group: applicationId,
        };
      } finally {
        rmSync(runDir, { recursive: true, force: true });
      }
    }
    await log.createTopic(outputTopic, { partitions, cleanupPolicy: 'delete', retentionMs: -1 });
    try {
      const [command, argv] = engineCommand(engine, {
        input: input.topic,
        profiles: input.profiles,
        outputTopic,
        outputSuffix,
        applicationId,
        topology,
        threads,
        guarantee,
        untilStopped: false,
        warmupRecords: input.plan.warmupRecords,
      });
      const quiet = await waitForQuiet(quietSettings.idle, quietSettings.seconds, quietSettings.timeoutS);
      const run = { ...(await startProcess(engine, command, argv, outputTopic, applicationId, false).finished), quiet };
      const internal = await internalTopics(applicationId);
      const topics = [outputTopic, ...internal];
      if (!verify) return { run: { ...run, wallSeconds: wallSeconds() }, topics, group: applicationId };
      const v0 = performance.now();
      const out = await readBack(outputTopic);
      let internalTopicRecords = 0;
      for (const name of internal) internalTopicRecords += await readTopic(log, name, await partitionsOf(name));
      return { run: { ...run, outputRecords: out.records, outputDigest: out.digest, internalTopicRecords, wallSeconds: wallSeconds(), verifySeconds: (performance.now() - v0) / 1000 }, topics, group: applicationId };
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
          const id = keyOf(seq);
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
      return { ...run, inputTopic: latInput, production, latency: latencyStats(latencies), outputRecordsSeen: seen, warmupRecords, tombstones, drained };
    } finally {
      await deleteTopics([...topics, ...(await internalTopics(applicationId))], [applicationId]);
    }
  };

  // Figures from a child's JSON line can be null (NaN there, e.g. no record measured).
  const num = (x: number | null | undefined, digits: number) => (typeof x !== 'number' || !Number.isFinite(x) ? '-' : x.toFixed(digits));
  const TAGS: Record<Engine, string> = { 'kafka-streams': 'KS', tributary: 'Tr', 'tributary-embedded': 'Tr emb' };
  const header = () =>
    console.log(
      `${'topology'.padEnd(14)} ${'thr'.padStart(3)} ${'guarantee'.padEnd(15)} ${'rep'.padStart(3)} ${'engine'.padEnd(6)} | ${'rec/s'.padStart(8)} ${'CPU s/M'.padStart(8)} ${'cores'.padStart(5)} ${'meas s'.padStart(6)} | ${'warm s'.padStart(6)} ${'warm r/s'.padStart(8)} ${'start s'.padStart(7)} | ${'broker s/M'.padStart(10)} ${'RSS MiB'.padStart(7)} ${'out'.padStart(7)} ${'internal'.padStart(8)} | ${'load'.padStart(9)} ${'other s'.padStart(7)} ${'quiet s'.padStart(7)} ${'close/verify/wall s'.padStart(19)}`,
    );
  const runRow = (r: CaseResult, engine: Engine, run: EngineRun) => {
    const p = run.report;
    console.log(
      `${r.topology.padEnd(14)} ${String(r.threads).padStart(3)} ${r.guarantee.padEnd(15)} ${String(r.repetition).padStart(3)} ${TAGS[engine].padEnd(6)} | ${(Number.isFinite(p.recordsPerSecond) ? si(p.recordsPerSecond) : '-').padStart(8)} ${num(p.cpuSecondsPerMillion, 2).padStart(8)} ${num(p.cores, 2).padStart(5)} ${`${num(p.seconds, 1)}${run.short ? '*' : ''}`.padStart(6)} | ${num(run.warmup?.seconds, 1).padStart(6)} ${(run.warmup === undefined ? '-' : si(run.warmup.recordsPerSecond)).padStart(8)} ${num(p.startupSeconds, 1).padStart(7)} | ${(engine === 'tributary-embedded' ? '-' : num(run.brokerCpuSecondsPerMillion, 2)).padStart(10)} ${num(p.peakRssMiB, 0).padStart(7)} ${(run.outputRecords === undefined ? '-' : si(run.outputRecords)).padStart(7)} ${(run.internalTopicRecords === undefined ? '-' : si(run.internalTopicRecords)).padStart(8)} | ${`${num(run.loadAverage[0], 1)}/${num(run.loadAverage[1], 1)}`.padStart(9)} ${num(run.otherCpuSeconds, 1).padStart(7)} ${`${num(run.quiet?.waitedSeconds, 0)}${run.quiet?.gaveUp ? '!' : ''}`.padStart(7)} ${`${num(run.closeSeconds, 1)}/${num(run.verifySeconds, 1)}/${num(run.wallSeconds, 0)}`.padStart(19)}`,
    );
  };
  const caseLines = (r: CaseResult) => {
    const k = r.kafkaStreams;
    const t = r.tributary;
    const e = r.embedded;
    const agree = r.outputsAgree === undefined ? '-' : r.outputsAgree ? 'yes' : 'NO';
    const expected = r.expectedOutputRecords === undefined ? '' : `; the input implies ${si(r.expectedOutputRecords)}${r.expectedEmbeddedOutputRecords === undefined ? '' : ` (embedded input ${si(r.expectedEmbeddedOutputRecords)})`}`;
    console.log(
      `  outputs ${cache === 'off' ? 'record for record' : 'final values per key'}: ${agree}; records KS ${k?.outputRecords === undefined ? '-' : si(k.outputRecords)}, Tr ${t?.outputRecords === undefined ? '-' : si(t.outputRecords)}${e === undefined ? '' : `, Tr emb ${e.outputRecords === undefined ? '-' : si(e.outputRecords)}`}${expected}`,
    );
    for (const [name, run, want] of [
      ['Kafka Streams', k, r.expectedOutputRecords],
      ['Tributary', t, r.expectedOutputRecords],
      ['Tributary embedded', e, r.expectedEmbeddedOutputRecords],
    ] as const) {
      if (run?.outputRecords !== undefined && want !== undefined && run.outputRecords !== want) console.log(`  ${name}: ${run.outputRecords} output records, the input implies ${want}`);
    }
    if (r.finals !== undefined) {
      const f = r.finals;
      console.log(
        `  final values: ${si(f.kafkaStreamsKeys)} keys in Kafka Streams' output, ${si(f.tributaryKeys)} in Tributary's, ${f.keysDiffering} differ${f.examples.length === 0 ? '' : ` (e.g. ${f.examples.map((x) => `${x.key} ${x.kafkaStreams}/${x.tributary}`).join(', ')})`}; records off the default partitioner KS ${f.offPartitioner.kafkaStreams}, Tr ${f.offPartitioner.tributary}`,
      );
    }
    if (r.outputDiff !== undefined) {
      const d = r.outputDiff;
      console.log(
        `  outputs differ: Kafka Streams ${d.kafkaStreamsRecords} records, Tributary ${d.tributaryRecords}; ${d.keysDiffering} keys differ (${d.keysOnlyKafkaStreams} only in Kafka Streams' output, ${d.keysOnlyTributary} only in Tributary's); e.g. ${d.examples.map((x) => `${x.key} ${x.kafkaStreams}/${x.tributary}`).join(', ')}`,
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
    for (const x of r.errors) console.log(`  error: ${x}`);
  };

  const started = performance.now();
  try {
    // The raw limits in the same run: the Kafka clients (Tributary's and Java's) and the embedded
    // log with no processing (bench/raw-limits.ts).
    if (args['raw-limits']) {
      const t = performance.now();
      extra.rawLimits = await measureRawLimits({ records: parseCount(args['raw-limits-records']), bootstrapBrokers, partitions, keys, java, log: (line) => console.log(`  [raw] ${line}`) });
      console.log(`raw limits measured in ${((performance.now() - t) / 1000).toFixed(0)} s`);
      writeResults(false);
    }

    let caseIndex = 0;
    let embeddedIndex = 0;
    for (const topology of topologies) {
      for (const threads of threadCounts) {
        let kafkaPlan = planInput(rateOf(topology, threads));
        let embeddedPlan = withEmbedded ? (fixedRecords === undefined ? planInput(embeddedRateOf(topology, threads)) : kafkaPlan) : undefined;
        /** Whether the inputs were sized again after the first repetition (once at most). */
        let resized = false;
        let kafkaInput: KafkaInput | undefined;
        let embeddedInput: EmbeddedInput | undefined;
        const describe = (plan: InputPlan, marks: readonly number[]) => ({
          records: plan.records,
          warmupRecords: plan.warmupRecords,
          marks,
          t0: new Date(plan.timestamps.t0).toISOString(),
          last: new Date(plan.timestamps.last).toISOString(),
          idleEvery: plan.idleEvery,
          idleGaps: plan.timestamps.idleGaps,
          expectedOutputRecords: plan.expected[topology],
        });
        try {
          kafkaInput = await prepareKafkaInput(topology, threads, kafkaPlan);
          if (embeddedPlan !== undefined) embeddedInput = await prepareEmbeddedInput(topology, embeddedPlan);
          inputs.push({
            topology,
            threads,
            kafka: { topic: kafkaInput.topic, ...describe(kafkaPlan, kafkaInput.marks) },
            ...(embeddedInput !== undefined && { embedded: describe(embeddedInput.plan, embeddedInput.marks) }),
          });
          header();
          for (let repetition = 1; repetition <= repetitions; repetition++) {
            if (repetition === 2 && !resized && fixedRecords === undefined) {
              // The sizes come from estimates. When the faster engine of the first repetition was
              // through in less than SHORT_SHARE of --min-seconds, size the input again from what
              // it did (x 1.1), load it, and start over: the short repetition stays in the results
              // as a calibration, out of the summary. Once per input, so the time stays bounded.
              const first = results.flatMap((r, i) => (r.topology === topology && r.threads === threads && !r.calibration ? [{ r, i }] : []));
              const faster = (r: CaseResult) => [r.kafkaStreams, r.tributary].filter((x) => x !== undefined).sort((a, b) => b.report.recordsPerSecond - a.report.recordsPerSecond)[0];
              const kafkaShort = first.flatMap(({ r }) => {
                const f = faster(r);
                return f?.short ? [f.report.recordsPerSecond] : [];
              });
              const embeddedShort = first.flatMap(({ r }) => (r.embedded?.short ? [r.embedded.report.recordsPerSecond] : []));
              if (kafkaShort.length > 0 || embeddedShort.length > 0) {
                for (const { r, i } of first) results[i] = { ...r, calibration: true };
                if (kafkaShort.length > 0) {
                  const rate = Math.ceil(Math.max(...kafkaShort) * 1.1);
                  console.log(`  the faster engine measured less than ${SHORT_SHARE * minSeconds} s: input sized again for ${si(rate)} records/s (was ${si(rateOf(topology, threads))}); repetition 1 again`);
                  const old = kafkaInput;
                  kafkaPlan = planInput(rate);
                  if (!args['keep-topics']) await admin.deleteTopics({ topics: [old.topic, ...(old.profiles === undefined ? [] : [old.profiles])] }).catch(() => {});
                  kafkaInput = undefined;
                  kafkaInput = await prepareKafkaInput(topology, threads, kafkaPlan, '-resized');
                }
                if (embeddedShort.length > 0 && embeddedInput !== undefined) {
                  const rate = Math.ceil(Math.max(...embeddedShort) * 1.1);
                  console.log(`  the embedded run measured less than ${SHORT_SHARE * minSeconds} s: its input sized again for ${si(rate)} records/s (was ${si(embeddedRateOf(topology, threads))})`);
                  rmSync(embeddedInput.dir, { recursive: true, force: true });
                  embeddedInput = undefined;
                  embeddedPlan = planInput(rate);
                  embeddedInput = await prepareEmbeddedInput(topology, embeddedPlan);
                }
                inputs.push({
                  topology,
                  threads,
                  resized: true,
                  kafka: { topic: kafkaInput.topic, ...describe(kafkaPlan, kafkaInput.marks) },
                  ...(embeddedInput !== undefined && { embedded: describe(embeddedInput.plan, embeddedInput.marks) }),
                });
                writeResults(false);
                resized = true;
                repetition = 1;
                header();
              }
            }
            for (const guarantee of guarantees) {
              // Kafka Streams and Tributary alternate from case to case (and so from one repetition
              // of a case to the next); the embedded run, when there is one, takes the first, middle
              // and last place in turn.
              const order: Engine[] = caseIndex++ % 2 === 0 ? ['kafka-streams', 'tributary'] : ['tributary', 'kafka-streams'];
              if (withEmbedded && repetition <= embeddedRepetitions) order.splice(embeddedIndex++ % 3, 0, 'tributary-embedded');
              const caseId = `${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
              const runs: Partial<Record<Engine, EngineRun>> = {};
              const toDelete: { topics: string[]; groups: string[] } = { topics: [], groups: [] };
              const errors: string[] = [];
              let outputDiff: OutputDiff | undefined;
              let finals: FinalsComparison | undefined;
              const partial: CaseResult = { topology, threads, guarantee, repetition, order, errors };
              const verify = repetition <= verifyRepetitions;
              try {
                for (const engine of order) {
                  try {
                    const { run, topics, group } = await runEngine(engine, topology, threads, guarantee, caseId, engine === 'tributary-embedded' ? embeddedInput! : kafkaInput, verify);
                    runs[engine] = run;
                    toDelete.topics.push(...topics);
                    if (engine !== 'tributary-embedded') toDelete.groups.push(group);
                    runRow(partial, engine, run);
                  } catch (e) {
                    errors.push(`${engine}: ${e instanceof Error ? e.message : String(e)}`);
                  }
                }
                const k = runs['kafka-streams'];
                const tr = runs.tributary;
                if (verify && k !== undefined && tr !== undefined) {
                  if (cache === 'default') {
                    finals = await compareFinals(k.outputTopic, tr.outputTopic);
                  } else if (k.outputDigest !== undefined && tr.outputDigest !== undefined && (k.outputDigest !== tr.outputDigest || k.outputRecords !== tr.outputRecords)) {
                    // Per key, unless that is too much to hold (then --keep-topics and look by hand).
                    if (Math.max(k.outputRecords!, tr.outputRecords!) <= 5e6) outputDiff = await diffOutputs(k.outputTopic, tr.outputTopic);
                  }
                }
              } finally {
                await deleteTopics(toDelete.topics, toDelete.groups);
              }
              const latencyRuns: { kafkaStreams?: LatencyRun; tributary?: LatencyRun } = {};
              if (latency !== undefined && repetition <= latency.repetitions && latency.threads.includes(threads) && latency.guarantees.includes(guarantee)) {
                for (const engine of order) {
                  if (engine === 'tributary-embedded') continue;
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
              const emb = runs['tributary-embedded'];
              // Output counts the input implies: every update with the cache off; with it, only the stateless topologies' are fixed.
              const countsFixed = cache === 'off' || topology === 'mapFilter' || topology === 'enrichJoin';
              const r: CaseResult = {
                ...partial,
                ...(k !== undefined && { kafkaStreams: k }),
                ...(tr !== undefined && { tributary: tr }),
                ...(emb !== undefined && { embedded: emb }),
                ...(countsFixed && { expectedOutputRecords: kafkaPlan.expected[topology] }),
                ...(countsFixed && embeddedPlan !== undefined && { expectedEmbeddedOutputRecords: embeddedPlan.expected[topology] }),
                ...(cache === 'off' &&
                  k?.outputDigest !== undefined &&
                  tr?.outputDigest !== undefined && { outputsAgree: k.outputDigest === tr.outputDigest && k.outputRecords === tr.outputRecords }),
                ...(finals !== undefined && { finals, outputsAgree: finals.keysDiffering === 0 }),
                ...(outputDiff !== undefined && { outputDiff }),
                ...(latency !== undefined && { latency: latencyRuns }),
              };
              results.push(r);
              writeResults(false);
              caseLines(r);
            }
          }
          // The inputs are sized from estimates: say so when the faster engine was through too soon.
          if (fixedRecords === undefined) {
            const rs = results.filter((r) => r.topology === topology && r.threads === threads && r.calibration !== true);
            for (const [engine, pick, current] of [
              ['Kafka', (r: CaseResult) => [r.kafkaStreams, r.tributary], rateOf(topology, threads)],
              ['embedded', (r: CaseResult) => [r.embedded], embeddedRateOf(topology, threads)],
            ] as const) {
              const fastest = median(rs.flatMap((r) => pick(r).flatMap((run) => (run === undefined ? [] : [run.report.recordsPerSecond]))).sort((a, b) => b - a).slice(0, repetitions));
              const spans = rs.flatMap((r) => pick(r).flatMap((run) => (run?.short ? [run] : [])));
              if (spans.length > 0 && fastest > current) {
                console.log(
                  `  ${spans.length} ${engine} run(s) measured less than ${SHORT_SHARE * minSeconds} s: the estimate ${si(current)} records/s is low; --${engine === 'Kafka' ? 'rates' : 'embedded-rates'} ${topology}:${threads}=${si(Math.ceil(fastest * 1.1))}`,
                );
              }
            }
          }
        } finally {
          if (kafkaInput !== undefined && !args['keep-topics']) {
            const topics = [kafkaInput.topic, ...(kafkaInput.profiles === undefined ? [] : [kafkaInput.profiles])];
            await admin.deleteTopics({ topics }).catch((e: unknown) => console.warn(`could not delete ${topics.join(', ')}: ${String(e)}`));
          }
          if (embeddedInput !== undefined) rmSync(embeddedInput.dir, { recursive: true, force: true });
        }
      }
    }
  } finally {
    await log.close();
    await consumerLog.close();
    await admin.close();
  }

  summary(results, repetitions);
  if (extra.rawLimits !== undefined) console.log(`\nraw limits (no processing), same run:\n${formatRawLimits(extra.rawLimits)}`);
  writeResults(true);
  console.log(`\nfinished in ${((performance.now() - started) / 60_000).toFixed(1)} min`);
  if (!args['no-json']) console.log(`results: ${resultsFile.pathname} (${(statSync(resultsFile).size / 1024).toFixed(0)} KiB)`);
  if (results.some((r) => r.errors.length > 0 || r.outputsAgree === false)) process.exitCode = 1;
}

/**
 * Two 32-bit hashes of (key bytes, 0xff, value bytes) (FNV-1a and a multiply-xorshift mix, each
 * finished by an avalanche): the unit of the order-independent output digests, which add them up.
 * Not cryptographic: it tells two engines' outputs apart, and reading millions of records back
 * costs a fraction of what SHA-1 per record did.
 */
function recordDigest(record: FetchedRecord): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x27d4eb2f;
  const mix = (byte: number) => {
    a = Math.imul(a ^ byte, 0x01000193);
    b = Math.imul(b ^ byte, 0x9e3779b1) ^ (b >>> 15);
  };
  if (record.key !== null) for (const byte of record.key) mix(byte);
  mix(0xff);
  if (record.value !== null) for (const byte of record.value) mix(byte);
  return [avalanche(a), avalanche(b ^ (record.value?.length ?? 0xffffffff))];
}
function avalanche(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** `median (min–max)` of numbers, formatted. */
interface Stat {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}
function stat(xs: readonly number[]): Stat | undefined {
  // Figures from a child's JSON line can be null (NaN there, e.g. no record measured).
  const ok = xs.filter((x) => typeof x === 'number' && Number.isFinite(x));
  return ok.length === 0 ? undefined : { median: median(ok), min: Math.min(...ok), max: Math.max(...ok), n: ok.length };
}

/** Per case (topology, threads, guarantee): medians over the repetitions of every engine's figures, and the ratios Tributary / Kafka Streams. */
function summaryRows(all: readonly CaseResult[]) {
  const results = all.filter((r) => r.calibration !== true);
  const keys = [...new Set(results.map((r) => `${r.topology}|${r.threads}|${r.guarantee}`))];
  return keys.map((key) => {
    const rs = results.filter((r) => `${r.topology}|${r.threads}|${r.guarantee}` === key);
    const per = (pick: (r: CaseResult) => EngineRun | undefined) => {
      const runs = rs.flatMap((r) => {
        const run = pick(r);
        return run === undefined ? [] : [run];
      });
      return {
        runs: runs.length,
        recordsPerSecond: stat(runs.map((x) => x.report.recordsPerSecond)),
        cpuSecondsPerMillion: stat(runs.map((x) => x.report.cpuSecondsPerMillion)),
        measuredSeconds: stat(runs.map((x) => x.report.seconds)),
        warmupSeconds: stat(runs.flatMap((x) => (x.warmup === undefined ? [] : [x.warmup.seconds]))),
        warmupRecordsPerSecond: stat(runs.flatMap((x) => (x.warmup === undefined ? [] : [x.warmup.recordsPerSecond]))),
        warmupCpuSecondsPerMillion: stat(runs.flatMap((x) => (x.warmup === undefined ? [] : [x.warmup.cpuSecondsPerMillion]))),
        peakRssMiB: stat(runs.map((x) => x.report.peakRssMiB)),
        outputRecords: stat(runs.flatMap((x) => (x.outputRecords === undefined ? [] : [x.outputRecords]))),
        short: runs.filter((x) => x.short === true).length,
        quietGaveUp: runs.filter((x) => x.quiet?.gaveUp === true).length,
        otherCpuSeconds: stat(runs.map((x) => x.otherCpuSeconds)),
      };
    };
    const kafkaStreams = per((r) => r.kafkaStreams);
    const tributary = per((r) => r.tributary);
    const embedded = per((r) => r.embedded);
    const ratio = (t: Stat | undefined, k: Stat | undefined) => (t === undefined || k === undefined ? undefined : t.median / k.median);
    return {
      topology: rs[0]!.topology,
      threads: rs[0]!.threads,
      guarantee: rs[0]!.guarantee,
      repetitions: rs.length,
      kafkaStreams,
      tributary,
      ...(embedded.runs > 0 && { embedded }),
      ratios: {
        recordsPerSecond: ratio(tributary.recordsPerSecond, kafkaStreams.recordsPerSecond),
        cpuSecondsPerMillion: ratio(tributary.cpuSecondsPerMillion, kafkaStreams.cpuSecondsPerMillion),
      },
      outputsAgree: rs.map((r) => r.outputsAgree ?? null),
    };
  });
}

/** Medians over repetitions (min–max), with the ratios Tributary / Kafka Streams: throughput, then latency. */
function summary(all: readonly CaseResult[], repetitions: number): void {
  const rows = summaryRows(all);
  const results = all.filter((r) => r.calibration !== true);
  const show = (s: Stat | undefined, f: (x: number) => string) => (s === undefined ? '-' : `${f(s.median)}${s.n > 1 ? ` (${f(s.min)}–${f(s.max)})` : ''}`);
  const fixed = (digits: number) => (x: number) => x.toFixed(digits);
  const ratio = (x: number | undefined) => (x === undefined ? '-' : `**${x.toFixed(2)}**`);
  const three = (row: (typeof rows)[number], f: (e: ReturnType<typeof summaryRows>[number]['kafkaStreams']) => string) =>
    [f(row.kafkaStreams), f(row.tributary), ...(row.embedded === undefined ? [] : [f(row.embedded)])].join(' / ');
  const withEmbedded = rows.some((r) => r.embedded !== undefined);

  console.log(`\nsummary${repetitions > 1 ? ` (median of ${repetitions}, min–max)` : ''}: ratio = Tributary / Kafka Streams; measured span only (warm-up apart)`);
  console.log(
    `| topology | threads | guarantee | Kafka Streams records/s | Tributary records/s | ratio | Kafka Streams CPU s/1M | Tributary CPU s/1M | ratio |${withEmbedded ? ' embedded records/s | embedded CPU s/1M |' : ''} measured s KS / Tr${withEmbedded ? ' / emb' : ''} | warm-up s KS / Tr${withEmbedded ? ' / emb' : ''} | peak RSS MiB KS / Tr${withEmbedded ? ' / emb' : ''} | outputs agree |`,
  );
  console.log(`|---|---:|---|---:|---:|---:|---:|---:|---:|${withEmbedded ? '---:|---:|' : ''}---|---|---|---|`);
  for (const row of rows) {
    const flags = (e: ReturnType<typeof summaryRows>[number]['kafkaStreams']) => `${e.short > 0 ? `, ${e.short} short` : ''}${e.quietGaveUp > 0 ? `, ${e.quietGaveUp} not quiet` : ''}`;
    console.log(
      `| ${row.topology} | ${row.threads} | ${row.guarantee} | ${[
        show(row.kafkaStreams.recordsPerSecond, si),
        show(row.tributary.recordsPerSecond, si),
        ratio(row.ratios.recordsPerSecond),
        show(row.kafkaStreams.cpuSecondsPerMillion, fixed(2)),
        show(row.tributary.cpuSecondsPerMillion, fixed(2)),
        ratio(row.ratios.cpuSecondsPerMillion),
        ...(withEmbedded ? [show(row.embedded?.recordsPerSecond, si), show(row.embedded?.cpuSecondsPerMillion, fixed(2))] : []),
        three(row, (e) => `${e.measuredSeconds === undefined ? '-' : e.measuredSeconds.median.toFixed(1)}${flags(e)}`),
        three(row, (e) => (e.warmupSeconds === undefined ? '-' : e.warmupSeconds.median.toFixed(1))),
        three(row, (e) => (e.peakRssMiB === undefined ? '-' : e.peakRssMiB.median.toFixed(0))),
        row.outputsAgree.map((a) => (a === null ? '-' : a ? 'yes' : 'NO')).join(', '),
      ].join(' | ')} |`,
    );
  }
  console.log(
    `\nwarm-up (from running to the mark; median): records/s KS / Tr${withEmbedded ? ' / emb' : ''}, CPU s/1M KS / Tr${withEmbedded ? ' / emb' : ''}`,
  );
  for (const row of rows) {
    console.log(
      `  ${row.topology} ${row.threads} ${row.guarantee}: ${three(row, (e) => (e.warmupRecordsPerSecond === undefined ? '-' : si(e.warmupRecordsPerSecond.median)))}; ${three(row, (e) => (e.warmupCpuSecondsPerMillion === undefined ? '-' : e.warmupCpuSecondsPerMillion.median.toFixed(2)))}`,
    );
  }

  if (!results.some((r) => r.latency !== undefined)) return;
  const l = results.find((r) => r.latency?.kafkaStreams ?? r.latency?.tributary);
  const p = (l?.latency?.kafkaStreams ?? l?.latency?.tributary)?.production;
  console.log(`\nlatency at ${p === undefined ? '?' : si(p.targetRate)} records/s (ms from the input record's timestamp to the output read, read-committed):`);
  console.log('| topology | threads | guarantee | Kafka Streams p50 | Tributary p50 | ratio | Kafka Streams p99 | Tributary p99 | ratio | Kafka Streams max | Tributary max | outputs timed KS/Tr | rate kept and drained KS/Tr |');
  console.log('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|');
  const groups = [...new Set(results.map((r) => `${r.topology}|${r.threads}|${r.guarantee}`))].map((key) => ({
    label: key.split('|').join(' | '),
    rs: results.filter((r) => `${r.topology}|${r.threads}|${r.guarantee}` === key),
  }));
  const cells = (k: number[], t: number[], f: (x: number) => string) => {
    const cell = (xs: number[]) => (xs.length === 0 ? '-' : `${f(median(xs))}${spread(xs, f)}`);
    return [cell(k), cell(t), k.length === 0 || t.length === 0 ? '-' : (median(t) / median(k)).toFixed(2)];
  };
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
