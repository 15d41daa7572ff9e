/**
 * `npm start`: word count as a real application on the embedded log, in worker threads, with
 * exactly-once commits and an HTTP server. A small generator writes a sentence every 100 ms.
 * Ctrl-C stops it; a second start resumes from the same data directory (.data/word-count).
 */
import { resolve } from 'node:path';
import { EmbeddedLog } from '../connectors/embedded/index.ts';
import { Serdes, StreamsApp, partitionForKey } from '../index.ts';

const dir = resolve(process.env.TRIBUTARY_DATA_DIR ?? '.data/word-count');
const port = Number(process.env.PORT ?? 8080);
const log = await EmbeddedLog.open({ dir });
for (const topic of ['sentences', 'word-counts']) {
  if (!(await log.topics()).has(topic)) await log.createTopic(topic, { partitions: 2, cleanupPolicy: 'delete' });
}
const app = new StreamsApp(
  { module: new URL('./word-count-topology.ts', import.meta.url) },
  { applicationId: 'word-count', log, stateDir: resolve(dir, 'state'), http: { port } },
);
app.onStateChange((next, previous) => console.log(`state: ${previous} -> ${next}`));
await app.start();
const base = `http://${app.httpAddress!.host}:${app.httpAddress!.port}`;
console.log(`running on the embedded log in ${dir}
  counts:  ${base}/stores/word-counts/range
  a word:  ${base}/stores/word-counts/keys/stream
  metrics: ${base}/metrics      health: ${base}/health
Ctrl-C to stop.`);

const words = ['stream', 'table', 'window', 'join', 'state', 'record', 'topic', 'partition', 'commit', 'query'];
let n = 0;
const generator = setInterval(() => {
  const sentence = Array.from({ length: 3 }, (_, i) => words[(n * 7 + i * 3) % words.length]).join(' ');
  const key = `s${n++}`;
  const bytes = Serdes.string().serialize(key, 'sentences');
  void log.produce([{ topic: 'sentences', partition: partitionForKey(bytes, 2), records: [{ key: bytes, value: Buffer.from(sentence), timestamp: Date.now() }] }]);
}, 100);
const report = setInterval(async () => {
  const { tasks } = await app.metrics();
  const processed = tasks.filter((t) => t.taskId.startsWith('0_')).reduce((s, t) => s + t.recordsIn, 0);
  const res = await fetch(`${base}/stores/word-counts/keys/stream`);
  console.log(`sentences processed: ${processed}; "stream" counted ${res.ok ? ((await res.json()) as { value: number }).value : 0} times`);
}, 2000);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(generator);
  clearInterval(report);
  await app.close();
  await log.close();
  console.log('stopped');
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
