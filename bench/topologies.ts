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

const str = Serdes.string();
const num = Serdes.number();

/**
 * (a) Stateless: parse the `amount=` field, keep records with an even amount (about half of them),
 * and write `page,amount`.
 */
export function mapFilter(): Topology {
  const b = new StreamsBuilder();
  b.stream(INPUT_TOPIC, { key: str, value: str })
    .mapValues((v) => {
      const at = v.indexOf(';amount=') + 8;
      const page = v.slice(v.indexOf(';page=') + 6, at - 8);
      return { page, amount: Number.parseInt(v.slice(at, v.indexOf(';', at)), 10) };
    })
    .filter((_, v) => v.amount % 2 === 0)
    .mapValues((v) => `${v.page},${v.amount}`)
    .to(OUTPUT_TOPICS.mapFilter, { value: str });
  return b.build();
}

/** (b) Count by key: the input is already partitioned by key, so no repartition topic. */
export function countByKey(): Topology {
  const b = new StreamsBuilder();
  b.stream(INPUT_TOPIC, { key: str, value: str })
    .groupByKey()
    .count({ materialized: 'bench-counts' })
    .toStream()
    .to(OUTPUT_TOPICS.countByKey, { value: num });
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
  b.stream(INPUT_TOPIC, { key: str, value: str })
    .groupByKey()
    .windowedBy(TimeWindows.ofSizeWithNoGrace(60_000))
    .count({ materialized: 'bench-windowed-counts' })
    .toStream()
    .to(OUTPUT_TOPICS.windowedCount, { value: num });
  return b.build();
}

/**
 * (c') The same count emitted once per window, when it closes (EmitStrategy.onWindowClose). Not
 * in the default run: at the time of writing, every record that advances stream time scans the
 * whole window store (see bench/README.md), so its cost grows with the number of keys.
 */
export function windowedCountOnClose(): Topology {
  const b = new StreamsBuilder();
  b.stream(INPUT_TOPIC, { key: str, value: str })
    .groupByKey()
    .windowedBy(TimeWindows.ofSizeWithNoGrace(60_000))
    .emitStrategy(EmitStrategy.onWindowClose())
    .count({ materialized: 'bench-windowed-counts-on-close' })
    .toStream()
    .to(OUTPUT_TOPICS.windowedCountOnClose, { value: num });
  return b.build();
}
