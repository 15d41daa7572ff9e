/**
 * Topologies of the end-to-end benchmark (bench/end-to-end.ts). Each reads `bench-in` (key
 * `user-NNNNNN`, value a ~89-byte string, see common.ts) and writes its own `bench-out-*` topic.
 * Every StreamsApp thread imports this module and calls one export.
 */
import { EmitStrategy, Serdes, StreamsBuilder, TimeWindows, type Topology } from '../index.ts';

export const INPUT_TOPIC = 'bench-in';
export const OUTPUT_TOPICS = {
  mapFilter: 'bench-out-map-filter',
  countByKey: 'bench-out-count',
  windowedCount: 'bench-out-windowed-count',
  windowedCountOnClose: 'bench-out-windowed-count-on-close',
} as const;
export type TopologyName = keyof typeof OUTPUT_TOPICS;

/**
 * The topics a topology reads and writes: INPUT_TOPIC and OUTPUT_TOPICS, unless the environment
 * names others (end-to-end.ts --log kafka does: a broker keeps its topics between runs, so each run
 * uses fresh names). Read when the topology is built, in every thread (worker threads get a copy
 * of the environment when they start).
 */
export function benchTopics(topology: TopologyName): { input: string; output: string } {
  return {
    input: process.env.BENCH_INPUT_TOPIC ?? INPUT_TOPIC,
    output: `${OUTPUT_TOPICS[topology]}${process.env.BENCH_OUTPUT_SUFFIX ?? ''}`,
  };
}

const str = Serdes.string();
const num = Serdes.number();

/**
 * (a) Stateless: parse the `amount=` field, keep records with an even amount (about half of them),
 * and write `page,amount`.
 */
export function mapFilter(): Topology {
  const b = new StreamsBuilder();
  const topics = benchTopics('mapFilter');
  b.stream(topics.input, { key: str, value: str })
    .mapValues((v) => {
      const at = v.indexOf(';amount=') + 8;
      const page = v.slice(v.indexOf(';page=') + 6, at - 8);
      return { page, amount: Number.parseInt(v.slice(at, v.indexOf(';', at)), 10) };
    })
    .filter((_, v) => v.amount % 2 === 0)
    .mapValues((v) => `${v.page},${v.amount}`)
    .to(topics.output, { value: str });
  return b.build();
}

/** (b) Count by key: the input is already partitioned by key, so no repartition topic. */
export function countByKey(): Topology {
  const b = new StreamsBuilder();
  const topics = benchTopics('countByKey');
  b.stream(topics.input, { key: str, value: str })
    .groupByKey()
    .count({ materialized: 'bench-counts' })
    .toStream()
    .to(topics.output, { value: num });
  return b.build();
}

/**
 * (c) Count per key in 1-minute tumbling windows (no grace), emitting every update (the default
 * emit strategy). The input's timestamps advance (see end-to-end.ts), so stream time moves past
 * each window's end: windows close, later writes to them are dropped as late, and the store
 * evicts them once they are past retention (size + grace).
 */
export function windowedCount(): Topology {
  const b = new StreamsBuilder();
  const topics = benchTopics('windowedCount');
  b.stream(topics.input, { key: str, value: str })
    .groupByKey()
    .windowedBy(TimeWindows.ofSizeWithNoGrace(60_000))
    .count({ materialized: 'bench-windowed-counts' })
    .toStream()
    .to(topics.output, { value: num });
  return b.build();
}

/**
 * (c') The same count emitted once per window, when it closes (EmitStrategy.onWindowClose). Not
 * in the default run: at the time of writing, every record that advances stream time scans the
 * whole window store (see bench/README.md), so its cost grows with the number of keys.
 */
export function windowedCountOnClose(): Topology {
  const b = new StreamsBuilder();
  const topics = benchTopics('windowedCountOnClose');
  b.stream(topics.input, { key: str, value: str })
    .groupByKey()
    .windowedBy(TimeWindows.ofSizeWithNoGrace(60_000))
    .emitStrategy(EmitStrategy.onWindowClose())
    .count({ materialized: 'bench-windowed-counts-on-close' })
    .toStream()
    .to(topics.output, { value: num });
  return b.build();
}
