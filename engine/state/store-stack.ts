/**
 * One store's stack, built in one place for the runtime, the test driver and the build-time
 * wiring check (Kafka Streams' KeyValueStoreBuilder.build(): metered(caching(logging(inner)))).
 * From the processor down:
 *
 *   changelogging   every change also goes to `changelog` (the task's changelog topic), when the
 *                   store logs; its bytes are what `restore` takes back
 *   (record cache)  the place for a KIP-63 cache: it would sit between the processor and the
 *                   changelog, forwarding and logging only a key's last update per commit
 *   local mirror    a window or session store in a task's database: every change and every row
 *                   that falls out of retention is written there too (the data stays in memory,
 *                   bounded by retention, and is reloaded from the mirror at the next start)
 *   inner store     in memory, or, for a key-value store with a task database, persistent: its
 *                   rows live in the database and a bounded cache of values in memory
 *
 * The stores implement changelogging themselves by calling `StoreContext.logChange` with every
 * change; the stack is the context each store gets, composed here layer by layer.
 */
import { createInMemoryStore, type RestorableStore, type StoreContext } from './in-memory.ts';
import type { LocalRow, LocalStateDb } from './local-state.ts';
import { PersistentKeyValueStore } from './persistent.ts';
import type { AnyStore, StoreBuilder } from './store.ts';

/** Where a store's data lives besides memory: the task's database and what it already holds. */
export interface LocalLayer {
  readonly db: LocalStateDb;
  /** Key-value stores: the keys the database holds, as latin1 strings (LocalStateDb.loadKeys). */
  readonly keys?: readonly string[];
  /** Window and session stores: the rows the database holds (reloaded into memory). */
  readonly rows?: readonly { readonly key: Uint8Array; readonly row: LocalRow }[];
  /** The value cache of a persistent key-value store (bytes). */
  readonly cacheBytes: number;
}

export interface StoreLayers {
  /** The changelog: called with every change's changelog key, value (null: delete) and timestamp. */
  readonly changelog?: (key: Uint8Array, value: Uint8Array | null, timestamp: number) => void;
  /** The task's database, for persistent stores (absent: in memory, restored from the changelog). */
  readonly local?: LocalLayer;
}

/** A built store and how to apply a changelog record to every layer that keeps data. */
export interface StoreStack {
  readonly store: AnyStore & RestorableStore;
  /** The store's rows are in the task's database (a persistent key-value store, or a mirrored one). */
  readonly persistent: boolean;
  /** Applies one changelog record (restoring, or a standby following the changelog). */
  restore(key: Uint8Array, value: Uint8Array | null, timestamp: number): void;
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/** Builds `builder`'s store with its layers; `recordTimestamp` is the task's current record time. */
export function buildStoreStack(builder: StoreBuilder, recordTimestamp: () => number, layers: StoreLayers = {}): StoreStack {
  const { changelog, local } = layers;
  if (local === undefined || !builder.supplier.persistent) {
    const store = createInMemoryStore(builder, { recordTimestamp, ...(changelog !== undefined && { logChange: changelog }) }) as AnyStore & RestorableStore;
    return { store, persistent: false, restore: (key, value, timestamp) => store.restore(key, value, timestamp) };
  }
  const { db } = local;
  if (builder.supplier.kind === 'key-value') {
    const ctx: StoreContext = { recordTimestamp, ...(changelog !== undefined && { logChange: changelog }) };
    const store = new PersistentKeyValueStore(builder.name, builder.keySerde, builder.valueSerde, ctx, db, local.keys ?? [], local.cacheBytes);
    return {
      store: store as unknown as AnyStore & RestorableStore,
      persistent: true,
      restore(key, value, timestamp) {
        db.write(builder.name, latin1(key), value, timestamp);
        store.restore(key, value, timestamp);
      },
    };
  }
  // A window or session store holds its rows in memory and never reads them through the
  // database: its writes are logged (LocalStateDb.logRow), the rows it replaces or drops marked.
  const name = builder.name;
  const store = createInMemoryStore(builder, {
    recordTimestamp,
    logChange: (key, value, timestamp, keyId, row, replaced) => {
      db.logRow(name, keyId ?? latin1(key), value === null ? null : (row ?? { value, timestamp }), replaced);
      changelog?.(key, value, timestamp);
    },
    expired: (key, keyId, row) => db.logRow(name, keyId ?? latin1(key), null, row),
  }) as AnyStore & RestorableStore;
  for (const { key, row } of local.rows ?? []) store.restore(key, row.value, row.timestamp);
  return {
    store,
    persistent: true,
    // Written to the database first: a window or session store that finds the row already out of
    // retention deletes it again (StoreContext.expired).
    restore(key, value, timestamp) {
      db.logRow(name, latin1(key), value === null ? null : { value, timestamp });
      store.restore(key, value, timestamp);
    },
  };
}

/** A store built with no layer beyond the inner one: the test driver, global stores and the build-time check. */
export function buildInMemoryStore(builder: StoreBuilder, ctx: StoreContext): AnyStore {
  return buildStoreStack(builder, () => ctx.recordTimestamp()).store;
}
