/**
 * Property test: outputs do not depend on when a task stopped. A random windowed topology (time,
 * hopping, sliding and session windows with grace; emit on update, emit on window close,
 * suppress until the window closes; stream-stream inner/left/outer joins with grace; suppress
 * until a time limit; a processor with a stream-time punctuation) runs over random input twice:
 * once uninterrupted, and once with commits, clean restarts and crashes at random points. The
 * outputs must be the same sequence.
 *
 * The restarted run models what the runtime does with exactly-once, at the level of one task: a
 * commit keeps the outputs, the changelog records and the input position so far, together with
 * the task's checkpoint (StreamTask.checkpoint: what it commits with its offsets); a crash drops
 * everything after the last commit; a clean restart commits first. Either way a new task is built
 * from the checkpoint, its stores restored from the committed changelog records, and processing
 * resumes at the committed position. The process-level tests (test/engine/runtime/restart*.ts)
 * run the same over the real runtime, with kill -9, on the embedded log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  EmitStrategy,
  JoinWindows,
  Serdes,
  SessionWindows,
  SlidingWindows,
  StreamsBuilder,
  Suppressed,
  TimeWindows,
  type KeyValueStore,
  type Processor,
  type ProcessorContext,
  type StreamRecord,
  type Topology,
  type Windowed,
  Stores,
} from '../../../index.ts';
import { StreamTask, type OutputRecord } from '../../../engine/internals/stream-task.ts';
import { decodeCheckpoint, type PartitionCheckpoint } from '../../../engine/internals/committed-time.ts';
import { createInMemoryStore, type RestorableStore } from '../../../engine/state/in-memory.ts';
import type { AnyStore } from '../../../engine/state/store.ts';

const NUM_RUNS = Number(process.env.TRIBUTARY_RESTART_RUNS ?? 300);
const str = Serdes.string();
const num = Serdes.number();

type Shape =
  | { kind: 'time'; size: number; advance: number; grace: number; emit: 'update' | 'close' | 'suppress' }
  | { kind: 'sliding'; diff: number; grace: number; emit: 'update' | 'close' | 'suppress' }
  | { kind: 'session'; gap: number; grace: number; emit: 'update' | 'close' | 'suppress' }
  | { kind: 'join'; join: 'inner' | 'left' | 'outer'; before: number; after: number; grace: number }
  | { kind: 'time-limit'; wait: number }
  | { kind: 'punctuate'; interval: number };

const windowedKey = (k: Windowed<string>) => `${k.key}@${k.window.start}-${k.window.end}`;

/** Counts records per key; every `interval` of stream time, emits the counts and clears them. */
class PunctuatedCounts implements Processor<string, string, string, number> {
  readonly #interval: number;
  #ctx!: ProcessorContext<string, number>;
  #store!: KeyValueStore<string, number>;
  constructor(interval: number) {
    this.#interval = interval;
  }
  init(ctx: ProcessorContext<string, number>): void {
    this.#ctx = ctx;
    this.#store = ctx.getStateStore('punctuated-counts');
    ctx.schedule(this.#interval, 'stream-time', (now) => {
      for (const { key, value } of this.#store.all()) {
        this.#ctx.forward({ key, value, timestamp: now });
        this.#store.delete(key);
      }
    });
  }
  process(record: StreamRecord<string, string>): void {
    this.#store.put(record.key, (this.#store.get(record.key) ?? 0) + 1);
  }
}

function topologyOf(shape: Shape): Topology {
  const b = new StreamsBuilder();
  const left = b.stream('left', { key: str, value: str });
  switch (shape.kind) {
    case 'time':
    case 'sliding':
    case 'session': {
      const grouped = left.groupByKey();
      const windowed =
        shape.kind === 'time'
          ? grouped.windowedBy(TimeWindows.ofSizeAndGrace(shape.size, shape.grace).advanceBy(shape.advance))
          : shape.kind === 'sliding'
            ? grouped.windowedBy(SlidingWindows.ofTimeDifferenceAndGrace(shape.diff, shape.grace))
            : grouped.windowedBy(SessionWindows.ofInactivityGapAndGrace(shape.gap, shape.grace));
      const counted = shape.emit === 'close' ? windowed.emitStrategy(EmitStrategy.onWindowClose()).count() : windowed.count();
      const table = shape.emit === 'suppress' ? counted.suppress(Suppressed.untilWindowCloses()) : counted;
      table
        .toStream()
        .map((k, v) => [windowedKey(k), v === null ? -1 : v] as const)
        .to('out', { key: str, value: num });
      break;
    }
    case 'join': {
      const right = b.stream('right', { key: str, value: str });
      const windows = JoinWindows.ofTimeDifferenceAndGrace(0, shape.grace).before(shape.before).after(shape.after);
      const joiner = (l: string | null, r: string | null) => `${l}|${r}`;
      const joined =
        shape.join === 'inner'
          ? left.join(right, joiner, windows)
          : shape.join === 'left'
            ? left.leftJoin(right, joiner, windows)
            : left.outerJoin(right, joiner, windows);
      joined.to('out', { key: str, value: str });
      break;
    }
    case 'time-limit':
      left
        .groupByKey()
        .count()
        .suppress(Suppressed.untilTimeLimit(shape.wait))
        .toStream()
        .mapValues((v) => v ?? -1)
        .to('out', { key: str, value: num });
      break;
    case 'punctuate':
      b.addStateStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore('punctuated-counts'), str, num));
      left.process(() => new PunctuatedCounts(shape.interval), 'punctuated-counts').to('out', { key: str, value: num });
      break;
  }
  return b.build();
}

type Step = { kind: 'record'; topic: 'left' | 'right'; key: string; ts: number } | { kind: 'commit' } | { kind: 'restart' } | { kind: 'crash' };

interface Committed {
  outputs: number;
  changelogs: Map<string, number>;
  position: number;
  checkpoints: Map<string, PartitionCheckpoint>;
}

/**
 * Runs the steps on one task of `topology` (one sub-topology, one partition), restarting it as
 * the steps say; returns the committed outputs as `key=value@ts` strings.
 */
function run(topology: Topology, steps: readonly Step[], value: (bytes: Uint8Array) => string): string[] {
  const subs = topology.subtopologies();
  assert.equal(subs.length, 1);
  const sub = subs[0]!;
  const outputs: string[] = [];
  const changelogs = new Map<string, { key: Uint8Array; value: Uint8Array | null; timestamp: number }[]>();
  let committed: Committed = { outputs: 0, changelogs: new Map(), position: 0, checkpoints: new Map() };
  const start = (): StreamTask => {
    const task = new StreamTask(topology, sub, 0, {
      applicationId: 'restarts',
      restoredFrom: committed.checkpoints,
      collector: {
        send: (r: OutputRecord) => outputs.push(`${str.deserialize(r.key!, r.topic)}=${r.value === null ? 'null' : value(r.value)}@${r.timestamp}`),
        partitionsFor: () => 1,
      },
      createStore: (builder, ctx) => {
        const log = changelogs.get(builder.name) ?? [];
        changelogs.set(builder.name, log);
        return createInMemoryStore(builder, {
          recordTimestamp: () => ctx.recordTimestamp(),
          ...(builder.loggingEnabled && { logChange: (key: Uint8Array, v: Uint8Array | null, timestamp: number) => log.push({ key, value: v, timestamp }) }),
        });
      },
      globalStores: new Map(),
      clock: () => 0,
    });
    for (const [name, store] of task.stores) for (const r of changelogs.get(name) ?? []) (store as AnyStore & RestorableStore).restore(r.key, r.value, r.timestamp);
    task.initialize();
    return task;
  };
  const records = steps.filter((s) => s.kind === 'record');
  let position = 0; // records processed (the next record's index)
  const commit = (task: StreamTask) => {
    task.flush();
    committed = {
      outputs: outputs.length,
      changelogs: new Map([...changelogs].map(([name, log]) => [name, log.length])),
      position,
      checkpoints: new Map(sub.sourceTopics.map((topic) => [topic, decodeCheckpoint(task.checkpoint(topic), topic)])),
    };
  };
  let task = start();
  const queue = [...steps];
  while (queue.length > 0) {
    const step = queue.shift()!;
    if (step.kind === 'record') {
      const i = position++;
      assert.equal(records[i], step);
      task.process({ topic: step.topic, partition: 0, offset: i, key: str.serialize(step.key, step.topic), value: str.serialize(`${step.topic[0]}${i}`, step.topic), timestamp: step.ts });
    } else if (step.kind === 'commit') {
      commit(task);
    } else {
      if (step.kind === 'restart') commit(task);
      task.close();
      // A crash loses what was not committed: outputs, changelog records, the input position;
      // the records after the committed position are read again.
      outputs.length = committed.outputs;
      for (const [name, log] of changelogs) log.length = committed.changelogs.get(name) ?? 0;
      queue.unshift(...records.slice(committed.position, position));
      position = committed.position;
      task = start();
    }
  }
  commit(task);
  task.close();
  return outputs.slice(0, committed.outputs);
}

const grace = fc.integer({ min: 0, max: 6 });
const emit = fc.constantFrom<'update' | 'close' | 'suppress'>('update', 'close', 'suppress');
const shapeArb: fc.Arbitrary<Shape> = fc.oneof(
  fc
    .record({ size: fc.integer({ min: 1, max: 8 }), advanceFraction: fc.integer({ min: 1, max: 4 }), grace, emit })
    .map(({ size, advanceFraction, grace, emit }) => ({ kind: 'time' as const, size, advance: Math.max(1, Math.floor(size / advanceFraction)), grace, emit })),
  fc.record({ diff: fc.integer({ min: 1, max: 6 }), grace, emit }).map((s) => ({ kind: 'sliding' as const, ...s })),
  fc.record({ gap: fc.integer({ min: 1, max: 5 }), grace, emit }).map((s) => ({ kind: 'session' as const, ...s })),
  fc
    .record({ join: fc.constantFrom<'inner' | 'left' | 'outer'>('inner', 'left', 'outer'), before: fc.integer({ min: 0, max: 4 }), after: fc.integer({ min: 0, max: 4 }), grace })
    .map((s) => ({ kind: 'join' as const, ...s })),
  fc.record({ wait: fc.integer({ min: 0, max: 6 }) }).map((s) => ({ kind: 'time-limit' as const, ...s })),
  fc.record({ interval: fc.integer({ min: 1, max: 6 }) }).map((s) => ({ kind: 'punctuate' as const, ...s })),
);

/** Records with a few keys, time mostly moving on, sometimes back (late and out-of-order records); commits, restarts and crashes between them. */
function stepsArb(twoSides: boolean): fc.Arbitrary<Step[]> {
  return fc
    .array(
      fc.oneof(
        { weight: 6, arbitrary: fc.record({ kind: fc.constant('input' as const), right: fc.boolean(), key: fc.constantFrom('a', 'b', 'c'), step: fc.integer({ min: -8, max: 4 }) }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('commit' as const, 'restart' as const, 'crash' as const) }) },
      ),
      { maxLength: 40 },
    )
    .map((raw) => {
      let st = 0;
      return raw.map((s): Step => {
        if (s.kind !== 'input') return { kind: s.kind };
        const ts = Math.max(0, st + s.step);
        st = Math.max(st, ts);
        return { kind: 'record', topic: twoSides && s.right ? 'right' : 'left', key: s.key, ts };
      });
    });
}

const valueOf = (shape: Shape) => (bytes: Uint8Array) => (shape.kind === 'join' ? str.deserialize(bytes, 'out') : String(num.deserialize(bytes, 'out')));

test('outputs are those of one uninterrupted run, whatever commits, restarts and crashes happen in between', () => {
  fc.assert(
    fc.property(
      shapeArb.chain((shape) => fc.tuple(fc.constant(shape), stepsArb(shape.kind === 'join'))),
      ([shape, steps]) => {
        const topology = topologyOf(shape);
        const value = valueOf(shape);
        const uninterrupted = run(topology, steps.filter((s) => s.kind === 'record'), value);
        const restarted = run(topology, steps, value);
        assert.deepEqual(restarted, uninterrupted, `shape ${JSON.stringify(shape)}`);
      },
    ),
    { numRuns: NUM_RUNS },
  );
});

test('the issue scenario: a late record after two restarts is dropped, and each final result comes once', () => {
  // Windows of 10 s with 2 s grace; a@1s a@2s | restart | b@13s (closes [0, 10s)) | restart | a@3s (late), c@14s.
  const phases: Step[][] = [
    [
      { kind: 'record', topic: 'left', key: 'a', ts: 1000 },
      { kind: 'record', topic: 'left', key: 'a', ts: 2000 },
    ],
    [{ kind: 'record', topic: 'left', key: 'b', ts: 13_000 }],
    [
      { kind: 'record', topic: 'left', key: 'a', ts: 3000 },
      { kind: 'record', topic: 'left', key: 'c', ts: 14_000 },
    ],
  ];
  for (const between of ['restart', 'crash'] as const) {
    const steps = phases.flatMap((phase, i) => (i === 0 ? phase : [{ kind: 'commit' } as Step, { kind: between } as Step, ...phase]));
    const shape = (emit: 'update' | 'close' | 'suppress'): Shape => ({ kind: 'time', size: 10_000, advance: 10_000, grace: 2000, emit });
    const count = (bytes: Uint8Array) => String(num.deserialize(bytes, 'out'));
    assert.deepEqual(run(topologyOf(shape('suppress')), steps, count), ['a@0-10000=2@2000'], `suppress, ${between}`);
    assert.deepEqual(run(topologyOf(shape('close')), steps, count), ['a@0-10000=2@2000'], `emit on close, ${between}`);
    assert.deepEqual(
      run(topologyOf(shape('update')), steps, count),
      ['a@0-10000=1@1000', 'a@0-10000=2@2000', 'b@10000-20000=1@13000', 'c@10000-20000=1@14000'],
      `emit on update, ${between}`,
    );
  }
});
