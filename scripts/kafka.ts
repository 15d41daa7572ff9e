/**
 * A real Kafka broker for tests and local use, without Docker (jars from Maven Central into .kafka/).
 *
 *   node scripts/kafka.ts start [--brokers N] [--clean]   start (or find running) and wait until ready
 *   node scripts/kafka.ts stop                            stop whatever runs from .kafka/data
 *   node scripts/kafka.ts status                          print what runs
 *
 * Env: KAFKA_PORT (client port of node 1, default 9092; node i listens on KAFKA_PORT + i - 1 and its
 * controller on KAFKA_PORT + 100 + i - 1), KAFKA_HEAP_OPTS (default "-Xms128m -Xmx512m"), JAVA_HOME, MVN.
 * Tests use `startKafka` from ./kafka-broker.ts, re-exported here.
 */
import { parseArgs } from 'node:util';
import { KAFKA_VERSION, defaultDataDir, defaultLogDir, kafkaStatus, startKafka, stopKafka } from './kafka-broker.ts';

export * from './kafka-broker.ts';

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      brokers: { type: 'string', default: '1' },
      clean: { type: 'boolean', default: false },
    },
  });
  const command = positionals[0];
  const say = (line: string) => console.log(`kafka: ${line}`);

  switch (command) {
    case 'start': {
      const brokers = Number(values.brokers);
      const started = Date.now();
      const cluster = await startKafka({ brokers, clean: values.clean, log: say });
      const bootstrap = cluster.bootstrap.join(',');
      if (cluster.reused) {
        say(`already running (${cluster.brokers} node(s)); bootstrap ${bootstrap}`);
      } else {
        say(`Kafka ${KAFKA_VERSION} ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
        console.log(`bootstrap: ${bootstrap}`);
      }
      return 0;
    }
    case 'stop': {
      const stopped = await stopKafka();
      say(stopped === 0 ? 'not running' : `stopped ${stopped} node(s)`);
      return 0;
    }
    case 'status': {
      const { layout, running, bootstrap } = kafkaStatus();
      if (running.length === 0) say('not running');
      else {
        say(
          `running ${running.length}/${layout?.brokers ?? '?'} node(s) ` +
            `(pids ${running.map((r) => r.pid).join(', ')}); bootstrap ${bootstrap.join(',')}`,
        );
      }
      say(`data ${defaultDataDir}, logs ${defaultLogDir}`);
      return 0;
    }
    default:
      console.error('usage: node scripts/kafka.ts start [--brokers N] [--clean] | stop | status');
      return 2;
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error & { code?: string }) => {
      console.error(`kafka: ${err.code ? `[${err.code}] ` : ''}${err.message}`);
      process.exit(1);
    },
  );
}
