import { StreamsError } from '../../engine/index.ts';

/**
 * Names the registry subject a topic's keys or values are registered under (Confluent's
 * `SubjectNameStrategy`). `recordName` is the Avro record's full name or the JSON Schema's `title`.
 */
export type SubjectNameStrategy = (topic: string, isKey: boolean, recordName: string | undefined) => string;

function requireName(strategy: string, recordName: string | undefined): string {
  if (!recordName) {
    throw new StreamsError('INVALID_ARGUMENT', `${strategy} needs a record name: an Avro record schema, or a JSON Schema with a "title"`);
  }
  return recordName;
}

/** Subject names used by Confluent's serializers. */
export const SubjectNameStrategies = {
  /** `<topic>-key` / `<topic>-value` (the default): one schema lineage per topic. */
  topicName: ((topic, isKey) => `${topic}-${isKey ? 'key' : 'value'}`) as SubjectNameStrategy,
  /** `<record name>`: one lineage per record type, shared by every topic that carries it. */
  recordName: ((_topic, _isKey, recordName) => requireName('RecordNameStrategy', recordName)) as SubjectNameStrategy,
  /** `<topic>-<record name>`: several record types in one topic, each with its own lineage. */
  topicRecordName: ((topic, _isKey, recordName) => `${topic}-${requireName('TopicRecordNameStrategy', recordName)}`) as SubjectNameStrategy,
} as const;
