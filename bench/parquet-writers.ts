/**
 * Which Parquet writer the lake sink uses: hyparquet-writer (pure JS) against parquet-wasm (Rust's
 * arrow-rs compiled to WASM, fed through apache-arrow). Both start from what the sink holds, an
 * array of row objects (a realistic web event: ids, an event type, an item and category, a price,
 * a page, the record's partition and offset), and end with the bytes of a SNAPPY-compressed file.
 * Each writer runs in its own process (fresh heap and JIT), `--repeat` times; the result is the
 * median.
 *
 *   node bench/parquet-writers.ts [--rows 1000000] [--repeat 3]
 *
 * parquet-wasm and apache-arrow are not dependencies of the project (see
 * bench/results/parquet-writers.md for why); to include them, install them beside it first:
 *
 *   npm install --no-save parquet-wasm@0.8.0 apache-arrow@21
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    repeat: { type: 'string', default: '3' },
    child: { type: 'string' },
  },
});
const ROWS = Number(args.rows);

interface EventRow {
  event_id: string;
  user_id: string;
  type: string;
  ts: Date;
  source: string;
  item_id: string | null;
  category: string | null;
  price: number | null;
  page: string | null;
  partition: number;
  offset: bigint;
}

const TYPES = ['page_view', 'page_view', 'page_view', 'page_view', 'click', 'add_to_cart', 'purchase', 'search'];
const SOURCES = ['web', 'app', 'transactions', 'crm'];
const CATEGORIES = ['books', 'music', 'garden', 'toys', 'sports', 'kitchen', 'shoes', 'games', 'tools', 'beauty'];

/** Seeded rows, so both writers get the same data. */
function makeRows(n: number): EventRow[] {
  let seed = 42;
  const next = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 4294967296;
  };
  const start = Date.UTC(2026, 11, 1);
  const rows: EventRow[] = [];
  for (let i = 0; i < n; i++) {
    const type = TYPES[Math.floor(next() * TYPES.length)]!;
    const item = type === 'search' ? null : `item-${Math.floor(next() ** 2 * 50_000)}`;
    rows.push({
      event_id: `e-${i.toString(16).padStart(8, '0')}-${Math.floor(next() * 1e9).toString(36)}`,
      user_id: `u-${Math.floor(next() * 100_000)}`,
      type,
      ts: new Date(start + i * 7),
      source: SOURCES[Math.floor(next() * SOURCES.length)]!,
      item_id: item,
      category: item === null ? null : CATEGORIES[Math.floor(next() * CATEGORIES.length)]!,
      price: type === 'purchase' || type === 'add_to_cart' ? Math.round(next() * 20_000) / 100 : null,
      page: `/p/${Math.floor(next() * 5000)}`,
      partition: i % 3,
      offset: BigInt(Math.floor(i / 3)),
    });
  }
  return rows;
}

const COLUMNS = [
  ['event_id', 'STRING'],
  ['user_id', 'STRING'],
  ['type', 'STRING'],
  ['ts', 'TIMESTAMP'],
  ['source', 'STRING'],
  ['item_id', 'STRING'],
  ['category', 'STRING'],
  ['price', 'DOUBLE'],
  ['page', 'STRING'],
  ['partition', 'INT32'],
  ['offset', 'INT64'],
] as const;

async function hyparquetWriter(rows: EventRow[]): Promise<number> {
  const { parquetWriteBuffer } = await import('hyparquet-writer');
  const columnData = COLUMNS.map(([name, type]) => ({ name, type, data: rows.map((r) => r[name]) }));
  return parquetWriteBuffer({ columnData, codec: 'SNAPPY', rowGroupSize: 100_000 }).byteLength;
}

async function parquetWasm(rows: EventRow[]): Promise<number> {
  // Optional packages of the bench only (see the header), named through variables so that the
  // typechecker does not look for them.
  const [arrowName, wasmName] = ['apache-arrow', 'parquet-wasm'];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const arrow: any = await import(arrowName);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const wasm: any = await import(wasmName);
  const str = (name: keyof EventRow) => arrow.vectorFromArray(rows.map((r) => r[name]), new arrow.Utf8());
  const table = new arrow.Table({
    event_id: str('event_id'),
    user_id: str('user_id'),
    type: str('type'),
    ts: arrow.vectorFromArray(rows.map((r) => r.ts.getTime()), new arrow.TimestampMillisecond()),
    source: str('source'),
    item_id: str('item_id'),
    category: str('category'),
    price: arrow.vectorFromArray(rows.map((r) => r.price), new arrow.Float64()),
    page: str('page'),
    partition: arrow.vectorFromArray(rows.map((r) => r.partition), new arrow.Int32()),
    offset: arrow.vectorFromArray(rows.map((r) => r.offset), new arrow.Int64()),
  });
  const props = new wasm.WriterPropertiesBuilder().setCompression(wasm.Compression.SNAPPY).setMaxRowGroupSize(100_000).build();
  const ipc = arrow.tableToIPC(table, 'stream');
  return wasm.writeParquet(wasm.Table.fromIPCStream(ipc), props).byteLength;
}

const writers: Record<string, (rows: EventRow[]) => Promise<number>> = { 'hyparquet-writer': hyparquetWriter, 'parquet-wasm': parquetWasm };

if (args.child !== undefined) {
  const rows = makeRows(ROWS);
  const before = process.memoryUsage().rss;
  const started = performance.now();
  const bytes = await writers[args.child]!(rows);
  const ms = performance.now() - started;
  console.log(JSON.stringify({ ms, bytes, rssGrowthMb: (process.memoryUsage().rss - before) / 2 ** 20 }));
} else {
  const self = fileURLToPath(import.meta.url);
  console.log(`${ROWS.toLocaleString('en')} rows of ${COLUMNS.length} columns, SNAPPY, row groups of 100k; median of ${args.repeat} runs, each in a fresh process`);
  console.log('| writer | ms | rows/s | file MB | RSS growth MB |\n|---|---|---|---|---|');
  for (const name of Object.keys(writers)) {
    const runs: { ms: number; bytes: number; rssGrowthMb: number }[] = [];
    for (let i = 0; i < Number(args.repeat); i++) {
      const child = spawnSync(process.execPath, ['--max-old-space-size=8192', self, '--child', name, '--rows', String(ROWS)], { encoding: 'utf8' });
      if (child.status !== 0) {
        console.log(`| ${name} | failed: ${(child.stderr.split('\n').find((l) => /Error/.test(l)) ?? child.stderr).trim().slice(0, 120)} | | | |`);
        break;
      }
      runs.push(JSON.parse(child.stdout.trim().split('\n').at(-1)!));
    }
    if (runs.length === 0) continue;
    runs.sort((a, b) => a.ms - b.ms);
    const mid = runs[Math.floor(runs.length / 2)]!;
    console.log(`| ${name} | ${mid.ms.toFixed(0)} | ${Math.round((ROWS / mid.ms) * 1000).toLocaleString('en')} | ${(mid.bytes / 2 ** 20).toFixed(1)} | ${mid.rssGrowthMb.toFixed(0)} |`);
  }
}
