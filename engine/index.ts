export { StreamsError, TopologyError, DeserializationError, SerializationError, errorCodes } from './errors.ts';
export type { ErrorCode, RecordOrigin } from './errors.ts';
export { ExceptionHandlerResponse } from './error-handlers.ts';
export type {
  DeserializationExceptionHandler,
  ProcessingExceptionHandler,
  ProductionExceptionHandler,
  ProductionErrorContext,
  ProducedRecord,
  ErrorHandlerContext,
  DeadLetterQueueRecord,
  ExceptionHandlerRef,
} from './error-handlers.ts';
export { Serdes } from './serde.ts';
export type { Serde, Serializer } from './serde.ts';
export type { StreamRecord, Windowed, Window, Change, Headers, RecordMetadata } from './record.ts';
export type {
  Processor,
  ProcessorContext,
  ProcessorSupplier,
  ProcessorStore,
  PunctuationType,
  Cancellable,
  CommittedTime,
  DropReason,
  TimestampExtractor,
  TopicNameExtractor,
  StreamPartitioner,
} from './processor.ts';
export { Topology, TopologyDescription } from './topology.ts';
export type {
  TopologyNode,
  SourceNode,
  ProcessorNode,
  SinkNode,
  Subtopology,
  InternalTopic,
  SinkDeclaration,
  GlobalStoreDef,
  SourceOptions,
  SinkOptions,
  GlobalStoreOptions,
} from './topology.ts';
export { Stores } from './state/stores.ts';
export { VALID_TO_UNDEFINED, NOT_PUT } from './state/versioned.ts';
export type { VersionedKeyValueStore, VersionedRecord } from './state/versioned.ts';
export type {
  StateStore,
  AnyStore,
  KeyValue,
  ValueAndTimestamp,
  KeyValueStore,
  ReadOnlyKeyValueStore,
  WindowStore,
  ReadOnlyWindowStore,
  WindowEntry,
  WindowedEntry,
  SessionStore,
  ReadOnlySessionStore,
  SessionEntry,
  StoreBuilder,
  StoreSupplier,
} from './state/store.ts';
export { TopologyTestDriver, TestInputTopic, TestOutputTopic } from './testing/topology-test-driver.ts';
export type { TestDriverConfig, TestRecord } from './testing/topology-test-driver.ts';
/** The log as an application uses it (implementing one: `tributary/spi`). */
export type { Log, LogRecord, FetchedRecord, FetchOptions, FetchResult, CleanupPolicy, TopicConfig, TopicPartition, PartitionBatch } from './log.ts';
export * from './runtime/index.ts';
export type { Sink, SinkBatch, SinkContext, SinkGuarantee, SinkPartitionBatch, SinkPositions, SinkRecord, PositionStore } from './sink.ts';
