import type { Serde } from '../serde.ts';
import { StreamsError } from '../errors.ts';
import type { KeyValueStore, SessionStore, StoreBuilder, StoreSupplier, WindowStore, AnyStore } from './store.ts';
import { rowBytesSerde } from './versioned.ts';

function checkName(name: string): void {
  if (typeof name !== 'string' || !/^[A-Za-z0-9._-]+$/.test(name)) {
    throw new StreamsError('INVALID_ARGUMENT', `a store name must be letters, digits, ".", "_" or "-": ${JSON.stringify(name)}`);
  }
}

function checkDuration(what: string, ms: number, min = 0): void {
  if (!Number.isSafeInteger(ms) || ms < min) {
    throw new StreamsError('INVALID_WINDOW', `${what} must be an integer number of milliseconds >= ${min}, got ${ms}`);
  }
}

class Builder<S extends AnyStore> implements StoreBuilder<S> {
  readonly name: string;
  readonly supplier: StoreSupplier;
  readonly keySerde: Serde<unknown>;
  readonly valueSerde: Serde<unknown>;
  readonly loggingEnabled: boolean;
  readonly versioned: StoreBuilder['versioned'];
  readonly cachingEnabled: boolean;

  constructor(
    supplier: StoreSupplier,
    keySerde: Serde<unknown>,
    valueSerde: Serde<unknown>,
    loggingEnabled = true,
    versioned?: StoreBuilder['versioned'],
    cachingEnabled = false,
  ) {
    if (keySerde === undefined || valueSerde === undefined) {
      throw new StreamsError('MISSING_SERDE', `store "${supplier.name}" needs a key serde and a value serde`);
    }
    this.name = supplier.name;
    this.supplier = supplier;
    this.keySerde = keySerde;
    this.valueSerde = valueSerde;
    this.loggingEnabled = loggingEnabled;
    this.versioned = versioned;
    this.cachingEnabled = cachingEnabled;
    Object.freeze(this);
  }

  withLoggingDisabled(): StoreBuilder<S> {
    return new Builder<S>(this.supplier, this.keySerde, this.valueSerde, false, this.versioned, this.cachingEnabled);
  }

  withLoggingEnabled(): StoreBuilder<S> {
    return new Builder<S>(this.supplier, this.keySerde, this.valueSerde, true, this.versioned, this.cachingEnabled);
  }

  withCachingEnabled(): StoreBuilder<S> {
    return new Builder<S>(this.supplier, this.keySerde, this.valueSerde, this.loggingEnabled, this.versioned, true);
  }

  withCachingDisabled(): StoreBuilder<S> {
    return new Builder<S>(this.supplier, this.keySerde, this.valueSerde, this.loggingEnabled, this.versioned, false);
  }
}

/**
 * Store suppliers and builders, named as in Kafka Streams.
 *
 * @example
 * const counts = Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore('counts'), Serdes.string(), Serdes.number());
 * topology.addStateStore(counts, 'counter');
 */
export const Stores = {
  persistentKeyValueStore(name: string): StoreSupplier {
    checkName(name);
    return { name, kind: 'key-value', persistent: true };
  },
  inMemoryKeyValueStore(name: string): StoreSupplier {
    checkName(name);
    return { name, kind: 'key-value', persistent: false };
  },
  persistentWindowStore(name: string, retentionMs: number, windowSizeMs: number, retainDuplicates = false): StoreSupplier {
    checkName(name);
    checkDuration('window size', windowSizeMs, 1);
    checkDuration('retention', retentionMs, windowSizeMs);
    return { name, kind: 'window', persistent: true, retentionMs, windowSizeMs, retainDuplicates };
  },
  inMemoryWindowStore(name: string, retentionMs: number, windowSizeMs: number, retainDuplicates = false): StoreSupplier {
    return { ...Stores.persistentWindowStore(name, retentionMs, windowSizeMs, retainDuplicates), persistent: false };
  },
  persistentSessionStore(name: string, retentionMs: number): StoreSupplier {
    checkName(name);
    checkDuration('retention', retentionMs);
    return { name, kind: 'session', persistent: true, retentionMs };
  },
  inMemorySessionStore(name: string, retentionMs: number): StoreSupplier {
    return { ...Stores.persistentSessionStore(name, retentionMs), persistent: false };
  },
  /**
   * A versioned key-value store (KIP-889) keeping `historyRetentionMs` of history: reads as of a
   * time (`get(key, asOf)`), stream-table joins as of the stream record's time.
   */
  persistentVersionedKeyValueStore(name: string, historyRetentionMs: number): StoreSupplier {
    checkName(name);
    checkDuration('history retention', historyRetentionMs);
    return { name, kind: 'key-value', persistent: true, historyRetentionMs };
  },
  versionedKeyValueStoreBuilder<K, V>(supplier: StoreSupplier, keySerde: Serde<K>, valueSerde: Serde<V>): StoreBuilder {
    if (supplier.historyRetentionMs === undefined) {
      throw new StreamsError('INVALID_ARGUMENT', `store "${supplier.name}" is not versioned: use Stores.persistentVersionedKeyValueStore(name, historyRetentionMs)`);
    }
    if (keySerde === undefined || valueSerde === undefined) throw new StreamsError('MISSING_SERDE', `store "${supplier.name}" needs a key serde and a value serde`);
    const versioned = { keySerde: keySerde as Serde<unknown>, valueSerde: valueSerde as Serde<unknown>, historyRetentionMs: supplier.historyRetentionMs };
    return new Builder(supplier, rowBytesSerde as Serde<unknown>, rowBytesSerde as Serde<unknown>, true, versioned);
  },
  keyValueStoreBuilder<K, V>(supplier: StoreSupplier, keySerde: Serde<K>, valueSerde: Serde<V>): StoreBuilder<KeyValueStore<K, V>> {
    return make('key-value', supplier, keySerde, valueSerde);
  },
  windowStoreBuilder<K, V>(supplier: StoreSupplier, keySerde: Serde<K>, valueSerde: Serde<V>): StoreBuilder<WindowStore<K, V>> {
    return make('window', supplier, keySerde, valueSerde);
  },
  sessionStoreBuilder<K, V>(supplier: StoreSupplier, keySerde: Serde<K>, valueSerde: Serde<V>): StoreBuilder<SessionStore<K, V>> {
    return make('session', supplier, keySerde, valueSerde);
  },
} as const;

function make<S extends AnyStore>(
  kind: StoreSupplier['kind'],
  supplier: StoreSupplier,
  keySerde: Serde<unknown>,
  valueSerde: Serde<unknown>,
): StoreBuilder<S> {
  if (supplier.kind !== kind) {
    throw new StreamsError('INVALID_ARGUMENT', `store "${supplier.name}" is a ${supplier.kind} store, not a ${kind} store`);
  }
  return new Builder<S>(supplier, keySerde, valueSerde);
}
