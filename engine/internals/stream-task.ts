import { DeserializationError, SerializationError, StreamsError, describeCause } from '../errors.ts';
import type { Headers, RecordMetadata, StreamRecord } from '../record.ts';
import type { Cancellable, DropReason, Processor, ProcessorContext, ProcessorStore, PunctuationType } from '../processor.ts';
import type { AnyStore, StoreBuilder } from '../state/store.ts';
import { withRecordCache, type CacheContext, type CachingStore, type ThreadCache } from '../state/record-cache.ts';
import type { StoreContext } from '../state/in-memory.ts';
import type { Serializer } from '../serde.ts';
import type { ProducedRecord } from '../error-handlers.ts';
import { versionedView, type VersionedKeyValueStore } from '../state/versioned.ts';
import type { GlobalStoreDef, SinkNode, SourceNode, Subtopology, Topology } from '../topology.ts';
import { TimeMark, encodeCheckpoint, type PartitionCheckpoint } from './committed-time.ts';

/** A record as it sits in a log: bytes, with its position. */
export interface RawRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly timestamp: number;
  readonly headers?: Headers;
}

/** An output record on its way to a topic. */
export interface OutputRecord {
  readonly topic: string;
  readonly partition: number | undefined;
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly timestamp: number;
  readonly headers?: Headers;
}

/** Where a task's sinks write. The test driver captures; the runtime produces to the log. */
export interface RecordCollector {
  send(record: OutputRecord): void;
  /** Partition count of an output topic, for custom partitioners. */
  partitionsFor(topic: string): number;
}

export type ErrorResponse = 'continue' | 'fail';

/** The processor a wrapped processing error came from (for the exception handler's context). */
const failedAt = new WeakMap<StreamsError, string>();

/** Production errors the production handler already failed on: not the processing handler's to decide. */
const decided = new WeakSet<StreamsError>();

/** Kafka's producer default (max.request.size) and about the broker's message.max.bytes. */
export const DEFAULT_MAX_RECORD_BYTES = 1024 * 1024;

export interface TaskOptions {
  readonly applicationId: string;
  readonly collector: RecordCollector;
  readonly createStore: (builder: StoreBuilder, ctx: StoreContext) => AnyStore;
  readonly globalStores: ReadonlyMap<string, AnyStore>;
  readonly clock: () => number;
  /** Decides what happens to a record whose key or value cannot be decoded. Default: fail. */
  readonly onDeserializationError?: (error: DeserializationError, record: RawRecord) => ErrorResponse;
  /** Decides what happens when a processor throws. Default: fail. */
  readonly onProcessingError?: (error: StreamsError, record: RawRecord, nodeName: string) => ErrorResponse;
  /**
   * Decides what happens to an output a sink cannot produce (serialization failed, or larger than
   * `maxRecordBytes`). Default: fail. Not asked about outputs of punctuations (no input record): those fail.
   */
  readonly onProductionError?: (error: StreamsError, record: RawRecord, nodeName: string, output: ProducedRecord) => ErrorResponse;
  /**
   * The stream thread's record cache (KIP-63): stores whose builder enables caching keep their
   * writes there until the next flush. Absent or 0 bytes: every write goes through at once.
   */
  readonly recordCache?: ThreadCache;
  /** Largest output record (key, value and headers), as a producer's max.request.size. Default 1 MiB. */
  readonly maxRecordBytes?: number;
  /**
   * What the task committed with its input offsets last time, per input topic (see `checkpoint`):
   * its partition times, committed times and punctuation schedules resume from there.
   */
  readonly restoredFrom?: ReadonlyMap<string, PartitionCheckpoint>;
}

/** Counters a task keeps; the runtime exports them as metrics. */
export interface TaskMetrics {
  recordsIn: number;
  recordsOut: number;
  readonly dropped: Record<DropReason, number>;
}

function newDropCounts(): Record<DropReason, number> {
  return {
    'late-record': 0,
    'expired-window': 0,
    'null-key': 0,
    'null-value': 0,
    'null-foreign-key': 0,
    'negative-timestamp': 0,
    'deserialization-error': 0,
    'processing-error': 0,
    'production-error': 0,
  };
}

interface Punctuation {
  readonly intervalMs: number;
  readonly type: PunctuationType;
  readonly callback: (timestamp: number) => void;
  readonly node: RuntimeNode;
  next: number;
  cancelled: boolean;
}

interface RuntimeNode {
  readonly name: string;
  readonly processor: Processor<unknown, unknown, unknown, unknown> | null;
  readonly sink: SinkNode | null;
  readonly children: RuntimeNode[];
  readonly context: ProcessorContext;
}

/**
 * One task: a sub-topology instantiated for one partition. It owns fresh processor instances and
 * stores, and processes one raw record at a time, synchronously, to completion. The owner
 * restores the stores (`stores`), then calls `initialize()` before the first record.
 */
export class StreamTask {
  readonly id: string;
  readonly subtopology: Subtopology;
  readonly partition: number;
  readonly metrics: TaskMetrics = { recordsIn: 0, recordsOut: 0, dropped: newDropCounts() };
  readonly stores = new Map<string, AnyStore>();
  /** The stores behind the record cache, in the sub-topology's order. */
  readonly #cachingStores: (AnyStore & CachingStore)[] = [];

  readonly #options: TaskOptions;
  readonly #nodes = new Map<string, RuntimeNode>();
  readonly #sources = new Map<string, { def: SourceNode; node: RuntimeNode }>();
  readonly #punctuations: Punctuation[] = [];
  #streamTime = Number.NEGATIVE_INFINITY;
  /** Partition time per input topic (a task reads one partition of each): the highest timestamp seen on it. */
  readonly #partitionTime = new Map<string, number>();
  /** ProcessorContext.committedTime, by name. */
  readonly #times = new Map<string, TimeMark>();
  /** Committed times and punctuation schedules as of the last commit before this task started. */
  readonly #restoredTimes = new Map<string, number>();
  /** Punctuation due times as of the last commit before this task started (see `checkpoint`). */
  readonly #restoredSchedules = new Map<string, number>();
  /** The record being processed (undefined in a punctuation) and its timestamp. */
  #currentRaw: RawRecord | undefined;
  #currentTimestamp = 0;
  #initialized = false;
  #closed = false;

  /** Versioned stores as processors see them (the stores map holds the rows underneath). */
  readonly #views = new Map<string, VersionedKeyValueStore<unknown, unknown>>();

  /** The view of a versioned store of this task, if `name` is one. */
  versionedStore(name: string): VersionedKeyValueStore<unknown, unknown> | undefined {
    return this.#views.get(name);
  }

  constructor(topology: Topology, subtopology: Subtopology, partition: number, options: TaskOptions) {
    this.id = `${subtopology.id}_${partition}`;
    this.subtopology = subtopology;
    this.partition = partition;
    this.#options = options;
    for (const [topic, checkpoint] of options.restoredFrom ?? []) {
      if (checkpoint.partitionTime !== Number.NEGATIVE_INFINITY) this.#partitionTime.set(topic, checkpoint.partitionTime);
      if (checkpoint.partitionTime > this.#streamTime) this.#streamTime = checkpoint.partitionTime;
      // Each partition carries the whole task's times; all grow only, so the latest wins.
      for (const [name, value] of checkpoint.times) if (value > (this.#restoredTimes.get(name) ?? Number.NEGATIVE_INFINITY)) this.#restoredTimes.set(name, value);
      for (const [name, value] of checkpoint.schedules) if (value > (this.#restoredSchedules.get(name) ?? Number.NEGATIVE_INFINITY)) this.#restoredSchedules.set(name, value);
    }

    const storeCtx: StoreContext & CacheContext = {
      recordTimestamp: () => this.#currentTimestamp,
      capture: () => this.#currentRaw,
      headersOf: (context) => (context as RawRecord | undefined)?.headers,
      replay: (context, timestamp, run) => this.#replay(context as RawRecord | undefined, timestamp, run),
    };
    for (const name of subtopology.stores) {
      const builder = topology.storeBuilder(name)!;
      const store = options.createStore(builder, storeCtx);
      const cached = options.recordCache === undefined ? store : withRecordCache(builder, store, options.recordCache, storeCtx);
      this.stores.set(name, cached);
      if (cached !== store) this.#cachingStores.push(cached as AnyStore & CachingStore);
      if (builder.versioned !== undefined) this.#views.set(name, versionedView(store, builder));
    }
    // Build children before parents so each node can hold its children directly.
    const build = (name: string): RuntimeNode => {
      const existing = this.#nodes.get(name);
      if (existing !== undefined) return existing;
      const def = topology.node(name)!;
      const children = def.kind === 'sink' ? [] : def.children.map(build);
      const processor = def.kind === 'processor' ? def.supplier() : null;
      const connected = def.kind === 'processor' ? def.stores : new Set<string>();
      const node: RuntimeNode = {
        name,
        processor,
        sink: def.kind === 'sink' ? def : null,
        children,
        context: null as unknown as ProcessorContext,
      };
      (node as { context: ProcessorContext }).context = this.#contextFor(node, connected);
      this.#nodes.set(name, node);
      return node;
    };
    for (const def of subtopology.nodes) {
      const node = build(def.name);
      if (def.kind === 'source') for (const topic of def.topics) this.#sources.set(topic, { def, node });
    }
  }

  /**
   * Runs every processor's `init`, once the stores are restored (as Kafka Streams initializes a
   * task's topology after restoring it): a processor may read its stores in `init`.
   */
  initialize(): void {
    if (this.#initialized) throw new StreamsError('ILLEGAL_STATE', `task ${this.id} is already initialized`);
    this.#initialized = true;
    // init() parents-last is irrelevant: init never forwards. Kafka Streams inits in topological order.
    for (const def of this.subtopology.nodes) {
      const node = this.#nodes.get(def.name)!;
      node.processor?.init?.(node.context);
    }
  }

  /** The highest timestamp this task has processed. */
  get streamTime(): number {
    return this.#streamTime;
  }

  /**
   * What to commit with this task's offset of `topic`: the partition's time and the task's
   * committed times and punctuation schedules (see committed-time.ts).
   */
  checkpoint(topic: string): string {
    // Restored times no processor asked for yet are carried on: a lazy caller finds them later.
    const times = new Map(this.#restoredTimes);
    for (const [name, mark] of this.#times) times.set(name, mark.value);
    // Live punctuations are numbered per node and type in the order they were scheduled, so a
    // schedule cancelled and made again (or made later) maps to the same number after a restart.
    const schedules = new Map<string, number>();
    const counts = new Map<string, number>();
    for (const p of this.#punctuations) {
      if (p.cancelled) continue;
      const base = `${p.node.name}:${p.type}`;
      const n = counts.get(base) ?? 0;
      counts.set(base, n + 1);
      schedules.set(`${base}:${n}`, p.next);
    }
    return encodeCheckpoint(this.#partitionTime.get(topic) ?? Number.NEGATIVE_INFINITY, times, schedules);
  }

  /** Processes one record through the sub-topology, then fires stream-time punctuations that are due. */
  process(raw: RawRecord): void {
    if (this.#closed || !this.#initialized) throw new StreamsError('ILLEGAL_STATE', `task ${this.id} is ${this.#closed ? 'closed' : 'not initialized'}`);
    const source = this.#sources.get(raw.topic);
    if (source === undefined) {
      throw new StreamsError('UNKNOWN_TOPIC', `task ${this.id} does not read topic "${raw.topic}"`);
    }
    this.metrics.recordsIn++;
    // Deserialized here rather than into an object: one allocation less per record.
    let key: unknown;
    let value: unknown;
    let part: 'key' | 'value' = 'key';
    try {
      key = raw.key === null ? null : source.def.keySerde.deserialize(raw.key, raw.topic);
      part = 'value';
      value = raw.value === null ? null : source.def.valueSerde.deserialize(raw.value, raw.topic);
    } catch (cause) {
      this.#deserializationFailed(raw, part, cause);
      return;
    }
    // A task reads one partition of each of its topics: partition time is kept per topic.
    const partitionTime = this.#partitionTime.get(raw.topic) ?? Number.NEGATIVE_INFINITY;
    let timestamp = raw.timestamp;
    if (source.def.timestampExtractor !== undefined) {
      const extractor = source.def.timestampExtractor;
      const extracted = this.#guard(raw, source.node.name, () =>
        extractor({ key, value, timestamp: raw.timestamp, topic: raw.topic, partition: raw.partition, offset: raw.offset }, partitionTime),
      );
      if (extracted === undefined) return; // the extractor threw and the policy skipped the record
      timestamp = extracted;
    }
    if (!Number.isFinite(timestamp) || timestamp < 0) {
      this.metrics.dropped['negative-timestamp']++;
      return;
    }
    if (timestamp > partitionTime) this.#partitionTime.set(raw.topic, timestamp);
    if (timestamp > this.#streamTime) this.#streamTime = timestamp;
    this.#currentRaw = raw;
    this.#currentTimestamp = timestamp;
    const record: StreamRecord<unknown, unknown> = raw.headers === undefined ? { key, value, timestamp } : { key, value, timestamp, headers: raw.headers };
    try {
      const children = source.node.children;
      for (let i = 0; i < children.length; i++) this.#deliver(children[i]!, record);
    } catch (cause) {
      this.#handleFailure(raw, source.node.name, cause);
    }
    if (this.#punctuations.length > 0) this.#punctuate('stream-time', this.#streamTime);
    this.#currentRaw = undefined;
  }

  /** Fires wall-clock punctuations that are due at `now`. */
  punctuateWallClock(now: number): void {
    this.#punctuate('wall-clock-time', now);
  }

  /**
   * Flushes the stores: the record cache's writes go to the stores below and their changelogs, and
   * what the caching processors forward from them goes downstream (so before a commit takes the
   * outputs). A flush may dirty a store downstream, flushed in turn.
   */
  flush(): void {
    for (let round = 0; this.#cachingStores.some((s) => s.dirtyCount > 0); round++) {
      if (round >= 1000) throw new StreamsError('ILLEGAL_STATE', `task ${this.id}: the record cache does not settle (a cycle through caching stores?)`);
      for (const store of this.#cachingStores) store.flush();
    }
    for (const store of this.stores.values()) store.flush();
  }

  /** Runs a flushed cache entry's forwarding in the record context of its last write. */
  #replay(raw: RawRecord | undefined, timestamp: number, run: () => void): void {
    const savedRaw = this.#currentRaw;
    const savedTimestamp = this.#currentTimestamp;
    this.#currentRaw = raw;
    this.#currentTimestamp = timestamp;
    try {
      if (raw === undefined) run();
      else this.#guard(raw, 'record cache flush', run);
    } finally {
      this.#currentRaw = savedRaw;
      this.#currentTimestamp = savedTimestamp;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#initialized) for (const node of this.#nodes.values()) node.processor?.close?.();
    for (const store of this.stores.values()) store.close();
  }

  /** A key or value the source's serde refused: the handler decides (fail, or count and skip). */
  #deserializationFailed(raw: RawRecord, part: 'key' | 'value', cause: unknown): void {
    const error = new DeserializationError(raw, part, cause);
    const response = this.#options.onDeserializationError?.(error, raw) ?? 'fail';
    if (response === 'fail') throw error;
    this.metrics.dropped['deserialization-error']++;
  }


  /** Runs `fn`; an error is wrapped with the task, node and record, then handled by the policy. */
  #guard<T>(raw: RawRecord, nodeName: string, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (cause) {
      this.#handleFailure(raw, nodeName, cause);
      return undefined;
    }
  }

  /** Wraps a failure with the task, node and record, then applies the policy: rethrow, or count and skip. */
  #handleFailure(raw: RawRecord, nodeName: string, cause: unknown): void {
    const error =
      cause instanceof StreamsError
        ? cause
        : new StreamsError(
            'PROCESSING_FAILED',
            `task ${this.id}, node "${nodeName}", record ${raw.topic}-${raw.partition}@${raw.offset}: ${describeCause(cause)}`,
            { cause },
          );
    // A full suppression buffer is not the record's fault: skipping records would not empty it.
    const response = error.code === 'BUFFER_FULL' || decided.has(error) ? 'fail' : (this.#options.onProcessingError?.(error, raw, failedAt.get(error) ?? nodeName) ?? 'fail');
    if (response === 'fail') throw error;
    this.metrics.dropped['processing-error']++;
  }

  /** Hands a record to one node; an error from a processor is wrapped once, naming that node. */
  #deliver(node: RuntimeNode, record: StreamRecord<unknown, unknown>): void {
    try {
      if (node.sink !== null) this.#send(node.sink, record);
      else node.processor!.process(record);
    } catch (cause) {
      if (cause instanceof StreamsError) throw cause;
      const raw = this.#currentRaw;
      const where = raw === undefined ? 'a punctuation' : `record ${raw.topic}-${raw.partition}@${raw.offset}`;
      const error = new StreamsError('PROCESSING_FAILED', `task ${this.id}, processor "${node.name}", ${where}: ${describeCause(cause)}`, {
        cause,
      });
      failedAt.set(error, node.name);
      throw error;
    }
  }

  #send(sink: SinkNode, record: StreamRecord<unknown, unknown>): void {
    const raw = this.#currentRaw;
    const topic =
      typeof sink.topic === 'string'
        ? sink.topic
        : sink.topic(record.key, record.value, raw === undefined ? {} : { topic: raw.topic, partition: raw.partition, offset: raw.offset });
    let key: Uint8Array | null;
    let value: Uint8Array | null;
    try {
      key = serializeOutput(sink.keySerde, record.key, topic, 'key');
      value = serializeOutput(sink.valueSerde, record.value, topic, 'value');
      const size = (key?.byteLength ?? 0) + (value?.byteLength ?? 0) + headersSize(record.headers);
      const limit = this.#options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
      if (size > limit) throw new StreamsError('RECORD_TOO_LARGE', `an output record for ${topic} is ${size} bytes, more than maxRecordBytes (${limit})`);
    } catch (error) {
      if (this.#dropOutput(error as StreamsError, sink, topic, record)) return;
      throw error;
    }
    let partition: number | undefined;
    if (sink.partitioner !== undefined) {
      const count = this.#options.collector.partitionsFor(topic);
      partition = sink.partitioner(topic, record.key, record.value, count);
      if (partition !== undefined && (!Number.isInteger(partition) || partition < 0 || partition >= count)) {
        throw new StreamsError('INVALID_ARGUMENT', `partitioner of sink "${sink.name}" chose partition ${partition} of ${count} for ${topic}`);
      }
    }
    this.metrics.recordsOut++;
    this.#options.collector.send(
      record.headers === undefined
        ? { topic, partition, key, value, timestamp: record.timestamp }
        : { topic, partition, key, value, timestamp: record.timestamp, headers: record.headers },
    );
  }

  /** Asks the production handler about an output that cannot be produced; true: drop it and go on. */
  #dropOutput(error: StreamsError, sink: SinkNode, topic: string, record: StreamRecord<unknown, unknown>): boolean {
    const raw = this.#currentRaw;
    if (raw === undefined) return false;
    const output: ProducedRecord = { topic, key: record.key, value: record.value, timestamp: record.timestamp };
    const response = this.#options.onProductionError?.(error, raw, sink.name, output) ?? 'fail';
    if (response === 'fail') {
      decided.add(error);
      return false;
    }
    this.metrics.dropped['production-error']++;
    return true;
  }

  #contextFor(node: RuntimeNode, connected: ReadonlySet<string>): ProcessorContext {
    return {
      applicationId: this.#options.applicationId,
      taskId: this.id,
      nodeName: node.name,
      forward: (record: StreamRecord<unknown, unknown>, childName?: string) => {
        if (childName === undefined) {
          for (const child of node.children) this.#deliver(child, record);
          return;
        }
        const child = node.children.find((c) => c.name === childName);
        if (child === undefined) {
          throw new StreamsError('UNKNOWN_NODE', `"${childName}" is not a child of "${node.name}"`);
        }
        this.#deliver(child, record);
      },
      getStateStore: <S extends ProcessorStore>(name: string): S => {
        const store = connected.has(name) ? (this.#views.get(name) ?? this.stores.get(name)) : this.#options.globalStores.get(name);
        if (store === undefined) {
          throw new StreamsError('STORE_NOT_CONNECTED', `store "${name}" is not connected to processor "${node.name}"`);
        }
        return store as S;
      },
      schedule: (intervalMs: number, type: PunctuationType, callback: (timestamp: number) => void): Cancellable => {
        if (!Number.isSafeInteger(intervalMs) || intervalMs < 1) {
          throw new StreamsError('INVALID_ARGUMENT', `a punctuation interval must be >= 1 ms, got ${intervalMs}`);
        }
        // As in Kafka Streams, stream-time schedules are aligned to 0 (the first record fires them,
        // then every multiple of the interval); wall-clock schedules start one interval from now.
        // A task that ran before resumes the schedule it committed.
        // The n-th live schedule of this node and type takes the n-th committed one.
        const base = `${node.name}:${type}`;
        const n = this.#punctuations.filter((q) => !q.cancelled && q.node === node && q.type === type).length;
        const restored = this.#restoredSchedules.get(`${base}:${n}`);
        // A wall-clock due time from another process's clock is held to at most one interval ahead.
        const now = this.#options.clock();
        const next = type === 'stream-time' ? (restored ?? 0) : Math.min(restored ?? Number.POSITIVE_INFINITY, now + intervalMs);
        const p: Punctuation = { intervalMs, type, callback, node, next, cancelled: false };
        this.#punctuations.push(p);
        return {
          cancel() {
            p.cancelled = true;
          },
        };
      },
      currentStreamTimeMs: () => this.#streamTime,
      committedTime: (name: string) => {
        let mark = this.#times.get(name);
        if (mark === undefined) this.#times.set(name, (mark = new TimeMark(this.#restoredTimes.get(name))));
        return mark;
      },
      currentSystemTimeMs: () => this.#options.clock(),
      recordMetadata: (): RecordMetadata | undefined => {
        const raw = this.#currentRaw;
        return raw === undefined ? undefined : { topic: raw.topic, partition: raw.partition, offset: raw.offset };
      },
      recordDropped: (reason: DropReason) => {
        this.metrics.dropped[reason]++;
      },
    };
  }

  #punctuate(type: PunctuationType, now: number): void {
    for (const p of this.#punctuations) {
      if (p.cancelled || p.type !== type) continue;
      if (now < p.next) continue;
      const savedRaw = this.#currentRaw;
      const savedTimestamp = this.#currentTimestamp;
      this.#currentRaw = undefined;
      this.#currentTimestamp = now;
      try {
        p.callback(now);
      } catch (cause) {
        if (cause instanceof StreamsError) throw cause;
        throw new StreamsError('PROCESSING_FAILED', `task ${this.id}, processor "${p.node.name}", while punctuating: ${describeCause(cause)}`, {
          cause,
        });
      } finally {
        this.#currentRaw = savedRaw;
        this.#currentTimestamp = savedTimestamp;
      }
      // Skip punctuations missed while time jumped: the next one is the first interval after now.
      p.next += Math.floor((now - p.next) / p.intervalMs + 1) * p.intervalMs;
    }
    if (this.#punctuations.some((p) => p.cancelled)) {
      const live = this.#punctuations.filter((p) => !p.cancelled);
      this.#punctuations.splice(0, this.#punctuations.length, ...live);
    }
  }
}

/**
 * Keeps global stores current: every record of a global topic goes through its processor, which
 * writes the store. Global stores hold all partitions and are read-only to stream tasks.
 */
export class GlobalStateTask {
  readonly stores = new Map<string, AnyStore>();
  readonly #byTopic = new Map<string, { def: GlobalStoreDef; processor: Processor<unknown, unknown, unknown, unknown> }>();
  #timestamp = 0;

  constructor(topology: Topology, options: Pick<TaskOptions, 'applicationId' | 'createStore' | 'clock'>) {
    const storeCtx: StoreContext = { recordTimestamp: () => this.#timestamp };
    const times = new Map<string, TimeMark>();
    for (const def of topology.globalStores()) {
      const store = options.createStore(def.store, storeCtx);
      this.stores.set(def.store.name, store);
      const processor = def.supplier();
      const ctx: ProcessorContext = {
        applicationId: options.applicationId,
        taskId: 'global',
        nodeName: def.processorName,
        forward() {
          throw new StreamsError('ILLEGAL_STATE', `global store processor "${def.processorName}" cannot forward`);
        },
        getStateStore: <S extends AnyStore | VersionedKeyValueStore<unknown, unknown>>(name: string): S => {
          if (name !== def.store.name) {
            throw new StreamsError('STORE_NOT_CONNECTED', `store "${name}" is not connected to processor "${def.processorName}"`);
          }
          return store as S;
        },
        schedule: () => ({ cancel() {} }),
        currentStreamTimeMs: () => this.#timestamp,
        // Global stores are rebuilt from their topics at every start: nothing of time is committed.
        committedTime: (name: string) => {
          let mark = times.get(name);
          if (mark === undefined) times.set(name, (mark = new TimeMark()));
          return mark;
        },
        currentSystemTimeMs: options.clock,
        recordMetadata: () => undefined,
        recordDropped() {},
      };
      processor.init?.(ctx);
      this.#byTopic.set(def.topic, { def, processor });
    }
  }

  reads(topic: string): boolean {
    return this.#byTopic.has(topic);
  }

  process(raw: RawRecord): void {
    const entry = this.#byTopic.get(raw.topic);
    if (entry === undefined) throw new StreamsError('UNKNOWN_TOPIC', `no global store reads topic "${raw.topic}"`);
    const { def, processor } = entry;
    let part: 'key' | 'value' = 'key';
    let key: unknown;
    let value: unknown;
    try {
      key = raw.key === null ? null : def.keySerde.deserialize(raw.key, raw.topic);
      part = 'value';
      value = raw.value === null ? null : def.valueSerde.deserialize(raw.value, raw.topic);
    } catch (cause) {
      throw new DeserializationError(raw, part, cause);
    }
    this.#timestamp = raw.timestamp;
    processor.process({ key, value, timestamp: raw.timestamp });
  }

  close(): void {
    for (const { processor } of this.#byTopic.values()) processor.close?.();
    for (const store of this.stores.values()) store.close();
  }
}

function serializeOutput(serde: Serializer<unknown>, data: unknown, topic: string, part: 'key' | 'value'): Uint8Array | null {
  if (data === null || data === undefined) return null;
  try {
    return serde.serialize(data, topic);
  } catch (cause) {
    throw new SerializationError(topic, part, cause);
  }
}

function headersSize(headers: Headers | undefined): number {
  if (headers === undefined) return 0;
  let n = 0;
  for (const [k, v] of Object.entries(headers)) n += Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}
