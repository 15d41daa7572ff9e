import { StreamsError, type Change, type CommittedTime, type KeyValueStore, type Serde, type Windowed } from '../../engine/index.ts';
import { StoreProcessor, type Ctx, type Rec } from './processors.ts';

/** What the buffer keeps per key: the row to emit, the row it replaces, and when it is due. */
export interface Buffered {
  /** Stream time at which the entry may be emitted. */
  readonly due: number;
  readonly newValue: unknown;
  readonly oldValue: unknown;
  readonly timestamp: number;
}

/**
 * The buffer store's value: [flags u8][due f64][timestamp f64][old length u32][old][new], with
 * `flags` bit 0 set when the old row is present and bit 1 when the new one is.
 */
export function bufferedSerde(valueSerde: Serde<unknown>): Serde<Buffered> {
  const present = (v: unknown) => v !== null && v !== undefined;
  return {
    serialize(b, topic) {
      const oldBytes = present(b.oldValue) ? valueSerde.serialize(b.oldValue, topic) : new Uint8Array(0);
      const newBytes = present(b.newValue) ? valueSerde.serialize(b.newValue, topic) : new Uint8Array(0);
      const out = new Uint8Array(21 + oldBytes.byteLength + newBytes.byteLength);
      const view = new DataView(out.buffer);
      out[0] = (present(b.oldValue) ? 1 : 0) | (present(b.newValue) ? 2 : 0);
      view.setFloat64(1, b.due);
      view.setFloat64(9, b.timestamp);
      view.setUint32(17, oldBytes.byteLength);
      out.set(oldBytes, 21);
      out.set(newBytes, 21 + oldBytes.byteLength);
      return out;
    },
    deserialize(data, topic) {
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      const flags = data[0]!;
      const oldLength = view.getUint32(17);
      return {
        due: view.getFloat64(1),
        timestamp: view.getFloat64(9),
        oldValue: flags & 1 ? valueSerde.deserialize(data.subarray(21, 21 + oldLength), topic) : null,
        newValue: flags & 2 ? valueSerde.deserialize(data.subarray(21 + oldLength), topic) : null,
      };
    },
  };
}

/** The index's entry of a buffered key; its value stays in the store. */
interface Entry {
  readonly id: string;
  readonly key: unknown;
  readonly due: number;
  /** Serialized size (key and value), counted only when the buffer has a byte bound. */
  bytes: number;
}

export interface SuppressConfig {
  readonly mode: 'until-window-closes' | 'until-time-limit';
  readonly waitMs: number;
  readonly maxRecords: number;
  readonly maxBytes: number;
  readonly emitEarly: boolean;
  readonly storeName: string;
  /** Serialized key as a latin1 string: the buffer's order after the due time, as in Kafka Streams. */
  readonly keyId: (key: unknown) => string;
  /** Serialized value size, for the byte bound. */
  readonly valueBytes: (value: Buffered) => number;
}

/**
 * KTable.suppress: holds back updates and emits the latest per key when due. For final window
 * results the entry is due when stream time reaches window end + grace, and a window whose final
 * value is a delete emits nothing.
 *
 * The buffer lives in a key-value store with a changelog (what a restart restores), and this
 * processor's stream time is committed with the task's offsets; the order of due entries is an
 * index rebuilt from the store at the first record after a start. So a restart, a crash or a
 * move to another process neither loses a buffered update nor emits one twice or early.
 */
export class SuppressProcessor extends StoreProcessor<KeyValueStore<unknown, Buffered>> {
  readonly #config: SuppressConfig;
  #observed!: CommittedTime;
  /** Buffered entries by key id, and a min-heap of them by (due, key id): built from the store on first use. */
  #byId: Map<string, Entry> | undefined;
  readonly #heap: Entry[] = [];
  #bytes = 0;

  constructor(config: SuppressConfig) {
    super(config.storeName);
    this.#config = config;
  }

  override init(ctx: Ctx): void {
    super.init(ctx);
    this.#observed = ctx.committedTime(`${ctx.nodeName}:observed`);
  }

  process(record: Rec): void {
    const byId = (this.#byId ??= this.#load());
    this.#observed.advance(record.timestamp);
    const change = record.value as Change<unknown>;
    const { mode, waitMs, maxBytes } = this.#config;
    const id = this.#config.keyId(record.key);
    const existing = byId.get(id);
    if (existing !== undefined) {
      // A buffered key keeps its place, due time and old row; only its new row moves on.
      const buffered = this.store.get(existing.key)!;
      this.#put(existing, { ...buffered, newValue: change.newValue, timestamp: record.timestamp });
    } else {
      const due = mode === 'until-window-closes' ? (record.key as Windowed<unknown>).window.end + waitMs : record.timestamp + waitMs;
      const entry: Entry = { id, key: record.key, due, bytes: 0 };
      byId.set(id, entry);
      this.#push(entry);
      this.#put(entry, { due, newValue: change.newValue, oldValue: change.oldValue, timestamp: record.timestamp });
    }
    this.#emitDue();
    // Only then is the capacity checked: what was due has already left the buffer.
    while (byId.size > this.#config.maxRecords || this.#bytes > maxBytes) {
      if (!this.#config.emitEarly) {
        throw new StreamsError(
          'BUFFER_FULL',
          `suppression buffer of "${this.ctx.nodeName}" is full (${byId.size} records, ${this.#bytes} bytes; at most ${this.#config.maxRecords} records, ${maxBytes} bytes): ` +
            'raise its BufferConfig bounds, or use emitEarlyWhenFull() where results need not be final',
        );
      }
      this.#emit(this.#pop());
    }
  }

  #put(entry: Entry, value: Buffered): void {
    this.store.put(entry.key, value, value.timestamp);
    if (this.#config.maxBytes !== Number.POSITIVE_INFINITY) {
      const bytes = entry.id.length + this.#config.valueBytes(value);
      this.#bytes += bytes - entry.bytes;
      entry.bytes = bytes;
    }
  }

  /** The index of the buffer as the store holds it (restored from its changelog). */
  #load(): Map<string, Entry> {
    const byId = new Map<string, Entry>();
    for (const { key, value } of this.store.all()) {
      const entry: Entry = { id: this.#config.keyId(key), key, due: value.due, bytes: 0 };
      byId.set(entry.id, entry);
      this.#push(entry);
      if (this.#config.maxBytes !== Number.POSITIVE_INFINITY) this.#bytes += entry.bytes = entry.id.length + this.#config.valueBytes(value);
    }
    return byId;
  }

  #emitDue(): void {
    const now = this.#observed.value;
    while (this.#heap.length > 0 && this.#heap[0]!.due <= now) this.#emit(this.#pop());
  }

  #emit(entry: Entry): void {
    this.#byId!.delete(entry.id);
    this.#bytes -= entry.bytes;
    const { newValue, oldValue, timestamp } = this.store.delete(entry.key)!;
    // Final results never carry deletes: a window that ended empty simply has no result.
    if (this.#config.mode === 'until-window-closes' && (newValue === null || newValue === undefined)) return;
    this.ctx.forward({ key: entry.key, value: { newValue, oldValue } satisfies Change<unknown>, timestamp });
  }

  // A binary min-heap by (due, key id). Entries leave only from the top (due, or evicted early),
  // and an update never changes an entry's due time, so no entry ever moves but by push and pop.

  #before(a: Entry, b: Entry): boolean {
    return a.due < b.due || (a.due === b.due && a.id < b.id);
  }

  #push(entry: Entry): void {
    const heap = this.#heap;
    let i = heap.push(entry) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  #pop(): Entry {
    const heap = this.#heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && this.#before(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && this.#before(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  }
}
