/**
 * Versioned tables (KIP-889, KIP-914): a source table materialized in a versioned store keeps each
 * key's history, and a stream-table join reads it as of the stream record's timestamp.
 *
 * Pinned from Kafka Streams' KTableSource with a versioned store: a put the store refuses (older
 * than its history retention) is dropped; an out-of-order update (older than the key's latest
 * version) goes into history only: the table's latest row did not change, so nothing is
 * forwarded (Kafka Streams forwards it flagged "not latest", and every downstream table operator
 * ignores such changes; its toStream() would emit them, this one does not).
 */
import { NOT_PUT, VALID_TO_UNDEFINED, type Change, type CommittedTime, type Headers, type KeyValueStore, type Serde, type VersionedKeyValueStore } from '../../engine/index.ts';
import type { Joiner } from './joins.ts';
import { StreamTableJoinProcessor } from './joins.ts';
import { Base, recordWith, type Ctx, type Rec, type ValueGetterSupplier } from './processors.ts';

type Store = VersionedKeyValueStore<unknown, unknown>;

export class VersionedTableSourceProcessor extends Base {
  readonly #storeName: string;
  #store!: Store;

  constructor(storeName: string) {
    super();
    this.#storeName = storeName;
  }

  override init(ctx: Ctx): void {
    super.init(ctx);
    this.#store = ctx.getStateStore<Store>(this.#storeName);
  }

  process(record: Rec): void {
    if (record.key === null || record.key === undefined) {
      this.ctx.recordDropped('null-key');
      return;
    }
    const newValue = record.value ?? null;
    const old = this.#store.get(record.key)?.value ?? null;
    const answer = this.#store.put(record.key, newValue, record.timestamp);
    if (answer === NOT_PUT) {
      this.ctx.recordDropped('late-record');
      return;
    }
    if (answer !== VALID_TO_UNDEFINED) return; // history only: the latest row is unchanged
    if (old === null && newValue === null) return;
    this.ctx.forward(recordWith(record, record.key, { newValue, oldValue: old } satisfies Change<unknown>));
  }
}

/** Reads a versioned table: the latest row, or the row as of a time (stream-table joins). */
export function versionedGetter(storeName: string, historyRetentionMs: number): ValueGetterSupplier {
  return {
    stores: [storeName],
    historyRetentionMs,
    create(ctx) {
      const store = ctx.getStateStore<Store>(storeName);
      const row = (key: unknown, asOf?: number) => {
        const found = store.get(key, asOf);
        return found === undefined ? undefined : { value: found.value, timestamp: found.timestamp };
      };
      return { get: (key) => row(key), getAsOf: (key, timestamp) => row(key, timestamp) };
    },
  };
}

/** Buffer keys: [timestamp u64][sequence u64], so the buffer reads back in timestamp order. */
export interface BufferKey {
  readonly timestamp: number;
  readonly seq: number;
}

export const bufferKeySerde: Serde<BufferKey> = {
  serialize(key) {
    const out = new Uint8Array(16);
    const view = new DataView(out.buffer);
    view.setBigUint64(0, BigInt(key.timestamp));
    view.setBigUint64(8, BigInt(key.seq));
    return out;
  },
  deserialize(data) {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    return { timestamp: Number(view.getBigUint64(0)), seq: Number(view.getBigUint64(8)) };
  },
};

/** A buffered stream record: key and value in the stream's serdes, and its headers. */
export interface Buffered {
  readonly key: Uint8Array | null;
  readonly value: Uint8Array;
  readonly headers?: Headers;
}

export interface GraceConfig {
  readonly gracePeriodMs: number;
  readonly bufferStore: string;
  readonly keySerde: Serde<unknown>;
  readonly valueSerde: Serde<unknown>;
}

/**
 * A stream-table join with a grace period (KIP-923), for versioned tables: each stream record
 * waits in a buffer (a store with a changelog) until stream time passes its timestamp plus the
 * grace period, then joins as of its timestamp, in timestamp order; table updates that arrive
 * up to the grace period late are seen. A record already older than stream time minus the grace
 * period joins at once. Stream time here is the highest stream-record timestamp this join saw,
 * committed with the task's offsets, so after a restart records leave the buffer exactly when
 * they would have.
 */
export class GraceStreamTableJoinProcessor extends StreamTableJoinProcessor {
  readonly #grace: GraceConfig;
  #buffer!: KeyValueStore<BufferKey, Buffered>;
  #time!: CommittedTime;
  #seq = 0;
  /**
   * The buffer's keys in timestamp order, in memory (derived from the store at init): the next
   * record due is the first, so a record costs a binary insert and a look at the front instead of
   * a scan of the store.
   */
  #due: BufferKey[] = [];

  constructor(table: ValueGetterSupplier, joiner: Joiner, left: boolean, grace: GraceConfig) {
    super(table, joiner, left);
    this.#grace = grace;
  }

  override init(ctx: Ctx): void {
    super.init(ctx);
    this.#buffer = ctx.getStateStore(this.#grace.bufferStore);
    this.#time = ctx.committedTime(`${this.#grace.bufferStore}:observed`);
    this.#due = this.#buffer.all().map((e) => e.key);
    for (const key of this.#due) this.#seq = Math.max(this.#seq, key.seq + 1);
  }

  override process(record: Rec): void {
    if (record.value === null || record.value === undefined) {
      this.ctx.recordDropped('null-value');
      return;
    }
    this.#time.advance(record.timestamp);
    const horizon = this.#time.value - this.#grace.gracePeriodMs;
    if (record.timestamp < horizon) {
      this.join(record);
      return;
    }
    const topic = this.#grace.bufferStore;
    const buffered: Buffered = {
      key: record.key === null || record.key === undefined ? null : this.#grace.keySerde.serialize(record.key, topic),
      value: this.#grace.valueSerde.serialize(record.value, topic),
      ...(record.headers !== undefined && { headers: record.headers }),
    };
    const key = { timestamp: record.timestamp, seq: this.#seq++ };
    this.#buffer.put(key, buffered, record.timestamp);
    // Mostly in order: search from the back.
    let at = this.#due.length;
    while (at > 0 && this.#due[at - 1]!.timestamp > key.timestamp) at--;
    this.#due.splice(at, 0, key);
    this.#evict(horizon);
  }

  #evict(horizon: number): void {
    const topic = this.#grace.bufferStore;
    let n = 0;
    while (n < this.#due.length && this.#due[n]!.timestamp <= horizon) n++;
    for (const key of this.#due.splice(0, n)) {
      const value = this.#buffer.get(key);
      if (value === undefined) continue;
      this.#buffer.delete(key);
      this.join({
        key: value.key === null ? null : this.#grace.keySerde.deserialize(value.key, topic),
        value: this.#grace.valueSerde.deserialize(value.value, topic),
        timestamp: key.timestamp,
        ...(value.headers !== undefined && { headers: value.headers }),
      });
    }
  }
}
