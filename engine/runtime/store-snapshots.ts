/**
 * Point-read snapshots of key-value stores, kept on the main thread so that a key query is
 * answered there, without a round trip to the stream thread that owns the task (which may be in
 * the middle of a batch, or whose reply waits on the main thread's own event loop).
 *
 * Each stream thread publishes, over a channel of its own, the full rows of a task's published
 * stores when it opens the task, then the rows changed since its last publication each time a
 * commit starts (after the stores have flushed what that commit takes), and at least every
 * `PUBLISH_INTERVAL_MS` between commits. After posting a publication the thread increments a
 * counter in shared memory. A read first compares that counter with the publications applied
 * here and takes the missing ones synchronously off the channel (`receiveMessageOnPort`), so it
 * never waits for an event loop, and never misses a publication posted before it began:
 *
 *   a read sees every commit that completed before the read began (and possibly the commit under
 *   way, as the stream thread's own store would), never anything older than a read before it.
 *
 * Memory: every key of a published store partition is kept with its timestamp (its bytes as a
 * string plus about 80 bytes), and values (as strings of their serialized bytes) within
 * `maxBytes` for all stores together, least recently used first out. A key whose value was
 * evicted is read from the stream thread (the caller falls back to asking it).
 */
import { receiveMessageOnPort, MessageChannel, type MessagePort } from 'node:worker_threads';
import { assertNever, type SnapshotUpdate, type StoreRows } from './messages.ts';

/** What one value costs besides its key and bytes: the Map entry and string headers (estimate). */
const VALUE_OVERHEAD_BYTES = 64;

/** One stream thread's channel: the worker's end goes in its workerData. */
export interface SnapshotSource {
  /** For the worker (transfer it): where it posts its publications. */
  readonly workerPort: MessagePort;
  /** For the worker: `Int32Array(published)[0]` counts the publications it has posted. */
  readonly published: SharedArrayBuffer;
}

interface Source extends SnapshotSource {
  readonly port: MessagePort;
  readonly counter: Int32Array;
  applied: number;
  connected: boolean;
}

interface PartitionSnapshot {
  readonly owner: Source;
  /** Key id (latin1 of the key bytes) -> row timestamp; every key of the partition. */
  readonly timestamps: Map<string, number>;
}

/** A point read's answer: absent, or present with its value bytes (undefined: evicted here). */
export type SnapshotRow = { readonly found: false } | { readonly found: true; readonly value: Uint8Array | undefined; readonly timestamp: number };

export class StoreSnapshots {
  readonly #stores: ReadonlySet<string>;
  readonly #maxBytes: number;
  readonly #partitions = new Map<string, PartitionSnapshot>();
  /** `${store}:${partition}\u0000${key id}` -> value bytes (latin1), least recently used first. */
  readonly #values = new Map<string, string>();
  #bytes = 0;

  /** `stores`: the key-value stores to publish; `maxBytes`: the budget for their values. */
  constructor(stores: Iterable<string>, maxBytes: number) {
    this.#stores = new Set(stores);
    this.#maxBytes = maxBytes;
  }

  /** The stores published. */
  get stores(): ReadonlySet<string> {
    return this.#stores;
  }

  /** Bytes of values held (estimate, within `maxBytes`), values held and keys known. */
  stats(): { bytes: number; values: number; keys: number; partitions: number } {
    let keys = 0;
    for (const p of this.#partitions.values()) keys += p.timestamps.size;
    return { bytes: this.#bytes, values: this.#values.size, keys, partitions: this.#partitions.size };
  }

  /** A channel for one stream thread; its publications are applied as they arrive. */
  connect(): SnapshotSource {
    const channel = new MessageChannel();
    const published = new SharedArrayBuffer(4);
    const source: Source = { workerPort: channel.port2, published, port: channel.port1, counter: new Int32Array(published), applied: 0, connected: true };
    channel.port1.on('message', (update: SnapshotUpdate) => this.#apply(source, update));
    // The channel must not keep the process alive on its own.
    channel.port1.unref();
    return source;
  }

  /** The thread stopped or failed: what it published is no longer served. */
  disconnect(source: SnapshotSource): void {
    const s = source as Source;
    if (!s.connected) return;
    s.connected = false;
    s.port.close();
    for (const [id, p] of this.#partitions) if (p.owner === s) this.#drop(id);
  }

  /**
   * The row of `keyId` in `store` partition `partition`, as last published by `source` (the thread
   * running that task); undefined if that thread does not publish it (not opened yet, moved, or
   * not a published store): ask the thread instead.
   */
  read(source: SnapshotSource, store: string, partition: number, keyId: string): SnapshotRow | undefined {
    const s = source as Source;
    if (!s.connected) return undefined;
    this.#catchUp(s);
    const id = `${store}:${partition}`;
    const p = this.#partitions.get(id);
    if (p === undefined || p.owner !== s) return undefined;
    const timestamp = p.timestamps.get(keyId);
    if (timestamp === undefined) return { found: false };
    const valueId = `${id}\u0000${keyId}`;
    const value = this.#values.get(valueId);
    if (value === undefined) return { found: true, value: undefined, timestamp };
    // Most recently used: to the end of the eviction order.
    this.#values.delete(valueId);
    this.#values.set(valueId, value);
    return { found: true, value: Buffer.from(value, 'latin1'), timestamp };
  }

  /** Applies every publication `source` has posted and this thread has not applied yet. */
  #catchUp(s: Source): void {
    while (s.applied < Atomics.load(s.counter, 0)) {
      const received = receiveMessageOnPort(s.port);
      if (received === undefined) return;
      this.#apply(s, received.message as SnapshotUpdate);
    }
  }

  #apply(s: Source, update: SnapshotUpdate): void {
    s.applied++;
    if (!s.connected) return;
    switch (update.kind) {
      case 'snapshot-open':
        for (const rows of update.stores) {
          const id = `${rows.store}:${rows.partition}`;
          this.#drop(id);
          this.#partitions.set(id, { owner: s, timestamps: new Map() });
          this.#write(s, rows);
        }
        return;
      case 'snapshot-changes':
        for (const rows of update.changes) this.#write(s, rows);
        return;
      case 'snapshot-close':
        for (const store of update.stores) {
          const id = `${store}:${update.partition}`;
          if (this.#partitions.get(id)?.owner === s) this.#drop(id);
        }
        return;
      default:
        assertNever(update);
    }
  }

  #write(s: Source, rows: StoreRows): void {
    const id = `${rows.store}:${rows.partition}`;
    const p = this.#partitions.get(id);
    // Changes of a partition this thread no longer (or not yet) owns here.
    if (p === undefined || p.owner !== s) return;
    for (let i = 0; i < rows.keys.length; i++) {
      const key = rows.keys[i]!;
      const value = rows.values[i]!;
      const valueId = `${id}\u0000${key}`;
      this.#forget(valueId);
      if (value === null) {
        p.timestamps.delete(key);
        continue;
      }
      p.timestamps.set(key, rows.timestamps[i]!);
      this.#values.set(valueId, value);
      this.#bytes += cost(valueId, value);
    }
    this.#evict();
  }

  #forget(valueId: string): void {
    const old = this.#values.get(valueId);
    if (old === undefined) return;
    this.#values.delete(valueId);
    this.#bytes -= cost(valueId, old);
  }

  #evict(): void {
    if (this.#bytes <= this.#maxBytes) return;
    for (const [valueId, value] of this.#values) {
      this.#values.delete(valueId);
      this.#bytes -= cost(valueId, value);
      if (this.#bytes <= this.#maxBytes) return;
    }
  }

  #drop(id: string): void {
    const p = this.#partitions.get(id);
    if (p === undefined) return;
    this.#partitions.delete(id);
    for (const key of p.timestamps.keys()) this.#forget(`${id}\u0000${key}`);
  }
}

function cost(valueId: string, value: string): number {
  return valueId.length + value.length + VALUE_OVERHEAD_BYTES;
}
