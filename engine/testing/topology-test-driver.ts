import { StreamsError } from '../errors.ts';
import type { Headers } from '../record.ts';
import type { Serde } from '../serde.ts';
import type { DropReason } from '../processor.ts';
import type { AnyStore, KeyValueStore, SessionStore, WindowStore } from '../state/store.ts';
import { buildInMemoryStore } from '../state/store-stack.ts';
import type { Topology } from '../topology.ts';
import {
  GlobalStateTask,
  StreamTask,
  type ErrorResponse,
  type OutputRecord,
  type RawRecord,
  type RecordCollector,
} from '../internals/stream-task.ts';
import type { DeserializationError } from '../errors.ts';
import type { VersionedKeyValueStore } from '../state/versioned.ts';
import { ThreadCache } from '../state/record-cache.ts';
import { applyHandler, type DeserializationExceptionHandler, type ProcessingExceptionHandler, type ProducedRecord, type ProductionExceptionHandler } from '../error-handlers.ts';

export interface TestDriverConfig {
  applicationId?: string;
  /** Start of the driver's mocked wall clock (ms). Default 0. */
  initialWallClockTimeMs?: number;
  /**
   * Kafka Streams' DeserializationExceptionHandler as a function (KIP-1034): its dead-letter
   * records go to their topics, readable with `createOutputTopic`. Default: fail.
   */
  deserializationExceptionHandler?: DeserializationExceptionHandler;
  /** Kafka Streams' ProcessingExceptionHandler as a function (KIP-1033). Default: fail. */
  processingExceptionHandler?: ProcessingExceptionHandler;
  /**
   * Kafka Streams' ProductionExceptionHandler as a function: asked about an output whose key or
   * value does not serialize, or larger than `maxRecordBytes`. Default: fail.
   */
  productionExceptionHandler?: ProductionExceptionHandler;
  /** The largest output record (key, value, headers). Default 1 MiB, as a StreamsApp's. */
  maxRecordBytes?: number;
  /**
   * The record cache (KIP-63) in bytes. Default 0: every update of an aggregation is forwarded
   * (emit on every update). With a budget, the driver still commits, and so flushes the cache, after
   * each input record (as Kafka Streams' TopologyTestDriver does): only updates of one key caused
   * by the same input record (through a flatMap, or a repartition it feeds) are merged, and a
   * budget smaller than the keys one record touches shows evictions.
   */
  cacheMaxBytes?: number;
  /** Lower-level hooks (continue or fail only); the handlers above take precedence. */
  onDeserializationError?: (error: DeserializationError, record: RawRecord) => ErrorResponse;
  onProcessingError?: (error: StreamsError, record: RawRecord) => ErrorResponse;
}

/** An output record read back from a TestOutputTopic. */
export interface TestRecord<K, V> {
  readonly key: K | null;
  readonly value: V | null;
  readonly timestamp: number;
  readonly headers?: Headers;
}

/**
 * Runs a topology in-process, synchronously, without a log: the Tributary version of Kafka Streams'
 * TopologyTestDriver. Every method is synchronous (none returns a promise).
 *
 * Each piped record is processed to completion before `pipeInput` returns: records the topology
 * writes to a topic it also reads (repartition topics, or a user topic read back) are processed in
 * the same call, in order. Every topic has one partition. All stores live in memory and every
 * update is visible at once, as in Kafka Streams' driver, which flushes caches after each record.
 *
 * @example
 * const driver = new TopologyTestDriver(builder.build());
 * const input = driver.createInputTopic('words', Serdes.string(), Serdes.string());
 * const output = driver.createOutputTopic('counts', Serdes.string(), Serdes.number());
 * input.pipeInput('a', 'hello', 1000);
 * output.readKeyValue(); // { key: 'hello', value: 1 }
 * driver.close();
 */
export class TopologyTestDriver {
  readonly #tasks: StreamTask[] = [];
  readonly #taskByTopic = new Map<string, StreamTask>();
  readonly #global: GlobalStateTask;
  readonly #outputs = new Map<string, OutputRecord[]>();
  readonly #offsets = new Map<string, number>();
  readonly #pending: RawRecord[] = [];
  #wallClock: number;
  #processing = false;
  #closed = false;

  constructor(topology: Topology, config: TestDriverConfig = {}) {
    topology.validate();
    this.#wallClock = config.initialWallClockTimeMs ?? 0;
    const applicationId = config.applicationId ?? 'test-driver';
    const collector: RecordCollector = {
      send: (record) => this.#capture(record),
      partitionsFor: () => 1,
    };
    const clock = () => this.#wallClock;
    this.#global = new GlobalStateTask(topology, { applicationId, createStore: buildInMemoryStore, clock });
    const recordCache = (config.cacheMaxBytes ?? 0) > 0 ? new ThreadCache(config.cacheMaxBytes!) : undefined;
    for (const sub of topology.subtopologies()) {
      const taskId = `${sub.id}_0`;
      const handle = (
        handler: DeserializationExceptionHandler | ProcessingExceptionHandler | ProductionExceptionHandler,
        error: StreamsError,
        raw: RawRecord,
        node?: string,
        output?: ProducedRecord,
      ): ErrorResponse =>
        applyHandler(
          handler,
          error,
          raw,
          taskId,
          node,
          (r) => this.#capture({ topic: r.topic, partition: undefined, key: r.key, value: r.value, timestamp: r.timestamp, ...(r.headers !== undefined && { headers: r.headers }) }),
          output,
        );
      const { deserializationExceptionHandler: onBadBytes, processingExceptionHandler: onThrow, productionExceptionHandler: onUnproducible } = config;
      const task = new StreamTask(topology, sub, 0, {
        applicationId,
        collector,
        createStore: buildInMemoryStore,
        globalStores: this.#global.stores,
        clock,
        ...(onBadBytes !== undefined
          ? { onDeserializationError: (error, raw) => handle(onBadBytes, error, raw) }
          : config.onDeserializationError && { onDeserializationError: config.onDeserializationError }),
        ...(onThrow !== undefined
          ? { onProcessingError: (error, raw, node) => handle(onThrow, error, raw, node) }
          : config.onProcessingError && { onProcessingError: config.onProcessingError }),
        ...(onUnproducible !== undefined && { onProductionError: (error, raw, node, output) => handle(onUnproducible, error, raw, node, output) }),
        ...(config.maxRecordBytes !== undefined && { maxRecordBytes: config.maxRecordBytes }),
        ...(recordCache !== undefined && { recordCache }),
      });
      task.initialize();
      this.#tasks.push(task);
      for (const topic of sub.sourceTopics) this.#taskByTopic.set(topic, task);
    }
  }

  createInputTopic<K, V>(topic: string, keySerde: Serde<K>, valueSerde: Serde<V>): TestInputTopic<K, V> {
    if (!this.#taskByTopic.has(topic) && !this.#global.reads(topic)) {
      throw new StreamsError('UNKNOWN_TOPIC', `the topology does not read topic "${topic}"`);
    }
    return new TestInputTopic(this, topic, keySerde, valueSerde);
  }

  createOutputTopic<K, V>(topic: string, keySerde: Serde<K>, valueSerde: Serde<V>): TestOutputTopic<K, V> {
    return new TestOutputTopic(this, topic, keySerde, valueSerde);
  }

  /** Pipes one serialized record in and processes it, and everything it causes, to completion. */
  pipeRaw(topic: string, key: Uint8Array | null, value: Uint8Array | null, timestamp: number, headers?: Headers): void {
    this.#check();
    if (!Number.isSafeInteger(timestamp)) {
      throw new StreamsError('INVALID_ARGUMENT', `a record timestamp must be an integer (ms), got ${timestamp}`);
    }
    const offset = this.#nextOffset(topic);
    this.#pending.push(
      headers === undefined
        ? { topic, partition: 0, offset, key, value, timestamp }
        : { topic, partition: 0, offset, key, value, timestamp, headers },
    );
    this.#drain();
  }

  /** Advances the mocked wall clock and fires wall-clock punctuations that are due. */
  advanceWallClockTime(ms: number): void {
    this.#check();
    if (!Number.isFinite(ms) || ms < 0) throw new StreamsError('INVALID_ARGUMENT', `cannot advance the clock by ${ms}`);
    this.#wallClock += ms;
    for (const task of this.#tasks) task.punctuateWallClock(this.#wallClock);
    this.#drain();
  }

  get wallClockTimeMs(): number {
    return this.#wallClock;
  }

  /** Removes and returns the records written to `topic` so far. */
  takeOutput(topic: string): OutputRecord[] {
    const records = this.#outputs.get(topic) ?? [];
    this.#outputs.set(topic, []);
    return records;
  }

  peekOutputSize(topic: string): number {
    return this.#outputs.get(topic)?.length ?? 0;
  }

  /** Topics the topology wrote at least one record to. */
  producedTopicNames(): string[] {
    return [...this.#outputs.keys()];
  }

  getStateStore(name: string): AnyStore {
    for (const task of this.#tasks) {
      const store = task.stores.get(name);
      if (store !== undefined) return store;
    }
    const global = this.#global.stores.get(name);
    if (global !== undefined) return global;
    throw new StreamsError('UNKNOWN_STORE', `the topology has no store named "${name}"`);
  }

  /** A versioned store (KIP-889), as processors see it. */
  getVersionedKeyValueStore<K, V>(name: string): VersionedKeyValueStore<K, V> {
    for (const task of this.#tasks) {
      const store = task.versionedStore(name);
      if (store !== undefined) return store as VersionedKeyValueStore<K, V>;
    }
    throw new StreamsError('UNKNOWN_STORE', `the topology has no versioned store named "${name}"`);
  }

  getKeyValueStore<K, V>(name: string): KeyValueStore<K, V> {
    return this.#storeOfKind(name, 'key-value') as KeyValueStore<K, V>;
  }

  getWindowStore<K, V>(name: string): WindowStore<K, V> {
    return this.#storeOfKind(name, 'window') as WindowStore<K, V>;
  }

  getSessionStore<K, V>(name: string): SessionStore<K, V> {
    return this.#storeOfKind(name, 'session') as SessionStore<K, V>;
  }

  /** Records dropped so far, by reason, summed over all tasks. */
  droppedRecords(): Record<DropReason, number> {
    const total = {} as Record<DropReason, number>;
    for (const task of this.#tasks) {
      for (const [reason, n] of Object.entries(task.metrics.dropped) as [DropReason, number][]) {
        total[reason] = (total[reason] ?? 0) + n;
      }
    }
    return total;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const task of this.#tasks) task.close();
    this.#global.close();
  }

  #storeOfKind(name: string, kind: AnyStore['kind']): AnyStore {
    const store = this.getStateStore(name);
    if (store.kind !== kind) {
      throw new StreamsError('INVALID_ARGUMENT', `store "${name}" is a ${store.kind} store, not a ${kind} store`);
    }
    return store;
  }

  #check(): void {
    if (this.#closed) throw new StreamsError('ILLEGAL_STATE', 'the test driver is closed');
  }

  #nextOffset(topic: string): number {
    const offset = this.#offsets.get(topic) ?? 0;
    this.#offsets.set(topic, offset + 1);
    return offset;
  }

  #capture(record: OutputRecord): void {
    let list = this.#outputs.get(record.topic);
    if (list === undefined) this.#outputs.set(record.topic, (list = []));
    list.push(record);
    // A topic the topology reads is fed back in, after the current record is done.
    if (this.#taskByTopic.has(record.topic) || this.#global.reads(record.topic)) {
      const offset = this.#nextOffset(record.topic);
      this.#pending.push({ ...record, partition: 0, offset });
    }
  }

  #drain(): void {
    if (this.#processing) return;
    this.#processing = true;
    try {
      for (let raw = this.#pending.shift(); raw !== undefined; raw = this.#pending.shift()) {
        if (this.#global.reads(raw.topic)) {
          this.#global.process(raw);
          continue;
        }
        const task = this.#taskByTopic.get(raw.topic);
        if (task === undefined) throw new StreamsError('UNKNOWN_TOPIC', `the topology does not read topic "${raw.topic}"`);
        task.process(raw);
      }
      for (const task of this.#tasks) task.flush();
    } finally {
      this.#pending.length = 0;
      this.#processing = false;
    }
  }
}

/**
 * Pipes typed records into one input topic. Without an explicit timestamp a record gets the
 * topic's current time, which starts at `startTimestampMs` and moves by `autoAdvanceMs` per record.
 */
export class TestInputTopic<K, V> {
  readonly topic: string;
  readonly #driver: TopologyTestDriver;
  readonly #keySerde: Serde<K>;
  readonly #valueSerde: Serde<V>;
  #currentTime: number;
  readonly #autoAdvanceMs: number;

  constructor(driver: TopologyTestDriver, topic: string, keySerde: Serde<K>, valueSerde: Serde<V>, startTimestampMs = 0, autoAdvanceMs = 0) {
    this.#driver = driver;
    this.topic = topic;
    this.#keySerde = keySerde;
    this.#valueSerde = valueSerde;
    this.#currentTime = startTimestampMs;
    this.#autoAdvanceMs = autoAdvanceMs;
  }

  pipeInput(key: K | null, value: V | null, timestampMs?: number, headers?: Headers): void {
    const timestamp = timestampMs ?? this.#currentTime;
    if (timestampMs === undefined) this.#currentTime += this.#autoAdvanceMs;
    const k = key === null || key === undefined ? null : this.#keySerde.serialize(key, this.topic);
    const v = value === null || value === undefined ? null : this.#valueSerde.serialize(value, this.topic);
    this.#driver.pipeRaw(this.topic, k, v, timestamp, headers);
  }

  pipeValue(value: V | null, timestampMs?: number): void {
    this.pipeInput(null, value, timestampMs);
  }

  pipeKeyValueList(records: Iterable<{ key: K | null; value: V | null; timestamp?: number }>): void {
    for (const r of records) this.pipeInput(r.key, r.value, r.timestamp);
  }

  /** Moves the topic's current time (used when pipeInput gets no timestamp). */
  advanceTime(ms: number): void {
    this.#currentTime += ms;
  }
}

/** Reads, in order, what the topology wrote to one topic, decoded with the given serdes. */
export class TestOutputTopic<K, V> {
  readonly topic: string;
  readonly #driver: TopologyTestDriver;
  readonly #keySerde: Serde<K>;
  readonly #valueSerde: Serde<V>;
  readonly #buffer: OutputRecord[] = [];

  constructor(driver: TopologyTestDriver, topic: string, keySerde: Serde<K>, valueSerde: Serde<V>) {
    this.#driver = driver;
    this.topic = topic;
    this.#keySerde = keySerde;
    this.#valueSerde = valueSerde;
  }

  /** Reads the next record; throws ILLEGAL_STATE if there is none. */
  readRecord(): TestRecord<K, V> {
    this.#fill();
    const raw = this.#buffer.shift();
    if (raw === undefined) throw new StreamsError('ILLEGAL_STATE', `no more records in output topic "${this.topic}"`);
    const record = {
      key: raw.key === null ? null : this.#keySerde.deserialize(raw.key, this.topic),
      value: raw.value === null ? null : this.#valueSerde.deserialize(raw.value, this.topic),
      timestamp: raw.timestamp,
    };
    return raw.headers === undefined ? record : { ...record, headers: raw.headers };
  }

  readKeyValue(): { key: K | null; value: V | null } {
    const { key, value } = this.readRecord();
    return { key, value };
  }

  readValue(): V | null {
    return this.readRecord().value;
  }

  readRecordsToList(): TestRecord<K, V>[] {
    const out: TestRecord<K, V>[] = [];
    while (!this.isEmpty()) out.push(this.readRecord());
    return out;
  }

  readKeyValuesToList(): { key: K | null; value: V | null }[] {
    return this.readRecordsToList().map(({ key, value }) => ({ key, value }));
  }

  readValuesToList(): (V | null)[] {
    return this.readRecordsToList().map((r) => r.value);
  }

  /** The latest value per key (a table's final state), in first-seen key order. */
  readKeyValuesToMap(): Map<K | null, V | null> {
    const map = new Map<K | null, V | null>();
    for (const { key, value } of this.readKeyValuesToList()) map.set(key, value);
    return map;
  }

  getQueueSize(): number {
    this.#fill();
    return this.#buffer.length;
  }

  isEmpty(): boolean {
    return this.getQueueSize() === 0;
  }

  #fill(): void {
    this.#buffer.push(...this.#driver.takeOutput(this.topic));
  }
}
