/**
 * Word count, the hello-world of stream processing, run under the TopologyTestDriver.
 * `npm start` runs this file until the runtime (worker threads, embedded log) lands.
 */
import { Serdes, StreamsBuilder, TopologyTestDriver } from '../index.ts';

const builder = new StreamsBuilder();
builder
  .stream('sentences', { key: Serdes.string(), value: Serdes.string() })
  .flatMapValues((sentence) => sentence.toLowerCase().split(/\W+/).filter(Boolean))
  .groupBy((_, word) => word, { key: Serdes.string() })
  .count({ materialized: 'word-counts' })
  .toStream()
  .to('word-counts');

const topology = builder.build();
console.log(topology.describe().toString());

const driver = new TopologyTestDriver(topology);
const input = driver.createInputTopic('sentences', Serdes.string(), Serdes.string());
const output = driver.createOutputTopic('word-counts', Serdes.string(), Serdes.number());
input.pipeInput('s1', 'The quick brown fox', 1_000);
input.pipeInput('s2', 'jumps over the lazy dog', 2_000);
input.pipeInput('s3', 'the end', 3_000);
for (const { key, value } of output.readKeyValuesToList()) console.log(`${key}\t${value}`);
console.log('count of "the" in the store:', driver.getKeyValueStore<string, number>('word-counts').get('the'));
driver.close();
