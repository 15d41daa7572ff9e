import { StreamsError, type Headers, type ProcessorContext } from '../engine/index.ts';
import { internal } from './internals/symbols.ts';

/**
 * A record whose key cannot change, as a processor of `KStream.processValues()` receives it.
 * There is no way to set the key: a processor forwards `record.withValue(v)` (or
 * `withTimestamp`, `withHeaders`) of a record it received, so what it forwards keeps that key and
 * the stream needs no repartitioning (Kafka Streams' FixedKeyRecord). Only the engine creates one.
 *
 * @example
 * process(record: FixedKeyRecord<string, Order>) {
 *   this.#ctx.forward(record.withValue(record.value.total));
 * }
 */
export class FixedKeyRecord<K, V> {
  readonly #key: K;
  readonly #value: V;
  readonly #timestamp: number;
  readonly #headers: Headers | undefined;

  /** Made by processValues() from each input record. */
  constructor(_: typeof internal, key: K, value: V, timestamp: number, headers: Headers | undefined) {
    // Checked, unlike other DSL handles: this class is what keeps a processValues() key fixed.
    if (_ !== internal) throw new StreamsError('INVALID_ARGUMENT', 'a FixedKeyRecord is made by processValues(), from the record a processor received');
    if (typeof timestamp !== 'number' || !(timestamp >= 0)) {
      throw new StreamsError('INVALID_ARGUMENT', `a record's timestamp must be a number >= 0, got ${String(timestamp)}`);
    }
    this.#key = key;
    this.#value = value;
    this.#timestamp = timestamp;
    this.#headers = headers;
  }

  get key(): K {
    return this.#key;
  }

  get value(): V {
    return this.#value;
  }

  get timestamp(): number {
    return this.#timestamp;
  }

  get headers(): Headers | undefined {
    return this.#headers;
  }

  /** The same record with another value. */
  withValue<V2>(value: V2): FixedKeyRecord<K, V2> {
    return new FixedKeyRecord(internal, this.#key, value, this.#timestamp, this.#headers);
  }

  /** The same record with another timestamp (>= 0). */
  withTimestamp(timestamp: number): FixedKeyRecord<K, V> {
    return new FixedKeyRecord(internal, this.#key, this.#value, timestamp, this.#headers);
  }

  /** The same record with other headers. */
  withHeaders(headers: Headers | undefined): FixedKeyRecord<K, V> {
    return new FixedKeyRecord(internal, this.#key, this.#value, this.#timestamp, headers);
  }
}

/**
 * The context of a fixed-key processor: a ProcessorContext whose `forward` only takes a
 * FixedKeyRecord (Kafka Streams' FixedKeyProcessorContext). Anything else forwarded fails with
 * `INVALID_ARGUMENT`.
 */
export interface FixedKeyProcessorContext<K, VOut> extends Omit<ProcessorContext<K, VOut>, 'forward'> {
  forward(record: FixedKeyRecord<K, VOut>, childName?: string): void;
}

/**
 * A processor for `KStream.processValues()`: like a Processor, but it cannot change the key, so a
 * later groupByKey or join needs no repartition topic (Kafka Streams' FixedKeyProcessor).
 *
 * @example
 * class Enrich implements FixedKeyProcessor<string, Order, EnrichedOrder> {
 *   #ctx!: FixedKeyProcessorContext<string, EnrichedOrder>;
 *   #customers!: KeyValueStore<string, Customer>;
 *   init(ctx: FixedKeyProcessorContext<string, EnrichedOrder>) {
 *     this.#ctx = ctx;
 *     this.#customers = ctx.getStateStore('customers');
 *   }
 *   process(record: FixedKeyRecord<string, Order>) {
 *     const customer = this.#customers.get(record.value.customerId) ?? null;
 *     this.#ctx.forward(record.withValue({ ...record.value, customer }));
 *   }
 * }
 * orders.processValues(() => new Enrich(), 'customers').groupByKey().count(); // no repartition
 */
export interface FixedKeyProcessor<KIn, VIn, VOut = never> {
  init?(context: FixedKeyProcessorContext<KIn, VOut>): void;
  process(record: FixedKeyRecord<KIn, VIn>): void;
  close?(): void;
}

/** Makes a fresh fixed-key processor for each task. */
export type FixedKeyProcessorSupplier<KIn, VIn, VOut = never> = () => FixedKeyProcessor<KIn, VIn, VOut>;
