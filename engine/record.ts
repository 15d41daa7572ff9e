/** Headers carried with a record. */
export type Headers = Readonly<Record<string, string>>;

/**
 * A record as processors see it: key and value already deserialized.
 * `timestamp` is the record's event time in milliseconds since the epoch.
 */
export interface StreamRecord<K, V> {
  readonly key: K;
  readonly value: V;
  readonly timestamp: number;
  readonly headers?: Headers;
}

/** A key with the window it belongs to; `end` is exclusive for time windows, inclusive for sessions. */
export interface Windowed<K> {
  readonly key: K;
  readonly window: Window;
}

export interface Window {
  readonly start: number;
  readonly end: number;
}

/** The update of a table row: the value after and the value before. `null` is "no row". */
export interface Change<V> {
  readonly newValue: V | null;
  readonly oldValue: V | null;
}

/** Where a source record was read from. */
export interface RecordMetadata {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}
