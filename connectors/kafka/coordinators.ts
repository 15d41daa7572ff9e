/**
 * The coordinator broker of each consumer group (FindCoordinator, remembered), and requests sent
 * to it: offset commits in a transaction (transactions.ts) or not (groups.ts), and group
 * membership's coordinator lookups. Requests are retried as the client retries its own: while the
 * coordinator loads, while an earlier transaction of the producer completes, and at the new
 * coordinator when it moved.
 */
import type { Admin, Connection } from '@platformatic/kafka';
import { StreamsError } from '../../engine/errors.ts';
import { COORDINATOR_ATTEMPTS, brokerError, isUnreachable, retrying } from './calls.ts';
import type { Connections } from './connections.ts';

export class Coordinators {
  readonly #admin: Admin;
  /** The connections requests to coordinators go on. */
  readonly #connections: Connections;
  /** The coordinator broker of each consumer group (offsets sent in a transaction go there). */
  readonly #known = new Map<string, number>();

  constructor(admin: Admin, connections: Connections) {
    this.#admin = admin;
    this.#connections = connections;
  }

  /** The coordinator broker of a consumer group, looked up (again, with `refresh`) when not known. */
  async of(groupId: string, refresh = false): Promise<number> {
    let id = refresh ? undefined : this.#known.get(groupId);
    if (id === undefined) {
      const [found] = await this.#admin.findCoordinator({ keyType: 0 /* GROUP */, keys: [groupId] });
      if (found === undefined) throw new StreamsError('ILLEGAL_STATE', `no coordinator found for group "${groupId}"`, { canRetry: true });
      this.#known.set(groupId, (id = found.nodeId));
    }
    return id;
  }

  /** Forgets every coordinator (one moved): each is looked up again next time. */
  forget(): void {
    this.#known.clear();
  }

  /**
   * Sends a request to a group's coordinator. Retried as the client retries its own requests: while
   * the coordinator loads or a previous transaction of this producer is still completing, or at a
   * coordinator that moved. An unreachable coordinator's connection is dropped, and the error left
   * to the caller (Calls.run retries it where that is safe).
   */
  async send<T>(groupId: string, send: (connection: Connection) => Promise<T>): Promise<T> {
    let coordinatorId = await this.of(groupId);
    return retrying(
      COORDINATOR_ATTEMPTS,
      (attempt) => Math.min(20 * attempt, 200),
      async () => send(await this.#connections.get(coordinatorId)),
      async (error) => {
        if (isUnreachable(error)) this.#connections.drop(coordinatorId);
        const moved = brokerError(error, 'NOT_COORDINATOR', 'COORDINATOR_NOT_AVAILABLE');
        if (!(moved || brokerError(error, 'COORDINATOR_LOAD_IN_PROGRESS', 'CONCURRENT_TRANSACTIONS'))) return false;
        if (moved) coordinatorId = await this.of(groupId, true).catch(() => coordinatorId);
        return true;
      },
    );
  }
}
