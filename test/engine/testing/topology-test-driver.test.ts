import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  DeserializationError,
  Serdes,
  Stores,
  StreamsError,
  Topology,
  TopologyTestDriver,
  type KeyValueStore,
  type Processor,
  type ProcessorContext,
  type PunctuationType,
  type StreamRecord,
  type TimestampExtractor,
} from '../../../index.ts';

const str = Serdes.string();
const num = Serdes.number();

/** Upper-cases values. */
class Upper implements Processor<string, string, string, string> {
  #ctx!: ProcessorContext<string, string>;
  init(ctx: ProcessorContext<string, string>): void {
    this.#ctx = ctx;
  }
  process(r: StreamRecord<string, string>): void {
    this.#ctx.forward({ ...r, value: r.value.toUpperCase() });
  }
}

/** in → upper → out */
function upperTopology(): Topology {
  return new Topology()
    .addSource('src', { topics: 'in', key: str, value: str })
    .addProcessor('upper', () => new Upper(), 'src')
    .addSink('snk', { topic: 'out', key: str, value: str }, 'upper');
}

/**
 * A processor that schedules a punctuation in init and, when it fires, forwards
 * ("tick", "<timestamp>") at that timestamp. Records themselves are not forwarded.
 */
function ticker(intervalMs: number, type: PunctuationType) {
  return (): Processor<string, string, string, string> => {
    let ctx: ProcessorContext<string, string>;
    return {
      init(c) {
        ctx = c;
        ctx.schedule(intervalMs, type, (ts) => ctx.forward({ key: 'tick', value: String(ts), timestamp: ts }));
      },
      process() {},
    };
  };
}

function tickerTopology(intervalMs: number, type: PunctuationType): Topology {
  return new Topology()
    .addSource('src', { topics: 'in', key: str, value: str })
    .addProcessor('ticker', ticker(intervalMs, type), 'src')
    .addSink('snk', { topic: 'ticks', key: str, value: str }, 'ticker');
}

describe('TopologyTestDriver with a Processor API topology', () => {
  test('pipeInput/readRecord: records come out in order with their timestamps', () => {
    const driver = new TopologyTestDriver(upperTopology());
    const input = driver.createInputTopic('in', str, str);
    const output = driver.createOutputTopic('out', str, str);
    input.pipeInput('k1', 'a', 100);
    input.pipeInput('k2', 'b', 50); // out-of-order timestamps are kept as they are
    input.pipeInput('k1', 'c', 200);
    assert.equal(output.getQueueSize(), 3);
    assert.deepEqual(output.readRecord(), { key: 'k1', value: 'A', timestamp: 100 });
    assert.deepEqual(output.readRecord(), { key: 'k2', value: 'B', timestamp: 50 });
    assert.deepEqual(output.readRecord(), { key: 'k1', value: 'C', timestamp: 200 });
    assert.ok(output.isEmpty());
    driver.close();
  });

  test('readKeyValuesToList / readValuesToList / readKeyValuesToMap', () => {
    const driver = new TopologyTestDriver(upperTopology());
    const input = driver.createInputTopic('in', str, str);
    const output = driver.createOutputTopic('out', str, str);
    input.pipeKeyValueList([
      { key: 'x', value: 'one', timestamp: 1 },
      { key: 'y', value: 'two', timestamp: 2 },
      { key: 'x', value: 'three', timestamp: 3 },
    ]);
    assert.deepEqual(output.readKeyValuesToMap(), new Map([['x', 'THREE'], ['y', 'TWO']]));
    input.pipeInput('z', 'four', 4);
    assert.deepEqual(output.readValuesToList(), ['FOUR']);
    driver.close();
  });

  test('headers pass through to the output record', () => {
    const driver = new TopologyTestDriver(upperTopology());
    const input = driver.createInputTopic('in', str, str);
    const output = driver.createOutputTopic('out', str, str);
    input.pipeInput('k', 'v', 7, { trace: 'abc', source: 'test' });
    input.pipeInput('k', 'w', 8);
    assert.deepEqual(output.readRecord(), { key: 'k', value: 'V', timestamp: 7, headers: { trace: 'abc', source: 'test' } });
    // A record without headers has none.
    assert.equal(output.readRecord().headers, undefined);
    driver.close();
  });

  test('a null key and a null value travel as nulls', () => {
    const t = new Topology()
      .addSource('src', { topics: 'in', key: str, value: str })
      .addSink('snk', { topic: 'out', key: str, value: str }, 'src');
    const driver = new TopologyTestDriver(t);
    driver.createInputTopic('in', str, str).pipeInput(null, 'v', 1);
    driver.createInputTopic('in', str, str).pipeInput('k', null, 2);
    assert.deepEqual(driver.createOutputTopic('out', str, str).readRecordsToList(), [
      { key: null, value: 'v', timestamp: 1 },
      { key: 'k', value: null, timestamp: 2 },
    ]);
    driver.close();
  });

  test('a topic written and read back by the same topology is processed within the same pipeInput', () => {
    // in → (split into two records) → X ; X → upper → out
    const t = new Topology()
      .addSource('in-src', { topics: 'in', key: str, value: str })
      .addProcessor(
        'split',
        (): Processor<string, string, string, string> => {
          let ctx: ProcessorContext<string, string>;
          return {
            init: (c) => void (ctx = c),
            process(r) {
              for (const part of r.value.split(' ')) ctx.forward({ ...r, value: part });
            },
          };
        },
        'in-src',
      )
      .addSink('to-x', { topic: 'X', key: str, value: str }, 'split')
      .addSource('x-src', { topics: 'X', key: str, value: str })
      .addProcessor('upper', () => new Upper(), 'x-src')
      .addSink('to-out', { topic: 'out', key: str, value: str }, 'upper');
    const driver = new TopologyTestDriver(t);
    const input = driver.createInputTopic('in', str, str);
    const out = driver.createOutputTopic('out', str, str);
    input.pipeInput('k', 'hello big world', 10);
    // Both hops are done by the time pipeInput returns, in the order written to X.
    assert.deepEqual(out.readRecordsToList(), [
      { key: 'k', value: 'HELLO', timestamp: 10 },
      { key: 'k', value: 'BIG', timestamp: 10 },
      { key: 'k', value: 'WORLD', timestamp: 10 },
    ]);
    // The intermediate topic is captured too.
    assert.deepEqual(driver.createOutputTopic('X', str, str).readValuesToList(), ['hello', 'big', 'world']);
    driver.close();
  });

  test('readKeyValue on an empty output topic throws ILLEGAL_STATE', () => {
    const driver = new TopologyTestDriver(upperTopology());
    const output = driver.createOutputTopic('out', str, str);
    assert.throws(() => output.readKeyValue(), { code: 'ILLEGAL_STATE' });
    driver.createInputTopic('in', str, str).pipeInput('k', 'v', 0);
    assert.deepEqual(output.readKeyValue(), { key: 'k', value: 'V' });
    assert.throws(() => output.readKeyValue(), { code: 'ILLEGAL_STATE' });
    assert.throws(() => output.readRecord(), { code: 'ILLEGAL_STATE' });
    driver.close();
  });

  test('an input topic the topology does not read throws UNKNOWN_TOPIC', () => {
    const driver = new TopologyTestDriver(upperTopology());
    assert.throws(() => driver.createInputTopic('out', str, str), { code: 'UNKNOWN_TOPIC' });
    assert.throws(() => driver.createInputTopic('nope', str, str), { code: 'UNKNOWN_TOPIC' });
    assert.throws(() => driver.pipeRaw('nope', null, null, 0), { code: 'UNKNOWN_TOPIC' });
    driver.close();
  });

  test('getKeyValueStore of an unknown store throws UNKNOWN_STORE; of another kind, INVALID_ARGUMENT', () => {
    const t = upperTopology().addStateStore(Stores.windowStoreBuilder(Stores.inMemoryWindowStore('win', 100, 10), str, str), 'upper');
    const driver = new TopologyTestDriver(t);
    assert.throws(() => driver.getKeyValueStore('nope'), { code: 'UNKNOWN_STORE' });
    assert.throws(() => driver.getStateStore('nope'), { code: 'UNKNOWN_STORE' });
    assert.throws(() => driver.getKeyValueStore('win'), { code: 'INVALID_ARGUMENT' });
    assert.equal(driver.getWindowStore('win').kind, 'window');
    driver.close();
  });

  test('a processor store is readable through the driver', () => {
    const t = new Topology()
      .addSource('src', { topics: 'in', key: str, value: str })
      .addProcessor(
        'count',
        (): Processor<string, string> => {
          let store: KeyValueStore<string, number>;
          return {
            init: (ctx) => void (store = ctx.getStateStore<KeyValueStore<string, number>>('counts')),
            process: (r) => store.put(r.key, (store.get(r.key) ?? 0) + 1),
          };
        },
        'src',
      )
      .addStateStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore('counts'), str, num), 'count');
    const driver = new TopologyTestDriver(t);
    const input = driver.createInputTopic('in', str, str);
    input.pipeInput('a', 'x', 5);
    input.pipeInput('b', 'x', 6);
    input.pipeInput('a', 'x', 7);
    const store = driver.getKeyValueStore<string, number>('counts');
    assert.deepEqual(store.all(), [
      { key: 'a', value: 2 },
      { key: 'b', value: 1 },
    ]);
    // The row timestamp defaults to the timestamp of the record being processed.
    assert.deepEqual(store.getWithTimestamp('a'), { value: 2, timestamp: 7 });
    driver.close();
  });

  test('stream-time punctuation fires as record timestamps advance, once per jump', () => {
    const driver = new TopologyTestDriver(tickerTopology(10, 'stream-time'));
    const input = driver.createInputTopic('in', str, str);
    const ticks = driver.createOutputTopic('ticks', str, str);
    const fired = (ts: number) => {
      input.pipeInput('k', 'v', ts);
      return ticks.readValuesToList();
    };
    // First record at 0: fires at 0, next due at 10.
    assert.deepEqual(fired(0), ['0']);
    assert.deepEqual(fired(5), []);
    // Reaching 10 fires; next due at 20.
    assert.deepEqual(fired(10), ['10']);
    // Jump to 35: the missed punctuation at 20 and the one at 30 collapse into one, at 35;
    // next due at 40 (the first interval boundary after 35), not 45.
    assert.deepEqual(fired(35), ['35']);
    assert.deepEqual(fired(39), []);
    assert.deepEqual(fired(40), ['40']);
    // An out-of-order record does not move stream time back, so nothing fires.
    assert.deepEqual(fired(3), []);
    driver.close();
  });

  test('stream-time punctuation is aligned to 0, as in Kafka Streams (StreamTask.schedule)', () => {
    // Kafka Streams schedules a stream-time punctuation at time 0 ("align punctuation to 0L,
    // punctuate as soon as we have data"), so with interval 10 the due times are 0, 10, 20, ...
    // whatever the first record's timestamp: a first record at 3 fires (0 <= 3) and the next is due at 10.
    const driver = new TopologyTestDriver(tickerTopology(10, 'stream-time'));
    const input = driver.createInputTopic('in', str, str);
    const ticks = driver.createOutputTopic('ticks', str, str);
    input.pipeInput('k', 'v', 3);
    assert.deepEqual(ticks.readValuesToList(), ['3']);
    input.pipeInput('k', 'v', 12); // 12 >= 10: fires; next due at 20
    assert.deepEqual(ticks.readValuesToList(), ['12']);
    input.pipeInput('k', 'v', 15);
    assert.deepEqual(ticks.readValuesToList(), []);
    driver.close();
  });

  test('stream-time punctuation does not fire before the first record', () => {
    const driver = new TopologyTestDriver(tickerTopology(10, 'stream-time'));
    driver.advanceWallClockTime(1000);
    assert.ok(driver.createOutputTopic('ticks', str, str).isEmpty());
    driver.close();
  });

  test('wall-clock punctuation fires via advanceWallClockTime, skipping missed intervals', () => {
    const driver = new TopologyTestDriver(tickerTopology(100, 'wall-clock-time'), { initialWallClockTimeMs: 1000 });
    const ticks = driver.createOutputTopic('ticks', str, str);
    // Scheduled at init with the clock at 1000: first due at 1100.
    driver.advanceWallClockTime(99);
    assert.deepEqual(ticks.readValuesToList(), []);
    driver.advanceWallClockTime(1);
    assert.deepEqual(ticks.readValuesToList(), ['1100']);
    // Jump 250 to 1350: fires once at 1350; next due at 1400 (1200 and 1300 were missed).
    driver.advanceWallClockTime(250);
    assert.deepEqual(ticks.readValuesToList(), ['1350']);
    driver.advanceWallClockTime(49);
    assert.deepEqual(ticks.readValuesToList(), []);
    driver.advanceWallClockTime(1);
    assert.deepEqual(ticks.readValuesToList(), ['1400']);
    // Records do not drive wall-clock punctuations.
    driver.createInputTopic('in', str, str).pipeInput('k', 'v', 999_999);
    assert.deepEqual(ticks.readValuesToList(), []);
    assert.equal(driver.wallClockTimeMs, 1400);
    driver.close();
  });

  test('a cancelled punctuation stops firing', () => {
    const t = new Topology()
      .addSource('src', { topics: 'in', key: str, value: str })
      .addProcessor(
        'p',
        (): Processor<string, string, string, string> => {
          let ctx: ProcessorContext<string, string>;
          return {
            init(c) {
              ctx = c;
              const handle = ctx.schedule(10, 'wall-clock-time', (ts) => {
                ctx.forward({ key: 'tick', value: String(ts), timestamp: ts });
                handle.cancel();
              });
            },
            process() {},
          };
        },
        'src',
      )
      .addSink('snk', { topic: 'ticks', key: str, value: str }, 'p');
    const driver = new TopologyTestDriver(t);
    driver.advanceWallClockTime(10);
    driver.advanceWallClockTime(10);
    driver.advanceWallClockTime(10);
    assert.deepEqual(driver.createOutputTopic('ticks', str, str).readValuesToList(), ['10']);
    driver.close();
  });

  test('a value that cannot be deserialized throws a DeserializationError carrying topic, partition and offset', () => {
    const t = new Topology()
      .addSource('src', { topics: 'nums', key: str, value: num })
      .addSink('snk', { topic: 'out', key: str, value: num }, 'src');
    const driver = new TopologyTestDriver(t);
    const good = driver.createInputTopic('nums', str, num);
    const bad = driver.createInputTopic('nums', str, str); // "abc" is 3 bytes, not an 8-byte double
    good.pipeInput('k', 1, 0); // offset 0
    good.pipeInput('k', 2, 0); // offset 1
    assert.throws(
      () => bad.pipeInput('k', 'abc', 0), // offset 2
      (e: unknown) => {
        assert.ok(e instanceof DeserializationError);
        assert.ok(e instanceof StreamsError);
        assert.equal(e.code, 'DESERIALIZATION_FAILED');
        assert.equal(e.topic, 'nums');
        assert.equal(e.partition, 0);
        assert.equal(e.offset, 2);
        assert.equal(e.part, 'value');
        assert.ok(e.cause instanceof RangeError);
        return true;
      },
    );
    driver.close();
  });

  test('a key that cannot be deserialized is reported as the key', () => {
    const t = new Topology()
      .addSource('src', { topics: 'in', key: num, value: str })
      .addSink('snk', { topic: 'out', key: num, value: str }, 'src');
    const driver = new TopologyTestDriver(t);
    assert.throws(() => driver.createInputTopic('in', str, str).pipeInput('bad', 'v', 0), {
      code: 'DESERIALIZATION_FAILED',
      part: 'key',
      offset: 0,
    });
    driver.close();
  });

  test("with onDeserializationError returning 'continue' the record is skipped, counted, and later records process", () => {
    const t = new Topology()
      .addSource('src', { topics: 'nums', key: str, value: num })
      .addSink('snk', { topic: 'out', key: str, value: num }, 'src');
    const seen: { code: string; offset: number; rawOffset: number }[] = [];
    const driver = new TopologyTestDriver(t, {
      onDeserializationError: (error, record) => {
        seen.push({ code: error.code, offset: error.offset, rawOffset: record.offset });
        return 'continue';
      },
    });
    const good = driver.createInputTopic('nums', str, num);
    const bad = driver.createInputTopic('nums', str, str);
    good.pipeInput('a', 1, 10); // offset 0
    bad.pipeInput('b', 'xyz', 11); // offset 1: skipped
    good.pipeInput('c', 3, 12); // offset 2
    assert.deepEqual(driver.createOutputTopic('out', str, num).readRecordsToList(), [
      { key: 'a', value: 1, timestamp: 10 },
      { key: 'c', value: 3, timestamp: 12 },
    ]);
    assert.deepEqual(seen, [{ code: 'DESERIALIZATION_FAILED', offset: 1, rawOffset: 1 }]);
    assert.equal(driver.droppedRecords()['deserialization-error'], 1);
    assert.equal(driver.droppedRecords()['negative-timestamp'], 0);
    driver.close();
  });

  test('a processor that throws gives PROCESSING_FAILED naming the processor', () => {
    const boom = new Error('kaboom');
    const t = new Topology()
      .addSource('src', { topics: 'in', key: str, value: str })
      .addProcessor('fine', () => new Upper(), 'src')
      .addProcessor(
        'exploding-proc',
        (): Processor<string, string> => ({
          process(r) {
            if (r.value === 'BAD') throw boom;
          },
        }),
        'fine',
      );
    const driver = new TopologyTestDriver(t);
    const input = driver.createInputTopic('in', str, str);
    input.pipeInput('k', 'ok', 0);
    assert.throws(
      () => input.pipeInput('k', 'bad', 0),
      (e: unknown) => {
        assert.ok(e instanceof StreamsError);
        assert.equal(e.code, 'PROCESSING_FAILED');
        // The error names the processor that threw, not its parent.
        assert.match(e.message, /"exploding-proc"/);
        assert.doesNotMatch(e.message, /"fine"/);
        assert.equal(e.cause, boom);
        return true;
      },
    );
    driver.close();
  });

  test('a punctuator that throws gives PROCESSING_FAILED naming the processor', () => {
    // Kafka Streams wraps it too: StreamTask.punctuate throws a StreamsException
    // "Exception caught while punctuating processor '<name>'".
    const boom = new Error('tick failed');
    const t = new Topology()
      .addSource('src', { topics: 'in', key: str, value: str })
      .addProcessor(
        'ticking-proc',
        (): Processor<string, string> => ({
          init(ctx) {
            ctx.schedule(10, 'wall-clock-time', () => {
              throw boom;
            });
          },
          process() {},
        }),
        'src',
      );
    const driver = new TopologyTestDriver(t);
    assert.throws(
      () => driver.advanceWallClockTime(10),
      (e: unknown) => {
        assert.ok(e instanceof StreamsError, `expected a StreamsError, got ${String(e)}`);
        assert.equal(e.code, 'PROCESSING_FAILED');
        assert.match(e.message, /"ticking-proc"/);
        assert.equal(e.cause, boom);
        return true;
      },
    );
    driver.close();
  });

  test("with onProcessingError returning 'continue' the record is counted as a processing error", () => {
    const t = new Topology()
      .addSource('src', { topics: 'in', key: str, value: str })
      .addProcessor(
        'picky',
        (): Processor<string, string, string, string> => {
          let ctx: ProcessorContext<string, string>;
          return {
            init: (c) => void (ctx = c),
            process(r) {
              if (r.value === 'bad') throw new Error('no');
              ctx.forward(r);
            },
          };
        },
        'src',
      )
      .addSink('snk', { topic: 'out', key: str, value: str }, 'picky');
    const driver = new TopologyTestDriver(t, { onProcessingError: () => 'continue' });
    const input = driver.createInputTopic('in', str, str);
    input.pipeInput('a', 'good', 1);
    input.pipeInput('b', 'bad', 2);
    input.pipeInput('c', 'good', 3);
    assert.deepEqual(driver.createOutputTopic('out', str, str).readKeyValuesToList(), [
      { key: 'a', value: 'good' },
      { key: 'c', value: 'good' },
    ]);
    assert.equal(driver.droppedRecords()['processing-error'], 1);
    driver.close();
  });

  test('a timestampExtractor returning -1 drops the record, counted as negative-timestamp', () => {
    // The event time is the numeric prefix of the value, or -1 when there is none.
    const extractor: TimestampExtractor<string, string> = (record) => {
      const ts = Number.parseInt(record.value, 10);
      return Number.isNaN(ts) ? -1 : ts;
    };
    const t = new Topology()
      .addSource('src', { topics: 'in', key: str, value: str, timestampExtractor: extractor })
      .addSink('snk', { topic: 'out', key: str, value: str }, 'src');
    const driver = new TopologyTestDriver(t);
    const input = driver.createInputTopic('in', str, str);
    input.pipeInput('a', '500', 1);
    input.pipeInput('b', 'no-time', 2);
    input.pipeInput('c', '700', 3);
    // Surviving records carry the extracted timestamp, not the produced one.
    assert.deepEqual(driver.createOutputTopic('out', str, str).readRecordsToList(), [
      { key: 'a', value: '500', timestamp: 500 },
      { key: 'c', value: '700', timestamp: 700 },
    ]);
    assert.equal(driver.droppedRecords()['negative-timestamp'], 1);
    driver.close();
  });

  test('the timestampExtractor sees the record and the partition time', () => {
    const calls: [string, number, number][] = [];
    const extractor: TimestampExtractor<string, string> = (record, partitionTime) => {
      calls.push([record.value, record.offset, partitionTime]);
      return record.timestamp;
    };
    const t = new Topology()
      .addSource('src', { topics: 'in', key: str, value: str, timestampExtractor: extractor })
      .addSink('snk', { topic: 'out', key: str, value: str }, 'src');
    const driver = new TopologyTestDriver(t);
    const input = driver.createInputTopic('in', str, str);
    input.pipeInput('k', 'a', 100);
    input.pipeInput('k', 'b', 50);
    input.pipeInput('k', 'c', 70);
    // Partition time is the highest timestamp extracted so far on the partition (none before the first).
    assert.deepEqual(calls, [
      ['a', 0, Number.NEGATIVE_INFINITY],
      ['b', 1, 100],
      ['c', 2, 100],
    ]);
    driver.close();
  });

  test('a global store is filled from its topic and visible to a stream processor', () => {
    const t = new Topology()
      .addGlobalStore({
        store: Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore('users'), str, str).withLoggingDisabled(),
        sourceName: 'users-src',
        topic: 'users',
        key: str,
        value: str,
        processorName: 'users-loader',
        processor: (): Processor<string, string> => {
          let store: KeyValueStore<string, string>;
          return {
            init: (ctx) => void (store = ctx.getStateStore<KeyValueStore<string, string>>('users')),
            process: (r) => store.put(r.key, r.value),
          };
        },
      })
      .addSource('orders-src', { topics: 'orders', key: str, value: str })
      .addProcessor(
        'enrich',
        (): Processor<string, string, string, string> => {
          let ctx: ProcessorContext<string, string>;
          let users: KeyValueStore<string, string>;
          return {
            init(c) {
              ctx = c;
              users = ctx.getStateStore<KeyValueStore<string, string>>('users');
            },
            process(r) {
              ctx.forward({ ...r, value: `${r.value} by ${users.get(r.key) ?? 'unknown'}` });
            },
          };
        },
        'orders-src',
      )
      .addSink('snk', { topic: 'enriched', key: str, value: str }, 'enrich');
    const driver = new TopologyTestDriver(t);
    const users = driver.createInputTopic('users', str, str);
    const orders = driver.createInputTopic('orders', str, str);
    const out = driver.createOutputTopic('enriched', str, str);
    orders.pipeInput('u1', 'order-0', 1);
    users.pipeInput('u1', 'Ann', 2);
    orders.pipeInput('u1', 'order-1', 3);
    users.pipeInput('u1', 'Annie', 4);
    orders.pipeInput('u1', 'order-2', 5);
    assert.deepEqual(out.readValuesToList(), ['order-0 by unknown', 'order-1 by Ann', 'order-2 by Annie']);
    assert.equal(driver.getKeyValueStore<string, string>('users').get('u1'), 'Annie');
    driver.close();
  });

  test('a closed driver rejects input with ILLEGAL_STATE', () => {
    const driver = new TopologyTestDriver(upperTopology());
    const input = driver.createInputTopic('in', str, str);
    driver.close();
    assert.throws(() => input.pipeInput('k', 'v', 0), { code: 'ILLEGAL_STATE' });
    assert.throws(() => driver.advanceWallClockTime(1), { code: 'ILLEGAL_STATE' });
  });
});
