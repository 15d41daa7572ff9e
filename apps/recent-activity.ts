/**
 * Who is active right now, for the demo page: the serving process tails the end of the validated
 * `events` topic (read-committed) and keeps, for the most recently seen users, their newest events.
 * No store holds this (the feature stores are keyed by user, with no order by recency), and adding
 * one would change the topology every stream thread runs; a bounded tail read at request time does
 * not. Memory is bounded (`maxUsers` users, `eventsPerUser` events each) and so is the work of a
 * refresh (at most `tailRecords` records per partition).
 */
import type { Log, Serde } from '../engine/index.ts';
import type { Event, EventType } from './events.ts';

/** One event of a user's timeline, as the page shows it. */
export interface ActivityEvent {
  readonly at: number;
  readonly type: EventType;
  readonly itemId: string | null;
  readonly category: string | null;
  readonly page: string | null;
  readonly price: number | null;
  readonly source: string;
}

export interface ActiveUser {
  readonly userId: string;
  /** The newest event time seen for the user (ms). */
  readonly lastAt: number;
  /** Events seen since the user was first tracked. */
  readonly events: number;
  readonly lastType: EventType;
}

export interface RecentActivityOptions {
  readonly log: Log;
  readonly topic: string;
  readonly partitions: number;
  readonly serde: Serde<Event>;
  /** Users tracked; the least recently updated is dropped past it (default 2000). */
  readonly maxUsers?: number;
  /** Newest events kept per user (default 100). */
  readonly eventsPerUser?: number;
  /** At most this many of a partition's newest records are read per refresh (default 5000). */
  readonly tailRecords?: number;
  /** Refreshes closer together than this reuse the last one (default 500 ms). */
  readonly minIntervalMs?: number;
}

/** Users watched at most (the newest asked for). */
const WATCHED = 50;

interface Tracked {
  lastAt: number;
  count: number;
  lastType: EventType;
  /** Oldest first. */
  events: ActivityEvent[];
}

/**
 * @example
 * const activity = new RecentActivity({ log, topic: 'events', partitions: 4, serde: eventSerde });
 * await activity.refresh();
 * activity.active(20);      // [{ userId, lastAt, events, lastType }, ...] most recent first
 * activity.events('u42');   // the newest events seen for u42, oldest first
 */
export class RecentActivity {
  readonly #options: Required<Omit<RecentActivityOptions, 'log' | 'serde'>> & Pick<RecentActivityOptions, 'log' | 'serde'>;
  /** Map order is update order: the first entry is the least recently updated user. */
  readonly #users = new Map<string, Tracked>();
  readonly #next: number[];
  /** Users someone is looking at (recently asked for by `events`): kept past `maxUsers`, at most WATCHED of them. */
  readonly #watched = new Set<string>();
  #refreshing: Promise<void> | undefined;
  #refreshedAt = 0;

  constructor(options: RecentActivityOptions) {
    this.#options = { maxUsers: 2000, eventsPerUser: 100, tailRecords: 5000, minIntervalMs: 500, ...options };
    this.#next = new Array<number>(options.partitions).fill(0);
  }

  /** Reads what was appended since the last refresh (at most `tailRecords` per partition). */
  refresh(): Promise<void> {
    if (this.#refreshing !== undefined) return this.#refreshing;
    if (Date.now() - this.#refreshedAt < this.#options.minIntervalMs) return Promise.resolve();
    this.#refreshing = this.#read().finally(() => {
      this.#refreshedAt = Date.now();
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #read(): Promise<void> {
    const { log, topic, serde, tailRecords } = this.#options;
    await Promise.all(
      this.#next.map(async (next, partition) => {
        const tp = { topic, partition };
        const head = await log.fetch(tp, 0, { maxRecords: 0 });
        let offset = Math.max(next, head.startOffset, head.endOffset - tailRecords);
        while (offset < head.endOffset) {
          const batch = await log.fetch(tp, offset, { maxRecords: Math.min(1000, head.endOffset - offset) });
          for (const r of batch.records) {
            if (r.value === null || r.offset >= head.endOffset) continue;
            try {
              this.#add(serde.deserialize(r.value, topic));
            } catch {
              // Not an event (the topic is written by the validation step only): skip it.
            }
          }
          if (batch.nextOffset <= offset) break;
          offset = batch.nextOffset;
        }
        this.#next[partition] = Math.max(offset, head.endOffset);
      }),
    );
  }

  #add(e: Event): void {
    let user = this.#users.get(e.userId);
    if (user === undefined) user = { lastAt: e.timestamp, count: 0, lastType: e.type, events: [] };
    else this.#users.delete(e.userId);
    this.#users.set(e.userId, user);
    user.count++;
    if (e.timestamp >= user.lastAt) {
      user.lastAt = e.timestamp;
      user.lastType = e.type;
    }
    const event: ActivityEvent = { at: e.timestamp, type: e.type, itemId: e.itemId, category: e.category, page: e.page, price: e.price, source: e.source };
    // Keep the events in time order: late ones are inserted where they belong.
    let i = user.events.length;
    while (i > 0 && user.events[i - 1]!.at > e.timestamp) i--;
    user.events.splice(i, 0, event);
    if (user.events.length > this.#options.eventsPerUser) user.events.shift();
    if (this.#users.size > this.#options.maxUsers) {
      for (const id of this.#users.keys()) {
        if (this.#watched.has(id)) continue;
        this.#users.delete(id);
        break;
      }
    }
  }

  /** The `k` users with the newest events, most recent first. */
  active(k: number): ActiveUser[] {
    return [...this.#users]
      .sort((a, b) => b[1].lastAt - a[1].lastAt)
      .slice(0, k)
      .map(([userId, u]) => ({ userId, lastAt: u.lastAt, events: u.count, lastType: u.lastType }));
  }

  /**
   * The newest events seen for a user, oldest first (undefined: not tracked). The user is watched
   * from now on: kept when busier users would push them out (a page showing them keeps its timeline).
   */
  events(userId: string): readonly ActivityEvent[] | undefined {
    this.#watched.delete(userId);
    this.#watched.add(userId);
    if (this.#watched.size > WATCHED) this.#watched.delete(this.#watched.values().next().value!);
    return this.#users.get(userId)?.events;
  }

  /** Tracked users, for a scan (e.g. finding similar users); most recently updated last. */
  users(): IterableIterator<string> {
    return this.#users.keys();
  }
}
