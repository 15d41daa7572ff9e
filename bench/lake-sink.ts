/**
 * Throughput of the Parquet lake sink itself (no log): event records fed to `write` in batches,
 * as a SinkRunner would, with typed columns, then `flush('close')`. Reports records/s, files,
 * MB on disk, and the longest single `write` (the synchronous row-group encoding is the pause an
 * application thread sees).
 *
 *   node bench/lake-sink.ts [--records 500000] [--batch 5000] [--row-group 50000]
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ParquetLakeSink } from '../connectors/sinks/lake/index.ts';
import type { SinkRecord } from '../connectors/sinks/index.ts';

const { values: args } = parseArgs({ options: { records: { type: 'string', default: '500000' }, batch: { type: 'string', default: '5000' }, 'row-group': { type: 'string', default: '50000' } } });
const N = Number(args.records);
const BATCH = Number(args.batch);

interface Event {
  eventId: string;
  userId: string;
  type: string;
  timestamp: number;
  itemId: string | null;
  price: number | null;
  page: string;
}
const TYPES = ['page_view', 'page_view', 'page_view', 'click', 'add_to_cart', 'purchase', 'search'];
const columns = { event_id: 'STRING', user_id: 'STRING', type: 'STRING', ts: 'TIMESTAMP', item_id: 'STRING', price: 'DOUBLE', page: 'STRING', src_partition: 'INT32', src_offset: 'INT64' } as const;
const dir = mkdtempSync(join(tmpdir(), 'tributary-lake-bench-'));
const sink = new ParquetLakeSink<string, Event, typeof columns>({
  name: 'bench',
  dir,
  columns,
  row: ({ value: e, partition, offset }) => e && { event_id: e.eventId, user_id: e.userId, type: e.type, ts: e.timestamp, item_id: e.itemId, price: e.price, page: e.page, src_partition: partition, src_offset: offset },
  rowGroupRows: Number(args['row-group']),
});
await sink.open({ topic: 'events', partitions: [0, 1, 2] });
const start = Date.UTC(2026, 11, 4);
const records = (from: number, n: number): SinkRecord<string, Event>[] =>
  Array.from({ length: n }, (_, i) => {
    const seq = from + i;
    const type = TYPES[seq % TYPES.length]!;
    const event = { eventId: `e-${seq.toString(16)}`, userId: `u-${(seq * 7919) % 100_000}`, type, timestamp: start + seq * 10, itemId: type === 'search' ? null : `item-${(seq * 31) % 50_000}`, price: type === 'purchase' ? (seq % 20_000) / 100 : null, page: `/p/${seq % 5000}` };
    return { topic: 'events', partition: seq % 3, offset: Math.floor(seq / 3), key: event.userId, value: event, timestamp: event.timestamp };
  });
let longest = 0;
const began = performance.now();
for (let from = 0, sequence = 1; from < N; from += BATCH, sequence++) {
  const all = records(from, Math.min(BATCH, N - from));
  const parts = [0, 1, 2].map((p) => {
    const rs = all.filter((r) => r.partition === p);
    return { partition: p, fromOffset: rs[0]?.offset ?? 0, nextOffset: (rs.at(-1)?.offset ?? -1) + 1, records: rs };
  });
  const t = performance.now();
  await sink.write({ topic: 'events', sequence, parts, size: all.length });
  longest = Math.max(longest, performance.now() - t);
}
await sink.flush('close');
const ms = performance.now() - began;
const files = readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.parquet'));
const bytes = files.reduce((n, f) => n + statSync(join(dir, f)).size, 0);
console.log(`${N.toLocaleString('en')} records in batches of ${BATCH}, row groups of ${args['row-group']}: ${ms.toFixed(0)} ms (${Math.round((N / ms) * 1000).toLocaleString('en')} records/s, record generation included), ${files.length} files, ${(bytes / 2 ** 20).toFixed(1)} MB, longest write ${longest.toFixed(0)} ms`);
rmSync(dir, { recursive: true, force: true });
