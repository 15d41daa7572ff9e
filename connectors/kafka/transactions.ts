/**
 * Transactions (Kafka's TransactionManager): the transactional producers of initTransactions and
 * the transactions they run, in which records and consumed offsets commit or abort together.
 *
 * One @platformatic/kafka Producer per transactional id, created with producer id and epoch -1 so
 * that InitProducerId bumps the epoch and fences an earlier instance (the client defaults to 0/0,
 * with which a restarted instance fences itself). The client runs the transaction's protocol
 * (InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn); records go out through
 * producer.ts, offsets as one TxnOffsetCommit per group to the group's coordinator. Calls inside a
 * transaction are made one at a time: the client merges concurrent ones.
 */
import { Producer as ClientProducer, txnOffsetCommitV4, type Consumer } from '@platformatic/kafka';
import { StreamsError } from '../../engine/errors.ts';
import type { LogTransaction, PartitionBatch, SendOffsetsOptions, TransactionalProducer } from '../../engine/log.ts';
import { brokerError, isFenced, isMigrated, type Calls } from './calls.ts';
import type { Coordinators } from './coordinators.ts';
import { offsetCommitTopics, withRenewedMember } from './groups.ts';
import type { KafkaLogOptions } from './kafka-log-options.ts';
import { byPartition, type Producer } from './producer.ts';

/** A producer's open transaction (the client does not export the class's type). */
type Transaction = Awaited<ReturnType<ClientProducer['beginTransaction']>>;
/** Offsets sent in a transaction: group, offsets, options. */
type SentOffsets = [string, ReadonlyMap<string, number>, SendOffsetsOptions | undefined];

const EMPTY = Buffer.alloc(0);

/** Aborts the producer's open transaction, if any; cancels it (locally) when the abort fails. */
async function abortOpen(producer: ClientProducer): Promise<void> {
  await producer.transaction?.abort().catch(() => producer.transaction?.cancel());
}

export interface TransactionsOptions {
  readonly calls: Calls;
  /** Sends the records (with the transactional producer's id, epoch and sequences). */
  readonly producer: Producer;
  readonly coordinators: Coordinators;
  readonly options: KafkaLogOptions;
}

export class Transactions {
  readonly #calls: Calls;
  readonly #producer: Producer;
  readonly #coordinators: Coordinators;
  readonly #options: KafkaLogOptions;
  /** The transactional producers not fenced or closed yet. */
  readonly #transactional = new Set<ClientProducer>();

  constructor(o: TransactionsOptions) {
    this.#calls = o.calls;
    this.#producer = o.producer;
    this.#coordinators = o.coordinators;
    this.#options = o.options;
  }

  async initTransactions(transactionalId: string): Promise<TransactionalProducer> {
    return this.#calls.run(`initializing transactions for "${transactionalId}"`, async () => {
      const producer = new ClientProducer({
        ...this.#options.client,
        bootstrapBrokers: [...this.#options.bootstrapBrokers],
        clientId: `${this.#options.clientId ?? 'tributary'}-${transactionalId}`,
        idempotent: true,
        transactionalId,
        // -1/-1: InitProducerId bumps the epoch of this id, fencing any earlier instance.
        producerId: -1n,
        producerEpoch: -1,
        timeout: this.#options.transactionTimeoutMs ?? 10_000,
        retryDelay: 10,
      });
      this.#transactional.add(producer);
      // InitProducerId now, not at the first commit: from here on, the earlier instance is fenced.
      const tx = await producer.beginTransaction();
      await tx.cancel();
      let fenced = false;
      /** Next sequence number per partition (`topic:partition`) for this producer id and epoch. */
      const sequences = new Map<string, number>();
      return {
        transactionalId,
        begin: (): LogTransaction => {
          // Records are sent as soon as they are given (the transaction begins with the first),
          // one send after the other, while the caller goes on: the commit then waits for them.
          let begun: Promise<Transaction> | undefined;
          let sending: Promise<void> | undefined;
          const offsets: SentOffsets[] = [];
          let done = false;
          const open = () => {
            if (done) throw new StreamsError('ILLEGAL_STATE', 'the transaction is already committed or aborted');
          };
          const finish = () => {
            open();
            done = true;
          };
          return {
            produce: (more) => {
              open();
              const batches = more.filter((b) => b.records.length > 0);
              if (batches.length === 0 || fenced) return;
              const started = (begun ??= producer.beginTransaction());
              sending = (sending ?? started.then(() => {})).then(async () => {
                await this.#produceInTransaction(producer, await started, sequences, batches);
              });
              // Reported by commit (or ignored by abort), not as an unhandled rejection.
              sending.catch(() => {});
            },
            sendOffsets: (group, map, options) => {
              open();
              offsets.push([group, map, options]);
            },
            commit: async () => {
              finish();
              if (fenced) throw new StreamsError('PRODUCER_FENCED', `producer "${transactionalId}" was fenced by a newer instance`);
              await this.#calls.run(
                `committing a transaction of "${transactionalId}"`,
                async () => {
                  try {
                    await this.#commit(producer, begun, sending, offsets);
                  } catch (error) {
                    if (isFenced(error)) {
                      fenced = true;
                      this.#transactional.delete(producer);
                      await producer.close(true).catch(() => {});
                      throw new StreamsError('PRODUCER_FENCED', `producer "${transactionalId}" was fenced by a newer instance (a zombie): its transaction is aborted`, {
                        cause: error,
                      });
                    }
                    if (isMigrated(error)) {
                      await abortOpen(producer);
                      throw new StreamsError('TASK_MIGRATED', `a rebalance gave the tasks of "${transactionalId}" to another member; its transaction is aborted`, {
                        cause: error,
                        canRetry: true,
                      });
                    }
                    // The group's coordinator may have moved: look it up again next time.
                    if (brokerError(error, 'NOT_COORDINATOR', 'COORDINATOR_NOT_AVAILABLE')) this.#coordinators.forget();
                    await abortOpen(producer);
                    throw error;
                  }
                },
                false,
              );
            },
            abort: async () => {
              finish();
              if (begun === undefined) return;
              await sending?.catch(() => {});
              await abortOpen(producer);
            },
          };
        },
      };
    });
  }

  /**
   * Sends records in the producer's open transaction: the client adds the partitions to the
   * transaction (AddPartitionsToTxn), then producer.ts sends them, one Produce per record batch,
   * each partition's batches in order, with the producer's id, epoch and sequence numbers (this
   * path is the only one that produces with this producer).
   */
  async #produceInTransaction(producer: ClientProducer, tx: Transaction, sequences: Map<string, number>, batches: readonly PartitionBatch[]): Promise<void> {
    const merged = byPartition(batches);
    const metadata = await producer.metadata({ topics: [...new Set(batches.map((b) => b.topic))] });
    await tx.addPartitions(
      metadata,
      [...merged.values()].map(({ tp }) => ({ topic: tp.topic, partition: tp.partition, value: EMPTY })),
    );
    const ids = { producerId: producer.producerId!, producerEpoch: producer.producerEpoch!, sequences };
    await Promise.all([...merged].map(([key, { tp, records }]) => this.#producer.send(tx.id, ids, key, tp.topic, tp.partition, records, true)));
  }

  /** Commits the transaction: the records sent since produce and the offsets at once, then EndTxn. */
  async #commit(producer: ClientProducer, begun: Promise<Transaction> | undefined, sending: Promise<void> | undefined, offsets: readonly SentOffsets[]): Promise<void> {
    const hasOffsets = offsets.some(([, map]) => map.size > 0);
    if (begun === undefined && !hasOffsets) return;
    const tx = await (begun ?? producer.beginTransaction());
    // The records (sent since produce) and the offsets go to different coordinators: both at
    // once, then EndTxn.
    const committing = (async () => {
      for (const [groupId, map, options] of offsets) {
        if (map.size === 0) continue;
        await this.#coordinators.of(groupId);
        await tx.addConsumer({ groupId } as unknown as Consumer);
        // Every partition in one TxnOffsetCommit (the client's addOffset sends one request per
        // partition, one at a time), with its metadata. With a member, the broker checks its
        // generation (KIP-447); without one (generation -1) it does not (a single process owns every task).
        const topics = offsetCommitTopics(map, options?.metadata);
        await withRenewedMember(options?.member, options?.renewMember, (member) =>
          this.#coordinators.send(groupId, (connection) =>
            txnOffsetCommitV4.api.async(
              connection,
              producer.transaction!.id,
              groupId,
              producer.producerId!,
              producer.producerEpoch!,
              member?.generationId ?? -1,
              member?.memberId ?? '',
              null,
              topics,
            ),
          ),
        );
      }
    })();
    const [sent, committed] = await Promise.allSettled([sending, committing]);
    for (const outcome of [sent, committed]) if (outcome.status === 'rejected') throw outcome.reason;
    await tx.commit();
  }

  /** Closes every transactional producer (an open transaction is left to the broker's timeout). */
  close(): Promise<unknown> {
    return Promise.allSettled([...this.#transactional].map((p) => p.close(true)));
  }
}
