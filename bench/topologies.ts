/**
 * Topologies of the end-to-end benchmark (bench/end-to-end.ts) and of the comparison with Kafka
 * Streams (bench/compare.ts; the same topologies in Java are in bench/peers/kafka-streams/). Each
 * reads `bench-in` (key `user-NNNNNN`, value a ~89-byte string, see common.ts) and writes its own
 * `bench-out-*` topic; enrichJoin also reads the profile table `bench-profiles` (common.ts
 * profileString). Every StreamsApp thread imports this module and calls one export.
 */
import { EmitStrategy, Serdes, SessionWindows, StreamsBuilder, TimeWindows, type Topology } from '../index.ts';

export const INPUT_TOPIC = 'bench-in';
export const PROFILE_TOPIC = 'bench-profiles';
export const OUTPUT_TOPICS = {
  mapFilter: 'bench-out-map-filter',
  countByKey: 'bench-out-count',
  windowedCount: 'bench-out-windowed-count',
  windowedCountOnClose: 'bench-out-windowed-count-on-close',
  sessionCount: 'bench-out-session-count',
  enrichJoin: 'bench-out-enrich-join',
} as const;
export type TopologyName = keyof typeof OUTPUT_TOPICS;

/** The inactivity gap of sessionCount's session windows: 30 minutes. */
export const SESSION_GAP_MS = 30 * 60_000;

/**
 * The topics a topology reads and writes: INPUT_TOPIC, PROFILE_TOPIC and OUTPUT_TOPICS, unless
 * the environment names others (BENCH_INPUT_TOPIC, BENCH_PROFILE_TOPIC, BENCH_OUTPUT_SUFFIX;
 * end-to-end.ts --log kafka and compare.ts do: a broker keeps its topics between runs, so each run
 * uses fresh names). Read when the topology is built, in every thread (worker threads get a copy
 * of the environment when they start).
 */
export function benchTopics(topology: TopologyName): { input: string; profiles: string; output: string } {
  return {
    input: process.env.BENCH_INPUT_TOPIC ?? INPUT_TOPIC,
    profiles: process.env.BENCH_PROFILE_TOPIC ?? PROFILE_TOPIC,
    output: `${OUTPUT_TOPICS[topology]}${process.env.BENCH_OUTPUT_SUFFIX ?? ''}`,
  };
}

const str = Serdes.string();
const num = Serdes.number();

/** The `page=` and `amount=` fields of an input value (`seq=..;page=/p/N;amount=N;xxx`). */
function pageAndAmount(v: string): { page: string; amount: number } {
  const at = v.indexOf(';amount=') + 8;
  const page = v.slice(v.indexOf(';page=') + 6, at - 8);
  return { page, amount: Number.parseInt(v.slice(at, v.indexOf(';', at)), 10) };
}

/**
 * (a) Stateless: parse the `amount=` field, keep records with an even amount (about half of them),
 * and write `page,amount`.
 */
export function mapFilter(): Topology {
  const b = new StreamsBuilder();
  const topics = benchTopics('mapFilter');
  b.stream(topics.input, { key: str, value: str })
    .mapValues(pageAndAmount)
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

/**
 * (d) Count per key in session windows with a 30-minute inactivity gap and no grace, emitting every
 * update. A record within the gap of a key's session extends it: the old session is retracted (a
 * tombstone for its windowed key) and the merged one written, as Kafka Streams does without its
 * record cache. Windowed keys are written by Serdes.windowed: the key, then the session's start and
 * end (both inclusive: the first and last record's timestamps) as 8-byte big-endian integers.
 */
export function sessionCount(): Topology {
  const b = new StreamsBuilder();
  const topics = benchTopics('sessionCount');
  b.stream(topics.input, { key: str, value: str })
    .groupByKey()
    .windowedBy(SessionWindows.ofInactivityGapWithNoGrace(SESSION_GAP_MS))
    .count({ materialized: 'bench-session-counts' })
    .toStream()
    .to(topics.output, { value: num });
  return b.build();
}

/**
 * (e) Stream-table join: each event (inner) joined with its key's row of the profile table (the
 * profile topic: same keys, co-partitioned with the input), writing `page,amount,tier,region`.
 * Keys without a profile (one in ten, see common.ts hasProfile) produce nothing.
 */
export function enrichJoin(): Topology {
  const b = new StreamsBuilder();
  const topics = benchTopics('enrichJoin');
  const profiles = b.table(topics.profiles, { key: str, value: str });
  b.stream(topics.input, { key: str, value: str })
    .join(profiles, (v: string, profile: string) => {
      const { page, amount } = pageAndAmount(v);
      const tier = profile.slice(5, profile.indexOf(';'));
      const at = profile.indexOf(';region=') + 8;
      return `${page},${amount},${tier},${profile.slice(at, profile.indexOf(';', at))}`;
    })
    .to(topics.output, { value: str });
  return b.build();
}
