/**
 * A set of this log's own connections to brokers, one per broker (Kafka's NetworkClient), for raw
 * requests the clients do not make as we need them. The log keeps sets apart by purpose: a broker
 * answers the requests of one connection one at a time, so a fetch that waits up to fetchMaxWaitMs
 * must not hold up a produce or a commit, and a JoinGroup that waits for the whole group has a
 * set of its own. A connection the broker closed leaves its set; the next request opens another.
 */
import { Connection } from '@platformatic/kafka';
import { StreamsError } from '../../engine/errors.ts';
import type { KafkaLogOptions } from './kafka-log-options.ts';
import type { Metadata } from './metadata.ts';

/** Client options that apply to a connection of our own. */
const CONNECTION_OPTIONS = ['connectTimeout', 'requestTimeout', 'tls', 'ssl', 'tlsServerName', 'sasl'];

export class Connections {
  readonly #metadata: Metadata;
  readonly #options: KafkaLogOptions;
  /** Longest wait for an answer, when this set's requests may take longer than the client's default. */
  readonly #requestTimeout: number | undefined;
  readonly #pool = new Map<number, Promise<Connection>>();

  constructor(metadata: Metadata, options: KafkaLogOptions, requestTimeout?: number) {
    this.#metadata = metadata;
    this.#options = options;
    this.#requestTimeout = requestTimeout;
  }

  /** The connection to a broker (node id), opened when there is none. */
  async get(node: number): Promise<Connection> {
    const pool = this.#pool;
    let pending = pool.get(node);
    if (pending === undefined) {
      if (this.#metadata.broker(node) === undefined) {
        await this.#metadata.refreshBrokers();
        pending = pool.get(node);
        if (pending !== undefined) return pending;
      }
      const broker = this.#metadata.broker(node);
      if (broker === undefined) throw new StreamsError('ILLEGAL_STATE', `no address known for broker ${node}`, { canRetry: true });
      const client = this.#options.client ?? {};
      const requestTimeout = this.#requestTimeout;
      const options = {
        ...Object.fromEntries(CONNECTION_OPTIONS.filter((k) => client[k] !== undefined).map((k) => [k, client[k]])),
        ...(requestTimeout !== undefined && { requestTimeout }),
      };
      const connection = new Connection(`${this.#options.clientId ?? 'tributary'}-fetch`, options);
      const opened: Promise<Connection> = Promise.resolve(connection.connect(broker.host, broker.port)).then(() => connection);
      pending = opened;
      opened.catch(() => pool.delete(node));
      // A connection the broker closed (connections.max.idle.ms, a restart) leaves the pool, so
      // the next request opens a new one instead of failing on it.
      connection.on('close', () => {
        if (pool.get(node) === opened) pool.delete(node);
      });
      pool.set(node, opened);
    }
    return pending;
  }

  /** Closes the connection to a broker (after a network error): the next request opens another. */
  drop(node: number): void {
    const pending = this.#pool.get(node);
    this.#pool.delete(node);
    void pending?.then((c) => c.close()).catch(() => {});
  }

  /** Closes every connection of the set; never rejects. */
  close(): Promise<unknown> {
    return Promise.allSettled([...this.#pool.values()].map((p) => p.then((c) => c.close())));
  }
}
