/**
 * The foreign-key table-table join (Kafka Streams' KIP-213): `left.join(right, extractor, joiner)`
 * where each left row (key K) names a right row by a foreign key KO = extractor(value). The two
 * tables are partitioned differently, so the join runs in two places and talks through two
 * internal topics, as Kafka Streams does:
 *
 *   left changes ─► SubscriptionSend ─► <base>-subscription-registration-topic (keyed by KO,
 *        ▲             │ (left join,         partitioned like the right table)
 *        │             │  null KO)                    │
 *        │             ▼                              ▼
 *   ResponseJoin ◄─────┘              SubscriptionJoin: stores the subscription (KO, K) in the
 *   (drops stale       ▲              subscription store, answers with the right row
 *    answers)          │                              │
 *        │   <base>-subscription-response-topic ◄─────┤ (keyed by K's bytes, sent to the left
 *        ▼             ▲                              │  row's partition)
 *   result table       └──── ForeignChange: a right row changed; answers every subscriber of its
 *                            key (prefix scan of the subscription store by KO)
 *
 * A subscription carries a hash of the left value it was made for; an answer is applied only if
 * the left row still hashes the same when it comes back, so when a row's foreign key changes
 * quickly (a -> b -> a) an answer about an older value is dropped instead of overwriting a newer
 * result (no stale or out-of-order results). Every change of a left row asks for an answer about
 * its new value, in inner joins too, null when it does not join: since answers about older values
 * are dropped, only that answer can remove a result whose delete came back too late (found by the
 * feature crash test, test/engine/runtime/crash-features.test.ts).
 *
 * One difference in plumbing, not in results: when the extractor returns null or the row is gone,
 * the answer (null, or the row with a null right side in a left join) goes straight to
 * ResponseJoin in the same task instead of through both topics; the hash check orders it against
 * answers still in flight.
 */
import { createHash } from 'node:crypto';
import type { Change, KeyValueStore, Serde, Serializer } from '../../engine/index.ts';
import { Base, recordWith, type Ctx, type Rec, type ValueGetter, type ValueGetterSupplier } from './processors.ts';

/** What the right side is asked to do with a subscription (Kafka Streams' names). */
export const Instruction = {
  /** The left row moved to another foreign key: forget it here, answer nothing. */
  DELETE_KEY_NO_PROPAGATE: 0,
  /**
   * Forget it, answer null. No longer sent (a gone row or a null foreign key is answered on the
   * left at once), still understood: registration topics written before may hold it.
   */
  DELETE_KEY_AND_PROPAGATE: 1,
  /** Subscribe and answer, with null if the right row does not exist: every change of a left row. */
  PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE: 2,
  /** Subscribe and answer only if the right row exists. No longer sent (it left stale results), still understood. */
  PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE: 3,
} as const;
export type Instruction = (typeof Instruction)[keyof typeof Instruction];

/** A left row's subscription to a foreign key, as it travels and as the right side stores it. */
export interface Subscription {
  /** Hash of the left value it was made for; null when the left row was deleted. */
  readonly hash: Uint8Array | null;
  readonly instruction: Instruction;
  /** The left key, serialized with the left table's key serde. */
  readonly primaryKey: Uint8Array;
  /** The left row's partition: where the answer goes. */
  readonly primaryPartition: number;
}

/** The right side's answer to a subscription, keyed by the left key's bytes. */
export interface SubscriptionResponse {
  readonly hash: Uint8Array | null;
  readonly foreignValue: unknown;
  readonly primaryPartition: number;
}

/** A subscription store key: the foreign key first, so a prefix scan by foreign key finds its subscribers. */
export interface SubscriptionKey {
  readonly foreignKey: unknown;
  readonly primaryKey: Uint8Array;
}

const VERSION = 1;

/** 16 bytes of SHA-256 of the serialized left value (Kafka Streams uses a 128-bit Murmur3). */
export function valueHash(bytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(bytes).digest().subarray(0, 16);
}

function sameHash(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

function writeHash(out: Uint8Array, at: number, hash: Uint8Array | null): number {
  out[at] = hash === null ? 0 : hash.byteLength;
  if (hash !== null) out.set(hash, at + 1);
  return at + 1 + (hash?.byteLength ?? 0);
}

function readHash(data: Uint8Array, at: number): [Uint8Array | null, number] {
  const n = data[at]!;
  return [n === 0 ? null : data.slice(at + 1, at + 1 + n), at + 1 + n];
}

function view(data: Uint8Array): DataView {
  return new DataView(data.buffer, data.byteOffset, data.byteLength);
}

function checkVersion(data: Uint8Array, what: string): void {
  if (data[0] !== VERSION) throw new Error(`${what} of version ${data[0]} is not readable by this version of Tributary (${VERSION})`);
}

/** [version][instruction][partition u32][hash length][hash][primary key bytes]. */
export const subscriptionSerde: Serde<Subscription> = {
  serialize(s) {
    const out = new Uint8Array(7 + (s.hash?.byteLength ?? 0) + s.primaryKey.byteLength);
    out[0] = VERSION;
    out[1] = s.instruction;
    view(out).setUint32(2, s.primaryPartition);
    out.set(s.primaryKey, writeHash(out, 6, s.hash));
    return out;
  },
  deserialize(data) {
    checkVersion(data, 'a foreign-key join subscription');
    const [hash, at] = readHash(data, 6);
    return { hash, instruction: data[1] as Instruction, primaryPartition: view(data).getUint32(2), primaryKey: data.slice(at) };
  },
};

/** [version][partition u32][hash length][hash][1 if a value follows][foreign value bytes]. */
export function responseSerde(foreignValueSerde: Serde<unknown>): Serde<SubscriptionResponse> {
  return {
    serialize(r, topic) {
      const value = r.foreignValue === null || r.foreignValue === undefined ? null : foreignValueSerde.serialize(r.foreignValue, topic);
      const out = new Uint8Array(7 + (r.hash?.byteLength ?? 0) + (value?.byteLength ?? 0));
      out[0] = VERSION;
      view(out).setUint32(1, r.primaryPartition);
      const at = writeHash(out, 5, r.hash);
      out[at] = value === null ? 0 : 1;
      if (value !== null) out.set(value, at + 1);
      return out;
    },
    deserialize(data, topic) {
      checkVersion(data, 'a foreign-key join response');
      const [hash, at] = readHash(data, 5);
      const foreignValue = data[at] === 1 ? foreignValueSerde.deserialize(data.subarray(at + 1), topic) : null;
      return { hash, foreignValue, primaryPartition: view(data).getUint32(1) };
    },
  };
}

/** The foreign key's bytes with their length in front: the prefix of every subscription key. */
export function foreignKeyPrefix(foreignKeySerde: Serde<unknown>): Serializer<unknown> {
  return {
    serialize(foreignKey, topic) {
      const fk = foreignKeySerde.serialize(foreignKey, topic);
      const out = new Uint8Array(4 + fk.byteLength);
      view(out).setUint32(0, fk.byteLength);
      out.set(fk, 4);
      return out;
    },
  };
}

/** [foreign key length u32][foreign key][primary key]: ordered by foreign key, then primary key. */
export function subscriptionKeySerde(foreignKeySerde: Serde<unknown>): Serde<SubscriptionKey> {
  const prefix = foreignKeyPrefix(foreignKeySerde);
  return {
    serialize(key, topic) {
      const head = prefix.serialize(key.foreignKey, topic);
      const out = new Uint8Array(head.byteLength + key.primaryKey.byteLength);
      out.set(head);
      out.set(key.primaryKey, head.byteLength);
      return out;
    },
    deserialize(data, topic) {
      const n = view(data).getUint32(0);
      return { foreignKey: foreignKeySerde.deserialize(data.subarray(4, 4 + n), topic), primaryKey: data.slice(4 + n) };
    },
  };
}

/** Keys of the response topic: the left key's bytes as they are. */
export const bytesSerde: Serde<Uint8Array> = {
  serialize: (bytes) => bytes,
  deserialize: (data) => data,
};

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/** The task's partition: where the left row lives, so where its answers must come back. */
function taskPartition(ctx: Ctx): number {
  return ctx.recordMetadata()?.partition ?? Number(ctx.taskId.slice(ctx.taskId.lastIndexOf('_') + 1));
}

export interface SubscriptionSendConfig {
  readonly extract: (value: unknown, key: unknown) => unknown;
  readonly foreignKeySerde: Serde<unknown>;
  readonly primaryKeySerde: Serde<unknown>;
  /** The left table's value serde: the hash is of the value's bytes. */
  readonly valueSerde: Serde<unknown>;
  readonly leftJoin: boolean;
  /** Node names, known once the graph is built: the registration topic's sink, and ResponseJoin. */
  readonly nodes: () => { readonly registration: string; readonly response: string };
}

/** Left side: turns each change of a left row into subscriptions (Kafka Streams' instructions). */
export class SubscriptionSendProcessor extends Base {
  readonly #c: SubscriptionSendConfig;
  #nodes!: { readonly registration: string; readonly response: string };

  constructor(config: SubscriptionSendConfig) {
    super();
    this.#c = config;
  }

  override init(ctx: Ctx): void {
    super.init(ctx);
    this.#nodes = this.#c.nodes();
  }

  #foreignKey(value: unknown, key: unknown): unknown {
    if (value === null || value === undefined) return null;
    return this.#c.extract(value, key) ?? null;
  }

  #sameForeignKey(a: unknown, b: unknown): boolean {
    if (a === null || b === null) return a === b;
    const topic = this.ctx.nodeName;
    return sameBytes(this.#c.foreignKeySerde.serialize(a, topic), this.#c.foreignKeySerde.serialize(b, topic));
  }

  process(record: Rec): void {
    if (record.key === null || record.key === undefined) {
      this.ctx.recordDropped('null-key');
      return;
    }
    const { newValue, oldValue } = record.value as Change<unknown>;
    const oldKey = this.#foreignKey(oldValue, record.key);
    const newKey = this.#foreignKey(newValue, record.key);
    const send = this.#sender(record, newValue);
    if (oldValue === null && newValue === null) return;
    if (!this.#c.leftJoin && newValue !== null && newKey === null) this.ctx.recordDropped('null-foreign-key');
    if (oldKey !== null && !this.#sameForeignKey(oldKey, newKey)) send(oldKey, Instruction.DELETE_KEY_NO_PROPAGATE);
    // Every change gets an answer about the new value: null when it does not join, answered here at
    // once when it has no foreign key (or the row is gone). Answering an inner join only when it
    // joins would leave stale results: a delete (of the right row, or of this row) answers an
    // older value, that answer comes back after a newer change and the hash check drops it, so
    // only an answer about the newest value can remove the old result. A null answer where there
    // is no result deletes nothing and emits nothing.
    send(newKey, Instruction.PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE);
  }

  #sender(record: Rec, newValue: unknown): (foreignKey: unknown, instruction: Instruction) => void {
    const topic = this.ctx.nodeName;
    const hash = newValue === null || newValue === undefined ? null : valueHash(this.#c.valueSerde.serialize(newValue, topic));
    const primaryKey = this.#c.primaryKeySerde.serialize(record.key, topic);
    const primaryPartition = taskPartition(this.ctx);
    return (foreignKey, instruction) => {
      if (foreignKey === null) {
        // A left join's row without a foreign key: answered here, with no right row.
        const response: SubscriptionResponse = { hash, foreignValue: null, primaryPartition };
        this.ctx.forward(recordWith(record, primaryKey, response), this.#nodes.response);
        return;
      }
      const subscription: Subscription = { hash, instruction, primaryKey, primaryPartition };
      this.ctx.forward(recordWith(record, foreignKey, subscription), this.#nodes.registration);
    };
  }
}

/**
 * Right side, for each subscription: keeps it in the subscription store (or forgets it) and
 * answers with the right row as the instruction says. The answer's time is the later of the
 * subscription's and the right row's.
 */
export class SubscriptionJoinProcessor extends Base {
  readonly #storeName: string;
  readonly #foreign: ValueGetterSupplier;
  #store!: KeyValueStore<SubscriptionKey, Subscription>;
  #rows!: ValueGetter;

  constructor(storeName: string, foreign: ValueGetterSupplier) {
    super();
    this.#storeName = storeName;
    this.#foreign = foreign;
  }

  override init(ctx: Ctx): void {
    super.init(ctx);
    this.#store = ctx.getStateStore(this.#storeName);
    this.#rows = this.#foreign.create(ctx);
  }

  process(record: Rec): void {
    const subscription = record.value as Subscription;
    if (record.key === null || record.key === undefined) {
      this.ctx.recordDropped('null-key');
      return;
    }
    const key: SubscriptionKey = { foreignKey: record.key, primaryKey: subscription.primaryKey };
    const forget = subscription.instruction === Instruction.DELETE_KEY_NO_PROPAGATE || subscription.instruction === Instruction.DELETE_KEY_AND_PROPAGATE;
    this.#store.put(key, forget ? null : subscription, record.timestamp);
    const row = this.#rows.get(record.key);
    const timestamp = row === undefined ? record.timestamp : Math.max(record.timestamp, row.timestamp);
    const answer = (foreignValue: unknown) => {
      const response: SubscriptionResponse = { hash: subscription.hash, foreignValue, primaryPartition: subscription.primaryPartition };
      this.ctx.forward(recordWith(record, subscription.primaryKey, response, timestamp));
    };
    switch (subscription.instruction) {
      case Instruction.DELETE_KEY_AND_PROPAGATE:
        answer(null);
        break;
      case Instruction.PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE:
        answer(row?.value ?? null);
        break;
      case Instruction.PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE:
        if (row !== undefined) answer(row.value);
        break;
      case Instruction.DELETE_KEY_NO_PROPAGATE:
        break;
    }
  }
}

/** Right side, for each change of a right row: answers every left row subscribed to its key. */
export class ForeignChangeProcessor extends Base {
  readonly #storeName: string;
  readonly #prefix: Serializer<unknown>;
  #store!: KeyValueStore<SubscriptionKey, Subscription>;

  constructor(storeName: string, foreignKeySerde: Serde<unknown>) {
    super();
    this.#storeName = storeName;
    this.#prefix = foreignKeyPrefix(foreignKeySerde);
  }

  override init(ctx: Ctx): void {
    super.init(ctx);
    this.#store = ctx.getStateStore(this.#storeName);
  }

  process(record: Rec): void {
    if (record.key === null || record.key === undefined) {
      this.ctx.recordDropped('null-key');
      return;
    }
    const { newValue } = record.value as Change<unknown>;
    for (const { value: subscription } of this.#store.prefixScan(record.key, this.#prefix)) {
      const response: SubscriptionResponse = { hash: subscription.hash, foreignValue: newValue, primaryPartition: subscription.primaryPartition };
      this.ctx.forward(recordWith(record, subscription.primaryKey, response));
    }
  }
}

export interface ResponseJoinConfig {
  readonly primary: ValueGetterSupplier;
  readonly primaryKeySerde: Serde<unknown>;
  readonly valueSerde: Serde<unknown>;
  readonly leftJoin: boolean;
  readonly joiner: (value: unknown, foreignValue: unknown, key: unknown) => unknown;
}

/**
 * Left side, for each answer: drops it if the left row changed since it was asked (the hashes
 * differ), else forwards the joined value, or null (a delete) when an inner join has no right row
 * or the left row is gone. The result table downstream turns these into changes.
 */
export class ResponseJoinProcessor extends Base {
  readonly #c: ResponseJoinConfig;
  #rows!: ValueGetter;

  constructor(config: ResponseJoinConfig) {
    super();
    this.#c = config;
  }

  override init(ctx: Ctx): void {
    super.init(ctx);
    this.#rows = this.#c.primary.create(ctx);
  }

  process(record: Rec): void {
    const response = record.value as SubscriptionResponse;
    const topic = this.ctx.nodeName;
    const key = this.#c.primaryKeySerde.deserialize(record.key as Uint8Array, topic);
    const row = this.#rows.get(key);
    const hash = row === undefined ? null : valueHash(this.#c.valueSerde.serialize(row.value, topic));
    if (!sameHash(response.hash, hash)) return; // an answer about an older value of the row
    const foreign = response.foreignValue ?? null;
    const value = foreign === null && (!this.#c.leftJoin || row === undefined) ? null : this.#c.joiner(row?.value ?? null, foreign, key);
    this.ctx.forward(recordWith(record, key, value));
  }
}
