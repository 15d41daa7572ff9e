/**
 * The raw limits under a comparison run, measured in the same run as the engines (bench/compare.ts
 * imports `measureRawLimits` and `formatRawLimits`), so the engines' records/s can be read against
 * what the pieces below them manage with no processing at all:
 *
 *   1. Tributary's Kafka client: bench/kafka-client.ts as a child process (idempotent and
 *      transactional produce, read-committed KafkaLog.fetchMany reads with and without the
 *      per-partition record cap, commit latency), its JSON read back from --json-out.
 *   2. The Java Kafka client on the same broker, for the same number of records of the same size
 *      (unless disabled or unavailable): Kafka's own tools from the jars that scripts/kafka.ts
 *      downloads into .kafka/lib, each in a fresh JVM:
 *        - org.apache.kafka.tools.ProducerPerformance (kafka-producer-perf-test): idempotent
 *          (acks=all, the producer's defaults otherwise), then transactional (one transaction per
 *          --java-transaction-ms, as a stream thread commits once per commit interval);
 *        - org.apache.kafka.tools.ConsumerPerformance (kafka-consumer-perf-test): each of those two
 *          topics read back, read_committed, max.poll.records 1000.
 *      records/s is what the tool reports (producer: from its first send to the last ack; consumer:
 *      fetch time, the group join excluded). CPU is the JVM's (utime + stime of the child, from
 *      the cutime/cstime of a bash wrapper), minus that of the same tool run on 1000 records (JVM
 *      start, class loading, connecting), per million records; the broker's CPU over the JVM's
 *      life, minus its idle background (as kafka-client.ts measures it) outside the tool's span.
 *   3. The embedded log: bench/embedded-log.ts as a child process (--fsync on by default: serial and
 *      pipelined append, read, reopen, read after reopen), its JSON read back.
 *
 * Every topic is a fresh name (run id) and is deleted afterwards (kafka-client.ts deletes its own);
 * so is the Java consumers' group. The broker must be running (`node scripts/kafka.ts start`); it
 * is never stopped here.
 *
 * Standalone, for checking:
 *   node bench/raw-limits.ts [--records 1M] [--partitions 8] [--keys 100k] [--bootstrap 127.0.0.1:9092]
 *                            [--commits 100] [--commit-gap-ms 100] [--tx-sizes 1000,10000]
 *                            [--fsync on|off|both] [--java-transaction-ms 100] [--no-java]
 *                            [--no-json] [--json-out <path>]
 * prints the tables and writes bench/results/<timestamp>-raw-limits.json (or --json-out).
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Admin } from '@platformatic/kafka';
import { KafkaLog } from '../connectors/kafka/index.ts';
import { RECORD_BYTES, type LatencyStats, kafkaBrokerPids, keyIdOf, keyString, machine, parseCount, processCpuSeconds, si, sourceVersion, timestampForFile, valueString } from './common.ts';

export interface RawLimitsOptions {
  /** Records per phase (each produce phase writes this many, each read phase reads them back). */
  readonly records: number;
  readonly bootstrapBrokers: readonly string[];
  readonly partitions: number;
  /** The java binary for the Java client's tools (e.g. "java" or $JAVA_HOME/bin/java). */
  readonly java: string;
  /** Distinct keys of the synthetic records (default 100k, as the other benchmarks). */
  readonly keys?: number;
  /** Commits per commit-latency case of kafka-client.ts (default 100). */
  readonly commits?: number;
  /** Gap between commits of kafka-client.ts's spaced cases (default 100 ms, the comparison's commit interval); 0 skips them. */
  readonly commitGapMs?: number;
  /** Records per transaction of kafka-client.ts's transactional produce phases (default [1000, 10000]). */
  readonly txSizes?: readonly number[];
  /** fsync mode(s) of the embedded log (default 'on', the embedded log's default). */
  readonly fsync?: 'on' | 'off' | 'both';
  /** Measure the Java client too (default true; skipped, with the reason in `javaSkipped`, when the jars or java are missing). */
  readonly javaClient?: boolean;
  /** Transaction length of the transactional Java producer (default 100 ms). */
  readonly javaTransactionMs?: number;
  /** Progress lines (the children's output, prefixed). */
  readonly log?: (line: string) => void;
  /** Upper bound on each child process, a guard against hangs (default 300 s + 120 s per million records per produce phase). */
  readonly childTimeoutMs?: number;
}

/** One measured phase: N records produced, read, appended... with no processing. */
export interface RawLimitRow {
  readonly name: string;
  readonly records: number;
  readonly seconds: number;
  readonly recordsPerSecond: number;
  /** Key + value bytes (RECORD_BYTES per record), 10^6 bytes per MB. */
  readonly megabytesPerSecond: number;
  /** CPU of the client (or log) process per million records, where measured. */
  readonly cpuSecondsPerMillion?: number;
  /** CPU of the broker's JVM per million records, where measured. */
  readonly brokerCpuSecondsPerMillion?: number;
  /** Anything else the source reported (fsync mode, latencies, the tool's own line...). */
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface CommitLatencyRow extends LatencyStats {
  readonly name: string;
  /** Commits per second as issued (back to back, or with the gap). */
  readonly perSecond: number;
  readonly cpuMsPerCommit?: number;
  readonly brokerCpuMsPerCommit?: number;
}

export interface RawLimits {
  readonly records: number;
  readonly partitions: number;
  readonly recordBytes: number;
  readonly kafkaClient: {
    readonly rows: RawLimitRow[];
    readonly commitLatency: CommitLatencyRow[];
    /** The broker's background CPU (cores) with no client, included in its figures. */
    readonly brokerIdleCores?: number;
    /** The child's whole CPU (warm-up and pool building included). */
    readonly processCpuSeconds?: number;
    readonly wallSeconds: number;
  };
  readonly javaClient?: {
    readonly version: string;
    readonly rows: RawLimitRow[];
    readonly producerProps: readonly string[];
    readonly consumerProps: readonly string[];
    /** CPU of the tools' 1000-record runs (JVM start, connecting), subtracted from the rows' CPU. */
    readonly baselineCpuSeconds: { readonly producer?: number; readonly consumer?: number };
    readonly wallSeconds: number;
  };
  /** Why the Java client was not measured. */
  readonly javaSkipped?: string;
  readonly embeddedLog: {
    readonly rows: RawLimitRow[];
    readonly processCpuSeconds?: number;
    readonly wallSeconds: number;
  };
  /** The commands run, in order (paths relative to the repository). */
  readonly commands: string[];
}

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const kafkaLibDir = join(repoRoot, '.kafka', 'lib');
const STAT_MARK = '__RAW_LIMITS_CHILD_STAT__';

interface ChildRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly wallSeconds: number;
  readonly timedOut: boolean;
  /** utime + stime of the command (cutime + cstime of its bash wrapper), undefined without /proc. */
  readonly cpuSeconds?: number;
  /** The broker's CPU over the command's life. */
  readonly brokerCpuSeconds?: number;
}

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    clockTicks = Number(out.stdout?.trim()) || 100;
  }
  return clockTicks;
}

const shellQuote = (arg: string) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`);
const displayArg = (arg: string) => (arg.startsWith(repoRoot) ? relative(process.cwd(), arg) || '.' : arg);

/**
 * Runs `command args` under a bash wrapper that prints its own /proc/<pid>/stat after the command
 * exits (cutime + cstime: the CPU of the waited-for command, all threads). Lines of stdout go to
 * `log` as they come. The command runs in its own process group, killed as a whole on timeout.
 */
function runChild(command: string, args: readonly string[], label: string, timeoutMs: number, log: (line: string) => void, brokerPids: readonly number[]): Promise<ChildRun> {
  const wrapper = `"$@"; rc=$?; if read -r s < /proc/$$/stat; then printf '\\n${STAT_MARK} %s\\n' "$s" >&2; fi; exit $rc`;
  const broker0 = brokerPids.length > 0 ? processCpuSeconds(brokerPids) : undefined;
  const t0 = performance.now();
  const child = spawn('bash', ['-c', wrapper, 'raw-limits', command, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const pid = child.pid;
  const killGroup = () => {
    if (pid !== undefined) {
      try {
        process.kill(-pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  };
  // The child has its own process group (so that a timeout ends bash and the command together);
  // a Ctrl-C or kill of this process must reach it too, then take its usual course.
  const onSignal = (signal: NodeJS.Signals) => {
    killGroup();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    // Nobody else handles it: the default (exit) then, as if this module were not listening.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  const unlisten = () => {
    process.removeListener('exit', killGroup);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  };
  process.once('exit', killGroup);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let stdout = '';
  let stderr = '';
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) if (line.trim() !== '') log(`  [${label}] ${line}`);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    log(`  [${label}] timed out after ${(timeoutMs / 1000).toFixed(0)} s: killing process group ${pid}`);
    killGroup();
  }, timeoutMs);
  return new Promise((resolvePromise, reject) => {
    child.on('error', (error) => {
      clearTimeout(timer);
      unlisten();
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      unlisten();
      if (pending.trim() !== '') log(`  [${label}] ${pending}`);
      const wallSeconds = (performance.now() - t0) / 1000;
      const brokerCpuSeconds = broker0 === undefined ? undefined : processCpuSeconds(brokerPids) - broker0;
      let cpuSeconds: number | undefined;
      const at = stderr.lastIndexOf(STAT_MARK);
      if (at >= 0) {
        const stat = stderr.slice(at + STAT_MARK.length + 1).split('\n', 1)[0]!;
        // After "(comm)": cutime is field 16 and cstime field 17 of /proc/<pid>/stat.
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        cpuSeconds = (Number(fields[13]) + Number(fields[14])) / ticksPerSecond();
        stderr = stderr.slice(0, at).trimEnd();
      }
      resolvePromise({ code, signal, stdout, stderr, wallSeconds, timedOut, cpuSeconds, brokerCpuSeconds });
    });
  });
}

function failed(label: string, run: ChildRun): Error {
  const tail = (run.stderr.trim() || run.stdout.trim()).split('\n').slice(-15).join('\n');
  return new Error(`${label} ${run.timedOut ? `timed out after ${run.wallSeconds.toFixed(0)} s` : `exited with ${run.code ?? run.signal}`}:\n${tail}`);
}

/** Fails fast, with a clear message, when nothing listens at the first bootstrap address. */
function checkReachable(address: string): Promise<void> {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon);
  const port = Number(address.slice(colon + 1));
  return new Promise((resolvePromise, reject) => {
    const socket = connect({ host, port, timeout: 3000 });
    const fail = (why: string) => {
      socket.destroy();
      reject(new Error(`no Kafka broker answers at ${address} (${why}); start one with: node scripts/kafka.ts start`));
    };
    socket.once('connect', () => {
      socket.end();
      resolvePromise();
    });
    socket.once('timeout', () => fail('timeout'));
    socket.once('error', (e) => fail(e.message));
  });
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function row(name: string, records: number, seconds: number, extra: Partial<RawLimitRow> = {}): RawLimitRow {
  return { name, records, seconds, recordsPerSecond: records / seconds, megabytesPerSecond: (records * RECORD_BYTES) / seconds / 1e6, ...extra };
}

/** A benchmark script of bench/ and the input size every child gets. */
function sizeArgs(script: string, o: { records: number; partitions: number; keys: number }): string[] {
  return [join(repoRoot, 'bench', script), '--records', String(o.records), '--partitions', String(o.partitions), '--keys', String(o.keys)];
}

// ---------------------------------------------------------------------------------------------
// 1. Tributary's Kafka client (bench/kafka-client.ts)

async function kafkaClientLimits(o: Required<Omit<RawLimitsOptions, 'log' | 'childTimeoutMs'>>, ctx: Context): Promise<RawLimits['kafkaClient']> {
  const out = join(ctx.tmp, 'kafka-client.json');
  const args = [
    ...sizeArgs('kafka-client.ts', o),
    '--bootstrap',
    o.bootstrapBrokers.join(','),
    '--tx-sizes',
    o.txSizes.join(','),
    '--commits',
    String(o.commits),
    '--commit-gap-ms',
    String(o.commitGapMs),
    '--json-out',
    out,
  ];
  const run = await ctx.run(process.execPath, args, 'kafka-client');
  if (run.code !== 0) throw failed('bench/kafka-client.ts', run);
  const json = JSON.parse(readFileSync(out, 'utf8')) as { brokerIdleCores?: number; results: Record<string, unknown>[]; commitLatency?: Record<string, unknown>[] };
  const rows = json.results.map((r) =>
    row(String(r.phase), Number(r.records), Number(r.seconds), {
      cpuSecondsPerMillion: num(r.cpuSecondsPerMillion),
      brokerCpuSecondsPerMillion: num(r.brokerCpuSecondsPerMillion),
    }),
  );
  const commitLatency = (json.commitLatency ?? []).map(
    (r): CommitLatencyRow => ({
      name: String(r.what),
      count: Number(r.count),
      p50Ms: Number(r.p50Ms),
      p90Ms: Number(r.p90Ms),
      p99Ms: Number(r.p99Ms),
      maxMs: Number(r.maxMs),
      meanMs: Number(r.meanMs),
      perSecond: Number(r.perSecond),
      cpuMsPerCommit: num(r.cpuMsPerCommit),
      brokerCpuMsPerCommit: num(r.brokerCpuMsPerCommit),
    }),
  );
  return { rows, commitLatency, brokerIdleCores: num(json.brokerIdleCores), processCpuSeconds: run.cpuSeconds, wallSeconds: run.wallSeconds };
}

// ---------------------------------------------------------------------------------------------
// 2. The Java client (Kafka's ProducerPerformance / ConsumerPerformance)

/** "1000000 records sent, 251256.3 records/sec (23.96 MB/sec), 120.52 ms avg latency, 412.00 ms max latency, 110 ms 50th, 250 ms 95th, 300 ms 99th, 400 ms 99.9th." */
const PRODUCER_LINE = /^(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99.9th/m;

function parseProducer(stdout: string): { records: number; recordsPerSecond: number; avgLatencyMs: number; maxLatencyMs: number; p50Ms: number; p99Ms: number; line: string } {
  const lines = stdout.split('\n').filter((l) => PRODUCER_LINE.test(l));
  const line = lines.at(-1);
  const m = line === undefined ? null : PRODUCER_LINE.exec(line);
  if (m === null || line === undefined) throw new Error(`no summary line in ProducerPerformance's output:\n${stdout.slice(-2000)}`);
  return { records: Number(m[1]), recordsPerSecond: Number(m[2]), avgLatencyMs: Number(m[4]), maxLatencyMs: Number(m[5]), p50Ms: Number(m[6]), p99Ms: Number(m[8]), line };
}

/** The line after the header: start.time, end.time, MB, MB.sec, nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec. */
function parseConsumer(stdout: string): { records: number; totalSeconds: number; rebalanceMs: number; fetchMs: number; line: string } {
  const lines = stdout.split('\n');
  const header = lines.findIndex((l) => l.startsWith('start.time'));
  const line = header >= 0 ? lines[header + 1] : undefined;
  const fields = line?.split(',').map((f) => f.trim());
  if (line === undefined || fields === undefined || fields.length < 10) throw new Error(`no summary line in ConsumerPerformance's output:\n${stdout.slice(-2000)}`);
  const records = Number(fields[4]);
  const nMsgSec = Number(fields[5]);
  return { records, totalSeconds: records / nMsgSec, rebalanceMs: Number(fields[6]), fetchMs: Number(fields[7]), line };
}

async function javaClientLimits(o: Required<Omit<RawLimitsOptions, 'log' | 'childTimeoutMs'>>, ctx: Context, runId: string, brokerIdleCores: number): Promise<RawLimits['javaClient']> {
  const t0 = performance.now();
  const version = spawnSync(o.java, ['-version'], { encoding: 'utf8' }).stderr.trim().split('\n')[0] ?? 'unknown';
  const toolsJar = readdirSync(kafkaLibDir).find((f) => /^kafka-tools-\d.*\.jar$/.test(f)) ?? 'kafka-tools';
  const classpath = `${kafkaLibDir}/*`;
  const bootstrap = o.bootstrapBrokers.join(',');

  // Payloads: the key and value of the synthetic records, concatenated (100 bytes; the tool sends
  // no key), one per line; the tool picks one at random for each record.
  const payloads = join(ctx.tmp, 'payloads.txt');
  writeFileSync(payloads, Array.from({ length: 10_000 }, (_, seq) => keyString(keyIdOf(seq, o.keys)) + valueString(seq)).join('\n') + '\n');
  const consumerConfig = join(ctx.tmp, 'consumer.properties');
  const consumerProps = ['isolation.level=read_committed', 'max.poll.records=1000'];
  writeFileSync(consumerConfig, consumerProps.join('\n') + '\n');
  const producerProps = ['acks=all', 'enable.idempotence=true'];

  const topics = {
    baseline: `bench-raw-java-baseline-${runId}`,
    idempotent: `bench-raw-java-idempotent-${runId}`,
    transactional: `bench-raw-java-tx-${runId}`,
  };
  for (const t of Object.values(topics)) await ctx.createTopic(t);
  const group = `bench-raw-java-${runId}`;
  ctx.groups.push(`${group}-baseline`, `${group}-idempotent`, `${group}-tx`);

  const produce = async (topic: string, n: number, label: string, transactional: boolean) => {
    const args = [
      '-cp',
      classpath,
      'org.apache.kafka.tools.ProducerPerformance',
      '--topic',
      topic,
      '--num-records',
      String(n),
      '--payload-file',
      payloads,
      '--throughput',
      '-1',
      '--producer-props',
      `bootstrap.servers=${bootstrap}`,
      `client.id=${group}-${label}`,
      ...producerProps,
      ...(transactional ? ['--transactional-id', `${group}-${label}`, '--transaction-duration-ms', String(o.javaTransactionMs)] : []),
    ];
    const run = await ctx.run(o.java, args, `java producer ${label}`);
    if (run.code !== 0) throw failed(`ProducerPerformance (${label})`, run);
    return { run, summary: parseProducer(run.stdout) };
  };
  const consume = async (topic: string, n: number, label: string) => {
    const args = [
      '-cp',
      classpath,
      'org.apache.kafka.tools.ConsumerPerformance',
      '--bootstrap-server',
      bootstrap,
      '--topic',
      topic,
      '--messages',
      String(n),
      '--group',
      `${group}-${label}`,
      '--consumer.config',
      consumerConfig,
      '--timeout',
      '30000',
    ];
    const run = await ctx.run(o.java, args, `java consumer ${label}`);
    if (run.code !== 0) throw failed(`ConsumerPerformance (${label})`, run);
    const summary = parseConsumer(run.stdout);
    if (summary.records < n) throw new Error(`ConsumerPerformance (${label}) read ${summary.records} of ${n} records:\n${run.stdout.slice(-1000)}`);
    return { run, summary };
  };
  const marginal = (value: number | undefined, baseline: number | undefined, n: number) =>
    value === undefined || baseline === undefined ? undefined : Math.max(0, value - baseline) / (n / 1e6);
  /** The broker's CPU over the JVM's life minus its idle background outside the tool's measured span (JVM start, group join). */
  const brokerPerMillion = (run: ChildRun, toolSeconds: number, n: number) =>
    run.brokerCpuSeconds === undefined ? undefined : Math.max(0, run.brokerCpuSeconds - brokerIdleCores * Math.max(0, run.wallSeconds - toolSeconds)) / (n / 1e6);

  const rows: RawLimitRow[] = [];
  const n = o.records;
  const pBase = await produce(topics.baseline, 1000, 'baseline', false);
  const pIdem = await produce(topics.idempotent, n, 'idempotent', false);
  rows.push(
    row(`produce, idempotent (acks=all, batch.size 16384, linger.ms 5: the defaults)`, n, n / pIdem.summary.recordsPerSecond, {
      cpuSecondsPerMillion: marginal(pIdem.run.cpuSeconds, pBase.run.cpuSeconds, n),
      brokerCpuSecondsPerMillion: brokerPerMillion(pIdem.run, n / pIdem.summary.recordsPerSecond, n),
      details: { tool: 'ProducerPerformance', summary: pIdem.summary.line, jvmCpuSeconds: pIdem.run.cpuSeconds, jvmWallSeconds: pIdem.run.wallSeconds },
    }),
  );
  const pTx = await produce(topics.transactional, n, 'tx', true);
  rows.push(
    row(`produce, transactional, one transaction per ${o.javaTransactionMs} ms`, n, n / pTx.summary.recordsPerSecond, {
      cpuSecondsPerMillion: marginal(pTx.run.cpuSeconds, pBase.run.cpuSeconds, n),
      brokerCpuSecondsPerMillion: brokerPerMillion(pTx.run, n / pTx.summary.recordsPerSecond, n),
      details: { tool: 'ProducerPerformance', summary: pTx.summary.line, jvmCpuSeconds: pTx.run.cpuSeconds, jvmWallSeconds: pTx.run.wallSeconds },
    }),
  );
  const cBase = await consume(topics.baseline, 1000, 'baseline');
  for (const [topic, label, what] of [
    [topics.idempotent, 'idempotent', 'idempotent'],
    [topics.transactional, 'tx', `transactional (${o.javaTransactionMs} ms/tx)`],
  ] as const) {
    const c = await consume(topic, n, label);
    rows.push(
      row(`read ${what} topic, KafkaConsumer.poll, read_committed`, n, c.summary.fetchMs / 1000, {
        cpuSecondsPerMillion: marginal(c.run.cpuSeconds, cBase.run.cpuSeconds, n),
        brokerCpuSecondsPerMillion: brokerPerMillion(c.run, c.summary.fetchMs / 1000, n),
        details: { tool: 'ConsumerPerformance', summary: c.summary.line, groupJoinMs: c.summary.rebalanceMs, jvmCpuSeconds: c.run.cpuSeconds, jvmWallSeconds: c.run.wallSeconds },
      }),
    );
  }
  return {
    version: `${version}; ${toolsJar}`,
    rows,
    producerProps,
    consumerProps,
    baselineCpuSeconds: { producer: pBase.run.cpuSeconds, consumer: cBase.run.cpuSeconds },
    wallSeconds: (performance.now() - t0) / 1000,
  };
}

// ---------------------------------------------------------------------------------------------
// 3. The embedded log (bench/embedded-log.ts)

async function embeddedLogLimits(o: Required<Omit<RawLimitsOptions, 'log' | 'childTimeoutMs'>>, ctx: Context): Promise<RawLimits['embeddedLog']> {
  const out = join(ctx.tmp, 'embedded-log.json');
  const args = [
    ...sizeArgs('embedded-log.ts', o),
    '--fsync',
    o.fsync,
    '--json-out',
    out,
  ];
  const run = await ctx.run(process.execPath, args, 'embedded-log');
  if (run.code !== 0) throw failed('bench/embedded-log.ts', run);
  const json = JSON.parse(readFileSync(out, 'utf8')) as { results: Record<string, unknown>[] };
  const rows = json.results.map((r) => row(`fsync ${r.fsync === true ? 'on' : 'off'}, ${String(r.phase)}`, Number(r.records), Number(r.seconds), { details: { fsync: r.fsync } }));
  return { rows, processCpuSeconds: run.cpuSeconds, wallSeconds: run.wallSeconds };
}

// ---------------------------------------------------------------------------------------------

interface Context {
  readonly tmp: string;
  readonly groups: string[];
  run(command: string, args: readonly string[], label: string): Promise<ChildRun>;
  createTopic(name: string): Promise<void>;
}

export async function measureRawLimits(options: RawLimitsOptions): Promise<RawLimits> {
  const o = {
    records: options.records,
    bootstrapBrokers: options.bootstrapBrokers,
    partitions: options.partitions,
    java: options.java,
    keys: options.keys ?? 100_000,
    commits: options.commits ?? 100,
    commitGapMs: options.commitGapMs ?? 100,
    txSizes: options.txSizes ?? [1000, 10_000],
    fsync: options.fsync ?? 'on',
    javaClient: options.javaClient ?? true,
    javaTransactionMs: options.javaTransactionMs ?? 100,
  } as const;
  const log = options.log ?? (() => {});
  const timeoutMs = options.childTimeoutMs ?? 300_000 + 120_000 * (o.records / 1e6) * (2 + o.txSizes.length);
  await checkReachable(o.bootstrapBrokers[0]!);
  const brokerPids = kafkaBrokerPids();
  const runId = `${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
  const commands: string[] = [];
  const created: string[] = [];
  const tmp = mkdtempSync(join(tmpdir(), 'tributary-raw-limits-'));
  let kafkaLog: KafkaLog | undefined;
  const ctx: Context = {
    tmp,
    groups: [],
    run: (command, args, label) => {
      const line = [command === process.execPath ? 'node' : command, ...args.map(displayArg)].map(shellQuote).join(' ');
      commands.push(line);
      log(`$ ${line}`);
      return runChild(command, args, label, timeoutMs, log, brokerPids);
    },
    createTopic: async (name) => {
      kafkaLog ??= new KafkaLog({ bootstrapBrokers: [...o.bootstrapBrokers], clientId: `bench-raw-${runId}` });
      await kafkaLog.createTopic(name, { partitions: o.partitions, cleanupPolicy: 'delete' });
      created.push(name);
    },
  };
  try {
    log(`raw limits: ${si(o.records)} records of ${RECORD_BYTES} bytes, ${o.partitions} partitions, bootstrap ${o.bootstrapBrokers.join(',')}`);
    const kafkaClient = await kafkaClientLimits(o, ctx);
    let javaClient: RawLimits['javaClient'];
    let javaSkipped: string | undefined;
    if (!o.javaClient) javaSkipped = 'disabled';
    else if (!existsSync(kafkaLibDir) || !readdirSync(kafkaLibDir).some((f) => f.startsWith('kafka-tools-'))) javaSkipped = `no kafka-tools jar in ${kafkaLibDir} (node scripts/kafka.ts start downloads it)`;
    else if (spawnSync(o.java, ['-version']).status !== 0) javaSkipped = `${o.java} -version failed`;
    else javaClient = await javaClientLimits(o, ctx, runId, kafkaClient.brokerIdleCores ?? 0);
    if (javaSkipped !== undefined) log(`java client not measured: ${javaSkipped}`);
    const embeddedLog = await embeddedLogLimits(o, ctx);
    return { records: o.records, partitions: o.partitions, recordBytes: RECORD_BYTES, kafkaClient, javaClient, javaSkipped, embeddedLog, commands };
  } finally {
    if (created.length > 0 || ctx.groups.length > 0) {
      const admin = new Admin({ clientId: `bench-raw-${runId}-admin`, bootstrapBrokers: [...o.bootstrapBrokers] });
      if (ctx.groups.length > 0) {
        // Only the groups that exist (a failed run may not have made them all).
        const existing = await admin.listGroups().catch(() => new Map<string, unknown>());
        const groups = ctx.groups.filter((g) => existing.has(g));
        if (groups.length > 0) await admin.deleteGroups({ groups }).catch((e: unknown) => log(`could not delete groups ${groups.join(', ')}: ${String(e)}`));
      }
      if (created.length > 0) await admin.deleteTopics({ topics: created }).catch((e: unknown) => log(`could not delete ${created.join(', ')}: ${String(e)}`));
      await admin.close();
    }
    await kafkaLog?.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Formatting

const fixed = (x: number | undefined, digits = 2) => (x === undefined ? '–' : x.toFixed(digits));

/** Markdown tables: throughput rows of the three sources, then the commit latencies. */
export function formatRawLimits(r: RawLimits): string {
  const lines: string[] = [];
  lines.push(`Raw limits, no processing: ${si(r.records)} records of ${r.recordBytes} bytes per phase, ${r.partitions} partitions. CPU: the client's (or log's) process, s per 1M records.`);
  lines.push('');
  lines.push('| what | phase | records/s | MB/s | CPU s/1M | broker CPU s/1M |');
  lines.push('|---|---|---:|---:|---:|---:|');
  const add = (what: string, rows: readonly RawLimitRow[]) => {
    for (const x of rows) lines.push(`| ${what} | ${x.name} | ${si(x.recordsPerSecond)} | ${x.megabytesPerSecond.toFixed(0)} | ${fixed(x.cpuSecondsPerMillion)} | ${fixed(x.brokerCpuSecondsPerMillion)} |`);
  };
  add('Tributary client (KafkaLog)', r.kafkaClient.rows);
  if (r.javaClient !== undefined) add('Java client', r.javaClient.rows);
  add('embedded log', r.embeddedLog.rows);
  lines.push('');
  const notes: string[] = [];
  notes.push('Tributary client: bench/kafka-client.ts (warmed up on 100k records first); records of an 11-byte key and an 89-byte value');
  if (r.kafkaClient.brokerIdleCores !== undefined) notes.push(`broker CPU includes its idle background, ${r.kafkaClient.brokerIdleCores.toFixed(3)} cores`);
  if (r.javaClient !== undefined) {
    const j = r.javaClient;
    notes.push(
      `Java client: Kafka's ProducerPerformance / ConsumerPerformance (${j.version}), each in a fresh JVM (no warm-up: JIT included); ` +
        `records of a 100-byte value and no key; records/s as the tools report them (consumer: group join excluded); ` +
        `CPU = the JVM's minus a 1000-record run of the same tool (producer ${fixed(j.baselineCpuSeconds.producer)} s, consumer ${fixed(j.baselineCpuSeconds.consumer)} s); ` +
        `producer ${j.producerProps.join(' ')}, consumer ${j.consumerProps.join(' ')}`,
    );
  } else if (r.javaSkipped !== undefined) notes.push(`Java client not measured: ${r.javaSkipped}`);
  notes.push('embedded log: no CPU figure (bench/embedded-log.ts measures wall time only)');
  lines.push(...notes.map((n) => `- ${n}`));
  const main = r.kafkaClient.commitLatency.filter((c) => !c.name.startsWith(' '));
  if (main.length > 0) {
    lines.push('');
    lines.push(`Commit latency, Tributary's client (${main[0]!.count} commits each, 1 record to each of ${r.partitions} partitions):`);
    lines.push('');
    lines.push('| commit | p50 ms | p90 ms | p99 ms | mean ms | commits/s | CPU ms/commit | broker CPU ms/commit |');
    lines.push('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const c of main) {
      lines.push(`| ${c.name} | ${fixed(c.p50Ms)} | ${fixed(c.p90Ms)} | ${fixed(c.p99Ms)} | ${fixed(c.meanMs)} | ${c.perSecond.toFixed(0)} | ${fixed(c.cpuMsPerCommit)} | ${fixed(c.brokerCpuMsPerCommit)} |`);
    }
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Standalone

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      records: { type: 'string', default: '1M' },
      partitions: { type: 'string', default: '8' },
      keys: { type: 'string', default: '100k' },
      bootstrap: { type: 'string', default: '127.0.0.1:9092' },
      commits: { type: 'string', default: '100' },
      'commit-gap-ms': { type: 'string', default: '100' },
      'tx-sizes': { type: 'string', default: '1000,10000' },
      fsync: { type: 'string', default: 'on' },
      'java-transaction-ms': { type: 'string', default: '100' },
      'no-java': { type: 'boolean', default: false },
      'no-json': { type: 'boolean', default: false },
      'json-out': { type: 'string' },
    },
  });
  const fsync = args.fsync;
  if (fsync !== 'on' && fsync !== 'off' && fsync !== 'both') throw new Error(`--fsync must be on, off or both, not ${fsync}`);
  const java = process.env.JAVA_HOME === undefined ? 'java' : join(process.env.JAVA_HOME, 'bin', 'java');
  const options: RawLimitsOptions = {
    records: parseCount(args.records),
    partitions: parseCount(args.partitions),
    keys: parseCount(args.keys),
    bootstrapBrokers: args.bootstrap.split(','),
    java,
    commits: parseCount(args.commits),
    commitGapMs: Number(args['commit-gap-ms']),
    txSizes: args['tx-sizes'].split(',').map(parseCount),
    fsync,
    javaClient: !args['no-java'],
    javaTransactionMs: parseCount(args['java-transaction-ms']),
    log: (line) => console.log(line),
  };
  const t0 = performance.now();
  const result = await measureRawLimits(options);
  console.log(`\n(${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
  console.log(formatRawLimits(result));
  if (!args['no-json']) {
    const out = args['json-out'] !== undefined ? resolve(args['json-out']) : fileURLToPath(new URL(`./results/${timestampForFile()}-raw-limits.json`, import.meta.url));
    mkdirSync(dirname(out), { recursive: true });
    const { log: _log, ...config } = options;
    writeFileSync(out, JSON.stringify({ benchmark: 'raw-limits', source: sourceVersion(), machine: machine(), config, ...result }, null, 2));
    console.log(`\nresults: ${out}`);
  }
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
