/**
 * The stream thread's side of the point-read snapshots (see ../store-snapshots.ts): remembers the
 * last change of every key of the published stores since the last publication (a key updated many
 * times between two commits is sent once), and posts the full rows of a task's published stores
 * when the task opens, the changes when a commit starts, and a close when the task leaves. Every
 * post is followed by an increment of the shared counter, so that the main thread knows, without
 * waiting for its event loop, that there is something to apply before answering a read.
 */
import type { MessagePort } from 'node:worker_threads';
import type { AnyStore, StoreBuilder } from '../../state/store.ts';
import type { SnapshotUpdate, StoreRows } from '../messages.ts';

/** Between commits (at-least-once commits every 30 s), a thread publishes at least this often. */
export const PUBLISH_INTERVAL_MS = 100;

interface Change {
  value: Uint8Array | null;
  timestamp: number;
}

const latin1 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');

export class SnapshotPublisher {
  readonly #port: MessagePort;
  readonly #counter: Int32Array;
  readonly #stores: ReadonlySet<string>;
  /** `${store}:${partition}` -> key id -> its last change since the last publication. */
  readonly #pending = new Map<string, { store: string; partition: number; changes: Map<string, Change> }>();
  #lastPublished = 0;

  constructor(port: MessagePort, published: SharedArrayBuffer, stores: Iterable<string>) {
    this.#port = port;
    this.#counter = new Int32Array(published);
    this.#stores = new Set(stores);
  }

  /** Whether `store` is published. */
  publishes(store: string): boolean {
    return this.#stores.has(store);
  }

  /** When the last publication was posted (ms since the epoch). */
  get lastPublished(): number {
    return this.#lastPublished;
  }

  /** A change of a published store, as its changelog sees it (key and value bytes; null deletes). */
  changed(store: string, partition: number, key: Uint8Array, value: Uint8Array | null, timestamp: number): void {
    const id = `${store}:${partition}`;
    let pending = this.#pending.get(id);
    if (pending === undefined) this.#pending.set(id, (pending = { store, partition, changes: new Map() }));
    pending.changes.set(latin1(key), { value, timestamp });
  }

  /**
   * A task was opened with `stores` restored: posts their full rows (only those published).
   * Changes remembered for them before are included, so they are forgotten.
   */
  open(partition: number, stores: readonly { readonly store: AnyStore; readonly builder: StoreBuilder }[]): void {
    const rows: StoreRows[] = [];
    for (const { store, builder } of stores) {
      if (!this.#stores.has(store.name) || store.kind !== 'key-value') continue;
      this.#pending.delete(`${store.name}:${partition}`);
      const keys: string[] = [];
      const values: string[] = [];
      const timestamps: number[] = [];
      for (const { key } of store.all()) {
        const row = store.getWithTimestamp(key);
        if (row === undefined) continue;
        keys.push(latin1(builder.keySerde.serialize(key, store.name)));
        values.push(latin1(builder.valueSerde.serialize(row.value, store.name)));
        timestamps.push(row.timestamp);
      }
      rows.push({ store: store.name, partition, keys, values, timestamps });
    }
    if (rows.length > 0) this.#post({ kind: 'snapshot-open', partition, stores: rows });
  }

  /** A task leaves this thread: what it published is withdrawn. */
  close(partition: number, stores: readonly string[]): void {
    const published = stores.filter((s) => this.#stores.has(s));
    for (const s of published) this.#pending.delete(`${s}:${partition}`);
    if (published.length > 0) this.#post({ kind: 'snapshot-close', partition, stores: published });
  }

  /** Posts the changes since the last publication, if any. */
  publish(): void {
    this.#lastPublished = Date.now();
    if (this.#pending.size === 0) return;
    const changes: StoreRows[] = [];
    for (const { store, partition, changes: byKey } of this.#pending.values()) {
      const keys: string[] = [];
      const values: (string | null)[] = [];
      const timestamps: number[] = [];
      for (const [key, change] of byKey) {
        keys.push(key);
        values.push(change.value === null ? null : latin1(change.value));
        timestamps.push(change.timestamp);
      }
      changes.push({ store, partition, keys, values, timestamps });
    }
    this.#pending.clear();
    this.#post({ kind: 'snapshot-changes', changes });
  }

  #post(update: SnapshotUpdate): void {
    // Posted first, counted second: a reader that sees the count finds the message on the channel.
    this.#port.postMessage(update);
    Atomics.add(this.#counter, 0, 1);
  }
}
