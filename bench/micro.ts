/**
 * Micro-benchmarks (tinybench): serde round trips, in-memory stores, the log's batch encoding and
 * a worker-thread message hop, and operator chains under the TopologyTestDriver.
 *
 *   node bench/micro.ts [--time 1000] [--filter regex] [--no-json]
 *
 * Rates come from tinybench's mean period (1000 / period ms = iterations/s). Cheap operations run
 * 100 times per iteration and batch operations handle 1000 records, so records/s = iterations/s x
 * records per iteration (an "op" below is one iteration).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MessageChannel } from 'node:worker_threads';
import { Bench } from 'tinybench';
import { decodeRecordBatch as decodeRecords, encodeRecordBatch as encodeRecords } from '../engine/log-codec.ts';
import { LocalStateDb } from '../engine/state/local-state.ts';
import { PersistentKeyValueStore } from '../engine/state/persistent.ts';
import { Serdes, Stores, TopologyTestDriver, type KeyValueStore, type LogRecord, type Serde, type SessionStore, type Topology, type WindowStore } from '../index.ts';
import { createInMemoryStore } from '../engine/state/in-memory.ts';
import { keyIdOf, keyString, machine, parseCount, si, sourceVersion, timestampForFile, valueString } from './common.ts';
import { INPUT_TOPIC, OUTPUT_TOPICS, countByKey, mapFilter, windowedCount, windowedCountOnClose } from './topologies.ts';

const { values: args } = parseArgs({
  options: {
    time: { type: 'string', default: '1000' },
    filter: { type: 'string' },
    'no-json': { type: 'boolean', default: false },
  },
});
const filter = args.filter === undefined ? undefined : new RegExp(args.filter);
const KEYS = 100_000;
/** Cheap operations run this many times per tinybench iteration, so the timer's cost does not dominate. */
const INNER = 100;
const bench = new Bench({ time: parseCount(args.time), warmup: true });
const recordsPerOp = new Map<string, number>();
function add(name: string, fn: () => unknown, perOp = 1): void {
  if (filter !== undefined && !filter.test(name)) return;
  recordsPerOp.set(name, perOp);
  bench.add(name, fn);
}

// ---------------------------------------------------------------- serdes

interface Event {
  seq: number;
  user: string;
  page: string;
  amount: number;
  tags: string[];
}
const event: Event = { seq: 123456, user: 'user-012345', page: '/p/0042', amount: 12.5, tags: ['mobile', 'eu'] };
const avroSchema = {
  type: 'record',
  name: 'Event',
  fields: [
    { name: 'seq', type: 'long' },
    { name: 'user', type: 'string' },
    { name: 'page', type: 'string' },
    { name: 'amount', type: 'double' },
    { name: 'tags', type: { type: 'array', items: 'string' } },
  ],
} as const;
const serdes: [string, Serde<unknown>, unknown][] = [
  ['string (89 chars)', Serdes.string() as Serde<unknown>, valueString(123456)],
  ['json (event object)', Serdes.json<Event>() as Serde<unknown>, event],
  ['msgpack (event object)', Serdes.msgpack<Event>() as Serde<unknown>, event],
  ['avro (event record)', Serdes.avro<Event>(avroSchema as never) as Serde<unknown>, event],
  ['number', Serdes.number() as Serde<unknown>, 12.5],
];
let sink = 0;
for (const [name, serde, value] of serdes) {
  const bytes = serde.serialize(value, 't');
  add(
    `serde round trip: ${name}, ${bytes.byteLength} B`,
    () => {
      for (let n = 0; n < INNER; n++) if (serde.deserialize(serde.serialize(value, 't'), 't') === undefined) sink++;
    },
    INNER,
  );
}

// ---------------------------------------------------------------- stores

const ctx = { recordTimestamp: () => 0 };
const kv = createInMemoryStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore('kv'), Serdes.string(), Serdes.number()), ctx) as KeyValueStore<
  string,
  number
>;
const keyNames = Array.from({ length: KEYS }, (_, i) => keyString(i));
for (const k of keyNames) kv.put(k, 1, 0);
let i = 0;
add(
  'kv store (100k keys): put',
  () => {
    for (let n = 0; n < INNER; n++) kv.put(keyNames[i++ % KEYS]!, i, 0);
  },
  INNER,
);
add(
  'kv store (100k keys): get',
  () => {
    for (let n = 0; n < INNER; n++) sink += kv.get(keyNames[i++ % KEYS]!) ?? 0;
  },
  INNER,
);
add(
  'kv store (100k keys): get + put (a count)',
  () => {
    for (let n = 0; n < INNER; n++) {
      const k = keyNames[i++ % KEYS]!;
      kv.put(k, (kv.get(k) ?? 0) + 1, 0);
    }
  },
  INNER,
);

// A persistent store as one task of eight has it in countByKey: 12.5k keys, all in the value
// cache (the stream thread's 64 MiB / 8 stores), writes buffered in the task's LevelDB database
// (the pending writes of one key are overwritten in place, as between two flushes).
const stateDir = mkdtempSync(join(tmpdir(), 'tributary-micro-'));
const stateDb = await LocalStateDb.open(stateDir);
const TASK_KEYS = KEYS / 8;
const pkv = new PersistentKeyValueStore('counts', Serdes.string(), Serdes.number(), ctx, stateDb, [], 8 * 1024 * 1024);
for (let n = 0; n < TASK_KEYS; n++) pkv.put(keyNames[n]!, 1, 0);
await stateDb.commit(new Map());
add(
  'persistent kv store (12.5k keys, cached): get + put (a count)',
  () => {
    for (let n = 0; n < INNER; n++) {
      const k = keyNames[i++ % TASK_KEYS]!;
      pkv.put(k, (pkv.get(k) ?? 0) + 1, 0);
    }
  },
  INNER,
);

const win = createInMemoryStore(
  Stores.windowStoreBuilder(Stores.inMemoryWindowStore('win', 60_000, 60_000), Serdes.string(), Serdes.number()),
  ctx,
) as WindowStore<string, number>;
let t = 0;
add(
  'window store (100k keys, 1-min windows): fetch + put',
  () => {
    for (let n = 0; n < INNER; n++) {
      const k = keyNames[i++ % KEYS]!;
      const start = Math.floor((t += 0.25) / 60_000) * 60_000;
      win.put(k, (win.fetchWindow(k, start) ?? 0) + 1, start, Math.floor(t));
    }
  },
  INNER,
);
// What a session count does per record (topologies.ts sessionCount): find the key's sessions
// within the gap, remove the one it merges into, put the merged session. Keys every 25 s.
const sess = createInMemoryStore(
  Stores.sessionStoreBuilder(Stores.inMemorySessionStore('sess', 30 * 60_000), Serdes.string(), Serdes.number()),
  ctx,
) as SessionStore<string, number>;
let st = 0;
add(
  'session store (100k keys, 30-min gap): find + remove + put',
  () => {
    for (let n = 0; n < INNER; n++) {
      const k = keyNames[i++ % KEYS]!;
      const now = Math.floor((st += 0.25));
      const found = sess.findSessions(k, now - 30 * 60_000, now + 30 * 60_000);
      let count = 1;
      let start = now;
      for (const s of found) {
        count += s.value;
        start = Math.min(start, s.key.window.start);
        sess.remove(s.key);
      }
      sess.put({ key: k, window: { start, end: now } }, count);
    }
  },
  INNER,
);
// What emit-on-close does on each record that advances stream time (see topologies.ts).
add('window store (100k keys): fetchAll of one closed window', () => (sink += win.fetchAll(t - 120_000, t - 60_000).length), 1);

// ---------------------------------------------------------------- the log's batch format and the thread hop

const batch: LogRecord[] = Array.from({ length: 1000 }, (_, n) => ({
  key: Buffer.from(keyString(keyIdOf(n, KEYS))),
  value: Buffer.from(valueString(n)),
  timestamp: 1_700_000_000_000 + n,
}));
const encoded = encodeRecords(batch);
add('wal encodeRecords (batch of 1000)', () => (sink += encodeRecords(batch).byteLength), 1000);
add('wal decodeRecords (batch of 1000)', () => (sink += decodeRecords(encoded).length), 1000);
const fetched = { records: batch.map((r, n) => ({ ...r, offset: n })), nextOffset: 1000, endOffset: 5000, startOffset: 0 };
const { port1, port2 } = new MessageChannel();
let onMessage: (() => void) | undefined;
port2.on('message', () => onMessage?.());
add(
  'MessagePort hop of a 1000-record fetch result (structured clone)',
  () =>
    new Promise<void>((resolve) => {
      onMessage = resolve;
      port1.postMessage(fetched);
    }) as unknown,
  1000,
);
add(
  'MessagePort hop of the same batch encoded (one 1000-record blob, copied)',
  () =>
    new Promise<void>((resolve) => {
      onMessage = resolve;
      port1.postMessage(encoded);
    }) as unknown,
  1000,
);

// ---------------------------------------------------------------- operator chains under the TopologyTestDriver

function driverTask(name: string, topology: Topology, output: string): void {
  const driver = new TopologyTestDriver(topology);
  const keys = keyNames.map((k) => Buffer.from(k));
  const values = Array.from({ length: 1000 }, (_, n) => Buffer.from(valueString(n)));
  let seq = 0;
  add(
    `driver: ${name}`,
    () => {
      for (let n = 0; n < INNER; n++) {
        driver.pipeRaw(INPUT_TOPIC, keys[keyIdOf(seq, KEYS)]!, values[seq % 1000]!, 1_700_000_000_000 + Math.floor(seq * 0.25));
        seq++;
      }
      sink += driver.takeOutput(output).length;
    },
    INNER,
  );
}
driverTask('map + filter + mapValues', mapFilter(), OUTPUT_TOPICS.mapFilter);
driverTask('count by key', countByKey(), OUTPUT_TOPICS.countByKey);
driverTask('1-min windowed count, emit on update', windowedCount(), OUTPUT_TOPICS.windowedCount);
driverTask('1-min windowed count, emit on close', windowedCountOnClose(), OUTPUT_TOPICS.windowedCountOnClose);

// ---------------------------------------------------------------- run

const m = machine();
console.log(`micro: ${m.nproc} cpus, ${m.cpuModel}, Node ${m.node}; ${args.time} ms per task`);
await bench.run();
await stateDb.close();
rmSync(stateDir, { recursive: true, force: true });
port1.close();
const rows = bench.tasks.map((task) => {
  const r = task.result;
  const perOp = recordsPerOp.get(task.name) ?? 1;
  if (r.state !== 'completed') return { name: task.name, state: r.state, opsPerSecond: 0, recordsPerSecond: 0, meanMicros: 0, samples: 0 };
  const ops = 1000 / r.period;
  return { name: task.name, state: r.state, opsPerSecond: ops, recordsPerSecond: ops * perOp, meanMicros: r.period * 1000, samples: r.latency.samplesCount };
});
console.log(`  ${'task'.padEnd(74)} ${'records/s'.padStart(9)} ${'ns/record'.padStart(10)} ${'us/op'.padStart(10)}`);
for (const row of rows) {
  const ns = row.recordsPerSecond > 0 ? 1e9 / row.recordsPerSecond : 0;
  console.log(`  ${row.name.padEnd(74)} ${si(row.recordsPerSecond).padStart(9)} ${ns.toFixed(0).padStart(10)} ${row.meanMicros.toFixed(1).padStart(10)}`);
}
if (sink === -1) console.log('');
if (!args['no-json']) {
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  const out = new URL(`./results/${timestampForFile()}-micro.json`, import.meta.url);
  writeFileSync(out, JSON.stringify({ benchmark: 'micro', source: sourceVersion(), machine: m, timePerTaskMs: parseCount(args.time), results: rows }, null, 2));
  console.log(`results: ${out.pathname}`);
}
