/**
 * The README's table of a side-by-side run: reads results JSON files of bench/compare.ts (their
 * `summary` and, for the load, `results`) and prints one Markdown row per topology, thread count
 * and guarantee: medians (min-max) of records/s and CPU s per million records of the measured
 * span, the ratios Tributary / Kafka Streams, the embedded log's figures, warm-up seconds, the
 * 1-minute load average at the start and end of the runs (lowest-highest), and whether the
 * outputs agreed. bench/README.md's tables are this script's output, not copied numbers.
 *
 *   node bench/compare-table.ts bench/results/<timestamp>-compare.json [more.json...]
 */
import { readFileSync } from 'node:fs';

interface Stat {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}
interface EngineSummary {
  readonly runs: number;
  readonly recordsPerSecond?: Stat;
  readonly cpuSecondsPerMillion?: Stat;
  readonly warmupSeconds?: Stat;
}
interface SummaryRow {
  readonly topology: string;
  readonly threads: number;
  readonly guarantee: string;
  readonly kafkaStreams: EngineSummary;
  readonly tributary: EngineSummary;
  readonly embedded?: EngineSummary;
  readonly outputsAgree: readonly (boolean | null)[];
}
interface EngineResult {
  readonly loadAverage?: readonly number[];
}
interface ResultRow {
  readonly topology: string;
  readonly threads: number;
  readonly guarantee: string;
  readonly errors: readonly string[];
  readonly kafkaStreams?: EngineResult;
  readonly tributary?: EngineResult;
  readonly embedded?: EngineResult;
}
interface Results {
  readonly config: { readonly cache?: string };
  readonly summary: readonly SummaryRow[];
  readonly results: readonly ResultRow[];
}

function si(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(0)}k` : n.toFixed(0);
}

function rate(s: Stat | undefined): string {
  if (s === undefined) return '–';
  return s.n > 1 ? `${si(s.median)} (${si(s.min)}–${si(s.max)})` : si(s.median);
}

function cpu(s: Stat | undefined): string {
  if (s === undefined) return '–';
  return s.n > 1 ? `${s.median.toFixed(2)} (${s.min.toFixed(2)}–${s.max.toFixed(2)})` : s.median.toFixed(2);
}

function ratio(a: Stat | undefined, b: Stat | undefined): string {
  return a === undefined || b === undefined ? '–' : `${(a.median / b.median).toFixed(2)}x`;
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node bench/compare-table.ts <results.json>...');
  process.exit(2);
}
console.log(
  '| topology | thr | cache | Kafka Streams rec/s | Tributary rec/s | ratio | KS CPU s/M | Tributary CPU s/M | ratio | embedded rec/s | embedded CPU s/M | warm-up s KS / Tr | load | errors | outputs agree |',
);
console.log('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---|');
for (const file of files) {
  const data = JSON.parse(readFileSync(file, 'utf8')) as Results;
  for (const row of data.summary) {
    const runs = data.results.filter((r) => r.topology === row.topology && r.threads === row.threads && r.guarantee === row.guarantee);
    const loads = runs.flatMap((r) => [r.kafkaStreams, r.tributary, r.embedded].flatMap((e) => e?.loadAverage ?? []));
    const load = loads.length === 0 ? '–' : `${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}`;
    const errors = runs.reduce((n, r) => n + r.errors.length, 0);
    const ks = row.kafkaStreams;
    const tr = row.tributary;
    const warm = `${ks.warmupSeconds?.median.toFixed(0) ?? '–'} / ${tr.warmupSeconds?.median.toFixed(0) ?? '–'}`;
    console.log(
      `| ${row.topology} | ${row.threads} | ${data.config.cache ?? 'off'} | ${rate(ks.recordsPerSecond)} | ${rate(tr.recordsPerSecond)} | ${ratio(tr.recordsPerSecond, ks.recordsPerSecond)} | ` +
        `${cpu(ks.cpuSecondsPerMillion)} | ${cpu(tr.cpuSecondsPerMillion)} | ${ratio(tr.cpuSecondsPerMillion, ks.cpuSecondsPerMillion)} | ` +
        `${rate(row.embedded?.recordsPerSecond)} | ${cpu(row.embedded?.cpuSecondsPerMillion)} | ${warm} | ${load} | ${errors} | ${row.outputsAgree.map((a) => (a === null ? '–' : a ? 'yes' : 'NO')).join(', ')} |`,
    );
  }
}
