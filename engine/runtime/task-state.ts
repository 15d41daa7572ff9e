/**
 * The stores of one task in a stream thread: in memory, or persistent in the task's local
 * database, and how each is restored.
 *
 * A persistent store's database records the changelog offset its data reflects, in the same
 * write as the data. After a crash the task reads that position and replays only the changelog
 * records after it; Kafka Streams instead wipes the state of a task that did not close cleanly
 * under exactly-once and restores it from the start of the changelog. Local data that cannot be
 * trusted (ahead of the changelog, or without a position) is dropped and rebuilt from the changelog.
 * So is a database that is damaged: one that cannot be opened or read, or whose rows disagree with
 * the digest written with them (LevelDB skips what it cannot read of its write-ahead log silently).
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { StreamsError } from '../errors.ts';
import type { AnyStore, StoreBuilder } from '../state/store.ts';
import { LocalStateDb, type LocalRow } from '../state/local-state.ts';
import type { PersistentKeyValueStore } from '../state/persistent.ts';
import { buildStoreStack, type StoreLayers, type StoreStack } from '../state/store-stack.ts';
import { belowCache } from '../state/record-cache.ts';
import type { Topology } from '../topology.ts';

export interface PreparedStores {
  readonly db: LocalStateDb | undefined;
  /** Changelog offset to replay from, per store with a changelog. */
  readonly restoreFrom: Map<string, number>;
  /**
   * Builds a store's stack (store-stack.ts) on the task's database: persistent stores on it,
   * in memory otherwise. `changelog` receives every change when the store logs.
   */
  createStore(builder: StoreBuilder, recordTimestamp: () => number, changelog?: StoreLayers['changelog']): AnyStore;
  /** Applies a changelog record to a store built here, and to its database if it is persistent. */
  restore(store: AnyStore, key: Uint8Array, value: Uint8Array | null, timestamp: number): void;
  /** The persistent key-value stores, for prefetching and metrics. */
  readonly keyValueStores: PersistentKeyValueStore<unknown, unknown>[];
}

export interface PrepareOptions {
  readonly stateDir: string | undefined;
  readonly applicationId: string;
  readonly taskId: string;
  readonly topology: Topology;
  readonly storeNames: readonly string[];
  /** Store -> changelog topic (log name), for stores with a changelog. */
  readonly changelogs: Readonly<Record<string, string>>;
  /** Changelog topic -> its end offset for this task's partition. */
  readonly changelogEnds: ReadonlyMap<string, number>;
  readonly cacheBytesPerStore: number;
  readonly warn: (message: string) => void;
}

/**
 * Opens a task's database and checks every persistent store in it; a damaged one is deleted
 * (with a warning naming the task and the directory) and opened empty, to be rebuilt from the
 * changelogs. Only a directory locked by another instance fails.
 */
async function openVerified(path: string, stores: readonly string[], options: PrepareOptions): Promise<LocalStateDb> {
  let problem: string;
  try {
    const db = await LocalStateDb.open(path);
    try {
      let found: string | undefined;
      for (const store of stores) if ((found = await db.verify(store)) !== undefined) break;
      if (found === undefined) return db;
      problem = found;
    } catch (cause) {
      problem = (cause as Error).message;
    }
    await db.close().catch(() => {});
  } catch (cause) {
    if (cause instanceof StreamsError && cause.code === 'STATE_LOCKED') throw cause;
    problem = (cause as Error).message;
  }
  options.warn(`task ${options.taskId}: the local state in ${path} is damaged (${problem}); deleting it and rebuilding it from the changelog`);
  await rm(path, { recursive: true, force: true });
  return LocalStateDb.open(path);
}

export async function prepareStores(options: PrepareOptions): Promise<PreparedStores> {
  const { topology, storeNames, changelogs } = options;
  const persistentNames = options.stateDir === undefined ? [] : storeNames.filter((n) => topology.storeBuilder(n)!.supplier.persistent);
  const db =
    persistentNames.length === 0 ? undefined : await openVerified(join(options.stateDir!, options.applicationId, options.taskId), persistentNames, options);
  const restoreFrom = new Map<string, number>();
  const keys = new Map<string, string[]>();
  const rows = new Map<string, { key: Uint8Array; row: LocalRow }[]>();
  for (const name of storeNames) {
    const changelog = changelogs[name];
    if (db === undefined || !persistentNames.includes(name)) {
      if (changelog !== undefined) restoreFrom.set(name, 0);
      continue;
    }
    if (changelog !== undefined) {
      const position = db.position(changelog);
      const end = options.changelogEnds.get(changelog) ?? 0;
      let from = position ?? 0;
      if (position === undefined || position > end) {
        if (position !== undefined) {
          options.warn(`state of store "${name}" in ${db.path} is ahead of its changelog (${position} > ${end}); rebuilding it from the changelog`);
        }
        await db.clear(name);
        from = 0;
      }
      restoreFrom.set(name, from);
    }
    if (topology.storeBuilder(name)!.supplier.kind === 'key-value') keys.set(name, await db.loadKeys(name));
    else rows.set(name, await db.loadRows(name));
  }
  const keyValueStores: PersistentKeyValueStore<unknown, unknown>[] = [];
  const stacks = new WeakMap<AnyStore, StoreStack>();
  return {
    db,
    restoreFrom,
    keyValueStores,
    createStore(builder, recordTimestamp, changelog) {
      const onDisk = db !== undefined && persistentNames.includes(builder.name);
      const stack = buildStoreStack(builder, recordTimestamp, {
        ...(changelog !== undefined && { changelog }),
        ...(onDisk && { local: { db, keys: keys.get(builder.name) ?? [], rows: rows.get(builder.name) ?? [], cacheBytes: options.cacheBytesPerStore } }),
      });
      if (stack.persistent && builder.supplier.kind === 'key-value') keyValueStores.push(stack.store as unknown as PersistentKeyValueStore<unknown, unknown>);
      stacks.set(stack.store, stack);
      return stack.store;
    },
    restore(store, key, value, timestamp) {
      // Restoring writes below the record cache (which is empty until processing starts).
      const stack = stacks.get(belowCache(store));
      if (stack === undefined) throw new StreamsError('ILLEGAL_STATE', `store "${store.name}" was not built by this task's stores`);
      stack.restore(key, value, timestamp);
    },
  };
}
