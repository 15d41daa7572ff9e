/**
 * The log across threads: the thread that owns the log serves requests from worker threads,
 * and each worker talks to it through a `LogClient`, which implements the Log SPI. A call is one
 * message each way; callers move batches (a fetch returns up to maxRecords records, a commit
 * carries a whole transaction), so the ~100 us round trip is paid per batch, never per record.
 */
import type { MessagePort } from 'node:worker_threads';
import { StreamsError, type ErrorCode } from '../errors.ts';
import {
  fetchMany,
  isEncodedLog,
  type EncodedFetchResult,
  type FetchedRecord,
  type FetchOptions,
  type FetchResult,
  type GroupGeneration,
  type GroupMetadata,
  type GroupOffsets,
  type Log,
  type LogTransaction,
  type PartitionBatch,
  type TopicConfig,
  type TopicPartition,
  type TransactionalProducer,
} from '../log.ts';
import { decodeRecordBatch, decodeRecordsAt, encodeBatch, type EncodedBatch } from '../log-codec.ts';

/** Requests a worker sends to the log owner. */
export type LogRequest =
  | { readonly kind: 'createTopic'; readonly name: string; readonly config: TopicConfig }
  | { readonly kind: 'topics' }
  | { readonly kind: 'fetchMany'; readonly fetches: readonly { tp: TopicPartition; offset: number; options?: FetchOptions }[] }
  | { readonly kind: 'produce'; readonly batches: readonly EncodedBatch[] }
  | { readonly kind: 'initTransactions'; readonly transactionalId: string }
  | {
      readonly kind: 'commitTransaction';
      readonly transactionalId: string;
      readonly handle: number;
      readonly batches: readonly EncodedBatch[];
      readonly offsets: readonly (readonly [string, readonly (readonly [string, number])[]])[];
      /** Metadata committed with the offsets, per group (groups without any are left out). */
      readonly metadata: readonly (readonly [string, readonly (readonly [string, string])[]])[];
    }
  | { readonly kind: 'committedOffsets'; readonly group: string }
  | { readonly kind: 'committedMetadata'; readonly group: string }
  | {
      readonly kind: 'commitOffsets';
      readonly group: string;
      readonly offsets: readonly (readonly [string, number])[];
      readonly metadata?: readonly (readonly [string, string])[];
      readonly member?: GroupGeneration;
    }
  | { readonly kind: 'deleteRecords'; readonly tp: TopicPartition; readonly offset: number };

type Envelope = { readonly id: number; readonly request: LogRequest };
type Reply =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly code: ErrorCode | undefined; readonly message: string };

/** A fetch as it crosses threads: the stored batches when the log can hand them over, else records. */
type WireFetch = ({ readonly kind: 'encoded' } & EncodedFetchResult) | ({ readonly kind: 'plain' } & FetchResult);

/** Serves log requests arriving on `port` from one worker. Returns a function that stops serving. */
export function serveLog(log: Log, port: MessagePort): () => void {
  const producers = new Map<number, TransactionalProducer>();
  let nextHandle = 0;
  const decode = (batches: readonly EncodedBatch[]): PartitionBatch[] =>
    batches.map((b) => ({ topic: b.topic, partition: b.partition, records: decodeRecordBatch(b.blob) }));
  const handle = async (request: LogRequest): Promise<unknown> => {
    switch (request.kind) {
      case 'createTopic':
        return log.createTopic(request.name, request.config);
      case 'topics':
        return [...(await log.topics())];
      case 'fetchMany':
        if (isEncodedLog(log)) {
          return request.fetches.map((f): WireFetch => ({ kind: 'encoded', ...log.fetchEncoded(f.tp, f.offset, f.options?.maxRecords ?? 1000) }));
        }
        return (await fetchMany(log, request.fetches)).map((r): WireFetch => ({ kind: 'plain', ...r }));
      case 'produce':
        return isEncodedLog(log) ? log.appendEncoded(request.batches, undefined, undefined) : log.produce(decode(request.batches));
      case 'initTransactions': {
        const producer = await log.initTransactions(request.transactionalId);
        producers.set(++nextHandle, producer);
        return nextHandle;
      }
      case 'commitTransaction': {
        const producer = producers.get(request.handle);
        if (producer === undefined) throw new StreamsError('ILLEGAL_STATE', `unknown producer handle ${request.handle}`);
        const offsets = new Map(request.offsets.map(([group, list]) => [group, new Map(list)]));
        const metadata = new Map(request.metadata.map(([group, list]) => [group, new Map(list)]));
        if (isEncodedLog(log)) return log.appendEncoded(request.batches, offsets, producer, metadata);
        const tx = producer.begin();
        tx.produce(decode(request.batches));
        for (const [group, map] of offsets) {
          const withMetadata = metadata.get(group);
          tx.sendOffsets(group, map, withMetadata === undefined ? undefined : { metadata: withMetadata });
        }
        return tx.commit();
      }
      case 'committedOffsets':
        return [...(await log.committedOffsets(request.group))];
      case 'committedMetadata':
        return [...(await log.committedMetadata(request.group))];
      case 'commitOffsets':
        return log.commitOffsets(request.group, new Map(request.offsets), request.metadata === undefined ? undefined : new Map(request.metadata), {
          ...(request.member !== undefined && { member: request.member }),
        });
      case 'deleteRecords':
        return log.deleteRecords(request.tp, request.offset);
    }
  };
  const onMessage = (message: Envelope) => {
    handle(message.request).then(
      (result) => port.postMessage({ id: message.id, ok: true, result } satisfies Reply),
      (error: unknown) =>
        port.postMessage({
          id: message.id,
          ok: false,
          code: error instanceof StreamsError ? error.code : undefined,
          message: error instanceof Error ? error.message : String(error),
        } satisfies Reply),
    );
  };
  port.on('message', onMessage);
  return () => port.off('message', onMessage);
}

function encodeAll(batches: readonly PartitionBatch[]): EncodedBatch[] {
  return batches.map((b) => encodeBatch(b.topic, b.partition, b.records));
}

/** The Log SPI for a worker thread, over a MessagePort to the thread that owns the log. */
export class LogClient implements Log {
  readonly #port: MessagePort;
  readonly #waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  #next = 0;

  constructor(port: MessagePort) {
    this.#port = port;
    port.on('message', (reply: Reply) => {
      const waiter = this.#waiting.get(reply.id);
      if (waiter === undefined) return;
      this.#waiting.delete(reply.id);
      if (reply.ok) waiter.resolve(reply.result);
      else waiter.reject(new StreamsError(reply.code ?? 'PROCESSING_FAILED', reply.message));
    });
  }

  #call<T>(request: LogRequest): Promise<T> {
    const id = ++this.#next;
    return new Promise<T>((resolve, reject) => {
      this.#waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#port.postMessage({ id, request } satisfies Envelope);
    });
  }

  createTopic(name: string, config: TopicConfig): Promise<void> {
    return this.#call({ kind: 'createTopic', name, config });
  }

  async topics(): Promise<ReadonlyMap<string, TopicConfig>> {
    return new Map(await this.#call<[string, TopicConfig][]>({ kind: 'topics' }));
  }

  async fetch(tp: TopicPartition, offset: number, options?: FetchOptions): Promise<FetchResult> {
    const [result] = await this.fetchMany([{ tp, offset, ...(options && { options }) }]);
    return result!;
  }

  /** Many fetches in one round trip; stored batches are decoded here, in the calling thread. */
  async fetchMany(fetches: readonly { tp: TopicPartition; offset: number; options?: FetchOptions }[]): Promise<FetchResult[]> {
    const wire = await this.#call<WireFetch[]>({ kind: 'fetchMany', fetches });
    return wire.map((w, i) => {
      if (w.kind === 'plain') return w;
      const records: FetchedRecord[] = [];
      // As the log counted them: offsets, holes included.
      let left = fetches[i]!.options?.maxRecords ?? 1000;
      for (const chunk of w.chunks) left -= decodeRecordsAt(chunk.blob, chunk.baseOffset, chunk.skip, left, records);
      return { records, nextOffset: w.nextOffset, endOffset: w.endOffset, startOffset: w.startOffset };
    });
  }

  produce(batches: readonly PartitionBatch[]): Promise<number[]> {
    return this.#call({ kind: 'produce', batches: encodeAll(batches) });
  }

  async initTransactions(transactionalId: string): Promise<TransactionalProducer> {
    const handle = await this.#call<number>({ kind: 'initTransactions', transactionalId });
    const call = this.#call.bind(this);
    return {
      transactionalId,
      begin(): LogTransaction {
        const batches: PartitionBatch[] = [];
        const offsets = new Map<string, Map<string, number>>();
        const metadata = new Map<string, Map<string, string>>();
        let done = false;
        const check = () => {
          if (done) throw new StreamsError('ILLEGAL_STATE', 'the transaction is already committed or aborted');
        };
        return {
          produce(more) {
            check();
            batches.push(...more);
          },
          // `options.member` is not sent (as before metadata): the logs served this way (those
          // without a workerSpec, such as the embedded log) run in one process, with no group to check.
          sendOffsets(group, map, options) {
            check();
            let target = offsets.get(group);
            if (target === undefined) offsets.set(group, (target = new Map()));
            let targetMetadata = metadata.get(group);
            if (targetMetadata === undefined) metadata.set(group, (targetMetadata = new Map()));
            for (const [tp, offset] of map) {
              target.set(tp, offset);
              // A later sendOffsets of the partition replaces its metadata too, or clears it.
              const value = options?.metadata?.get(tp);
              if (value === undefined) targetMetadata.delete(tp);
              else targetMetadata.set(tp, value);
            }
          },
          async commit() {
            check();
            done = true;
            await call({
              kind: 'commitTransaction',
              transactionalId,
              handle,
              batches: encodeAll(batches),
              offsets: [...offsets].map(([group, map]) => [group, [...map]] as const),
              metadata: [...metadata].filter(([, map]) => map.size > 0).map(([group, map]) => [group, [...map]] as const),
            });
          },
          async abort() {
            check();
            done = true;
          },
        };
      },
    };
  }

  async committedOffsets(group: string): Promise<GroupOffsets> {
    return new Map(await this.#call<[string, number][]>({ kind: 'committedOffsets', group }));
  }

  async committedMetadata(group: string): Promise<GroupMetadata> {
    return new Map(await this.#call<[string, string][]>({ kind: 'committedMetadata', group }));
  }

  commitOffsets(group: string, offsets: ReadonlyMap<string, number>, metadata?: GroupMetadata, options: { readonly member?: GroupGeneration } = {}): Promise<void> {
    return this.#call({ kind: 'commitOffsets', group, offsets: [...offsets], ...(metadata !== undefined && { metadata: [...metadata] }), ...(options.member !== undefined && { member: options.member }) });
  }

  deleteRecords(tp: TopicPartition, offset: number): Promise<void> {
    return this.#call({ kind: 'deleteRecords', tp, offset });
  }

  async close(): Promise<void> {
    this.#port.close();
  }
}
