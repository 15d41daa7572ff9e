/**
 * `tributary features backfill` end to end: a lake written by the Parquet lake sink with the apps'
 * event columns, labels as Parquet, CSV and JSON lines, train.parquet read back with hyparquet and
 * compared with what the apps' user-activity definition served online at each label's time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { Serdes, StreamsBuilder, TopologyTestDriver } from '../../index.ts';
import { buildFeatures, flattenFeatures, readFeatures, type FeatureState } from '../../features/index.ts';
import { ParquetLakeSink, writeParquetRows } from '../../connectors/sinks/lake/index.ts';
import type { SinkRecord } from '../../connectors/sinks/index.ts';
import { EVENT_TYPES, type Event } from '../../apps/events.ts';
import { userActivity } from '../../apps/feature-definitions.ts';
import { eventLakeColumns, eventLakeRow } from '../../apps/feature-backfill.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(root, 'bin/tributary.ts');
const MIN = 60_000;
const HOUR_MS = 60 * MIN;
const T0 = Date.UTC(2026, 11, 1, 8, 0, 0);

function tributary(args: string[]): string {
  return execFileSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

/** A deterministic pseudo-random sequence (the test's own small LCG). */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** Events of three users over about five hours, in arrival order (up to 10 minutes late). */
function clickstream(): Event[] {
  const rand = prng(19);
  const events: Event[] = [];
  for (let i = 0; i < 300; i++) {
    const type = EVENT_TYPES[Math.floor(rand() * 5)]!;
    const t = T0 + i * MIN - Math.floor(rand() * 10 * MIN);
    const user = `u${Math.floor(rand() * 3)}`;
    events.push({
      eventId: `e${i}`,
      userId: user,
      type,
      timestamp: t,
      source: 'web',
      itemId: type === 'search' ? null : `i${Math.floor(rand() * 7)}`,
      category: null,
      price: type === 'purchase' ? 10 + i : null,
      quantity: type === 'purchase' ? 1 : null,
      page: null,
      referrer: null,
      utmSource: null,
      utmCampaign: null,
      query: type === 'search' ? 'shoes' : null,
    });
  }
  return events;
}

/** Writes the events to `<dir>/events` as `npm start` does: the Parquet lake sink, by event hour. */
async function writeLake(dir: string, events: readonly Event[]): Promise<void> {
  const sink = new ParquetLakeSink<string, Event, typeof eventLakeColumns>({
    name: 'events-lake',
    dir,
    prefix: 'events',
    columns: eventLakeColumns,
    row: ({ value }) => value && eventLakeRow(value),
    time: ({ value, timestamp }) => value?.timestamp ?? timestamp,
    rowGroupRows: 50,
  });
  await sink.open({ topic: 'events', partitions: [0, 1] });
  const records = (p: number): SinkRecord<string, Event>[] =>
    events.filter((e) => Number(e.userId.slice(1)) % 2 === p).map((e, offset) => ({ topic: 'events', partition: p, offset, key: e.userId, value: e, timestamp: e.timestamp }));
  const parts = [0, 1].map((p) => ({ partition: p, fromOffset: 0, nextOffset: records(p).length, records: records(p) }));
  await sink.write({ topic: 'events', sequence: 1, parts, size: events.length });
  await sink.flush('close');
  await sink.close();
}

/** What serving read at each label time while the events arrived in time order. */
function servedOnline(events: readonly Event[], labels: readonly { user_id: string; ts: number }[]): Record<string, unknown>[] {
  const builder = new StreamsBuilder();
  buildFeatures(builder.stream('events', { key: Serdes.string(), value: Serdes.json<Event>() }), userActivity);
  const driver = new TopologyTestDriver(builder.build());
  try {
    const input = driver.createInputTopic('events', Serdes.string(), Serdes.json<Event>());
    const store = driver.getKeyValueStore<string, FeatureState>('user-activity');
    const served: Record<string, unknown>[] = [];
    const serve = (before: number) =>
      labels.forEach((l, i) => {
        if (served[i] === undefined && l.ts < before) served[i] = flattenFeatures(readFeatures(userActivity, store.get(l.user_id), l.ts));
      });
    for (const e of [...events].sort((a, b) => a.timestamp - b.timestamp)) {
      serve(e.timestamp);
      input.pipeInput(e.userId, e, e.timestamp);
    }
    serve(Infinity);
    return served;
  } finally {
    driver.close();
  }
}

async function readParquet(path: string): Promise<Record<string, unknown>[]> {
  return (await parquetReadObjects({ file: await asyncBufferFromFile(path) })) as Record<string, unknown>[];
}

test('tributary features backfill: train.parquet holds the label columns and the features served online at each label time', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-backfill-'));
  try {
    const events = clickstream();
    const lake = join(dir, 'lake');
    await writeLake(lake, events);
    // Labels at event times (equal times: the event counts), between events, before any, after all, and a stranger.
    const labels = [
      { user_id: 'u0', ts: events[150]!.timestamp, label: 1 },
      { user_id: 'u1', ts: T0 + 95 * MIN + 30_000, label: 0 },
      { user_id: 'u2', ts: T0 - HOUR_MS, label: 0 },
      { user_id: 'u0', ts: T0 + 60 * MIN, label: 1 },
      { user_id: 'u2', ts: T0 + 400 * MIN, label: 1 },
      { user_id: 'nobody', ts: T0 + 100 * MIN, label: 0 },
      { user_id: events[42]!.userId, ts: events[42]!.timestamp, label: 1 },
    ];
    await writeParquetRows(join(dir, 'labels.parquet'), { user_id: 'STRING', ts: 'TIMESTAMP', label: 'INT64' }, labels);
    const out = join(dir, 'train.parquet');
    const said = tributary(['features', 'backfill', '--lake', lake, '--labels', join(dir, 'labels.parquet'), '--out', out]);
    assert.match(said, /wrote 7 rows .* feature columns \(byType_1h, byType_1d, byType_7d, .*lastItems_lifetime.*\)/);
    const rows = await readParquet(out);
    const expected = servedOnline(events, labels);
    assert.equal(rows.length, labels.length);
    rows.forEach((row, i) => {
      assert.equal(row['user_id'], labels[i]!.user_id);
      assert.equal((row['ts'] as Date).getTime(), labels[i]!.ts);
      assert.equal(Number(row['label']), labels[i]!.label);
      // Every feature column (Parquet gives 64-bit integers as bigints and JSON columns as values).
      const got = Object.fromEntries(Object.keys(expected[i]!).map((k) => [k, typeof row[k] === 'bigint' ? Number(row[k]) : row[k]]));
      assert.deepEqual(got, expected[i], `label ${i}`);
    });
    // Not vacuous: the windows differ, and the label before any event and the stranger read empty.
    assert.notDeepEqual(rows[0]!['byType_1h'], rows[0]!['byType_7d']);
    assert.deepEqual(rows[2]!['byType_7d'], {});
    assert.deepEqual(rows[5]!['byType_7d'], {});

    // The same labels as CSV (ISO 8601 times) and JSON lines (ms): the same features.
    writeFileSync(join(dir, 'labels.csv'), `user_id,ts,label\n${labels.map((l) => `${l.user_id},${new Date(l.ts).toISOString()},${l.label}`).join('\n')}\n`);
    writeFileSync(join(dir, 'labels.jsonl'), labels.map((l) => JSON.stringify(l)).join('\n'));
    for (const file of ['labels.csv', 'labels.jsonl']) {
      const other = join(dir, `train-${file}.parquet`);
      tributary(['features', 'backfill', '--lake', lake, '--labels', join(dir, file), '--out', other]);
      const again = await readParquet(other);
      assert.deepEqual(again.map((r) => r['byType_1d']), rows.map((r) => r['byType_1d']), file);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});


test('tributary features backfill: mistakes exit 2 with one line naming the fix, no stack trace', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-backfill-'));
  try {
    const lake = join(dir, 'lake');
    await writeLake(lake, clickstream().slice(0, 20));
    writeFileSync(join(dir, 'labels.jsonl'), '{"customer":"u0","ts":1}\n');
    writeFileSync(join(dir, 'bad-time.csv'), 'user_id,ts\nu0,yesterday\n');
    const fails = (args: string[], message: RegExp) =>
      assert.throws(
        () => tributary(['features', 'backfill', ...args]),
        (error: { status: number; stderr: string }) => error.status === 2 && message.test(error.stderr) && !/\n\s+at /.test(error.stderr),
        message.source,
      );
    const out = ['--out', join(dir, 'out.parquet')];
    fails(['--lake', lake, ...out], /--labels is required/);
    fails(['--lake', lake, '--labels', join(dir, 'missing.csv'), ...out], /missing\.csv is not a file/);
    fails(['--lake', join(dir, 'nowhere'), '--labels', join(dir, 'labels.jsonl'), ...out], /no lake at .*nowhere/);
    fails(['--lake', lake, '--labels', join(dir, 'labels.jsonl'), ...out], /none of the usual entity columns .*--entity-column/);
    fails(['--lake', lake, '--labels', join(dir, 'bad-time.csv'), ...out], /label 1, ts: "yesterday" is not a time/);
    fails(['--lake', lake, '--labels', join(dir, 'labels.jsonl'), '--entity-column', 'customer', '--export', 'nope', ...out], /has no export nope/);
    // With the right column named, it works.
    assert.match(tributary(['features', 'backfill', '--lake', lake, '--labels', join(dir, 'labels.jsonl'), '--entity-column', 'customer', ...out]), /wrote 1 rows/);
    // A lake not filed by the event time (a row of 10:xx under hour=09): refused with a code, exit 1.
    const misfiled = join(dir, 'misfiled');
    mkdirSync(join(misfiled, 'events', 'date=2026-12-01', 'hour=09'), { recursive: true });
    const row = eventLakeRow({ ...clickstream()[0]!, timestamp: Date.UTC(2026, 11, 1, 10, 5) });
    await writeParquetRows(join(misfiled, 'events', 'date=2026-12-01', 'hour=09', 'part-000000000001.parquet'), eventLakeColumns, [row]);
    assert.throws(
      () => tributary(['features', 'backfill', '--lake', misfiled, '--labels', join(dir, 'labels.jsonl'), '--entity-column', 'customer', ...out]),
      (error: { status: number; stderr: string }) => error.status === 1 && /outside its hour.*\(CORRUPT_DATA\)/.test(error.stderr) && !/\n\s+at /.test(error.stderr),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
