/**
 * Drives one sink over one topic, as a Kafka Connect worker drives a sink task:
 * fetch (read-committed, from the runner's own position per partition) -> batch (by size and by
 * time) -> write -> commit the position. One batch at a time: while a batch is being written, or
 * retried because the target is down, the runner fetches nothing, so memory holds at most one
 * batch and the log is the buffer; when the target returns the runner catches up from its
 * position.
 *
 * Failures of the target are retried with exponential backoff and jitter behind a circuit
 * breaker; errors the sink marks `canRetry: false` (bad data, a missing table) stop the runner in
 * FAILED with the error in `status()`. Failures of the log (fetch, commit) are retried with
 * backoff too, but do not count against the sink's breaker: the target is fine.
 *
 *                         open ok
 *   CREATED ──start()──► STARTING ─────────────► RUNNING ◄────┐
 *      │                    │                      │  │        │ write/open ok
 *      │                    │ open failed          │  │ failed │
 *      │                    └─────────────────────►│  └──► PAUSED (retrying; not fetching)
 *      │                                           │           │
 *      │                    error with canRetry false, from any of them ──► FAILED
 *      │                                                                      │
 *      └──────close()──────────► CLOSING ◄──── close() from any state ────────┘
 *                                   │
 *                                   ▼
 *                                 CLOSED
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DeserializationError, StreamsError, type Log, type Serde } from '../../engine/index.ts';
import { fetchMany, partitionKey, type FetchRequest } from '../../engine/log.ts';
import { exponentialBackoff, type Backoff, type BackoffOptions } from './backoff.ts';
import { BatchBuilder, type BatchPolicy, type BatchTrigger } from './batch-builder.ts';
import { CircuitBreaker, type BreakerState, type CircuitBreakerOptions } from './circuit-breaker.ts';
import type { Sink, SinkBatch, SinkGuarantee, SinkPositions, SinkRecord } from './sink.ts';

export type SinkRunnerState = 'CREATED' | 'STARTING' | 'RUNNING' | 'PAUSED' | 'FAILED' | 'CLOSING' | 'CLOSED';

const transitions: Readonly<Record<SinkRunnerState, readonly SinkRunnerState[]>> = {
  CREATED: ['STARTING', 'CLOSING'],
  STARTING: ['RUNNING', 'PAUSED', 'FAILED', 'CLOSING'],
  RUNNING: ['PAUSED', 'FAILED', 'CLOSING'],
  PAUSED: ['RUNNING', 'FAILED', 'CLOSING'],
  FAILED: ['CLOSING'],
  CLOSING: ['CLOSED'],
  CLOSED: [],
};

export interface SinkRunnerOptions<K, V> {
  readonly log: Log;
  /** The topic to consume (the output of a topology). */
  readonly topic: string;
  readonly sink: Sink<K, V>;
  readonly keySerde: Serde<K>;
  readonly valueSerde: Serde<V>;
  /**
   * The log's consumer group of this runner (default `sink-<sink name>`): where its positions are
   * committed when the sink keeps them in the log, and, for sinks that keep them in the target, a
   * copy for lag tools (see `commitToLog`).
   */
  readonly group?: string;
  /** The partitions to consume (default: all of the topic's). */
  readonly partitions?: readonly number[];
  readonly batch?: BatchPolicy;
  /** Wait between fetches when there is nothing new (default 100 ms). */
  readonly pollIntervalMs?: number;
  /** Backoff between retries of a failed write or log call (default 100 ms doubling to 10 s, jitter 0.5). */
  readonly retry?: BackoffOptions;
  readonly breaker?: CircuitBreakerOptions;
  /** A record whose key or value cannot be decoded: stop in FAILED (default) or skip it (counted). */
  readonly onDeserializationError?: 'fail' | 'skip';
  /**
   * For sinks that keep positions in the target: also commit them to the log's group after each
   * write, best effort, so that the log's lag tools see the sink (as Kafka Connect does). Default true.
   */
  readonly commitToLog?: boolean;
  /**
   * Delete the records of the topic once they are durable in the target (default false): for a
   * topic that only feeds this sink, as `KStream.toSink` makes, so that it does not grow for ever.
   */
  readonly deleteConsumed?: boolean;
  /** Random numbers for the jitter; tests pass their own. */
  readonly random?: () => number;
}

/** Position and lag of one partition. */
export interface SinkPartitionStatus {
  readonly partition: number;
  /** The durable position (next offset to read after a restart). */
  readonly position: number;
  /** The log's end offset when last seen (read-committed). */
  readonly endOffset: number;
  readonly lag: number;
}

export interface SinkCounters {
  readonly recordsWritten: number;
  readonly batchesWritten: number;
  readonly bytesWritten: number;
  /** Failed writes and failed opens of the target. */
  readonly writeFailures: number;
  /** Failed fetches and commits of the log. */
  readonly logFailures: number;
  readonly breakerOpened: number;
  /** Records not written: their key or value could not be decoded (`onDeserializationError: 'skip'`). */
  readonly recordsSkipped: number;
  /** Records removed by the log's retention before the sink read them. */
  readonly recordsLost: number;
  readonly fetches: number;
}

export interface SinkStatus {
  readonly sink: string;
  readonly topic: string;
  readonly guarantee: SinkGuarantee;
  readonly state: SinkRunnerState;
  readonly breaker: BreakerState;
  /** When the breaker lets the next probe through (ms since the epoch), while it is open. */
  readonly nextProbeAt?: number;
  readonly partitions: readonly SinkPartitionStatus[];
  /** Records in the log not yet durable in the target, all partitions. */
  readonly lag: number;
  /** Records held in memory: the batch being gathered or written (at most `batch.maxRecords`). */
  readonly inFlight: number;
  readonly counters: SinkCounters;
  /** Timestamp of the newest record written (its event time), for freshness. */
  readonly lastRecordTimestamp?: number;
  readonly lastWriteAt?: number;
  readonly lastError?: { readonly code: string; readonly message: string; readonly at: number };
}

/** What a runner reports as it goes (metrics subscribe to it). */
export type SinkEvent =
  | { readonly kind: 'written'; readonly records: number; readonly bytes: number; readonly ms: number; readonly trigger: BatchTrigger | 'retry' }
  | { readonly kind: 'write-failed'; readonly error: unknown; readonly ms: number }
  | { readonly kind: 'state'; readonly to: SinkRunnerState; readonly from: SinkRunnerState }
  | { readonly kind: 'breaker'; readonly to: BreakerState; readonly from: BreakerState };

/** How often the lag is refreshed while the runner waits (a fetch of end offsets, no records). */
const LAG_REFRESH_MS = 1000;

/** Thrown out of a step to stop the runner in FAILED. */
class Fatal extends Error {
  readonly error: unknown;
  constructor(error: unknown) {
    super('fatal');
    this.error = error;
  }
}

const retryable = (error: unknown) => !(error instanceof StreamsError && !error.canRetry) && !(error instanceof Fatal);

/**
 * @example
 * const runner = new SinkRunner({ log, topic: 'sessions', sink: new PostgresSink({...}), keySerde: Serdes.string(), valueSerde: sessionSerde });
 * await runner.start();           // opens the sink and reads its positions, then runs in the background
 * runner.status();                // state, breaker, lag per partition, counters
 * await runner.close();
 */
export class SinkRunner<K, V> {
  readonly #options: SinkRunnerOptions<K, V>;
  readonly #sink: Sink<K, V>;
  readonly #group: string;
  readonly #now: () => number;
  readonly #retry: Backoff;
  readonly #breaker: CircuitBreaker;
  readonly #builder: BatchBuilder<K, V>;
  readonly #pollMs: number;
  readonly #stop = new AbortController();
  readonly #listeners: ((event: SinkEvent) => void)[] = [];
  #state: SinkRunnerState = 'CREATED';
  #partitions: number[] = [];
  /** Next offset to fetch, per partition (ahead of `#durable` by the batch in memory). */
  #fetchAt = new Map<number, number>();
  /** Durable position per partition. */
  #durable = new Map<number, number>();
  #endOffsets = new Map<number, number>();
  /** Partitions whose durable position moved since the last commit to the log. */
  #uncommitted = new Set<number>();
  #held: { batch: SinkBatch<K, V>; bytes: number; trigger: BatchTrigger | 'retry' } | undefined;
  #opened = false;
  #attempt = 0;
  #logAttempt = 0;
  #sequence = 0;
  #rotate = 0;
  #lagRefreshedAt = 0;
  #loop: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #lastError: SinkStatus['lastError'];
  #lastRecordTimestamp: number | undefined;
  #lastWriteAt: number | undefined;
  #counters = {
    recordsWritten: 0,
    batchesWritten: 0,
    bytesWritten: 0,
    writeFailures: 0,
    logFailures: 0,
    recordsSkipped: 0,
    recordsLost: 0,
    fetches: 0,
  };

  constructor(options: SinkRunnerOptions<K, V>) {
    if (typeof options.topic !== 'string' || options.topic === '') throw new StreamsError('INVALID_ARGUMENT', 'a sink runner needs a topic');
    const sink = options.sink;
    if (sink === undefined || typeof sink.write !== 'function' || typeof sink.open !== 'function') throw new StreamsError('INVALID_ARGUMENT', 'a sink runner needs a sink with open() and write()');
    if (!['exactly-once', 'idempotent', 'at-least-once'].includes(sink.guarantee)) throw new StreamsError('INVALID_ARGUMENT', `sink ${sink.name}: unknown guarantee ${String(sink.guarantee)}`);
    if (sink.positions !== 'log' && sink.positions !== 'target') throw new StreamsError('INVALID_ARGUMENT', `sink ${sink.name}: positions must be 'log' or 'target', got ${String(sink.positions)}`);
    if (sink.guarantee === 'exactly-once' && sink.positions !== 'target') {
      throw new StreamsError('INVALID_ARGUMENT', `sink ${sink.name}: exactly-once needs the positions in the target (written in the same transaction as the rows)`);
    }
    if (options.keySerde === undefined || options.valueSerde === undefined) throw new StreamsError('MISSING_SERDE', `sink ${sink.name}: the runner needs a keySerde and a valueSerde (Serdes.bytes() for raw bytes)`);
    const pollMs = options.pollIntervalMs ?? 100;
    if (!(Number.isFinite(pollMs) && pollMs > 0)) throw new StreamsError('INVALID_ARGUMENT', `pollIntervalMs must be a positive number, got ${pollMs}`);
    for (const p of options.partitions ?? []) if (!Number.isInteger(p) || p < 0) throw new StreamsError('INVALID_ARGUMENT', `partitions must be non-negative integers, got ${p}`);
    this.#options = options;
    this.#sink = sink;
    this.#group = options.group ?? `sink-${sink.name}`;
    this.#now = Date.now;
    this.#pollMs = pollMs;
    this.#retry = exponentialBackoff({ initialMs: 100, maxMs: 10_000, ...options.retry }, options.random);
    this.#breaker = new CircuitBreaker({ ...(options.random && { random: options.random }), ...options.breaker });
    this.#breaker.onTransition((to, from) => this.#emit({ kind: 'breaker', to, from }));
    this.#builder = new BatchBuilder(options.topic, options.batch);
  }

  get name(): string {
    return this.#sink.name;
  }

  get state(): SinkRunnerState {
    return this.#state;
  }

  /** Calls `listener` with every event (writes, failures, transitions). */
  onEvent(listener: (event: SinkEvent) => void): void {
    this.#listeners.push(listener);
  }

  /**
   * Finds the partitions, opens the sink and reads the positions, then runs in the background.
   * Resolves once the runner is RUNNING, or PAUSED when the target is down at start (it keeps
   * trying); rejects when the topic does not exist or the sink fails for good.
   */
  async start(): Promise<void> {
    this.#move('STARTING');
    const topics = await this.#options.log.topics();
    const config = topics.get(this.#options.topic);
    if (config === undefined) {
      const error = new StreamsError('UNKNOWN_TOPIC', `sink ${this.name}: topic ${this.#options.topic} does not exist; create it (or start the application that writes it) first`);
      this.#fail(error);
      throw error;
    }
    const wanted = this.#options.partitions ?? Array.from({ length: config.partitions }, (_, i) => i);
    for (const p of wanted) {
      if (p >= config.partitions) {
        const error = new StreamsError('INVALID_ARGUMENT', `sink ${this.name}: topic ${this.#options.topic} has ${config.partitions} partitions, no partition ${p}`);
        this.#fail(error);
        throw error;
      }
    }
    this.#partitions = [...new Set(wanted)].sort((a, b) => a - b);
    if (this.#partitions.length === 0) {
      const error = new StreamsError('INVALID_ARGUMENT', `sink ${this.name}: no partitions to consume`);
      this.#fail(error);
      throw error;
    }
    // One try here; when the target is down the runner starts PAUSED and the loop keeps trying.
    this.#breaker.tryAcquire();
    const opened = await this.#attemptStep(() => this.#open());
    if (this.#state === 'FAILED') throw this.#failure;
    if (this.#stopping) return;
    this.#loop = opened ? this.#run() : this.#wait(this.#retry.delay(this.#attempt++)).then(() => this.#run());
  }

  /**
   * Stops: lets a write in progress finish, drops a batch not yet written (it is read again on
   * the next start), flushes a sink that stages, commits and closes the sink.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const wasFailed = this.#state === 'FAILED';
    if (this.#state !== 'CLOSED') this.#move('CLOSING');
    this.#stop.abort();
    await this.#loop;
    try {
      if (this.#opened && !wasFailed) {
        if (this.#sink.flush !== undefined) {
          const durable = await this.#sink.flush('close');
          if (durable) this.#advance(durable);
        }
        await this.#commitToLog();
      }
    } catch {
      // The target or the log is down: what was staged is read again on the next start.
    } finally {
      this.#held = undefined;
      if (this.#opened) await this.#sink.close().catch(() => {});
      this.#move('CLOSED');
    }
  }

  /** A snapshot of the runner's state, positions, lag and counters. */
  status(): SinkStatus {
    const partitions = this.#partitions.map((partition) => {
      const position = this.#durable.get(partition) ?? 0;
      const endOffset = Math.max(this.#endOffsets.get(partition) ?? 0, position);
      return { partition, position, endOffset, lag: endOffset - position };
    });
    const probeAt = this.#breaker.probeAt;
    return {
      sink: this.name,
      topic: this.#options.topic,
      guarantee: this.#sink.guarantee,
      state: this.#state,
      breaker: this.#breaker.state,
      ...(probeAt > 0 && { nextProbeAt: probeAt }),
      partitions,
      lag: partitions.reduce((n, p) => n + p.lag, 0),
      inFlight: (this.#held?.batch.size ?? 0) + this.#builder.size,
      counters: { ...this.#counters, breakerOpened: this.#breaker.opened },
      ...(this.#lastRecordTimestamp !== undefined && { lastRecordTimestamp: this.#lastRecordTimestamp }),
      ...(this.#lastWriteAt !== undefined && { lastWriteAt: this.#lastWriteAt }),
      ...(this.#lastError !== undefined && { lastError: this.#lastError }),
    };
  }

  /** Resolves when every partition's durable position has reached `offsets` (tests, shutdown hooks). */
  async waitFor(offsets: SinkPositions, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if ([...offsets].every(([p, o]) => (this.#durable.get(p) ?? 0) >= o)) return;
      if (this.#state === 'FAILED' || this.#state === 'CLOSED') throw new StreamsError('ILLEGAL_STATE', `sink ${this.name} is ${this.#state}${this.#lastError ? `: ${this.#lastError.message}` : ''}`);
      if (Date.now() > deadline) throw new StreamsError('ILLEGAL_STATE', `sink ${this.name} did not reach ${JSON.stringify([...offsets])} in ${timeoutMs} ms: ${JSON.stringify(this.status())}`);
      await sleep(20);
    }
  }

  // -------------------------------------------------------------------------------------------
  // The loop

  #failure: unknown;

  get #stopping(): boolean {
    return this.#stop.signal.aborted;
  }

  async #run(): Promise<void> {
    while (!this.#stopping && this.#state !== 'FAILED') {
      if (!this.#opened) {
        await this.#guarded(() => this.#open());
        continue;
      }
      if (this.#held === undefined) {
        const trigger = this.#builder.due(this.#now());
        if (trigger === undefined) {
          const fetched = await this.#logStep(() => this.#fetch());
          if (fetched === false) await this.#idle();
          continue;
        }
        const bytes = this.#builder.bytes;
        this.#held = { batch: this.#builder.take(++this.#sequence), bytes, trigger };
      }
      await this.#guarded(() => this.#write());
      if (this.#held === undefined && this.#uncommitted.size > 0) await this.#logStep(() => this.#commitToLog());
    }
  }

  /** Runs a step against the target behind the breaker, waiting (not fetching) while it is open. */
  async #guarded(step: () => Promise<void>): Promise<void> {
    while (!this.#stopping && this.#state !== 'FAILED') {
      if (!this.#breaker.tryAcquire()) {
        await this.#wait(Math.max(1, this.#breaker.probeAt - this.#now()));
        continue;
      }
      if (await this.#attemptStep(step)) return;
      if (this.#breaker.state === 'closed') await this.#wait(this.#retry.delay(this.#attempt++));
    }
  }

  /** One try of a step the breaker let through; false when it failed (recorded; FAILED if for good). */
  async #attemptStep(step: () => Promise<void>): Promise<boolean> {
    const started = this.#now();
    try {
      await step();
      this.#breaker.onSuccess();
      this.#attempt = 0;
      if (this.#state === 'STARTING' || this.#state === 'PAUSED') this.#move('RUNNING');
      return true;
    } catch (error) {
      if (!retryable(error)) {
        this.#fail(error instanceof Fatal ? error.error : error);
        return false;
      }
      this.#counters.writeFailures++;
      this.#note(error);
      this.#emit({ kind: 'write-failed', error, ms: this.#now() - started });
      this.#breaker.onFailure();
      if (this.#state === 'STARTING' || this.#state === 'RUNNING') this.#move('PAUSED');
      if (this.#held !== undefined) this.#held.trigger = 'retry';
      return false;
    }
  }

  /** Runs a step against the log with its own backoff; false when it failed (and was waited for). */
  async #logStep<T>(step: () => Promise<T>): Promise<T | false> {
    try {
      const result = await step();
      this.#logAttempt = 0;
      return result;
    } catch (error) {
      if (!retryable(error)) {
        this.#fail(error instanceof Fatal ? error.error : error);
        return false;
      }
      this.#counters.logFailures++;
      this.#note(error);
      await this.#wait(this.#retry.delay(this.#logAttempt++));
      return false;
    }
  }

  async #open(): Promise<void> {
    const stored = await this.#sink.open({ topic: this.#options.topic, partitions: this.#partitions });
    let positions: ReadonlyMap<number, number>;
    if (this.#sink.positions === 'target') {
      positions = stored ?? new Map();
    } else {
      const committed = await this.#options.log.committedOffsets(this.#group);
      positions = new Map(this.#partitions.map((p) => [p, committed.get(partitionKey({ topic: this.#options.topic, partition: p })) ?? 0]));
    }
    this.#durable = new Map(this.#partitions.map((p) => [p, positions.get(p) ?? 0]));
    this.#fetchAt = new Map(this.#durable);
    this.#opened = true;
  }

  /** One round of fetches into the batch being gathered; false when nothing moved. */
  async #fetch(): Promise<boolean> {
    const { log, topic, keySerde, valueSerde } = this.#options;
    // Spread the batch's room over the partitions, starting one further each round.
    const n = this.#partitions.length;
    const room = this.#builder.room;
    const requests: FetchRequest[] = [];
    this.#rotate = (this.#rotate + 1) % n;
    for (let i = 0; i < n; i++) {
      const partition = this.#partitions[(this.#rotate + i) % n]!;
      const share = Math.floor(room / n) + (i < room % n ? 1 : 0);
      if (share > 0) requests.push({ tp: { topic, partition }, offset: this.#fetchAt.get(partition)!, options: { maxRecords: share, readCommitted: true } });
    }
    this.#counters.fetches++;
    const results = await fetchMany(log, requests);
    let moved = false;
    const now = this.#now();
    for (const [i, result] of results.entries()) {
      const { tp, offset } = requests[i]!;
      this.#endOffsets.set(tp.partition, result.endOffset);
      if (result.nextOffset <= offset && result.records.length === 0) continue;
      if (offset < result.startOffset) this.#counters.recordsLost += result.startOffset - offset;
      const records: SinkRecord<K, V>[] = [];
      let bytes = 0;
      for (const r of result.records) {
        let key: K | null;
        let value: V | null;
        try {
          key = r.key === null ? null : keySerde.deserialize(r.key, topic);
        } catch (cause) {
          if (this.#options.onDeserializationError === 'skip') {
            this.#counters.recordsSkipped++;
            continue;
          }
          throw new Fatal(new DeserializationError({ topic, partition: tp.partition, offset: r.offset }, 'key', cause));
        }
        try {
          value = r.value === null ? null : valueSerde.deserialize(r.value, topic);
        } catch (cause) {
          if (this.#options.onDeserializationError === 'skip') {
            this.#counters.recordsSkipped++;
            continue;
          }
          throw new Fatal(new DeserializationError({ topic, partition: tp.partition, offset: r.offset }, 'value', cause));
        }
        bytes += (r.key?.byteLength ?? 0) + (r.value?.byteLength ?? 0);
        records.push({ topic, partition: tp.partition, offset: r.offset, key, value, timestamp: r.timestamp, ...(r.headers && { headers: r.headers }) });
      }
      this.#builder.add(tp.partition, offset, result.nextOffset, records, bytes, now);
      this.#fetchAt.set(tp.partition, result.nextOffset);
      moved = true;
    }
    this.#lagRefreshedAt = now;
    return moved;
  }

  async #write(): Promise<void> {
    const held = this.#held!;
    const started = this.#now();
    const durable = await this.#sink.write(held.batch);
    const ms = this.#now() - started;
    const batch = held.batch;
    this.#held = undefined;
    this.#advance(durable ?? new Map(batch.parts.map((p) => [p.partition, p.nextOffset])));
    this.#counters.recordsWritten += batch.size;
    this.#counters.batchesWritten++;
    this.#counters.bytesWritten += held.bytes;
    this.#lastWriteAt = this.#now();
    for (const part of batch.parts) {
      for (const r of part.records) if (this.#lastRecordTimestamp === undefined || r.timestamp > this.#lastRecordTimestamp) this.#lastRecordTimestamp = r.timestamp;
    }
    this.#emit({ kind: 'written', records: batch.size, bytes: held.bytes, ms, trigger: held.trigger });
  }

  #advance(durable: SinkPositions): void {
    for (const [partition, offset] of durable) {
      if (offset > (this.#durable.get(partition) ?? 0)) {
        this.#durable.set(partition, offset);
        this.#uncommitted.add(partition);
      }
    }
  }

  /** Commits the durable positions to the log's group: the positions themselves, or (target) a copy. */
  async #commitToLog(): Promise<void> {
    if (this.#uncommitted.size === 0) return;
    const partitions = [...this.#uncommitted];
    const copy = this.#sink.positions === 'target';
    if (copy && this.#options.commitToLog === false) {
      this.#uncommitted.clear();
    } else {
      const offsets = new Map(partitions.map((p) => [partitionKey({ topic: this.#options.topic, partition: p }), this.#durable.get(p)!]));
      try {
        await this.#options.log.commitOffsets(this.#group, offsets);
        this.#uncommitted.clear();
      } catch (error) {
        if (!copy) throw error;
        this.#counters.logFailures++; // a copy for lag tools only: the next write commits it again
      }
    }
    if (this.#options.deleteConsumed !== true) return;
    // The topic only feeds this sink (KStream.toSink): what is durable in the target can go.
    for (const partition of partitions) {
      try {
        await this.#options.log.deleteRecords({ topic: this.#options.topic, partition }, this.#durable.get(partition)!);
      } catch {
        this.#counters.logFailures++; // deleted with the next commit
      }
    }
  }

  /** Nothing new: flush a staging sink, refresh the lag, and wait a poll interval or until the batch is due. */
  async #idle(): Promise<void> {
    if (this.#sink.flush !== undefined && this.#builder.isEmpty) {
      await this.#guarded(async () => {
        const durable = await this.#sink.flush!('idle');
        if (durable) this.#advance(durable);
      });
      if (this.#uncommitted.size > 0) await this.#logStep(() => this.#commitToLog());
    }
    const deadline = this.#builder.deadline;
    await this.#wait(deadline === undefined ? this.#pollMs : Math.min(this.#pollMs, Math.max(1, deadline - this.#now())));
  }

  /**
   * Sleeps until `ms` passed or close() was called. While it sleeps, the lag is refreshed once a
   * second from the end offsets (a fetch of no records), so it stays current while the target is down.
   */
  async #wait(ms: number): Promise<void> {
    const until = this.#now() + ms;
    while (!this.#stopping) {
      if (this.#opened && this.#now() - this.#lagRefreshedAt >= LAG_REFRESH_MS) await this.#refreshLag();
      const left = until - this.#now();
      if (left <= 0) return;
      try {
        await sleep(Math.min(left, Math.max(1, this.#lagRefreshedAt + LAG_REFRESH_MS - this.#now())), undefined, { signal: this.#stop.signal });
      } catch {
        return; // close() woke us
      }
    }
  }

  async #refreshLag(): Promise<void> {
    this.#lagRefreshedAt = this.#now();
    try {
      const results = await fetchMany(
        this.#options.log,
        this.#partitions.map((partition) => ({ tp: { topic: this.#options.topic, partition }, offset: this.#durable.get(partition)!, options: { maxRecords: 0 } })),
      );
      for (const [i, r] of results.entries()) this.#endOffsets.set(this.#partitions[i]!, r.endOffset);
    } catch {
      // the log is down too: the lag shown is the last one seen
    }
  }

  // -------------------------------------------------------------------------------------------

  #fail(error: unknown): void {
    this.#failure = error;
    this.#note(error);
    if (this.#state !== 'FAILED' && this.#state !== 'CLOSING' && this.#state !== 'CLOSED') this.#move('FAILED');
  }

  #note(error: unknown): void {
    this.#lastError = {
      code: (error as { code?: unknown }).code !== undefined ? String((error as { code?: unknown }).code) : 'UNKNOWN',
      message: error instanceof Error ? error.message : String(error),
      at: this.#now(),
    };
  }

  #move(to: SinkRunnerState): void {
    const from = this.#state;
    if (!transitions[from].includes(to)) throw new StreamsError('ILLEGAL_STATE', `sink ${this.name} cannot go from ${from} to ${to}`);
    this.#state = to;
    this.#emit({ kind: 'state', to, from });
  }

  #emit(event: SinkEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // a listener's bug must not stop the sink
      }
    }
  }
}
