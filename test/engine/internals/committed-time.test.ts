/**
 * What a task commits with its offsets (StreamTask.checkpoint) and how a new task resumes from it:
 * partition and stream time, committed times, and punctuation schedules of both kinds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Serdes, StreamsError, Topology, type CommittedTime, type ProcessorContext } from '../../../index.ts';
import { StreamTask, type TaskOptions } from '../../../engine/internals/stream-task.ts';
import { decodeCheckpoint, encodeCheckpoint } from '../../../engine/internals/committed-time.ts';
import { createInMemoryStore } from '../../../engine/state/in-memory.ts';

const str = Serdes.string();

interface Probe {
  ctx: ProcessorContext<string, string>;
  mark: CommittedTime;
  fired: { type: string; at: number }[];
}

function build(probes: Probe[]): Topology {
  return new Topology()
    .addSource('src', { topics: ['in'], key: str, value: str })
    .addProcessor(
      'probe',
      () => {
        const probe = { fired: [] } as unknown as Probe;
        probes.push(probe);
        return {
          init(ctx: ProcessorContext<string, string>) {
            probe.ctx = ctx;
            probe.mark = ctx.committedTime('probe:mark');
            ctx.schedule(10, 'stream-time', (at) => probe.fired.push({ type: 'stream', at }));
            ctx.schedule(1000, 'wall-clock-time', (at) => probe.fired.push({ type: 'wall', at }));
          },
          process(record: { timestamp: number }) {
            probe.mark.advance(record.timestamp * 2);
          },
        };
      },
      'src',
    );
}

function task(topology: Topology, now: { ms: number }, restoredFrom?: TaskOptions['restoredFrom']): StreamTask {
  const [sub] = topology.subtopologies();
  const t = new StreamTask(topology, sub!, 0, {
    applicationId: 'app',
    collector: { send() {}, partitionsFor: () => 1 },
    createStore: createInMemoryStore,
    globalStores: new Map(),
    clock: () => now.ms,
    ...(restoredFrom !== undefined && { restoredFrom }),
  });
  t.initialize();
  return t;
}

const record = (timestamp: number, offset: number) => ({ topic: 'in', partition: 0, offset, key: str.serialize('k', 'in'), value: str.serialize('v', 'in'), timestamp });

test('a new task resumes stream time, committed times and both punctuation schedules from the checkpoint', () => {
  const probes: Probe[] = [];
  const topology = build(probes);
  const now = { ms: 0 };
  const first = task(topology, now);
  first.process(record(5, 0)); // stream-time punctuation fires at 5 (aligned to 0), next at 10
  first.process(record(12, 1)); // fires at 12, next at 20
  now.ms = 1000;
  first.punctuateWallClock(now.ms); // fires, next at 2000
  assert.deepEqual(probes.at(-1)!.fired, [{ type: 'stream', at: 5 }, { type: 'stream', at: 12 }, { type: 'wall', at: 1000 }]);
  const checkpoint = decodeCheckpoint(first.checkpoint('in'), 'in-0');
  first.close();

  now.ms = 1500; // a restart half an interval later
  const second = task(topology, now, new Map([['in', checkpoint]]));
  const probe = probes.at(-1)!;
  assert.equal(second.streamTime, 12);
  assert.equal(probe.ctx.currentStreamTimeMs(), 12);
  assert.equal(probe.mark.value, 24);
  second.process(record(15, 2)); // before 20: no stream-time punctuation (a fresh schedule would fire at once)
  second.punctuateWallClock(1999); // the schedule resumes: next at 2000, not 1500 + 1000
  assert.deepEqual(probe.fired, []);
  second.punctuateWallClock(2000);
  second.process(record(20, 3));
  assert.deepEqual(probe.fired, [{ type: 'wall', at: 2000 }, { type: 'stream', at: 20 }]);
  second.close();
});

test('without a checkpoint time starts unknown; the same name gives the same committed time within a task', () => {
  const probes: Probe[] = [];
  const t = task(build(probes), { ms: 0 });
  const probe = probes.at(-1)!;
  assert.equal(t.streamTime, Number.NEGATIVE_INFINITY);
  assert.equal(probe.mark.value, Number.NEGATIVE_INFINITY);
  assert.equal(probe.ctx.committedTime('probe:mark'), probe.mark);
  probe.mark.advance(7);
  probe.mark.advance(3);
  assert.equal(probe.mark.value, 7, 'a committed time never goes back');
  t.close();
});

test('checkpoints round-trip and metadata that is not a checkpoint is refused with CORRUPT_DATA', () => {
  const decoded = decodeCheckpoint(encodeCheckpoint(42, new Map([['a', 1], ['b', Number.NEGATIVE_INFINITY]])), 'in-0');
  assert.equal(decoded.partitionTime, 42);
  assert.deepEqual([...decoded.times], [['a', 1]]);
  assert.equal(decodeCheckpoint(encodeCheckpoint(Number.NEGATIVE_INFINITY, new Map()), 'in-0').partitionTime, Number.NEGATIVE_INFINITY);
  for (const bad of ['', 'hello', '{"v":2,"t":{}}', '[]']) {
    assert.throws(
      () => decodeCheckpoint(bad, 'in-0'),
      (e: unknown) => e instanceof StreamsError && e.code === 'CORRUPT_DATA',
    );
  }
});

test('a restored time no processor asked for yet is committed again, and a rescheduled punctuation keeps its schedule', () => {
  const probes: Probe[] = [];
  const topology = build(probes);
  const now = { ms: 0 };
  const restored = decodeCheckpoint(encodeCheckpoint(12, new Map([['lazy', 5]]), new Map([['probe:stream-time:0', 20]])), 'in-0');
  const t = task(topology, now, new Map([['in', restored]]));
  const again = decodeCheckpoint(t.checkpoint('in'), 'in-0');
  assert.equal(again.times.get('lazy'), 5, 'carried on until someone asks');
  assert.equal(again.schedules.get('probe:stream-time:0'), 20);
  const probe = probes.at(-1)!;
  t.process(record(15, 0)); // before 20: the restored schedule holds
  assert.deepEqual(probe.fired, []);
  t.close();
});
