/**
 * Versioned tables (KIP-889/914) under the driver: a stream-table join reads the table as of the
 * stream record's time; out-of-order table updates go into history without changing the latest
 * row; updates older than the history retention are dropped.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Serdes, StreamsBuilder, TopologyTestDriver, type TopologyError } from '../../../index.ts';

const S = Serdes.string();
const HOUR = 3_600_000;

function build(options: { left?: boolean; retention?: number } = {}) {
  const b = new StreamsBuilder();
  const tiers = b.table('tiers', { key: S, value: S }, { storeName: 'tiers', versioned: { historyRetentionMs: options.retention ?? 24 * HOUR } });
  const purchases = b.stream('purchases', { key: S, value: S });
  (options.left === true
    ? purchases.leftJoin(tiers, (item, tier) => `${item}@${tier ?? '-'}`)
    : purchases.join(tiers, (item, tier) => `${item}@${tier}`)
  ).to('enriched', { value: S });
  tiers.toStream().to('tier-changes', { value: S });
  return b.build();
}

function open(options?: { left?: boolean; retention?: number }) {
  const driver = new TopologyTestDriver(build(options));
  return {
    driver,
    tiers: driver.createInputTopic('tiers', S, S),
    purchases: driver.createInputTopic('purchases', S, S),
    enriched: driver.createOutputTopic('enriched', S, S),
    changes: driver.createOutputTopic('tier-changes', S, S),
  };
}

describe('versioned tables', () => {
  test('a stream-table join reads the tier the customer had at the purchase time, not the latest', () => {
    const { tiers, purchases, enriched } = open();
    tiers.pipeInput('c1', 'silver', 1 * HOUR);
    tiers.pipeInput('c1', 'gold', 3 * HOUR);
    purchases.pipeInput('c1', 'book', 2 * HOUR); // late purchase: silver at 2h
    purchases.pipeInput('c1', 'pen', 4 * HOUR);
    purchases.pipeInput('c1', 'cup', 0); // before any tier: no match
    assert.deepEqual(enriched.readValuesToList(), ['book@silver', 'pen@gold']);
  });

  test('an out-of-order table update goes into history: later joins see it, the table does not change', () => {
    const { driver, tiers, purchases, enriched, changes } = open({ left: true });
    tiers.pipeInput('c1', 'gold', 3 * HOUR);
    tiers.pipeInput('c1', 'silver', 1 * HOUR); // out of order
    assert.deepEqual(changes.readValuesToList(), ['gold'], 'only the latest row changed');
    purchases.pipeInput('c1', 'book', 2 * HOUR);
    purchases.pipeInput('c1', 'mug', 30 * 60_000);
    assert.deepEqual(enriched.readValuesToList(), ['book@silver', 'mug@-']);
    const store = driver.getVersionedKeyValueStore<string, string>('tiers');
    assert.deepEqual(store.get('c1'), { value: 'gold', timestamp: 3 * HOUR });
    assert.deepEqual(store.get('c1', 2 * HOUR), { value: 'silver', timestamp: 1 * HOUR, validTo: 3 * HOUR });
  });

  test('updates older than the history retention are dropped and counted; lookups that old find nothing', () => {
    const { driver, tiers, purchases, enriched } = open({ left: true, retention: HOUR });
    tiers.pipeInput('c1', 'gold', 10 * HOUR);
    tiers.pipeInput('c1', 'silver', 8 * HOUR); // older than 10h - 1h
    assert.equal(driver.droppedRecords()['late-record'], 1);
    purchases.pipeInput('c1', 'book', 9.5 * HOUR);
    purchases.pipeInput('c1', 'pen', 8.5 * HOUR); // history before 9h is not promised
    assert.deepEqual(enriched.readValuesToList(), ['book@-', 'pen@-']);
  });

  test('only table() and toTable() can be versioned; a global table cannot', () => {
    const b = new StreamsBuilder();
    const counts = () => b.stream('s', { key: S, value: S }).groupByKey().count({ materialized: { storeName: 'c', versioned: { historyRetentionMs: 1 } } });
    assert.throws(counts, (e: TopologyError) => e.code === 'INVALID_TOPOLOGY' && /table\(\) and toTable\(\)/.test(e.message));
    assert.throws(
      () => b.globalTable('g', { key: S, value: S }, { storeName: 'g', versioned: { historyRetentionMs: 1 } }),
      (e: TopologyError) => e.code === 'INVALID_TOPOLOGY',
    );
    const t = b.stream('x', { key: S, value: S }).toTable({ materialized: { storeName: 'x-table', versioned: { historyRetentionMs: HOUR } } });
    assert.equal(t.queryableStoreName(), 'x-table');
  });

  test('property: every join answer is the tier valid at the purchase time in a brute-force history (inside the retention)', () => {
    const event = fc.record({ table: fc.boolean(), user: fc.constantFrom('a', 'b'), t: fc.integer({ min: 0, max: 50 }), tier: fc.option(fc.constantFrom('x', 'y', 'z'), { freq: 4 }) });
    fc.assert(
      fc.property(fc.array(event, { maxLength: 50 }), (events) => {
        const retention = 20;
        const driver = new TopologyTestDriver(build({ left: true, retention }));
        const tiers = driver.createInputTopic('tiers', S, S);
        const purchases = driver.createInputTopic('purchases', S, S);
        const enriched = driver.createOutputTopic('enriched', S, S);
        const history = new Map<string, Map<number, string | null>>();
        let tableTime = Number.NEGATIVE_INFINITY;
        const expected: string[] = [];
        for (const e of events) {
          if (e.table) {
            tiers.pipeInput(e.user, e.tier, e.t);
            tableTime = Math.max(tableTime, e.t);
            if (e.t >= tableTime - retention) history.set(e.user, (history.get(e.user) ?? new Map()).set(e.t, e.tier));
          } else {
            purchases.pipeInput(e.user, 'p', e.t);
            let tier: string | null = null;
            if (e.t >= tableTime - retention) {
              const versions = [...(history.get(e.user) ?? new Map<number, string | null>())].filter(([t]) => t <= e.t).sort((x, y) => x[0] - y[0]);
              tier = versions.at(-1)?.[1] ?? null;
            }
            expected.push(`p@${tier ?? '-'}`);
          }
        }
        assert.deepEqual(enriched.readValuesToList(), expected);
        driver.close();
      }),
      { numRuns: 200 },
    );
  });
});

describe('stream-table join with a grace period (KIP-923)', () => {
  function graceful(grace: number, retention = 24 * HOUR) {
    const b = new StreamsBuilder();
    const tiers = b.table('tiers', { key: S, value: S }, { storeName: 'tiers', versioned: { historyRetentionMs: retention } });
    b.stream('purchases', { key: S, value: S })
      .leftJoin(tiers, (item, tier) => `${item}@${tier ?? '-'}`, { gracePeriodMs: grace })
      .to('enriched', { value: S });
    const driver = new TopologyTestDriver(b.build());
    return { driver, tiers: driver.createInputTopic('tiers', S, S), purchases: driver.createInputTopic('purchases', S, S), enriched: driver.createOutputTopic('enriched', S, S) };
  }

  test('a purchase waits for the grace period, so a tier update that arrives late is still seen; results come in timestamp order', () => {
    const { tiers, purchases, enriched } = graceful(HOUR);
    purchases.pipeInput('c1', 'book', 2 * HOUR);
    tiers.pipeInput('c1', 'silver', 1 * HOUR); // arrives after the purchase, valid before it
    purchases.pipeInput('c1', 'pen', 2.5 * HOUR);
    assert.deepEqual(enriched.readValuesToList(), [], 'both still within the grace period');
    purchases.pipeInput('c1', 'cup', 1.5 * HOUR); // out of order, still within grace
    purchases.pipeInput('c1', 'mug', 3.6 * HOUR); // stream time 3.6h: releases up to 2.6h
    assert.deepEqual(enriched.readValuesToList(), ['cup@silver', 'book@silver', 'pen@silver']);
    purchases.pipeInput('c1', 'old', 2 * HOUR); // older than 3.6h - 1h: joins at once
    assert.deepEqual(enriched.readValuesToList(), ['old@silver']);
  });

  test('without a grace period the same inputs miss the late update', () => {
    const b = new StreamsBuilder();
    const tiers = b.table('tiers', { key: S, value: S }, { versioned: { historyRetentionMs: HOUR } });
    b.stream('purchases', { key: S, value: S }).leftJoin(tiers, (item, tier) => `${item}@${tier ?? '-'}`).to('enriched', { value: S });
    const driver = new TopologyTestDriver(b.build());
    driver.createInputTopic('purchases', S, S).pipeInput('c1', 'book', 2 * HOUR);
    driver.createInputTopic('tiers', S, S).pipeInput('c1', 'silver', 1 * HOUR);
    assert.deepEqual(driver.createOutputTopic('enriched', S, S).readValuesToList(), ['book@-']);
  });

  test('a grace period needs a versioned table whose history covers it', () => {
    const b = new StreamsBuilder();
    const plain = b.table('plain', { key: S, value: S });
    const versioned = b.table('v', { key: S, value: S }, { versioned: { historyRetentionMs: 10 } });
    const stream = b.stream('s', { key: S, value: S });
    assert.throws(() => stream.join(plain, (a, c) => a + c, { gracePeriodMs: 5 }), (e: TopologyError) => e.code === 'INVALID_TOPOLOGY' && /versioned table/.test(e.message));
    assert.throws(() => stream.join(versioned, (a, c) => a + c, { gracePeriodMs: 50 }), (e: TopologyError) => e.code === 'INVALID_TOPOLOGY' && /history retention/.test(e.message));
  });
});

test('property (KIP-923): a grace-period join emits what a model of the buffer and the table history emits, in the same order', () => {
  const event = fc.record({ table: fc.boolean(), user: fc.constantFrom('a', 'b'), t: fc.integer({ min: 0, max: 60 }), tier: fc.option(fc.constantFrom('x', 'y'), { freq: 4 }) });
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 15 }), fc.array(event, { maxLength: 50 }), (grace, events) => {
      const retention = 30;
      const b = new StreamsBuilder();
      const tiers = b.table('tiers', { key: S, value: S }, { versioned: { historyRetentionMs: retention } });
      b.stream('purchases', { key: S, value: S }).leftJoin(tiers, (p, tier) => `${p}@${tier ?? '-'}`, { gracePeriodMs: grace }).to('out', { value: S });
      const driver = new TopologyTestDriver(b.build());
      const tableIn = driver.createInputTopic('tiers', S, S);
      const streamIn = driver.createInputTopic('purchases', S, S);
      const out = driver.createOutputTopic('out', S, S);
      // The model: the table's history with its own observed time, and the join's buffer.
      const history = new Map<string, Map<number, string | null>>();
      let tableTime = Number.NEGATIVE_INFINITY;
      let streamTime = Number.NEGATIVE_INFINITY;
      let buffer: { t: number; seq: number; user: string; p: string }[] = [];
      let seq = 0;
      const expected: string[] = [];
      const lookup = (user: string, t: number) => {
        if (t < tableTime - retention) return null;
        const versions = [...(history.get(user) ?? new Map<number, string | null>())].filter(([v]) => v <= t).sort((x, y) => x[0] - y[0]);
        return versions.at(-1)?.[1] ?? null;
      };
      for (const [i, e] of events.entries()) {
        if (e.table) {
          tableIn.pipeInput(e.user, e.tier, e.t);
          tableTime = Math.max(tableTime, e.t);
          if (e.t >= tableTime - retention) history.set(e.user, (history.get(e.user) ?? new Map()).set(e.t, e.tier));
          continue;
        }
        const p = `p${i}`;
        streamIn.pipeInput(e.user, p, e.t);
        streamTime = Math.max(streamTime, e.t);
        const horizon = streamTime - grace;
        if (e.t < horizon) {
          expected.push(`${p}@${lookup(e.user, e.t) ?? '-'}`);
          continue;
        }
        buffer.push({ t: e.t, seq: seq++, user: e.user, p });
        buffer.sort((x, y) => x.t - y.t || x.seq - y.seq);
        const due = buffer.filter((r) => r.t <= horizon);
        buffer = buffer.filter((r) => r.t > horizon);
        for (const r of due) expected.push(`${r.p}@${lookup(r.user, r.t) ?? '-'}`);
      }
      assert.deepEqual(out.readValuesToList(), expected);
      driver.close();
    }),
    { numRuns: 300 },
  );
});
