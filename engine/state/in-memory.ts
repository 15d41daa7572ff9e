import type { AnyStore, StoreBuilder } from './store.ts';
import type { StoreContext } from './store-context.ts';
import { InMemoryKeyValueStore } from './in-memory-key-value.ts';
import { InMemorySessionStore } from './in-memory-session.ts';
import { InMemoryWindowStore } from './in-memory-window.ts';

export type { RestorableStore, StoreContext } from './store-context.ts';

/**
 * In-memory stores. Keys are ordered by their serialized bytes, as in RocksDB, and values are
 * kept serialized, so a processor that mutates a value it read cannot change the stored row and
 * a value that cannot be serialized fails at the put, exactly as it would against RocksDB.
 */
export function createInMemoryStore(builder: StoreBuilder, ctx: StoreContext): AnyStore {
  const { supplier, keySerde, valueSerde } = builder;
  switch (supplier.kind) {
    case 'key-value':
      return new InMemoryKeyValueStore(builder.name, supplier.persistent, keySerde, valueSerde, ctx);
    case 'window':
      return new InMemoryWindowStore(
        builder.name,
        supplier.persistent,
        keySerde,
        valueSerde,
        ctx,
        supplier.windowSizeMs ?? 0,
        supplier.retentionMs ?? Number.MAX_SAFE_INTEGER,
        supplier.retainDuplicates ?? false,
      );
    case 'session':
      return new InMemorySessionStore(
        builder.name,
        supplier.persistent,
        keySerde,
        valueSerde,
        ctx,
        supplier.retentionMs ?? Number.MAX_SAFE_INTEGER,
      );
  }
}
