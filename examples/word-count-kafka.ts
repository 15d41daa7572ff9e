/**
 * Word count on Apache Kafka, one process of a group: start it several times (each with its own
 * HTTP port) and the processes split the tasks; any of them answers queries for any word.
 *
 *   npm run kafka:start
 *   node examples/word-count-kafka.ts 8081 &
 *   node examples/word-count-kafka.ts 8082 &
 *   node bin/tributary.ts produce sentences --url http://127.0.0.1:8081 <<< '{"key":"s1","value":"the cat and the dog"}'
 *   curl http://127.0.0.1:8082/stores/word-counts/keys/the
 *
 * KAFKA_BOOTSTRAP (default 127.0.0.1:9092). State lives in .data/word-count-kafka/<port>.
 */
import { resolve } from 'node:path';
import { KafkaLog } from '../connectors/kafka/index.ts';
import { StreamsApp } from '../index.ts';

const port = Number(process.argv[2] ?? 8080);
const log = new KafkaLog({ bootstrapBrokers: (process.env.KAFKA_BOOTSTRAP ?? '127.0.0.1:9092').split(','), clientId: `word-count-${port}` });
// Creating a topic that exists with the same settings is a no-op, so every process may do it.
for (const topic of ['sentences', 'word-counts']) await log.createTopic(topic, { partitions: 6, cleanupPolicy: 'delete' });
const app = new StreamsApp(
  { module: new URL('./word-count-topology.ts', import.meta.url) },
  { applicationId: 'word-count-kafka', log, threads: 1, stateDir: resolve('.data/word-count-kafka', String(port)), http: { port } },
);
app.onStateChange((next, previous) => console.log(`[${port}] state: ${previous} -> ${next}`));
await app.start();
console.log(`[${port}] running on Kafka; try http://127.0.0.1:${port}/stores and http://127.0.0.1:${port}/stores/word-counts/keys/the`);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await app.close();
  await log.close();
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
