/**
 * Consumer groups (the log's side of Kafka's ConsumerCoordinator): committed offsets and their
 * metadata, read and committed, and group membership (joinGroup, on GroupMember's own client of
 * the group protocol).
 *
 * Committed offsets are read with requireStable, so a reader never sees the offsets of a
 * transaction that is still being completed. Offsets and their metadata are committed with raw
 * OffsetCommit requests to the group's coordinator (the admin client's alterConsumerGroupOffsets
 * cannot carry metadata); in a transaction, transactions.ts sends them with TxnOffsetCommit, built
 * by the same `offsetCommitTopics` and renewed by the same `withRenewedMember`.
 */
import { offsetCommitV8, type Admin } from '@platformatic/kafka';
import { StreamsError } from '../../engine/errors.ts';
import type { GroupGeneration, GroupMembership, GroupMetadata, GroupOffsets, JoinGroupOptions, MemberCommitOptions } from '../../engine/log.ts';
import { isMigrated, brokerError, type Calls } from './calls.ts';
import { Connections } from './connections.ts';
import type { Coordinators } from './coordinators.ts';
import { GroupMember } from './group-member.ts';
import type { KafkaLogOptions } from './kafka-log-options.ts';
import type { Metadata } from './metadata.ts';

/**
 * A group's offsets as OffsetCommit and TxnOffsetCommit list them, per topic, each with its
 * metadata: a partition without any gets null, which clears what it had (as Kafka's consumer does).
 */
export function offsetCommitTopics(offsets: ReadonlyMap<string, number>, metadata: GroupMetadata | undefined) {
  const topics = new Map<string, { partitionIndex: number; committedOffset: bigint; committedLeaderEpoch: number; committedMetadata: string | null }[]>();
  for (const [key, next] of offsets) {
    const at = key.lastIndexOf(':');
    const topic = key.slice(0, at);
    let partitions = topics.get(topic);
    if (partitions === undefined) topics.set(topic, (partitions = []));
    partitions.push({ partitionIndex: Number(key.slice(at + 1)), committedOffset: BigInt(next), committedLeaderEpoch: -1, committedMetadata: metadata?.get(key) ?? null });
  }
  return [...topics].map(([name, partitions]) => ({ name, partitions }));
}

/**
 * Runs a member's offset commit; refused only because the member's generation moved on
 * (ILLEGAL_GENERATION), it goes again under the generation `renew` gives (cooperative
 * rebalancing, see MemberCommitOptions.renewMember), as long as it gives one.
 */
export async function withRenewedMember<T>(
  member: GroupGeneration | undefined,
  renew: MemberCommitOptions['renewMember'],
  send: (member: GroupGeneration | undefined) => Promise<T>,
): Promise<T> {
  for (;;) {
    try {
      return await send(member);
    } catch (error) {
      if (member === undefined || renew === undefined || !brokerError(error, 'ILLEGAL_GENERATION')) throw error;
      const next = await renew(member);
      if (next === undefined || next.memberId !== member.memberId || next.generationId <= member.generationId) throw error;
      member = next;
    }
  }
}

export interface GroupsOptions {
  readonly calls: Calls;
  /** For committed offsets (OffsetFetch). */
  readonly admin: Admin;
  readonly metadata: Metadata;
  readonly coordinators: Coordinators;
  readonly options: KafkaLogOptions;
}

export class Groups {
  readonly #calls: Calls;
  readonly #admin: Admin;
  readonly #metadata: Metadata;
  readonly #coordinators: Coordinators;
  readonly #options: KafkaLogOptions;
  /** Group memberships (joinGroup) still open. */
  readonly #members = new Set<GroupMembership>();

  constructor(o: GroupsOptions) {
    this.#calls = o.calls;
    this.#admin = o.admin;
    this.#metadata = o.metadata;
    this.#coordinators = o.coordinators;
    this.#options = o.options;
  }

  /** A group's committed offsets with their metadata ("" when none), read with requireStable. */
  async #committed(group: string): Promise<Map<string, { offset: number; metadata: string }>> {
    const result = await this.#admin.listConsumerGroupOffsets({ groups: [group], requireStable: true });
    const out = new Map<string, { offset: number; metadata: string }>();
    for (const g of result) {
      for (const t of g.topics) {
        for (const p of t.partitions) {
          if (p.committedOffset >= 0n) out.set(`${t.name}:${p.partitionIndex}`, { offset: Number(p.committedOffset), metadata: p.metadata ?? '' });
        }
      }
    }
    return out;
  }

  async committedOffsets(group: string): Promise<GroupOffsets> {
    return this.#calls.run(`reading offsets of group "${group}"`, async () => new Map([...(await this.#committed(group))].map(([key, c]) => [key, c.offset])));
  }

  async committedMetadata(group: string): Promise<GroupMetadata> {
    return this.#calls.run(`reading offset metadata of group "${group}"`, async () => {
      const out = new Map<string, string>();
      // Kafka keeps "" for an offset committed without metadata: that is none.
      for (const [key, c] of await this.#committed(group)) if (c.metadata !== '') out.set(key, c.metadata);
      return out;
    });
  }

  async commitOffsets(group: string, offsets: ReadonlyMap<string, number>, metadata?: GroupMetadata, options: MemberCommitOptions = {}): Promise<void> {
    if (offsets.size === 0) return;
    const topics = offsetCommitTopics(offsets, metadata);
    // Without a member: a simple commit (generation -1), as the admin client's
    // alterConsumerGroupOffsets makes, but with metadata (the broker takes it only while the group
    // has no members). With one: the member's commit, refused once its generation is over.
    const generationId = options.member?.generationId ?? -1;
    await this.#calls.run(`committing offsets of group "${group}"`, async () => {
      try {
        await withRenewedMember(options.member, options.renewMember, (member) =>
          this.#coordinators.send(group, (connection) => offsetCommitV8.api.async(connection, group, member?.generationId ?? -1, member?.memberId ?? '', null, topics)),
        );
      } catch (error) {
        if (options.member !== undefined && isMigrated(error)) {
          throw new StreamsError('TASK_MIGRATED', `a rebalance gave the partitions of generation ${generationId} of group "${group}" to other members; the commit is refused`, {
            cause: error,
            canRetry: true,
          });
        }
        throw error;
      }
    });
  }

  /**
   * Joins the application's consumer group with Tributary's own assignment (GroupMember): every
   * member sends its metadata (endpoint, threads, tasks), the leader runs `options.assign` over
   * all of them, and every member hears its partitions and everybody else's. Heartbeats run on
   * this thread's event loop. With `groupInstanceId`, a static member (KIP-345).
   */
  async joinGroup(options: JoinGroupOptions): Promise<GroupMembership> {
    const sessionTimeout = options.sessionTimeoutMs ?? 10_000;
    // JoinGroup waits for every member (up to the rebalance timeout): a connection of its own,
    // whose requests may take that long.
    const connections = new Connections(this.#metadata, this.#options, Math.max(sessionTimeout, 30_000) + 10_000);
    let coordinatorId: number | undefined;
    const member = new GroupMember({
      ...options,
      coordinator: async (refresh) => {
        if (refresh || coordinatorId === undefined) {
          if (coordinatorId !== undefined) connections.drop(coordinatorId);
          coordinatorId = await this.#coordinators.of(options.groupId, refresh);
        }
        return connections.get(coordinatorId);
      },
      partitionCounts: async () => {
        const metadata = await this.#metadata.read({ topics: [...options.topics] });
        return new Map(options.topics.map((topic) => [topic, metadata.topics.get(topic)?.partitionsCount ?? 0]));
      },
    });
    const membership: GroupMembership = {
      leave: async () => {
        this.#members.delete(membership);
        await member.leave();
        await connections.close();
      },
      rejoin: () => this.#calls.run(`rejoining group "${options.groupId}"`, () => member.rejoin()),
    };
    this.#members.add(membership);
    try {
      await this.#calls.run(`joining group "${options.groupId}"`, () => member.join());
    } catch (error) {
      await membership.leave();
      throw error;
    }
    return membership;
  }

  /** Leaves every group joined and not left yet. */
  close(): Promise<unknown> {
    return Promise.allSettled([...this.#members].map((m) => m.leave()));
  }
}
