/**
 * Versioned key-value stores (KIP-889) against a brute-force model of each key's history, and
 * restored from their changelog (the rows underneath) to the same answers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { NOT_PUT, Serdes, Stores, VALID_TO_UNDEFINED, type KeyValueStore, type VersionedKeyValueStore } from '../../../index.ts';
import { buildStoreStack } from '../../../engine/state/store-stack.ts';
import { versionedView } from '../../../engine/state/versioned.ts';

function open(retention: number, changelog?: (key: Uint8Array, value: Uint8Array | null, ts: number) => void) {
  const builder = Stores.versionedKeyValueStoreBuilder(Stores.persistentVersionedKeyValueStore('v', retention), Serdes.string(), Serdes.number());
  const stack = buildStoreStack(builder, () => 0, changelog === undefined ? {} : { changelog });
  return { store: versionedView(stack.store, builder) as VersionedKeyValueStore<string, number>, stack, rows: stack.store as KeyValueStore<Uint8Array, Uint8Array> };
}

test('put answers validTo, VALID_TO_UNDEFINED for the latest, NOT_PUT past the history retention; get as of a time', () => {
  const { store: s } = open(100);
  assert.equal(s.put('k', 1, 10), VALID_TO_UNDEFINED);
  assert.equal(s.put('k', 3, 50), VALID_TO_UNDEFINED);
  assert.equal(s.put('k', 2, 30), 50);
  assert.deepEqual(s.get('k', 40), { value: 2, timestamp: 30, validTo: 50 });
  assert.deepEqual(s.get('k'), { value: 3, timestamp: 50 });
  assert.equal(s.get('k', 5), undefined);
  assert.equal(s.put('k', 9, 200), VALID_TO_UNDEFINED);
  assert.equal(s.put('k', 8, 99), NOT_PUT, 'older than stream time 200 - retention 100');
  assert.equal(s.get('k', 99), undefined, 'history before the retention is not promised');
  assert.deepEqual(s.get('k', 100), { value: 3, timestamp: 50, validTo: 200 }, 'the version valid at the horizon is kept');
  assert.deepEqual(s.delete('k', 150), { value: 3, timestamp: 50, validTo: 200 });
  assert.equal(s.get('k', 160), undefined);
  assert.deepEqual(s.get('k'), { value: 9, timestamp: 200 });
  assert.equal(s.put('k', 7, 200), VALID_TO_UNDEFINED, 'same timestamp replaces');
  assert.deepEqual(s.get('k'), { value: 7, timestamp: 200 });
  assert.equal(s.get('other'), undefined);
});

test('a key keeps only the versions that can still be asked for', () => {
  const { store: s, rows } = open(10);
  for (let t = 0; t <= 1000; t += 5) s.put('k', t, t);
  // Stream time 1000, horizon 990: versions 990 (valid at the horizon), 995 and 1000.
  const row = rows.all().find((e) => e.key[0] === 1)!;
  assert.equal(new DataView(row.value.buffer, row.value.byteOffset).getUint32(0), 3);
  assert.deepEqual(s.get('k', 992), { value: 990, timestamp: 990, validTo: 995 });
});

const op = fc.record({
  key: fc.constantFrom('a', 'b'),
  ts: fc.integer({ min: 0, max: 300 }),
  value: fc.option(fc.integer({ min: -5, max: 5 }), { nil: null }),
  asOf: fc.integer({ min: 0, max: 400 }),
});

test('property: every answer agrees with a brute-force history model within the retention', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 100 }), fc.array(op, { maxLength: 60 }), (retention, ops) => {
      const { store: s } = open(retention);
      const model = new Map<string, Map<number, number | null>>();
      let streamTime = Number.NEGATIVE_INFINITY;
      for (const { key, ts, value, asOf } of ops) {
        streamTime = Math.max(streamTime, ts);
        const accepted = ts >= streamTime - retention;
        assert.equal(s.put(key, value, ts) === NOT_PUT, !accepted);
        if (accepted) model.set(key, (model.get(key) ?? new Map()).set(ts, value));
        for (const k of ['a', 'b']) {
          const hist = [...(model.get(k) ?? new Map<number, number | null>())].sort((x, y) => x[0] - y[0]);
          const latest = hist.at(-1);
          assert.equal(s.get(k)?.value, latest === undefined || latest[1] === null ? undefined : latest[1]);
          const got = s.get(k, asOf);
          if (asOf < streamTime - retention) {
            assert.equal(got, undefined);
            continue;
          }
          const i = hist.findLastIndex(([t]) => t <= asOf);
          assert.equal(got?.value, i < 0 || hist[i]![1] === null ? undefined : hist[i]![1]);
          if (got !== undefined) {
            assert.equal(got.timestamp, hist[i]![0]);
            assert.equal(got.validTo, hist[i + 1]?.[0]);
          }
        }
      }
    }),
    { numRuns: 300 },
  );
});

test('property: a store restored from its changelog gives the same answers (compaction keeps the last row per key)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 100 }), fc.array(op, { maxLength: 60 }), (retention, ops) => {
      const log = new Map<string, { key: Uint8Array; value: Uint8Array | null; ts: number }>();
      const { store: live } = open(retention, (key, value, ts) => log.set(Buffer.from(key).toString('latin1'), { key, value, ts }));
      for (const { key, ts, value } of ops) live.put(key, value, ts);
      const { store: restored, stack } = open(retention);
      for (const { key, value, ts } of log.values()) stack.restore(key, value, ts);
      for (let asOf = 0; asOf <= 320; asOf += 7) for (const k of ['a', 'b']) assert.deepEqual(restored.get(k, asOf), live.get(k, asOf));
      // The restored store also knows the stream time: a write the live store refuses, it refuses.
      assert.equal(restored.put('a', 1, -1000) === NOT_PUT, live.put('a', 1, -1000) === NOT_PUT);
    }),
    { numRuns: 200 },
  );
});
