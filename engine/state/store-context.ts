/** The contract between a store and the task that owns it: record time, changelog, expiry, restore. */
/** A stored value and its timestamp, as a store keeps them. */
export interface StoredRow {
  readonly value: Uint8Array;
  readonly timestamp: number;
}

/** What a store needs from the task that owns it. */
export interface StoreContext {
  /** The timestamp of the record being processed (used when a put gives none). */
  recordTimestamp(): number;
  /**
   * Called with every change, for the store's changelog: the changelog key and value bytes
   * (null for a delete). Window and session changelog keys carry the window; see `restore`.
   * `keyId`, when the store has it at hand, is the same key as a latin1 string (one char per
   * byte): the local mirror keys its writes by that string, and need not convert the bytes back.
   * `row`, when the store keeps the value in such an object (never changed afterwards), is `value`
   * and `timestamp` as one object: the local mirror holds it instead of a copy. `replaced`, when
   * the store has it, is the row object (an earlier call's `row`) this change replaces or
   * deletes: the mirror then writes only the later of the two when both reach the disk together.
   */
  logChange?(key: Uint8Array, value: Uint8Array | null, timestamp: number, keyId?: string, row?: StoredRow, replaced?: StoredRow): void;
  /**
   * Called with the changelog key of every row a window or session store drops because it fell
   * out of retention, and of every restored row that already had. Nothing is logged for it (the
   * changelog topic's own retention drops such records, as in Kafka Streams), but a local copy
   * of the store must drop the row too, or it would grow for ever. `row` is the row object dropped
   * (as `logChange`'s `replaced`), when there is one.
   */
  expired?(key: Uint8Array, keyId?: string, row?: StoredRow): void;
}

/** A store that can be rebuilt from its changelog. */
export interface RestorableStore {
  /** Applies one changelog record, as written through `StoreContext.logChange`. */
  restore(key: Uint8Array, value: Uint8Array | null, timestamp: number): void;
}
