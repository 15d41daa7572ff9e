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
import { NOT_PUT, VALID_TO_UNDEFINED, type Change, type VersionedKeyValueStore } from '../../engine/index.ts';
import { Base, type Ctx, type Rec, type ValueGetterSupplier } from './processors.ts';

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
    this.ctx.forward({ ...record, value: { newValue, oldValue: old } satisfies Change<unknown> });
  }
}

/** Reads a versioned table: the latest row, or the row as of a time (stream-table joins). */
export function versionedGetter(storeName: string): ValueGetterSupplier {
  return {
    stores: [storeName],
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
