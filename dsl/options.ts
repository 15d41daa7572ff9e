import type { Serde, Serializer, StreamPartitioner, TimestampExtractor } from '../engine/index.ts';

/** Names an operator. Unnamed operators get stable generated names. */
export interface Named {
  readonly name?: string;
}

/** How a source topic is read. */
export interface Consumed<K, V> extends Named {
  readonly key: Serde<K>;
  readonly value: Serde<V>;
  readonly timestampExtractor?: TimestampExtractor<K, V>;
}

/** How records are written to a topic; serdes default to the ones known upstream. */
export interface Produced<K, V> extends Named {
  readonly key?: Serializer<K>;
  readonly value?: Serializer<V>;
  readonly partitioner?: StreamPartitioner<K, V>;
}

/** Serdes for a grouping; `name` names the repartition topic if one is needed. */
export interface Grouped<K, V> extends Named {
  readonly key?: Serde<K>;
  readonly value?: Serde<V>;
}

export interface Repartitioned<K, V> extends Named {
  readonly key?: Serde<K>;
  readonly value?: Serde<V>;
  readonly numberOfPartitions?: number;
  readonly partitioner?: StreamPartitioner<K, V>;
}

/** How a table or aggregation is stored. A named store is queryable under that name. */
export interface Materialized<K, V> {
  readonly storeName?: string;
  readonly key?: Serde<K>;
  readonly value?: Serde<V>;
  /** Window and session stores: how long windows are kept (default: size + grace). */
  readonly retentionMs?: number;
  /** `rocksdb` (default) or `in-memory`. */
  readonly storeType?: 'rocksdb' | 'in-memory';
  /** Keep a changelog topic for the store (default true). */
  readonly logging?: boolean;
  /**
   * Keep the store's writes in the record cache between commits (default true, as in Kafka
   * Streams; the size is StreamsApp's `cacheMaxBytes`): an aggregation then forwards and logs a
   * key's latest value once per commit instead of every update. False emits every update.
   */
  readonly caching?: boolean;
  /**
   * A versioned store (KIP-889) keeping this much history, for `table()` and `toTable()`: joins
   * from a stream read the table as of the stream record's time, not whatever arrived last.
   */
  readonly versioned?: { readonly historyRetentionMs: number };
}

export const Materialized = {
  /** A store with this name (queryable under it). */
  as<K = never, V = never>(storeName: string, options: Omit<Materialized<K, V>, 'storeName'> = {}): Materialized<K, V> {
    return { ...options, storeName };
  },
  with<K, V>(key: Serde<K>, value: Serde<V>): Materialized<K, V> {
    return { key, value };
  },
  /** `materialized` (default: none) with the record cache off: every update is forwarded and logged. */
  withCachingDisabled<K = never, V = never>(materialized: Materialized<K, V> = {}): Materialized<K, V> {
    return { ...materialized, caching: false };
  },
  /** `materialized` with the record cache on (the default). */
  withCachingEnabled<K = never, V = never>(materialized: Materialized<K, V> = {}): Materialized<K, V> {
    return { ...materialized, caching: true };
  },
} as const;

/** How a stream is handed to a sink (KStream.toSink). */
export interface ToSink<K, V> {
  /** Names the sink (its runner, metrics and stored positions) and its topic `<name>-sink`. */
  readonly name: string;
  /** Serdes of the sink's topic; default the ones known upstream. */
  readonly key?: Serde<K>;
  readonly value?: Serde<V>;
}

/** Options of a stateful operator: its name and its store. A string names the store. */
export interface StatefulOptions<K, V> extends Named {
  readonly materialized?: string | Materialized<K, V>;
}

/** Serdes and store names of a stream-stream join (Kafka Streams' StreamJoined). */
export interface StreamJoined<K, V, VO> extends Named {
  readonly key?: Serde<K>;
  readonly value?: Serde<V>;
  readonly otherValue?: Serde<VO>;
  /** Prefix of the join's store names. */
  readonly storeName?: string;
}

/** Serdes of a stream-table join (Kafka Streams' Joined). */
export interface Joined<K, V> extends Named {
  readonly key?: Serde<K>;
  readonly value?: Serde<V>;
  /**
   * KIP-923, versioned tables only: hold each stream record this long (by stream time) before
   * joining it, in timestamp order, so that table updates arriving up to this late are seen.
   * At most the table's history retention. Default 0 (join at once).
   */
  readonly gracePeriodMs?: number;
}
