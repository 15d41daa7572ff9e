/**
 * The broker the Kafka suite (`npm run test:kafka`, files `*.kafka.ts`) talks to: the one
 * `npm run kafka:start` runs (127.0.0.1:9092, or KAFKA_BOOTSTRAP). Every test uses fresh topic
 * and application names, so runs do not see each other's data.
 */
import { randomBytes } from 'node:crypto';
import { KafkaLog } from '../../../connectors/kafka/index.ts';

export const bootstrap = (process.env.KAFKA_BOOTSTRAP ?? `127.0.0.1:${process.env.KAFKA_PORT ?? 9092}`).split(',');

/** A name no earlier run used. */
export function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export function openLog(clientId = unique('test')): KafkaLog {
  return new KafkaLog({ bootstrapBrokers: bootstrap, clientId });
}
