/**
 * Property tests: session-window aggregation against a reference model that replays the records
 * in arrival order, following Kafka Streams' KStreamSessionWindowAggregate (notes §3):
 *
 *   ST = max(ST, t); close = ST - grace - gap;
 *   found = sessions of the key with end >= t - gap and start <= t + gap, by end then start;
 *   merged = [min(t, starts), max(t, ends)], aggregate = merger over found (in that order) then + record;
 *   if merged.end < close: dropped as late;
 *   else: unless merged == [t, t], each found session is removed and retracted (null, ts = its end);
 *         the merged session is stored and emitted (ts = its end).
 *
 * and the session store (retention = gap + grace, storeTime = max session end ever put): sessions
 * with end <= storeTime - retention are neither served nor stored (notes §3).
 * Aggregates collect record indexes; the merger concatenates.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Serdes, SessionWindows, StreamsBuilder, TopologyTestDriver, Materialized } from '../../../index.ts';

const NUM_RUNS = 200;

interface Input {
  readonly key: string;
  readonly ts: number;
}
interface Params {
  readonly gap: number;
  readonly grace: number;
  readonly records: readonly Input[];
}
/** [key, start, end, aggregate or null (retraction), timestamp] */
type Row = [string, number, number, number[] | null, number];

const paramsArb: fc.Arbitrary<Params> = fc
  .record({
    gap: fc.integer({ min: 1, max: 5 }),
    grace: fc.integer({ min: 0, max: 6 }),
    steps: fc.array(fc.record({ key: fc.constantFrom('a', 'b'), step: fc.integer({ min: -12, max: 6 }) }), {
      maxLength: 25,
      size: 'medium',
    }),
  })
  .map(({ gap, grace, steps }) => {
    // Timestamps move from the current stream time: mostly forward, often back (out of order, late).
    let st = 0;
    const records = steps.map(({ key, step }) => {
      const ts = Math.max(0, st + step);
      st = Math.max(st, ts);
      return { key, ts };
    });
    return { gap, grace, records };
  });

interface Session {
  key: string;
  start: number;
  end: number;
  agg: number[];
}

const byKeyEndStart = (a: Row, b: Row) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[2] - b[2] || a[1] - b[1]);

function model(p: Params): { emitted: Row[]; store: Row[]; late: number } {
  const { gap, grace } = p;
  const retention = gap + grace;
  let sessions: Session[] = [];
  let st = Number.NEGATIVE_INFINITY;
  let storeTime = Number.NEGATIVE_INFINITY;
  let late = 0;
  const emitted: Row[] = [];
  p.records.forEach((r, i) => {
    const t = r.ts;
    st = Math.max(st, t);
    const close = st - grace - gap;
    const floor = Math.max(t - gap, storeTime - retention + 1);
    const found = sessions
      .filter((s) => s.key === r.key && s.end >= floor && s.start <= t + gap)
      .sort((a, b) => a.end - b.end || a.start - b.start);
    let start = t;
    let end = t;
    let agg: number[] = [];
    for (const s of found) {
      agg = [...agg, ...s.agg];
      start = Math.min(start, s.start);
      end = Math.max(end, s.end);
    }
    if (end < close) {
      late++;
      return;
    }
    if (start !== t || end !== t) {
      for (const s of found) emitted.push([r.key, s.start, s.end, null, s.end]);
    }
    sessions = sessions.filter((s) => !found.includes(s));
    agg = [...agg, i];
    storeTime = Math.max(storeTime, end);
    if (end > storeTime - retention) sessions.push({ key: r.key, start, end, agg });
    emitted.push([r.key, start, end, agg, end]);
  });
  const store = sessions
    .filter((s) => s.end > storeTime - retention)
    .map((s): Row => [s.key, s.start, s.end, s.agg, s.end])
    .sort(byKeyEndStart);
  return { emitted, store, late };
}

function run(p: Params): { emitted: Row[]; store: Row[]; late: number } {
  const builder = new StreamsBuilder();
  builder
    .stream('in', { key: Serdes.string(), value: Serdes.number() })
    .groupByKey()
    .windowedBy(SessionWindows.ofInactivityGapAndGrace(p.gap, p.grace))
    .aggregate(
      (): number[] => [],
      (_k, v, agg) => [...agg, v],
      (_k, left, right) => [...left, ...right],
      { materialized: Materialized.as('sessions', { value: Serdes.json<number[]>() }) },
    )
    .toStream()
    .to('out', { key: Serdes.windowed(Serdes.string()), value: Serdes.json<number[]>() });
  const driver = new TopologyTestDriver(builder.build());
  const input = driver.createInputTopic('in', Serdes.string(), Serdes.number());
  const output = driver.createOutputTopic('out', Serdes.windowed(Serdes.string()), Serdes.json<number[]>());
  p.records.forEach((r, i) => input.pipeInput(r.key, i, r.ts));
  const emitted = output
    .readRecordsToList()
    .map((x): Row => [x.key!.key, x.key!.window.start, x.key!.window.end, x.value, x.timestamp]);
  const store = driver
    .getSessionStore<string, number[]>('sessions')
    .all()
    .map((s): Row => [s.key.key, s.key.window.start, s.key.window.end, s.value, s.key.window.end])
    .sort(byKeyEndStart);
  const late = driver.droppedRecords()['late-record'] ?? 0;
  driver.close();
  return { emitted, store, late };
}

describe('session windows vs reference model', () => {
  test('emitted updates and retractions, late-record count and final store match the model', () => {
    fc.assert(
      fc.property(paramsArb, (p) => {
        const expected = model(p);
        const actual = run(p);
        assert.deepEqual(actual.emitted, expected.emitted);
        assert.equal(actual.late, expected.late);
        assert.deepEqual(actual.store, expected.store);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  test('the last emitted value of every stored session is its stored value; retracted windows are not stored', () => {
    fc.assert(
      fc.property(paramsArb, (p) => {
        const actual = run(p);
        const last = new Map<string, number[] | null>();
        for (const [k, s, e, v] of actual.emitted) last.set(`${k}|${s}|${e}`, v);
        for (const [k, s, e, v] of actual.store) assert.deepEqual(last.get(`${k}|${s}|${e}`), v);
        const stored = new Set(actual.store.map(([k, s, e]) => `${k}|${s}|${e}`));
        for (const [id, v] of last) if (v === null) assert.ok(!stored.has(id), `${id} was retracted but is stored`);
        // Sessions of one key in the store never overlap within the gap: they would have merged.
        const { gap } = p;
        for (const a of actual.store) {
          for (const b of actual.store) {
            if (a === b || a[0] !== b[0]) continue;
            assert.ok(a[2] + gap < b[1] || b[2] + gap < a[1], `sessions ${a} and ${b} should have merged`);
          }
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
