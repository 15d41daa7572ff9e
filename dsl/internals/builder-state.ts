import {
  Serdes,
  Stores,
  Topology,
  TopologyError,
  type ProcessorSupplier,
  type Serde,
  type StoreBuilder,
  type StoreSupplier,
  type StreamPartitioner,
} from '../../engine/index.ts';
import type { Materialized } from '../options.ts';
import { Naming } from './naming.ts';

/** Internal topics and stores fall back to MessagePack when no serde is known: it round-trips any structured value. */
export const fallbackSerde: Serde<unknown> = Serdes.msgpack<unknown>();

/**
 * What every DSL object of one builder shares: the topology being built and the namer.
 * DSL objects themselves are immutable handles onto nodes of this topology.
 */
export class BuilderState {
  readonly topology = new Topology();
  readonly naming = new Naming();

  name(prefix: string, parents: readonly string[], explicit?: string): string {
    return this.naming.name(prefix, parents, explicit);
  }

  processor(
    prefix: string,
    parents: readonly string[],
    explicit: string | undefined,
    supplier: ProcessorSupplier<unknown, unknown, unknown, unknown>,
    stores: readonly string[] = [],
  ): string {
    const name = this.name(prefix, parents, explicit);
    this.topology.addProcessor(name, supplier, ...parents);
    if (stores.length > 0) this.topology.connectProcessorAndStateStores(name, ...stores);
    return name;
  }

  /**
   * Writes the stream at `parent` to an internal topic and reads it back: records are then
   * partitioned by their current key. Returns the new source node and its topic.
   */
  repartition(
    parent: string,
    base: string,
    keySerde: Serde<unknown> | undefined,
    valueSerde: Serde<unknown> | undefined,
    options: { numberOfPartitions?: number; partitioner?: StreamPartitioner<unknown, unknown> } = {},
  ): { node: string; topic: string } {
    const topic = `${base}-repartition`;
    const node = this.throughTopic([parent], topic, keySerde ?? fallbackSerde, valueSerde ?? fallbackSerde, {
      ...(options.partitioner !== undefined && { partitioner: options.partitioner }),
      ...(options.numberOfPartitions !== undefined && { numPartitions: options.numberOfPartitions }),
    });
    return { node, topic };
  }

  /**
   * Writes what `parents` forward to the internal topic `topic` (sink `<topic>-sink`) and reads it
   * back (source `<topic>-source`, returned).
   */
  throughTopic(
    parents: readonly string[],
    topic: string,
    key: Serde<unknown>,
    value: Serde<unknown>,
    options: { partitioner?: StreamPartitioner<unknown, unknown>; numPartitions?: number; partitionsOf?: readonly string[] } = {},
  ): string {
    const { partitioner, ...topicOptions } = options;
    this.topology.addSink(`${topic}-sink`, partitioner === undefined ? { topic, key, value } : { topic, key, value, partitioner }, ...parents);
    this.topology.addSource(`${topic}-source`, { topics: topic, key, value });
    this.topology.addInternalTopic(topic, topicOptions);
    return `${topic}-source`;
  }

  /** Adds the store of a stateful DSL operator from its Materialized options. */
  store(
    kind: StoreSupplier['kind'],
    operator: string,
    materialized: Materialized<unknown, unknown>,
    keySerde: Serde<unknown> | undefined,
    valueSerde: Serde<unknown> | undefined,
    window: { retentionMs: number; windowSizeMs?: number; retainDuplicates?: boolean } | undefined,
    processors: readonly string[],
    options: { readonly versionable?: boolean; readonly cacheable?: boolean } = {},
  ): StoreBuilder {
    const name = materialized.storeName ?? `${operator}-store`;
    const inMemory = materialized.storeType === 'in-memory';
    const retention = materialized.retentionMs ?? window?.retentionMs ?? 0;
    if (window !== undefined && materialized.retentionMs !== undefined && materialized.retentionMs < window.retentionMs) {
      throw new TopologyError(
        'INVALID_WINDOW',
        `store retention (${materialized.retentionMs} ms) must be at least window size + grace (${window.retentionMs} ms)`,
        operator,
      );
    }
    let supplier: StoreSupplier;
    if (materialized.versioned !== undefined && !(kind === 'key-value' && options.versionable === true)) {
      throw new TopologyError('INVALID_TOPOLOGY', 'a versioned store can materialize table() and toTable() only (as in Kafka Streams, not aggregations or derived tables)', operator);
    }
    if (materialized.versioned !== undefined) {
      const builder = Stores.versionedKeyValueStoreBuilder(
        Stores.persistentVersionedKeyValueStore(name, materialized.versioned.historyRetentionMs),
        materialized.key ?? keySerde ?? fallbackSerde,
        materialized.value ?? valueSerde ?? fallbackSerde,
      );
      const logged = materialized.logging === false ? builder.withLoggingDisabled() : builder;
      this.topology.addStateStore(logged, ...processors);
      return logged;
    }
    switch (kind) {
      case 'key-value':
        supplier = inMemory ? Stores.inMemoryKeyValueStore(name) : Stores.persistentKeyValueStore(name);
        break;
      case 'window':
        supplier = (inMemory ? Stores.inMemoryWindowStore : Stores.persistentWindowStore)(
          name,
          retention,
          window!.windowSizeMs!,
          window!.retainDuplicates ?? false,
        );
        break;
      case 'session':
        supplier = inMemory ? Stores.inMemorySessionStore(name, retention) : Stores.persistentSessionStore(name, retention);
        break;
    }
    const k = materialized.key ?? keySerde ?? fallbackSerde;
    const v = materialized.value ?? valueSerde ?? fallbackSerde;
    let builder: StoreBuilder =
      kind === 'key-value'
        ? Stores.keyValueStoreBuilder(supplier, k, v)
        : kind === 'window'
          ? Stores.windowStoreBuilder(supplier, k, v)
          : Stores.sessionStoreBuilder(supplier, k, v);
    if (materialized.logging === false) builder = builder.withLoggingDisabled();
    // Only stores whose processors forward through the cache's flush (see record-cache.ts).
    if (options.cacheable === true && materialized.caching !== false) builder = builder.withCachingEnabled();
    this.topology.addStateStore(builder, ...processors);
    return builder;
  }
}

/** Normalizes `string | Materialized` options. */
export function materializedOf<K, V>(m: string | Materialized<K, V> | undefined): Materialized<unknown, unknown> {
  if (m === undefined) return {};
  if (typeof m === 'string') return { storeName: m };
  return m as Materialized<unknown, unknown>;
}
