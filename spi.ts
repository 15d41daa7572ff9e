/**
 * `tributary/spi`: what an implementer of a log or a state store needs, beyond the root API.
 * A log implements {@link Log} (and, optionally, {@link EncodedLog} to hand record batches over
 * without decoding them); the conformance tests in this repository's test/engine/log-conformance.ts
 * say what each method must do.
 */
export type {
  Log,
  LogRecord,
  FetchedRecord,
  FetchOptions,
  FetchResult,
  FetchRequest,
  CleanupPolicy,
  TopicConfig,
  TopicPartition,
  PartitionBatch,
  GroupOffsets,
  GroupMetadata,
  GroupGeneration,
  GroupMember,
  GroupAssignment,
  GroupMembership,
  JoinGroupOptions,
  SendOffsetsOptions,
  MemberCommitOptions,
  LogTransaction,
  TransactionalProducer,
  EncodedLog,
  EncodedChunk,
  EncodedFetchResult,
  WorkerLogSpec,
} from './engine/log.ts';
export { partitionKey, isEncodedLog } from './engine/log.ts';
export { encodeRecordBatch, decodeRecordBatch, encodeBatch, forEachKey } from './engine/log-codec.ts';
export type { EncodedBatch } from './engine/log-codec.ts';
export { partitionForKey } from './engine/runtime/partitioner.ts';
export { changelogTopic } from './engine/topology.ts';
export type { StateStore, AnyStore, StoreBuilder, StoreSupplier } from './engine/state/store.ts';
export type { StoreContext, StoredRow } from './engine/state/store-context.ts';
