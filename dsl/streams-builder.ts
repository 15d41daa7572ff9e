import { Stores, TopologyError, type StoreBuilder, type Topology } from '../engine/index.ts';
import type { Consumed, StatefulOptions } from './options.ts';
import { internal } from './internals/symbols.ts';
import { BuilderState, materializedOf } from './internals/builder-state.ts';
import { TableSourceProcessor, storeGetter, type Ctx, type Rec } from './internals/processors.ts';
import { VersionedTableSourceProcessor, versionedGetter } from './internals/versioned-table.ts';
import type { KeyValueStore } from '../engine/index.ts';
import { KStream } from './kstream.ts';
import { GlobalKTable, KTable } from './ktable.ts';

/**
 * Builds a topology with the DSL.
 *
 * @example
 * const builder = new StreamsBuilder();
 * builder.stream('words', { key: Serdes.string(), value: Serdes.string() })
 *   .groupBy((_, word) => word, { key: Serdes.string() })
 *   .count({ materialized: 'word-counts' })
 *   .toStream()
 *   .to('word-counts');
 * const topology = builder.build();
 */
export class StreamsBuilder {
  readonly #state = new BuilderState();

  /** A stream of the records of one or more topics. */
  stream<K, V>(topics: string | readonly string[], consumed: Consumed<K, V>): KStream<K, V> {
    const list = typeof topics === 'string' ? [topics] : [...topics];
    const name = this.#state.name('KSTREAM-SOURCE', [list.join('+')], consumed?.name);
    if (consumed === undefined || consumed.key === undefined || consumed.value === undefined) {
      throw new TopologyError('MISSING_SERDE', `stream(${JSON.stringify(topics)}) needs { key, value } serdes`, name);
    }
    this.#state.topology.addSource(name, {
      topics: list,
      key: consumed.key,
      value: consumed.value,
      ...(consumed.timestampExtractor !== undefined && { timestampExtractor: consumed.timestampExtractor }),
    });
    return new KStream<K, V>(internal, {
      state: this.#state,
      node: name,
      keySerde: consumed.key,
      valueSerde: consumed.value,
      keyChanged: false,
      sources: list,
    });
  }

  /** A table read from a changelog topic: the latest value per key, null deletes. Always materialized. */
  table<K, V>(topic: string, consumed: Consumed<K, V>, materialized?: StatefulOptions<K, V>['materialized']): KTable<K, V> {
    const state = this.#state;
    const source = state.name('KTABLE-SOURCE', [topic], consumed?.name);
    if (consumed === undefined || consumed.key === undefined || consumed.value === undefined) {
      throw new TopologyError('MISSING_SERDE', `table("${topic}") needs { key, value } serdes`, source);
    }
    state.topology.addSource(source, {
      topics: topic,
      key: consumed.key,
      value: consumed.value,
      ...(consumed.timestampExtractor !== undefined && { timestampExtractor: consumed.timestampExtractor }),
    });
    const m = materializedOf(materialized);
    const storeName = m.storeName ?? `${source}-store`;
    const versioned = m.versioned !== undefined;
    const node = state.processor('KTABLE-SOURCE', [source], `${source}-table`, () => (versioned ? new VersionedTableSourceProcessor(storeName) : new TableSourceProcessor(storeName, true)));
    state.store('key-value', source, { ...m, storeName }, consumed.key, consumed.value, undefined, [node], { versionable: true });
    return new KTable<K, V>(internal, {
      state,
      node,
      keySerde: consumed.key,
      valueSerde: consumed.value,
      getter: versioned ? versionedGetter(storeName, m.versioned!.historyRetentionMs) : storeGetter(storeName, 'key-value'),
      storeName,
      sources: [topic],
      windowCloseMs: undefined,
    });
  }

  /** A table of all partitions of `topic`, replicated to every task. */
  globalTable<K, V>(topic: string, consumed: Consumed<K, V>, materialized?: StatefulOptions<K, V>['materialized']): GlobalKTable<K, V> {
    const state = this.#state;
    const sourceName = state.name('KSTREAM-GLOBAL-SOURCE', [topic], consumed?.name);
    if (consumed === undefined || consumed.key === undefined || consumed.value === undefined) {
      throw new TopologyError('MISSING_SERDE', `globalTable("${topic}") needs { key, value } serdes`, sourceName);
    }
    const m = materializedOf(materialized);
    const storeName = m.storeName ?? `${sourceName}-store`;
    if (m.versioned !== undefined) throw new TopologyError('INVALID_TOPOLOGY', 'a global table cannot be versioned (as in Kafka Streams)', sourceName);
    const supplier = m.storeType === 'in-memory' ? Stores.inMemoryKeyValueStore(storeName) : Stores.persistentKeyValueStore(storeName);
    // A global store is restored from its own topic: it keeps no changelog.
    const store: StoreBuilder = Stores.keyValueStoreBuilder(supplier, m.key ?? consumed.key, m.value ?? consumed.value).withLoggingDisabled();
    state.topology.addGlobalStore({
      store,
      sourceName,
      topic,
      key: consumed.key,
      value: consumed.value,
      ...(consumed.timestampExtractor !== undefined && { timestampExtractor: consumed.timestampExtractor }),
      processorName: `${sourceName}-table`,
      processor: () => new GlobalTableUpdater(storeName),
    });
    return new GlobalKTable<K, V>(internal, { getter: storeGetter(storeName, 'key-value'), storeName });
  }

  /** Adds a store for Processor API processors; connect it by naming it in `KStream.process(supplier, name)`. */
  addStateStore(store: StoreBuilder): this {
    this.#state.topology.addStateStore(store);
    return this;
  }

  /**
   * The topology, validated: every store a processor asks for must be connected to it. Further
   * DSL calls keep extending the same topology.
   */
  build(): Topology {
    return this.#state.topology.validate();
  }
}

/** Keeps a global table's store equal to its topic. */
class GlobalTableUpdater {
  readonly #storeName: string;
  #store!: KeyValueStore<unknown, unknown>;

  constructor(storeName: string) {
    this.#storeName = storeName;
  }

  init(ctx: Ctx): void {
    this.#store = ctx.getStateStore(this.#storeName);
  }

  process(record: Rec): void {
    if (record.key === null || record.key === undefined) return;
    this.#store.put(record.key, record.value ?? null, record.timestamp);
  }
}
