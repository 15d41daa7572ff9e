import { Serdes, StreamsBuilder } from '../index.ts';

/** Word count: sentences in, a running count per word out (and in the queryable store `word-counts`). */
export function topology() {
  const builder = new StreamsBuilder();
  builder
    .stream('sentences', { key: Serdes.string(), value: Serdes.string() })
    .flatMapValues((sentence) => sentence.toLowerCase().split(/\W+/).filter(Boolean))
    .groupBy((_, word) => word, { key: Serdes.string() })
    .count({ materialized: 'word-counts' })
    .toStream()
    .to('word-counts');
  return builder.build();
}
