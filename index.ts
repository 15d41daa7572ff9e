/**
 * Tributary: stream processing for TypeScript in the spirit of Kafka Streams.
 * The root export is the public API: the DSL, the Processor API, serdes, stores and the test driver.
 */
export * from './engine/index.ts';
export * from './dsl/index.ts';
