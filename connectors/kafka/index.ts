export { KafkaLog, openKafkaLog, type KafkaLogOptions } from './kafka-log.ts';
