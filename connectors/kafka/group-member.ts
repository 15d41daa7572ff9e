/**
 * A member of a classic Kafka consumer group, on the wire: JoinGroup, SyncGroup, Heartbeat and
 * LeaveGroup, as Kafka's ConsumerCoordinator runs them, for Tributary's own assignment. Its own
 * rather than the client's Consumer, for three things the Consumer does not do:
 *
 * - **Static membership** (KIP-345): with a `groupInstanceId`, closing does not send LeaveGroup, and
 *   a process that comes back with the same id within the session timeout takes its place again:
 *   the coordinator hands it the group's current assignment without a rebalance.
 * - **Every member hears the whole assignment**: the leader puts the member list (metadata and
 *   partitions) in each member's assignment user data, so nobody reads it back afterwards.
 * - **Rejoin on request** with fresh metadata (cooperative rebalancing, shutdown requests).
 *
 * Subscriptions and assignments use the consumer protocol's encoding (protocol type "consumer"),
 * so Kafka's tools describe the group as usual.
 */
import {
  decodeConsumerProtocolAssignment,
  decodeConsumerProtocolSubscription,
  encodeConsumerProtocolAssignment,
  encodeConsumerProtocolSubscription,
  findErrorBy,
  heartbeatV4,
  joinGroupV9,
  leaveGroupV5,
  syncGroupV5,
  type Connection,
} from '@platformatic/kafka';
import { StreamsError } from '../../engine/errors.ts';
import type { GroupMember as MemberInfo, GroupMembership, JoinGroupOptions, TopicPartition } from '../../engine/log.ts';
import { brokerError, describeKafkaCause } from './calls.ts';

const PROTOCOL = 'tributary';

export interface GroupMemberOptions extends JoinGroupOptions {
  readonly groupInstanceId?: string;
  /** A connection to the group's coordinator; `refresh` after it moved or the connection broke. */
  coordinator(refresh: boolean): Promise<Connection>;
  /** Partition count of each subscribed topic (for the leader's assignment). */
  partitionCounts(): Promise<ReadonlyMap<string, number>>;
}

/** The member id a MEMBER_ID_REQUIRED answer carries (on the error or one it wraps). */
function memberIdOf(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  const visit = (e: unknown): string | undefined => {
    if (typeof e !== 'object' || e === null || seen.has(e)) return undefined;
    seen.add(e);
    const { response, errors, cause } = e as { response?: { memberId?: string }; errors?: unknown[]; cause?: unknown };
    if (typeof response?.memberId === 'string' && response.memberId !== '') return response.memberId;
    for (const inner of errors ?? []) {
      const found = visit(inner);
      if (found !== undefined) return found;
    }
    return visit(cause);
  };
  return visit(error);
}

interface Wire {
  readonly members: { readonly memberId: string; readonly metadata: string; readonly partitions: readonly [string, number][] }[];
}

export class GroupMember implements GroupMembership {
  readonly #options: GroupMemberOptions;
  #memberId = '';
  #generationId = -1;
  #heartbeat: NodeJS.Timeout | undefined;
  #joining: Promise<void> | undefined;
  /** A rejoin was asked for while a join was under way: join once more after it. */
  #again = false;
  #closed = false;
  #refresh = false;

  constructor(options: GroupMemberOptions) {
    this.#options = options;
  }

  get #sessionTimeout(): number {
    return this.#options.sessionTimeoutMs ?? 10_000;
  }

  /** Joins (or joins again); resolves once this member has its assignment. */
  join(): Promise<void> {
    if (this.#joining !== undefined) {
      this.#again = true;
      return this.#joining;
    }
    this.#stopHeartbeat();
    this.#joining = (async () => {
      try {
        do {
          this.#again = false;
          await this.#joinOnce();
        } while (this.#again && !this.#closed);
      } finally {
        this.#joining = undefined;
      }
      this.#scheduleHeartbeat();
    })();
    return this.#joining;
  }

  /**
   * Joins again (fresh metadata, a rebalance every member hears). A join that fails is tried
   * again every second (the member would otherwise fall silent and lose its place unnoticed),
   * unless another process took its instance id.
   */
  rejoin(): Promise<void> {
    return this.join().catch((error: unknown) => {
      if (this.#closed) return;
      if (error instanceof StreamsError && error.code === 'APPLICATION_SHUTDOWN') return this.#fail(error);
      console.warn(`[tributary] group "${this.#options.groupId}": joining again failed (${describeKafkaCause(error)}); retrying`);
      setTimeout(() => void this.rejoin(), 1000).unref();
    });
  }

  /**
   * A dynamic member leaves at once (its partitions are reassigned now); a static one does not
   * (KIP-345): its place waits for it for the session timeout, without a rebalance.
   */
  async leave(): Promise<void> {
    this.#closed = true;
    this.#stopHeartbeat();
    if (this.#options.groupInstanceId !== undefined || this.#memberId === '') return;
    await this.#send((c) => leaveGroupV5.api.async(c, this.#options.groupId, [{ memberId: this.#memberId, groupInstanceId: null, reason: 'closing' }])).catch(() => {});
  }

  async #send<T>(request: (connection: Connection) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        const connection = await this.#options.coordinator(this.#refresh);
        this.#refresh = false;
        return await request(connection);
      } catch (error) {
        const moved = brokerError(error, 'NOT_COORDINATOR', 'COORDINATOR_NOT_AVAILABLE', 'COORDINATOR_LOAD_IN_PROGRESS') || (findErrorBy(error as Error, 'code', 'PLT_KFK_NETWORK') ?? undefined) !== undefined;
        if (!moved || attempt >= 20 || this.#closed) throw error;
        this.#refresh = true;
        await new Promise((r) => setTimeout(r, Math.min(100 * (attempt + 1), 1000)));
      }
    }
  }

  async #joinOnce(): Promise<void> {
    const o = this.#options;
    for (;;) {
      if (this.#closed) return;
      const subscription = encodeConsumerProtocolSubscription({ version: 0, topics: [...o.topics], userData: Buffer.from(o.metadata()) });
      let joined: joinGroupV9.JoinGroupResponse;
      try {
        joined = await this.#send((c) =>
          joinGroupV9.api.async(c, o.groupId, this.#sessionTimeout, Math.max(this.#sessionTimeout, 30_000), this.#memberId, o.groupInstanceId ?? null, 'consumer', [{ name: PROTOCOL, metadata: subscription }], null),
        );
      } catch (error) {
        if (brokerError(error, 'MEMBER_ID_REQUIRED')) {
          this.#memberId = memberIdOf(error) ?? '';
          continue;
        }
        if (brokerError(error, 'UNKNOWN_MEMBER_ID')) {
          this.#memberId = '';
          continue;
        }
        if (brokerError(error, 'REBALANCE_IN_PROGRESS')) continue;
        if (brokerError(error, 'FENCED_INSTANCE_ID')) {
          throw new StreamsError('APPLICATION_SHUTDOWN', `another process joined group "${o.groupId}" with group instance id "${o.groupInstanceId}": this one is fenced`, { cause: error });
        }
        throw error;
      }
      this.#memberId = joined.memberId;
      this.#generationId = joined.generationId;
      // The leader assigns, unless the coordinator says the assignment stands (a static leader
      // that came back: skipAssignment).
      let assignments: syncGroupV5.SyncGroupRequestAssignment[] = [];
      if (joined.leader === joined.memberId && !joined.skipAssignment) assignments = await this.#assign(joined.members);
      let synced: syncGroupV5.SyncGroupResponse;
      try {
        synced = await this.#send((c) => syncGroupV5.api.async(c, o.groupId, this.#generationId, this.#memberId, o.groupInstanceId ?? null, 'consumer', PROTOCOL, assignments));
      } catch (error) {
        if (brokerError(error, 'REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION')) continue;
        if (brokerError(error, 'UNKNOWN_MEMBER_ID')) {
          this.#memberId = '';
          continue;
        }
        throw error;
      }
      this.#deliver(synced.assignment);
      return;
    }
  }

  async #assign(members: readonly joinGroupV9.JoinGroupResponseMember[]): Promise<syncGroupV5.SyncGroupRequestAssignment[]> {
    const list = members.map((m) => ({ memberId: m.memberId, metadata: new Uint8Array(decodeConsumerProtocolSubscription(m.metadata).userData ?? Buffer.alloc(0)) }));
    const assigned = this.#options.assign(list, await this.#options.partitionCounts());
    const wire: Wire = {
      members: list.map((m) => ({
        memberId: m.memberId,
        metadata: Buffer.from(m.metadata).toString('base64'),
        partitions: (assigned.get(m.memberId) ?? []).map((tp) => [tp.topic, tp.partition] as [string, number]),
      })),
    };
    const userData = Buffer.from(JSON.stringify(wire));
    return list.map((m) => {
      const byTopic = new Map<string, number[]>();
      for (const tp of assigned.get(m.memberId) ?? []) byTopic.set(tp.topic, [...(byTopic.get(tp.topic) ?? []), tp.partition]);
      return {
        memberId: m.memberId,
        assignment: encodeConsumerProtocolAssignment({ version: 0, assignedPartitions: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })), userData }),
      };
    });
  }

  #deliver(bytes: Buffer): void {
    let partitions: TopicPartition[] = [];
    let members: MemberInfo[] = [];
    if (bytes.length > 0) {
      const decoded = decodeConsumerProtocolAssignment(bytes);
      partitions = decoded.assignedPartitions.flatMap((a) => a.partitions.map((partition) => ({ topic: a.topic, partition })));
      try {
        const wire = JSON.parse(Buffer.from(decoded.userData ?? Buffer.alloc(0)).toString()) as Wire;
        members = wire.members.map((m) => ({
          memberId: m.memberId,
          metadata: new Uint8Array(Buffer.from(m.metadata, 'base64')),
          partitions: m.partitions.map(([topic, partition]) => ({ topic, partition })),
        }));
      } catch {
        members = [];
      }
    }
    // A static member that took its place back has a new member id; the list has its old one.
    const self = members.find((m) => m.memberId === this.#memberId);
    if (self === undefined) members = [...members.filter((m) => !sameTasks(m.partitions, partitions) || partitions.length === 0), { memberId: this.#memberId, metadata: this.#options.metadata(), partitions }];
    this.#options.onAssignment({ generationId: this.#generationId, memberId: this.#memberId, partitions, members });
  }

  #scheduleHeartbeat(): void {
    if (this.#closed) return;
    this.#stopHeartbeat();
    const interval = Math.max(100, Math.floor(this.#sessionTimeout / 5));
    this.#heartbeat = setTimeout(() => void this.#beat(), interval);
  }

  #stopHeartbeat(): void {
    clearTimeout(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  async #beat(): Promise<void> {
    if (this.#closed || this.#joining !== undefined) return;
    const o = this.#options;
    try {
      await this.#send((c) => heartbeatV4.api.async(c, o.groupId, this.#generationId, this.#memberId, o.groupInstanceId ?? null));
      this.#scheduleHeartbeat();
    } catch (error) {
      if (this.#closed) return;
      if (brokerError(error, 'REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID')) {
        if (brokerError(error, 'UNKNOWN_MEMBER_ID')) this.#memberId = '';
        void this.rejoin();
        return;
      }
      if (brokerError(error, 'FENCED_INSTANCE_ID')) {
        this.#fail(new StreamsError('APPLICATION_SHUTDOWN', `another process joined group "${o.groupId}" with group instance id "${o.groupInstanceId}": this one is fenced`, { cause: error }));
        return;
      }
      // The coordinator could not be reached: try again at the next beat (the session may run out).
      console.warn(`[tributary] group "${o.groupId}": heartbeat failed (${describeKafkaCause(error)})`);
      this.#scheduleHeartbeat();
    }
  }

  #fail(error: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopHeartbeat();
    this.#options.onError(error instanceof StreamsError ? error : new StreamsError('LOG_UNAVAILABLE', `group "${this.#options.groupId}": ${describeKafkaCause(error)}`, { cause: error }));
  }
}

function sameTasks(a: readonly TopicPartition[], b: readonly TopicPartition[]): boolean {
  const key = (l: readonly TopicPartition[]) => l.map((tp) => `${tp.topic}:${tp.partition}`).sort().join(',');
  return key(a) === key(b);
}
