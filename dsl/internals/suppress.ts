import { StreamsError, type Change, type Windowed } from '../../engine/index.ts';
import { Base, type Rec } from './processors.ts';

interface Buffered {
  key: unknown;
  /** Stream time at which the entry may be emitted. */
  readonly due: number;
  newValue: unknown;
  readonly oldValue: unknown;
  timestamp: number;
}

/**
 * KTable.suppress: holds back updates and emits the latest per key when due. For final window
 * results the entry is due when stream time reaches window end + grace, and a window whose final
 * value is a delete emits nothing. The buffer is in memory; its size is bounded by the config.
 */
export class SuppressProcessor extends Base {
  readonly #mode: 'until-window-closes' | 'until-time-limit';
  readonly #waitMs: number;
  readonly #maxRecords: number;
  readonly #emitEarly: boolean;
  readonly #keyId: (key: unknown) => string;
  /** Keyed by serialized key; emitted in due order, then key order. */
  readonly #buffer = new Map<string, Buffered>();
  #streamTime = Number.NEGATIVE_INFINITY;

  constructor(
    mode: 'until-window-closes' | 'until-time-limit',
    waitMs: number,
    maxRecords: number,
    emitEarly: boolean,
    keyId: (key: unknown) => string,
  ) {
    super();
    this.#mode = mode;
    this.#waitMs = waitMs;
    this.#maxRecords = maxRecords;
    this.#emitEarly = emitEarly;
    this.#keyId = keyId;
  }

  process(record: Rec): void {
    this.#streamTime = Math.max(this.#streamTime, record.timestamp);
    const change = record.value as Change<unknown>;
    const id = this.#keyId(record.key);
    const existing = this.#buffer.get(id);
    if (existing !== undefined) {
      // A buffered key keeps its place and due time; only its value moves on.
      existing.newValue = change.newValue;
      existing.timestamp = record.timestamp;
    } else {
      const due =
        this.#mode === 'until-window-closes'
          ? (record.key as Windowed<unknown>).window.end + this.#waitMs
          : record.timestamp + this.#waitMs;
      this.#buffer.set(id, { key: record.key, due, newValue: change.newValue, oldValue: change.oldValue, timestamp: record.timestamp });
    }
    this.#emitDue();
    // Only then is the capacity checked: what was due has already left the buffer.
    while (this.#buffer.size > this.#maxRecords) {
      if (!this.#emitEarly) {
        throw new StreamsError(
          'ILLEGAL_STATE',
          `suppression buffer of "${this.ctx.nodeName}" is full (${this.#maxRecords} records); raise maxRecords or use emitEarlyWhenFull()`,
        );
      }
      const [id, entry] = this.#ordered()[0]!;
      this.#buffer.delete(id);
      this.#emit(entry);
    }
  }

  /** Buffered entries by due time, then serialized key: the order Kafka Streams' buffer keeps. */
  #ordered(): [string, Buffered][] {
    return [...this.#buffer.entries()].sort((a, b) => a[1].due - b[1].due || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  #emitDue(): void {
    // Cheap check first: most records make nothing due.
    let earliest = Number.POSITIVE_INFINITY;
    for (const entry of this.#buffer.values()) if (entry.due < earliest) earliest = entry.due;
    if (earliest > this.#streamTime) return;
    for (const [id, entry] of this.#ordered()) {
      if (entry.due > this.#streamTime) break;
      this.#buffer.delete(id);
      this.#emit(entry);
    }
  }

  #emit(entry: Buffered): void {
    // Final results never carry deletes: a window that ended empty simply has no result.
    if (this.#mode === 'until-window-closes' && (entry.newValue === null || entry.newValue === undefined)) return;
    this.ctx.forward({
      key: entry.key,
      value: { newValue: entry.newValue, oldValue: entry.oldValue } satisfies Change<unknown>,
      timestamp: entry.timestamp,
    });
  }
}
